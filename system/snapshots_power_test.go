package system

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/faultline/faultline/faultfs"
	"github.com/faultline/faultline/faultfs/faultfstest"
	"github.com/faultline/faultline/system/raftlog"
)

// TestSnapshotSurvivesPowerFailure takes a snapshot on faultfs, as the
// disk faults run nodes, and fails the power once Close returned (raft
// then compacts the log): the snapshot must pass its checks after a
// remount. hashicorp/raft's store alone loses its files (its directory
// was never fsynced: a snapshot with no meta.json); durableSnapshots
// keeps it.
func TestSnapshotSurvivesPowerFailure(t *testing.T) {
	for _, tc := range []struct {
		name    string
		durable bool
		problem string // checkSnapshot's after the power failure
	}{
		{"hashicorp/raft alone", false, "no meta.json"},
		{"durableSnapshots", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backing := t.TempDir()
			m := faultfstest.Mount(t, backing)
			open := func(dataDir string) (*raft.FileSnapshotStore, raft.SnapshotStore) {
				if err := raftlog.MkdirAll(filepath.Join(dataDir, snapshotsDir)); err != nil {
					t.Fatal(err)
				}
				snaps, err := openSnapshots(dataDir, newHCLogger(slog.New(slog.NewTextHandler(io.Discard, nil)), slog.LevelError))
				if err != nil {
					t.Fatal(err)
				}
				if !tc.durable {
					return snaps.FileSnapshotStore, snaps.FileSnapshotStore
				}
				return snaps.FileSnapshotStore, snaps
			}
			_, store := open(filepath.Join(m.Dir(), "data"))
			sink, err := store.Create(raft.SnapshotVersionMax, 40, 2, raft.Configuration{}, 1, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sink.Write([]byte("the state at index 40")); err != nil {
				t.Fatal(err)
			}
			if err := sink.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := m.PowerFail(faultfs.PowerPOSIX); err != nil {
				t.Fatal(err)
			}
			if err := m.Unmount(); err != nil {
				t.Fatal(err)
			}
			m = faultfstest.Mount(t, backing)
			files, _ := open(filepath.Join(m.Dir(), "data"))
			dir := filepath.Join(m.Dir(), "data", snapshotsDir)
			_, err = checkSnapshot(files, dir, sink.ID())
			switch {
			case tc.problem == "" && err != nil:
				t.Fatalf("after a power failure snapshot %s fails its checks: %v", sink.ID(), err)
			case tc.problem != "" && (err == nil || err.Error() != tc.problem):
				t.Fatalf("after a power failure snapshot %s: %v, want %q (has hashicorp/raft begun to fsync the snapshot's directory? then durableSnapshots can go)",
					sink.ID(), err, tc.problem)
			}
			if _, err := os.Stat(filepath.Join(dir, sink.ID())); err != nil {
				t.Fatalf("the snapshot's directory is gone: %v", err)
			}
		})
	}
}
