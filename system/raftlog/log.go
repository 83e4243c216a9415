package raftlog

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

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
	// UnsafeNoSync (UNSAFE) never fsyncs: appends and stable-store writes
	// are acknowledged once written to the page cache, and a power failure
	// loses them. A planted bug, for proving that checkers catch it.
	UnsafeNoSync bool
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
	// prealloc: the file system preallocates, so every segment is at
	// least SegmentSize long and a shorter one was truncated.
	prealloc bool
	syncs    atomic.Uint64

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
	damage      []Damage // recorded, not yet cleared
}

var (
	_ raft.LogStore          = (*Log)(nil)
	_ raft.StableStore       = (*Log)(nil)
	_ raft.MonotonicLogStore = (*Log)(nil)
)

// Open opens (or creates) the log in cfg.Dir and recovers it: a torn tail
// left by a crash is cut off; corruption is cut off too, so that the log
// is a prefix of what was written, and recorded (Damage): the entries it
// held may have been acknowledged, and raft must not count on them. An
// unreadable meta file (the raft term and vote) is an error that says
// what to do.
func Open(cfg Config) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := MkdirAll(cfg.Dir); err != nil {
		return nil, err
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("raftlog: %w", err)
	}
	l := &Log{cfg: cfg, lock: lock, nextSeq: 1}
	if l.prealloc, err = canPreallocate(lock); err != nil {
		lock.Close()
		return nil, fmt.Errorf("raftlog: %w", err)
	}
	if err := l.recover(); err != nil {
		l.closeFiles()
		return nil, fmt.Errorf("raftlog: open %s: %w", cfg.Dir, err)
	}
	return l, nil
}

func (l *Log) recover() error {
	dir := l.cfg.Dir
	m, err := readMeta(dir)
	if err != nil {
		return err
	}
	l.head, l.kv = m.head, m.kv
	if l.damage, err = decodeDamage(l.kv[damageKey]); err != nil {
		return fmt.Errorf("%w: restore the data directory from a backup, or empty it so the node resyncs from the leader", err)
	}
	names, err := listSegments(dir)
	if err != nil {
		return err
	}
	scans, drop, found, err := l.scanAll(names)
	if err != nil {
		return err
	}
	if found != nil {
		// Recorded before anything is cut: a crash during the repair must
		// not leave a log that looks whole.
		for _, sc := range slices.Backward(scans) {
			if sc.seg.n() > 0 {
				found.LastGood = sc.seg.last()
				break
			}
		}
		if found.LastGood < l.head {
			found.LastGood = 0
		}
		if err := l.recordDamage(*found); err != nil {
			return err
		}
	}
	for _, path := range slices.Backward(drop) {
		if err := l.unlink(path); err != nil {
			return err
		}
	}
	for _, sc := range scans {
		l.segs = append(l.segs, sc.seg)
		l.nextSeq = sc.seg.seq + 1
	}
	// An empty last segment (a crash before its first batch was written,
	// or damage at its first record) is dropped, so every segment holds
	// records.
	if n := len(l.segs); n > 0 && l.segs[n-1].n() == 0 {
		if err := l.unlink(l.segs[n-1].path); err != nil {
			return err
		}
		l.segs = l.segs[:n-1]
		scans = scans[:n-1]
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
			if err := l.writeMeta(meta{head: 0, kv: l.kv}); err != nil {
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
	act := scans[len(scans)-1]
	l.last = act.seg.last()
	// Clear whatever follows the last valid record (a torn write, damage,
	// or bytes of a truncated tail) and preallocate again, so later
	// appends chain from the last valid record.
	return l.resetTail(act.seg, act.zeros)
}

// segFile is a segment file's name, parsed.
type segFile struct {
	name       string
	seq, first uint64
}

// listSegments lists dir's segment files in sequence order.
func listSegments(dir string) ([]segFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var out []segFile
	for _, e := range ents {
		if seq, first, ok := parseSegName(e.Name()); ok {
			out = append(out, segFile{e.Name(), seq, first})
		}
	}
	slices.SortFunc(out, func(a, b segFile) int { return cmp.Compare(a.seq, b.seq) })
	return out, nil
}

// scanAll validates the segments in order and finds the first damage, if
// any. It returns the segments to keep (the last of them cut at the
// damage), the files to remove, and the damage.
func (l *Log) scanAll(names []segFile) (keep []*scanned, drop []string, found *Damage, err error) {
	for i, nm := range names {
		path := filepath.Join(l.cfg.Dir, nm.name)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("read segment %s: %w", path, err)
		}
		if found != nil {
			drop = append(drop, path)
			found.Beyond = max(found.Beyond, highestIn(path, b, nm))
			continue
		}
		sc, err := scanSegment(path, b, nm.seq, nm.first)
		if err != nil {
			if i == len(names)-1 && l.crashedCreation(b) {
				// A crash while the segment was being created, before
				// anything was written in it.
				drop = append(drop, path)
				continue
			}
			found = &Damage{File: path, Reason: ReasonBadHeader, Beyond: highestIn(path, b, nm)}
			if l.short(int64(len(b))) {
				found.Reason = ReasonTruncated
			}
			drop = append(drop, path)
			continue
		}
		if n := len(keep); n > 0 {
			p := keep[n-1]
			if p.seg.n() == 0 || p.seg.last()+1 != sc.seg.first {
				found = l.gapDamage(p, sc, nm)
				drop = append(drop, path)
				found.Beyond = max(found.Beyond, highestIn(path, b, nm))
				continue
			}
		}
		keep = append(keep, sc)
	}
	if found != nil || len(keep) == 0 {
		return keep, drop, found, nil
	}
	act := keep[len(keep)-1]
	switch {
	case l.short(act.size) && act.zeros == act.size:
		// The file ends where records do (or inside one) and is shorter
		// than it was preallocated: cut.
		found = &Damage{File: act.seg.path, Offset: act.seg.end, Reason: ReasonTruncated}
	case act.tail == tailBad || act.tail == tailTorn:
		b, err := os.ReadFile(act.seg.path)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("read segment %s: %w", act.seg.path, err)
		}
		end := int(act.seg.end)
		d := &Damage{File: act.seg.path, Offset: act.seg.end, Reason: ReasonBadLastRecord,
			Beyond: beyond(b, end, act.seg.last(), act.seg.tailCRC())}
		switch {
		case d.Beyond > 0 && allZero(b[end:min(len(b), end+recHeader)]):
			d.Reason = ReasonZeroedRange
		case d.Beyond > 0:
			d.Reason = ReasonBadRecord
		case act.tail == tailTorn:
			return keep, drop, nil, nil // a torn write, nothing after it
		}
		found = d
	}
	return keep, drop, found, nil
}

// short reports whether a segment of size bytes is shorter than it was
// preallocated (never, where the file system does not preallocate).
func (l *Log) short(size int64) bool { return l.prealloc && size < l.cfg.SegmentSize }

// crashedCreation reports whether b, the last segment, whose header does
// not validate, is one whose creation a crash interrupted: nothing after
// the header was written, and its size is one creation leaves (empty
// before preallocation, whole after).
func (l *Log) crashedCreation(b []byte) bool {
	return allZero(b[min(len(b), headerSize):]) && (len(b) == 0 || !l.short(int64(len(b))))
}

// gapDamage describes why segment next does not start where p's valid
// records end.
func (l *Log) gapDamage(p, next *scanned, nm segFile) *Damage {
	d := &Damage{File: p.seg.path, Offset: p.seg.end}
	switch {
	case l.short(p.size) && p.zeros == p.size:
		d.Reason = ReasonTruncated
	case p.tail == tailZeros && nm.seq != p.seg.seq+1:
		d = &Damage{File: next.seg.path, Reason: ReasonMissingSegment}
	case p.tail == tailZeros:
		d.Reason = ReasonZeroedRange
	case p.tail == tailEnd:
		d.Reason = ReasonTruncated
	default:
		d.Reason = ReasonBadRecord
	}
	if next.seg.n() > 0 {
		d.Beyond = next.seg.last()
	}
	return d
}

// highestIn returns the highest index that validates in segment b, which
// lies past the damage: its records chained from its header's seed, and
// those beyond finds after a break in the chain.
func highestIn(path string, b []byte, nm segFile) uint64 {
	var hi uint64
	from := headerSize
	sc, err := scanSegment(path, b, nm.seq, nm.first)
	if err != nil && len(b) >= headerSize {
		// The header's seed may have survived what broke the header.
		sc = scanRecords(path, b, nm.seq, nm.first, binary.BigEndian.Uint32(b[24:]))
	}
	if sc != nil {
		if sc.seg.n() > 0 {
			hi = sc.seg.last()
		}
		from = int(sc.seg.end)
	}
	if from < len(b) && nm.first > 0 {
		hi = max(hi, beyond(b, from, nm.first-1, 0))
	}
	return hi
}

// resetTail clears s after its last valid record up to dirty (where the
// bytes that may not be zero end), preallocates it again and syncs it.
// Where the file system preallocates, the file never gets shorter than
// SegmentSize, even for a moment (a short segment means a truncation to
// Open): the bytes are zeroed instead, a page at a time from the end, so
// that a crash part-way leaves a prefix of them, which reads as a torn
// write.
func (l *Log) resetTail(s *segment, dirty int64) error {
	if !l.prealloc {
		if err := s.f.Truncate(s.end); err != nil {
			return fmt.Errorf("truncate %s: %w", s.path, err)
		}
		return l.syncFile(s.f)
	}
	fi, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", s.path, err)
	}
	keep := max(s.end, l.cfg.SegmentSize)
	if fi.Size() > keep {
		if err := s.f.Truncate(keep); err != nil {
			return fmt.Errorf("truncate %s: %w", s.path, err)
		}
	}
	if err := zeroBackward(s.f, s.end, min(dirty, fi.Size(), keep)); err != nil {
		return fmt.Errorf("clear the tail of %s: %w", s.path, err)
	}
	if err := preallocate(s.f, l.cfg.SegmentSize); err != nil {
		return err
	}
	return l.syncFile(s.f)
}

// zeroBackward zeroes f's bytes [from, to), one page at a time from the
// end.
func zeroBackward(f *os.File, from, to int64) error {
	const page = 4096
	var zero [page]byte
	for hi := to; hi > from; {
		lo := max(from, (hi-1)/page*page)
		if _, err := f.WriteAt(zero[:hi-lo], lo); err != nil {
			return err
		}
		hi = lo
	}
	return nil
}

func (l *Log) unlink(path string) error {
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return l.syncDir()
}

// syncFile makes f durable, data and metadata, unless the log is UNSAFE.
func (l *Log) syncFile(f *os.File) error {
	if l.cfg.UnsafeNoSync {
		return nil
	}
	l.syncs.Add(1)
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	return nil
}

// syncData makes f's data durable (fdatasync), unless the log is UNSAFE.
func (l *Log) syncData(f *os.File) error {
	if l.cfg.UnsafeNoSync {
		return nil
	}
	l.syncs.Add(1)
	return fdatasync(f)
}

// syncDir makes the log directory's entries durable, unless the log is
// UNSAFE.
func (l *Log) syncDir() error {
	if l.cfg.UnsafeNoSync {
		return nil
	}
	l.syncs.Add(1)
	return SyncDir(l.cfg.Dir)
}

// Syncs returns how many fsyncs and fdatasyncs the log has issued.
func (l *Log) Syncs() uint64 { return l.syncs.Load() }

// Damage returns the damage recorded and not yet cleared: found by this
// Open or an earlier one, or recorded by RecordDamage.
func (l *Log) Damage() []Damage {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return slices.Clone(l.damage)
}

// RecordDamage records d durably with the damage Open found, until
// ClearDamage: for damage the caller found elsewhere (lost snapshots).
func (l *Log) RecordDamage(d Damage) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.failed != nil {
		return l.failed
	}
	if err := l.recordDamage(d); err != nil {
		return l.fail(err)
	}
	return nil
}

// ClearDamage forgets the recorded damage, once the entries it may have
// cost are back (the node has caught up with a leader).
func (l *Log) ClearDamage() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.failed != nil {
		return l.failed
	}
	kv := maps.Clone(l.kv)
	delete(kv, damageKey)
	if err := l.writeMeta(meta{head: l.head, kv: kv}); err != nil {
		return l.fail(err)
	}
	l.mu.Lock()
	l.kv, l.damage = kv, nil
	l.mu.Unlock()
	return nil
}

func (l *Log) recordDamage(d Damage) error {
	ds := append(slices.Clone(l.damage), d)
	b, err := json.Marshal(ds)
	if err != nil {
		return fmt.Errorf("encode damage: %w", err)
	}
	kv := maps.Clone(l.kv)
	kv[damageKey] = b
	if err := l.writeMeta(meta{head: l.head, kv: kv}); err != nil {
		return fmt.Errorf("record damage: %w", err)
	}
	l.mu.Lock()
	l.kv, l.damage = kv, ds
	l.mu.Unlock()
	return nil
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
	if err := l.syncData(s.f); err != nil {
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
		if err := l.writeMeta(meta{head: 0, kv: l.kv}); err != nil {
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
	if l.prealloc {
		err = preallocate(f, l.cfg.SegmentSize)
	}
	if err == nil {
		_, err = f.WriteAt(encodeHeader(s.seq, first, s.seed), 0)
	}
	if err == nil {
		err = l.syncFile(f)
	}
	if err == nil {
		err = l.syncDir()
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
		if err := l.writeMeta(meta{head: 0, kv: l.kv}); err != nil {
			return l.fail(err)
		}
	}
	return nil
}

// deleteHead makes first the log's first index: durably in meta, then by
// unlinking the segments wholly below it.
func (l *Log) deleteHead(first uint64) error {
	if err := l.writeMeta(meta{head: first, kv: l.kv}); err != nil {
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
	cut, dirty := s.end, s.end
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
	if err := l.resetTail(s, dirty); err != nil {
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
	if err := l.writeMeta(meta{head: l.head, kv: kv}); err != nil {
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
