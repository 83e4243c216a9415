package system

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/faultline/faultline/system/raftlog"
)

// snapshotsDir is the directory under the data directory where
// hashicorp/raft's file snapshot store keeps snapshots.
const snapshotsDir = "snapshots"

// reasonSnapshot is the damage recorded for a snapshot that fails its
// checks.
const reasonSnapshot raftlog.Reason = "snapshot fails its checks"

// damagedDir is where damaged snapshots are moved, under the data dir.
const damagedDir = "damaged"

// durableSnapshots is hashicorp/raft's file snapshot store with the one
// fsync it lacks: FileSnapshotSink.Close fsyncs state.bin and meta.json,
// renames the snapshot's directory into place and fsyncs the directory
// holding it, but never fsyncs the snapshot's own directory, whose two
// entries a power failure may then undo (POSIX: a file's fsync does not
// make its name durable). A power failure then left a snapshot directory
// with no meta.json on every node, each refused to vote until caught up,
// and a log raft had compacted past it (it does once Close returns) would
// have lost its entries. Here Close returns only once that directory is
// fsynced too. A power failure between raft's rename and that fsync can still
// leave the directory empty, but with the log not yet compacted
// (checkSnapshots moves it aside).
type durableSnapshots struct {
	*raft.FileSnapshotStore
	dir string // DataDir/snapshots
}

var _ raft.SnapshotStore = (*durableSnapshots)(nil)

// openSnapshots opens the snapshot store in dataDir/snapshots, keeping
// the newest two snapshots.
func openSnapshots(dataDir string, logger hclog.Logger) (*durableSnapshots, error) {
	files, err := raft.NewFileSnapshotStoreWithLogger(dataDir, 2, logger)
	if err != nil {
		return nil, fmt.Errorf("open snapshot store in %s: %w", dataDir, err)
	}
	return &durableSnapshots{FileSnapshotStore: files, dir: filepath.Join(dataDir, snapshotsDir)}, nil
}

// Create starts a snapshot whose Close makes it durable.
func (s *durableSnapshots) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := s.FileSnapshotStore.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		return nil, err
	}
	return &durableSink{SnapshotSink: sink, dir: filepath.Join(s.dir, sink.ID())}, nil
}

// durableSink is a FileSnapshotSink whose Close fsyncs the snapshot's
// directory, dir, after raft moved it there.
type durableSink struct {
	raft.SnapshotSink
	dir string
}

func (s *durableSink) Close() error {
	if err := s.SnapshotSink.Close(); err != nil {
		return err
	}
	if err := raftlog.SyncDir(s.dir); err != nil {
		return fmt.Errorf("make snapshot %s durable: %w", s.ID(), err)
	}
	return nil
}

// checkSnapshots moves aside, into DataDir/damaged/, every snapshot in
// DataDir/snapshots/ that fails its checks (checkSnapshot), and empties
// the log when it cannot follow the newest snapshot left: it starts past
// it (the log cannot be applied), or ends before it (damage cut it there:
// raft's next append, past the snapshot, would be refused as a gap until
// the leader sent the node a snapshot of its own). With
// no snapshot and no log left the node starts empty. Each damaged
// snapshot is recorded as damage in the raft log before anything moves,
// so the node recovers even if it crashes right after.
func (n *Node) checkSnapshots(store *raft.FileSnapshotStore, wal *raftlog.Log) error {
	dir := filepath.Join(n.cfg.DataDir, snapshotsDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list snapshots in %s: %w", dir, err)
	}
	type bad struct {
		name    string
		index   uint64
		problem error
	}
	var damaged []bad
	var newest uint64 // the newest snapshot that passes
	for _, e := range ents {
		if !e.IsDir() || strings.HasSuffix(e.Name(), ".tmp") { // .tmp: an unfinished snapshot, which raft ignores
			continue
		}
		index, problem := checkSnapshot(store, dir, e.Name())
		if problem != nil {
			damaged = append(damaged, bad{e.Name(), index, problem})
		} else {
			newest = max(newest, index)
		}
	}
	first, _ := wal.FirstIndex()
	last, _ := wal.LastIndex()
	empty := last > 0 && (first > newest+1 || last < newest)
	if len(damaged) == 0 && !empty {
		return nil
	}
	kept := last
	if empty {
		kept = 0
	}
	for _, d := range damaged {
		err := wal.RecordDamage(raftlog.Damage{File: filepath.Join(dir, d.name), Reason: reasonSnapshot, LastGood: kept, Beyond: d.index})
		if err != nil {
			return err
		}
	}
	aside := filepath.Join(n.cfg.DataDir, damagedDir)
	for _, d := range damaged {
		if err := os.MkdirAll(aside, 0o755); err != nil {
			return fmt.Errorf("move damaged snapshots aside: %w", err)
		}
		path := filepath.Join(dir, d.name)
		dst := filepath.Join(aside, d.name+"."+strconv.FormatInt(time.Now().UnixNano(), 10))
		if err := os.Rename(path, dst); err != nil {
			return fmt.Errorf("move damaged snapshot %s aside: %w", path, err)
		}
		n.log.Warn("moved a damaged snapshot aside", "snapshot", path, "to", dst, "problem", d.problem)
	}
	if empty {
		n.log.Warn("the raft log does not follow the newest snapshot left: emptying it",
			"snapshot_index", newest, "log_first", first, "log_last", last)
		if err := wal.DeleteRange(first, last); err != nil {
			return fmt.Errorf("empty the raft log: %w", err)
		}
	}
	return nil
}

// snapshotMeta is what checkSnapshot reads of a file snapshot's
// meta.json.
type snapshotMeta struct {
	ID    string
	Index uint64
	Term  uint64
}

// checkSnapshot checks the snapshot in dir/name: its meta.json decodes
// and names the snapshot its directory does (raft names it
// term-index-milliseconds; meta.json has no checksum of its own), and its
// state passes its CRC (raft's FileSnapshotStore checks it on Open). It
// returns the snapshot's index when meta.json gives one.
func checkSnapshot(store *raft.FileSnapshotStore, dir, name string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, name, "meta.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, errors.New("no meta.json")
	}
	if err != nil {
		return 0, fmt.Errorf("read meta.json: %w", err)
	}
	var m snapshotMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return 0, fmt.Errorf("meta.json does not decode: %w", err)
	}
	parts := strings.Split(name, "-")
	var term, index uint64
	if len(parts) == 3 {
		term, _ = strconv.ParseUint(parts[0], 10, 64)
		index, _ = strconv.ParseUint(parts[1], 10, 64)
	}
	if m.ID != name || m.Term != term || m.Index != index {
		return index, fmt.Errorf("meta.json names snapshot %q (term %d, index %d), not its directory's", m.ID, m.Term, m.Index)
	}
	_, rc, err := store.Open(name)
	if err != nil {
		return index, fmt.Errorf("state: %w", err)
	}
	return index, rc.Close()
}
