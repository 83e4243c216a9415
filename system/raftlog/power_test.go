package raftlog

import (
	"path/filepath"
	"testing"

	"github.com/faultline/faultline/faultfs"
	"github.com/faultline/faultline/faultfs/faultfstest"
)

// TestPowerFailureKeepsSyncedEntries opens the log in a fresh directory of
// a faultfs mount, the power-failure filesystem the disk faults run nodes
// on, stores entries (each batch fsynced) and fails the power: every
// entry StoreLogs returned for must be there after a remount. A log whose
// directory creation was never made durable (its parent not fsynced) lost
// them all, and with --unsafe-no-fsync the entries are lost too.
func TestPowerFailureKeepsSyncedEntries(t *testing.T) {
	for _, tc := range []struct {
		name   string
		noSync bool
		want   uint64 // last index after the power failure
	}{
		{"synced", false, 40},
		{"unsafe no sync", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backing := t.TempDir()
			m := faultfstest.Mount(t, backing)
			cfg := testConfig(filepath.Join(m.Dir(), "data", "raftlog"))
			cfg.UnsafeNoSync = tc.noSync
			l := openT(t, cfg)
			if err := l.StoreLogs(mkLogs(1, 40, 1)); err != nil {
				t.Fatal(err)
			}
			crash(l)
			if _, err := m.PowerFail(faultfs.PowerPOSIX); err != nil {
				t.Fatal(err)
			}
			if err := m.Unmount(); err != nil {
				t.Fatal(err)
			}
			m = faultfstest.Mount(t, backing)
			cfg.Dir = filepath.Join(m.Dir(), "data", "raftlog")
			l = openT(t, cfg)
			defer l.Close()
			last, err := l.LastIndex()
			if err != nil || last != tc.want {
				t.Fatalf("after a power failure the log ends at %d (%v), want %d", last, err, tc.want)
			}
		})
	}
}
