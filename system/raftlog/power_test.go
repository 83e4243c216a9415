package raftlog

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/faultline/faultline/faultfs"
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
			m := mountFaultfs(t, backing)
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
			m = mountFaultfs(t, backing)
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

// mountFaultfs mounts backing through faultfs on a fresh directory, or
// skips without root and /dev/fuse (fails under CI=true).
func mountFaultfs(t *testing.T, backing string) *faultfs.Mounted {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "not root")
	} else if _, err := os.Stat("/dev/fuse"); err != nil {
		skipOrFail(t, "no /dev/fuse")
	}
	cfg := faultfs.DefaultMountConfig()
	cfg.Backing, cfg.Mountpoint = backing, t.TempDir()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := faultfs.Mount(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Unmount() })
	return m
}

func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("mounting faultfs needs root and /dev/fuse (%s); CI must provide both", why)
	}
	t.Skipf("mounting faultfs needs root and /dev/fuse: %s", why)
}
