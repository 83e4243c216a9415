package raftlog

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"

	"github.com/hashicorp/raft"
)

// Config configures a Log. Start from DefaultConfig().
type Config struct {
	// Dir holds the log's files; it is created if missing.
	Dir string
	// SegmentSize is the preallocated size of a segment file. A batch that
	// does not fit in what is left of the active segment starts a new one
	// (a batch larger than SegmentSize gets a segment of its own).
	SegmentSize int64
}

// DefaultConfig returns the defaults; set Dir.
func DefaultConfig() Config {
	return Config{SegmentSize: 64 << 20}
}

// Validate checks the config and says how to fix it.
func (c Config) Validate() error {
	if c.Dir == "" {
		return errors.New("raftlog: no directory: set Config.Dir")
	}
	if c.SegmentSize < 4096 {
		return fmt.Errorf("raftlog: segment size %d is too small: use at least 4096 bytes (start from DefaultConfig())", c.SegmentSize)
	}
	return nil
}

// ErrKeyNotFound is the stable store's answer for a key never set. Its
// text is what raft looks for ("not found").
var ErrKeyNotFound = errors.New("not found")

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("raftlog: closed")

// Log is a durable raft log and stable store in one directory; see the
// package documentation for the format and its guarantees. It is safe for
// concurrent use: raft appends and truncates from its main goroutine,
// compacts from its snapshot goroutine and reads from its replicators.
type Log struct {
	cfg  Config
	lock *os.File

	// wmu serializes writers (StoreLogs, DeleteRange, Set). Fields below
	// it are owned by the writer holding it.
	wmu     sync.Mutex
	failed  error // sticky: the first write error, or ErrClosed
	buf     []byte
	nextSeq uint64
	head    uint64

	// mu guards what readers see. Writers hold wmu too when they change
	// it, so a writer may read it under wmu alone.
	mu          sync.RWMutex
	segs        []*segment
	first, last uint64 // both 0 when empty
	kv          map[string][]byte
}

var (
	_ raft.LogStore          = (*Log)(nil)
	_ raft.StableStore       = (*Log)(nil)
	_ raft.MonotonicLogStore = (*Log)(nil)
)

// Open opens (or creates) the log in cfg.Dir and recovers it: a torn tail
// left by a crash is cut off; corruption anywhere else is an error that
// says what to do.
func Open(cfg Config) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("raftlog: create %s: %w", cfg.Dir, err)
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("raftlog: %w", err)
	}
	l := &Log{cfg: cfg, lock: lock, nextSeq: 1}
	if err := l.recover(); err != nil {
		l.closeFiles()
		return nil, fmt.Errorf("raftlog: open %s: %w", cfg.Dir, err)
	}
	return l, nil
}

// corrupt wraps a recovery error with what the operator can do.
func corrupt(format string, args ...any) error {
	return fmt.Errorf(format+": the log is corrupt; restore the data directory from a backup or, "+
		"if the other nodes hold a quorum, empty it so the node resyncs from the leader", args...)
}

func (l *Log) recover() error {
	dir := l.cfg.Dir
	m, err := readMeta(dir)
	if err != nil {
		return err
	}
	l.head, l.kv = m.head, m.kv
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	type named struct {
		name       string
		seq, first uint64
	}
	var names []named
	for _, e := range ents {
		if seq, first, ok := parseSegName(e.Name()); ok {
			names = append(names, named{e.Name(), seq, first})
		}
	}
	slices.SortFunc(names, func(a, b named) int { return cmp.Compare(a.seq, b.seq) })
	for i, nm := range names {
		isLast := i == len(names)-1
		s, err := scanSegment(dir, nm.name, nm.seq, nm.first)
		if errors.Is(err, errBadHeader) && isLast {
			// A crash while a new segment was being created.
			if err := l.unlink(filepath.Join(dir, nm.name)); err != nil {
				return err
			}
			continue
		}
		if errors.Is(err, errBadHeader) {
			return corrupt("segment %s has a bad header", nm.name)
		}
		if err != nil {
			return corrupt("%v", err)
		}
		if n := len(l.segs); n > 0 {
			p := l.segs[n-1]
			if p.n() == 0 || p.last()+1 != s.first {
				return corrupt("segment %s ends at index %d but segment %s starts at index %d (a hole)",
					filepath.Base(p.path), p.last(), nm.name, s.first)
			}
		}
		l.segs = append(l.segs, s)
		l.nextSeq = nm.seq + 1
	}
	// An empty last segment (a crash before its first batch was written)
	// is dropped, so every segment holds records.
	if n := len(l.segs); n > 0 && l.segs[n-1].n() == 0 {
		if err := l.unlink(l.segs[n-1].path); err != nil {
			return err
		}
		l.segs = l.segs[:n-1]
	}
	// Segments wholly below the head were compacted away.
	for len(l.segs) > 0 && l.segs[0].last() < l.head {
		if err := os.Remove(l.segs[0].path); err != nil {
			return fmt.Errorf("remove compacted segment: %w", err)
		}
		l.segs = l.segs[1:]
	}
	if len(l.segs) == 0 {
		if l.head != 0 {
			l.head = 0
			if err := writeMeta(dir, meta{head: 0, kv: l.kv}); err != nil {
				return err
			}
		}
		return nil
	}
	for _, s := range l.segs {
		f, err := os.OpenFile(s.path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("open segment: %w", err)
		}
		s.f = f
	}
	l.first = max(l.head, l.segs[0].first)
	act := l.segs[len(l.segs)-1]
	l.last = act.last()
	// Cut whatever follows the last valid record (a torn write, or bytes
	// of a truncated tail) and preallocate again.
	return l.resetTail(act)
}

// resetTail cuts s after its last valid record, preallocates it again
// and syncs it.
func (l *Log) resetTail(s *segment) error {
	if err := s.f.Truncate(s.end); err != nil {
		return fmt.Errorf("truncate %s: %w", s.path, err)
	}
	if err := preallocate(s.f, l.cfg.SegmentSize); err != nil {
		return err
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", s.path, err)
	}
	return nil
}

func (l *Log) unlink(path string) error {
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return syncDir(l.cfg.Dir)
}

// Close closes the log; later calls fail with ErrClosed.
func (l *Log) Close() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if errors.Is(l.failed, ErrClosed) {
		return nil
	}
	l.failed = ErrClosed
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closeFiles()
}

func (l *Log) closeFiles() error {
	var errs []error
	for _, s := range l.segs {
		if s.f != nil {
			errs = append(errs, s.f.Close())
		}
	}
	l.segs = nil
	l.first, l.last = 0, 0
	errs = append(errs, l.lock.Close())
	return errors.Join(errs...)
}

// fail poisons the log with err (the first one sticks) and returns it.
func (l *Log) fail(err error) error {
	if l.failed == nil {
		l.failed = fmt.Errorf("raftlog: %w (the log refuses writes from now on: restart the node)", err)
	}
	return l.failed
}

// FirstIndex implements raft.LogStore; 0 means empty.
func (l *Log) FirstIndex() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.first, nil
}

// LastIndex implements raft.LogStore; 0 means empty.
func (l *Log) LastIndex() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.last, nil
}

// IsMonotonic implements raft.MonotonicLogStore: appends must not leave
// gaps, so raft empties the log after installing a snapshot.
func (l *Log) IsMonotonic() bool { return true }

// GetLog implements raft.LogStore. The record's CRC is checked; out's
// slices are its own.
func (l *Log) GetLog(index uint64, out *raft.Log) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.last == 0 || index < l.first || index > l.last {
		return raft.ErrLogNotFound
	}
	s := l.segs[sort.Search(len(l.segs), func(i int) bool { return l.segs[i].first > index })-1]
	i := int(index - s.first)
	from, to := s.span(i)
	b := make([]byte, to-from)
	if _, err := s.f.ReadAt(b, from); err != nil {
		return fmt.Errorf("raftlog: read index %d from %s: %w", index, s.path, err)
	}
	prev := s.seed
	if i > 0 {
		prev = s.crcs[i-1]
	}
	if _, _, err := decodeRecord(b, prev, out); err != nil || out.Index != index {
		return fmt.Errorf("raftlog: index %d in %s at offset %d does not validate (%v): the disk corrupted it; "+
			"restart the node to recover its log, or empty its data directory so it resyncs", index, s.path, from, err)
	}
	return nil
}

// StoreLog implements raft.LogStore.
func (l *Log) StoreLog(log *raft.Log) error { return l.StoreLogs([]*raft.Log{log}) }

// StoreLogs implements raft.LogStore: one write and one fdatasync for the
// whole batch. Indexes must continue the log without a gap (any first
// index when the log is empty).
func (l *Log) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.failed != nil {
		return l.failed
	}
	next := logs[0].Index
	if l.last != 0 {
		next = l.last + 1
	}
	size := 0
	for i, lg := range logs {
		if lg.Index != next+uint64(i) {
			return fmt.Errorf("raftlog: StoreLogs entry %d has index %d, want %d (entries must continue the log, last index %d, without gaps)",
				i, lg.Index, next+uint64(i), l.last)
		}
		size += recordSize(lg)
	}
	var s *segment
	if n := len(l.segs); n > 0 {
		s = l.segs[n-1]
	}
	if s == nil || s.end+int64(size) > l.cfg.SegmentSize {
		var err error
		if s, err = l.newSegment(next); err != nil {
			return l.fail(err)
		}
	}
	buf := l.buf[:0]
	offs := make([]int64, len(logs))
	crcs := make([]uint32, len(logs))
	crc := s.tailCRC()
	for i, lg := range logs {
		offs[i] = s.end + int64(len(buf))
		buf, crc = appendRecord(buf, lg, crc)
		crcs[i] = crc
	}
	if _, err := s.f.WriteAt(buf, s.end); err != nil {
		return l.fail(fmt.Errorf("append to %s: %w", s.path, err))
	}
	if err := fdatasync(s.f); err != nil {
		return l.fail(err)
	}
	if cap(buf) <= 4<<20 { // keep the buffer unless one huge batch grew it
		l.buf = buf
	}
	l.mu.Lock()
	s.offs = append(s.offs, offs...)
	s.crcs = append(s.crcs, crcs...)
	s.end += int64(len(buf))
	if l.last == 0 {
		l.first = next
	}
	l.last = logs[len(logs)-1].Index
	l.mu.Unlock()
	return nil
}

// newSegment creates the next segment, starting at index first, durably
// (header synced, directory synced) and makes it the active one.
func (l *Log) newSegment(first uint64) (*segment, error) {
	if l.last == 0 && l.head != 0 {
		// An empty log accepts any first index: forget the old head
		// first, or a restart would hide entries below it.
		l.head = 0
		if err := writeMeta(l.cfg.Dir, meta{head: 0, kv: l.kv}); err != nil {
			return nil, err
		}
	}
	s := &segment{seq: l.nextSeq, first: first, seed: rand.Uint32(), end: headerSize}
	s.path = filepath.Join(l.cfg.Dir, segName(s.seq, first))
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	s.f = f
	err = preallocate(f, l.cfg.SegmentSize)
	if err == nil {
		_, err = f.WriteAt(encodeHeader(s.seq, first, s.seed), 0)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(l.cfg.Dir)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("create segment %s: %w", s.path, err)
	}
	l.nextSeq++
	l.mu.Lock()
	l.segs = append(l.segs, s)
	l.mu.Unlock()
	return s, nil
}

// DeleteRange implements raft.LogStore for a prefix (compaction), a suffix
// (conflict truncation) or the whole log; indexes outside the log are
// ignored. A range strictly inside the log would leave a hole: refused.
func (l *Log) DeleteRange(min, max uint64) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.failed != nil {
		return l.failed
	}
	if l.last == 0 || min > max || max < l.first || min > l.last {
		return nil
	}
	switch {
	case min <= l.first && max >= l.last:
		return l.deleteAll()
	case min <= l.first:
		return l.deleteHead(max + 1)
	case max >= l.last:
		return l.truncateTail(min)
	}
	return fmt.Errorf("raftlog: DeleteRange(%d, %d) would leave a hole in the log [%d, %d]: only a prefix or a suffix can be deleted",
		min, max, l.first, l.last)
}

// deleteAll removes every segment, newest first.
func (l *Log) deleteAll() error {
	l.mu.Lock()
	segs := l.segs
	l.segs = nil
	l.first, l.last = 0, 0
	l.mu.Unlock()
	for _, s := range slices.Backward(segs) {
		s.f.Close()
		if err := l.unlink(s.path); err != nil {
			return l.fail(err)
		}
	}
	if l.head != 0 {
		l.head = 0
		if err := writeMeta(l.cfg.Dir, meta{head: 0, kv: l.kv}); err != nil {
			return l.fail(err)
		}
	}
	return nil
}

// deleteHead makes first the log's first index: durably in meta, then by
// unlinking the segments wholly below it.
func (l *Log) deleteHead(first uint64) error {
	if err := writeMeta(l.cfg.Dir, meta{head: first, kv: l.kv}); err != nil {
		return l.fail(err)
	}
	l.head = first
	l.mu.Lock()
	l.first = first
	var drop []*segment
	for len(l.segs) > 1 && l.segs[0].last() < first {
		drop = append(drop, l.segs[0])
		l.segs = l.segs[1:]
	}
	l.mu.Unlock()
	for _, s := range drop {
		s.f.Close()
		if err := os.Remove(s.path); err != nil {
			// Harmless for the log (Open removes it again), but say so.
			return l.fail(fmt.Errorf("remove compacted segment: %w", err))
		}
	}
	return nil
}

// truncateTail deletes every entry from min on (min > first): later
// segments are unlinked newest first, then the segment holding min-1 is
// cut after it and synced.
func (l *Log) truncateTail(min uint64) error {
	l.mu.Lock()
	k := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].first > min-1 }) - 1
	drop := l.segs[k+1:]
	l.segs = l.segs[: k+1 : k+1]
	s := l.segs[k]
	keep := int(min - s.first)
	cut := s.end
	if keep < s.n() {
		cut = s.offs[keep]
		s.offs = s.offs[:keep]
		s.crcs = s.crcs[:keep]
	}
	s.end = cut
	l.last = min - 1
	l.mu.Unlock()
	for _, d := range slices.Backward(drop) {
		d.f.Close()
		if err := l.unlink(d.path); err != nil {
			return l.fail(err)
		}
	}
	if err := l.resetTail(s); err != nil {
		return l.fail(err)
	}
	return nil
}

// Set implements raft.StableStore; the value is durable when it returns.
func (l *Log) Set(key, val []byte) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.failed != nil {
		return l.failed
	}
	kv := maps.Clone(l.kv)
	kv[string(key)] = bytes.Clone(val)
	if err := writeMeta(l.cfg.Dir, meta{head: l.head, kv: kv}); err != nil {
		return l.fail(err)
	}
	l.mu.Lock()
	l.kv = kv
	l.mu.Unlock()
	return nil
}

// Get implements raft.StableStore; a key never set gives ErrKeyNotFound.
func (l *Log) Get(key []byte) ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	v, ok := l.kv[string(key)]
	if !ok {
		return nil, ErrKeyNotFound
	}
	return bytes.Clone(v), nil
}

// SetUint64 implements raft.StableStore.
func (l *Log) SetUint64(key []byte, val uint64) error {
	return l.Set(key, binary.BigEndian.AppendUint64(nil, val))
}

// GetUint64 implements raft.StableStore; a key never set gives 0 and
// ErrKeyNotFound.
func (l *Log) GetUint64(key []byte) (uint64, error) {
	v, err := l.Get(key)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("raftlog: stable key %q holds %d bytes, not a uint64", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}
