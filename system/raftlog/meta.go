package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

const (
	metaName  = "meta"
	metaTmp   = "meta.tmp"
	metaMagic = "FLRMETA1"
	lockName  = "LOCK"
)

// meta is the content of the meta file: the stable store's values and the
// log's head (entries below it were deleted; 0 when nothing was).
type meta struct {
	head uint64
	kv   map[string][]byte
}

func (m meta) encode() []byte {
	b := []byte(metaMagic)
	b = binary.BigEndian.AppendUint32(b, 0) // crc of what follows
	b = binary.BigEndian.AppendUint64(b, m.head)
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.kv)))
	for _, k := range slices.Sorted(maps.Keys(m.kv)) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(k)))
		b = append(b, k...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(m.kv[k])))
		b = append(b, m.kv[k]...)
	}
	binary.BigEndian.PutUint32(b[8:], crc32.Checksum(b[12:], castagnoli))
	return b
}

func decodeMeta(b []byte) (meta, error) {
	m := meta{kv: map[string][]byte{}}
	if len(b) < 24 || string(b[:8]) != metaMagic {
		return m, errors.New("bad magic or too short")
	}
	if crc32.Checksum(b[12:], castagnoli) != binary.BigEndian.Uint32(b[8:]) {
		return m, errors.New("checksum mismatch")
	}
	m.head = binary.BigEndian.Uint64(b[12:])
	n := binary.BigEndian.Uint32(b[20:])
	b = b[24:]
	next := func() ([]byte, bool) {
		if len(b) < 4 || uint64(binary.BigEndian.Uint32(b)) > uint64(len(b)-4) {
			return nil, false
		}
		l := binary.BigEndian.Uint32(b)
		v := b[4 : 4+l]
		b = b[4+l:]
		return v, true
	}
	for range n {
		k, ok1 := next()
		v, ok2 := next()
		if !ok1 || !ok2 {
			return m, errors.New("truncated key or value")
		}
		m.kv[string(k)] = slices.Clone(v)
	}
	if len(b) != 0 {
		return m, fmt.Errorf("%d trailing bytes", len(b))
	}
	return m, nil
}

// readMeta reads dir's meta file; a missing one is an empty meta. A
// meta.tmp left by a crash mid-write is removed: the renamed file is the
// durable one.
func readMeta(dir string) (meta, error) {
	if err := os.Remove(filepath.Join(dir, metaTmp)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return meta{}, fmt.Errorf("remove stale %s: %w", metaTmp, err)
	}
	path := filepath.Join(dir, metaName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return meta{kv: map[string][]byte{}}, nil
	}
	if err != nil {
		return meta{}, fmt.Errorf("read %s: %w", path, err)
	}
	m, err := decodeMeta(b)
	if err != nil {
		return meta{}, fmt.Errorf("%s is corrupt (%w): this node's raft term and vote are lost; "+
			"restore the data directory from a backup or, if the other nodes hold a quorum, empty it so the node resyncs from the leader", path, err)
	}
	return m, nil
}

// writeMeta replaces the meta file atomically and durably.
func (l *Log) writeMeta(m meta) error {
	dir := l.cfg.Dir
	tmp := filepath.Join(dir, metaTmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	_, err = f.Write(m.encode())
	if err == nil {
		err = l.syncFile(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, metaName))
	}
	if err == nil {
		err = l.syncDir()
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Join(dir, metaName), err)
	}
	return nil
}

// MkdirAll creates dir and any missing parents, as os.MkdirAll does, and
// makes each creation durable: the directory that holds a new directory
// is fsynced after it (without that fsync a power failure may undo the
// mkdir, and the log with it, fsynced or not).
func MkdirAll(dir string) error {
	dir = filepath.Clean(dir)
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("raftlog: %s is not a directory", dir)
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := MkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("raftlog: create %s: %w", dir, err)
	}
	if err := SyncDir(parent); err != nil {
		return fmt.Errorf("raftlog: make the creation of %s durable: %w", dir, err)
	}
	return nil
}

// SyncDir makes directory entry changes in dir (create, rename, unlink)
// durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// preallocate reserves size bytes for f, so appends within them change no
// file metadata.
func preallocate(f *os.File, size int64) error {
	if err := unix.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
		return fmt.Errorf("preallocate %s: %w", f.Name(), err)
	}
	return nil
}

// canPreallocate reports whether the file system under f preallocates,
// trying it on f (the lock file, which takes one byte). Tests replace it
// to play a file system that does not.
var canPreallocate = func(f *os.File) (bool, error) {
	err := unix.Fallocate(int(f.Fd()), 0, 0, 1)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("preallocate %s: %w", f.Name(), err)
	}
	return true, nil
}

// fdatasync flushes f's data and the metadata needed to read it.
func fdatasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("fdatasync %s: %w", f.Name(), err)
		}
		return nil
	}
}

// lockDir takes an exclusive flock on dir's LOCK file; the kernel drops it
// when the process dies.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is in use by another process (is another kvnode using this --data directory?)", dir)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}
