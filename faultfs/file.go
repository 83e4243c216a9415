package faultfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// inode is an open or dirty backing file: one read-write descriptor for
// every File on it, and the file's journal.
type inode struct {
	key  fileKey
	fd   int
	path string // the name it was opened by, for reports when /proc is absent
	refs int    // open Files, plus one while dirty; guarded by Engine.mu

	mu          sync.Mutex
	dirty       bool
	durableSize int64
	saved       spanSet
	heldMem     atomic.Int64 // saved.held, readable without mu
}

// File is an open backing file. Its methods may be called concurrently.
type File struct {
	e          *Engine
	ino        *inode
	syncWrites bool
}

// Open opens an existing file (O_TRUNC truncates it, journaled; O_SYNC or
// O_DSYNC make each write durable).
func (e *Engine) Open(p string, flags int) (*File, error) {
	if err := e.enter(); err != nil {
		return nil, err
	}
	defer e.gate.RUnlock()
	c, err := cleanPath(p)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open(e.abs(c), unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("faultfs: open %s: %w", c, err)
	}
	return e.openFd(fd, c, flags)
}

// openFd makes a File of a freshly opened descriptor (the inode takes it
// or closes it).
func (e *Engine) openFd(fd int, rel string, flags int) (*File, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("faultfs: stat %s: %w", rel, err)
	}
	e.mu.Lock()
	ino, ok := e.inodes[keyOf(&st)]
	if ok {
		unix.Close(fd)
		ino.refs++
	} else {
		ino = &inode{key: keyOf(&st), fd: fd, path: rel, refs: 1}
		e.inodes[ino.key] = ino
	}
	e.mu.Unlock()
	f := &File{e: e, ino: ino, syncWrites: flags&unix.O_DSYNC != 0}
	if flags&unix.O_TRUNC != 0 {
		if err := f.truncate(0); err != nil {
			f.release()
			return nil, err
		}
	}
	return f, nil
}

// Truncate sets the size of the file at p (truncate(2)).
func (e *Engine) Truncate(p string, size int64) error {
	f, err := e.Open(p, unix.O_RDWR)
	if err != nil {
		return err
	}
	defer f.Release()
	return f.Truncate(size)
}

// WriteAt writes p at off, saving the durable bytes it overwrites first.
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	if err := f.e.enter(); err != nil {
		return 0, err
	}
	defer f.e.gate.RUnlock()
	ino := f.ino
	ino.mu.Lock()
	if err := f.e.dirtyLocked(ino); err != nil {
		ino.mu.Unlock()
		return 0, err
	}
	err := f.e.saveLocked(ino, off, off+int64(len(p)))
	n := 0
	for err == nil && n < len(p) {
		var w int
		w, err = unix.Pwrite(ino.fd, p[n:], off+int64(n))
		if err == nil && w == 0 {
			err = unix.EIO
		}
		n += w
	}
	if err == nil && f.syncWrites {
		err = f.e.syncLocked(ino, true)
	}
	ino.mu.Unlock()
	f.e.writes.Add(1)
	f.e.writeBytes.Add(int64(n))
	f.e.evict()
	if err != nil {
		return n, fmt.Errorf("faultfs: write %s at %d: %w", ino.path, off, err)
	}
	return n, nil
}

// ReadAt reads from the backing file.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if err := f.e.enter(); err != nil {
		return 0, err
	}
	defer f.e.gate.RUnlock()
	n, err := unix.Pread(f.ino.fd, p, off)
	if err != nil {
		return 0, fmt.Errorf("faultfs: read %s at %d: %w", f.ino.path, off, err)
	}
	return n, nil
}

// Stat is fstat(2) of the backing file.
func (f *File) Stat(st *syscall.Stat_t) error {
	if err := f.e.enter(); err != nil {
		return err
	}
	defer f.e.gate.RUnlock()
	if err := syscall.Fstat(f.ino.fd, st); err != nil {
		return fmt.Errorf("faultfs: stat %s: %w", f.ino.path, err)
	}
	return nil
}

// Truncate sets the file's size, saving the durable bytes it cuts off.
func (f *File) Truncate(size int64) error {
	if err := f.e.enter(); err != nil {
		return err
	}
	defer f.e.gate.RUnlock()
	return f.truncate(size)
}

func (f *File) truncate(size int64) error {
	ino := f.ino
	ino.mu.Lock()
	defer ino.mu.Unlock()
	if err := f.e.dirtyLocked(ino); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstat(ino.fd, &st); err != nil {
		return fmt.Errorf("faultfs: stat %s: %w", ino.path, err)
	}
	if err := f.e.saveLocked(ino, size, st.Size); err != nil {
		return err
	}
	if err := unix.Ftruncate(ino.fd, size); err != nil {
		return fmt.Errorf("faultfs: truncate %s to %d: %w", ino.path, size, err)
	}
	if f.syncWrites {
		return f.e.syncLocked(ino, true)
	}
	return nil
}

// Allocate is fallocate(2): hole punching, zeroing, collapsing and
// inserting save the durable bytes they change.
func (f *File) Allocate(off, length int64, mode uint32) error {
	if err := f.e.enter(); err != nil {
		return err
	}
	defer f.e.gate.RUnlock()
	ino := f.ino
	ino.mu.Lock()
	defer ino.mu.Unlock()
	if err := f.e.dirtyLocked(ino); err != nil {
		return err
	}
	save := [2]int64{}
	switch {
	case mode&(unix.FALLOC_FL_COLLAPSE_RANGE|unix.FALLOC_FL_INSERT_RANGE) != 0:
		save = [2]int64{off, ino.durableSize}
	case mode&(unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_ZERO_RANGE) != 0:
		save = [2]int64{off, off + length}
	}
	if err := f.e.saveLocked(ino, save[0], save[1]); err != nil {
		return err
	}
	if err := unix.Fallocate(ino.fd, mode, off, length); err != nil {
		return fmt.Errorf("faultfs: fallocate %s: %w", ino.path, err)
	}
	return nil
}

// Sync is fsync (datasync: fdatasync): the file's content and size become
// durable.
func (f *File) Sync(datasync bool) error {
	if err := f.e.enter(); err != nil {
		return err
	}
	defer f.e.gate.RUnlock()
	f.ino.mu.Lock()
	defer f.ino.mu.Unlock()
	return f.e.syncLocked(f.ino, datasync)
}

// Release closes the File.
func (f *File) Release() {
	f.e.gate.RLock()
	defer f.e.gate.RUnlock()
	if !f.e.down {
		f.release()
	}
}

func (f *File) release() {
	f.e.mu.Lock()
	defer f.e.mu.Unlock()
	f.e.unrefLocked(f.ino)
}

func (e *Engine) unrefLocked(ino *inode) {
	ino.refs--
	if ino.refs == 0 {
		unix.Close(ino.fd)
		delete(e.inodes, ino.key)
	}
}

// dirtyLocked starts the file's journal if it has none: its size now is
// its durable size.
func (e *Engine) dirtyLocked(ino *inode) error {
	if ino.dirty {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(ino.fd, &st); err != nil {
		return fmt.Errorf("faultfs: stat %s: %w", ino.path, err)
	}
	ino.dirty = true
	ino.durableSize = st.Size
	e.dirtyFiles.Add(1)
	e.mu.Lock()
	ino.refs++
	e.mu.Unlock()
	return nil
}

// saveChunkBytes bounds one read of old bytes.
const saveChunkBytes = 1 << 20

// saveLocked saves the durable bytes in [off, end) not saved yet.
func (e *Engine) saveLocked(ino *inode, off, end int64) error {
	end = min(end, ino.durableSize)
	before := ino.saved.held
	for _, g := range ino.saved.gaps(off, end) {
		for o := g[0]; o < g[1]; o += saveChunkBytes {
			buf := make([]byte, min(saveChunkBytes, g[1]-o))
			n, err := unix.Pread(ino.fd, buf, o)
			if err != nil {
				return fmt.Errorf("faultfs: save old bytes of %s at %d: %w", ino.path, o, err)
			}
			clear(buf[n:]) // past the end of a file that shrank: zeros, as it reads
			ino.saved.add(span{off: o, n: int64(len(buf)), data: buf})
		}
	}
	e.account(ino, ino.saved.held-before)
	return nil
}

func (e *Engine) account(ino *inode, delta int64) {
	if delta == 0 {
		return
	}
	ino.heldMem.Add(delta)
	h := e.held.Add(delta)
	for p := e.peak.Load(); h > p && !e.peak.CompareAndSwap(p, h); p = e.peak.Load() {
	}
}

// syncLocked fsyncs the backing file and makes the file durable.
func (e *Engine) syncLocked(ino *inode, datasync bool) error {
	e.syncs.Add(1)
	sync := unix.Fsync
	if datasync {
		sync = unix.Fdatasync
	}
	if err := sync(ino.fd); err != nil {
		return fmt.Errorf("faultfs: fsync %s: %w", ino.path, err)
	}
	e.commitLocked(ino)
	return nil
}

// commitLocked forgets the file's journal: what it holds now is durable.
func (e *Engine) commitLocked(ino *inode) {
	if !ino.dirty {
		return
	}
	e.account(ino, -ino.saved.held)
	ino.saved.reset()
	ino.dirty = false
	e.dirtyFiles.Add(-1)
	e.mu.Lock()
	e.unrefLocked(ino)
	e.mu.Unlock()
}

// evict makes the files holding the most journal memory durable until the
// journal is within its limit.
func (e *Engine) evict() {
	for e.held.Load() > e.cfg.MaxJournalBytes {
		e.mu.Lock()
		var victim *inode
		for _, ino := range e.inodes {
			if victim == nil || ino.heldMem.Load() > victim.heldMem.Load() {
				victim = ino
			}
		}
		if victim != nil {
			victim.refs++ // keep its descriptor while it is committed
		}
		e.mu.Unlock()
		if victim == nil || victim.heldMem.Load() == 0 {
			if victim != nil {
				e.mu.Lock()
				e.unrefLocked(victim)
				e.mu.Unlock()
			}
			return
		}
		victim.mu.Lock()
		freed := victim.saved.held
		e.commitLocked(victim)
		victim.mu.Unlock()
		e.mu.Lock()
		e.unrefLocked(victim)
		e.mu.Unlock()
		e.evictions.Add(1)
		e.evictedBytes.Add(freed)
		e.log.Info("faultfs: journal full, file made durable", "file", victim.path, "freed_bytes", freed, "limit_bytes", e.cfg.MaxJournalBytes)
	}
}

// rollback restores a file's durable content and size.
func (e *Engine) rollback(ino *inode) (FileLoss, error) {
	loss := FileLoss{Path: e.pathOf(ino), DurableSize: ino.durableSize}
	var st unix.Stat_t
	if err := unix.Fstat(ino.fd, &st); err != nil {
		return loss, fmt.Errorf("faultfs: stat %s: %w", loss.Path, err)
	}
	loss.SizeBefore = st.Size
	loss.BytesDropped = ino.saved.savedBytes() + max(0, st.Size-ino.durableSize)
	if err := unix.Ftruncate(ino.fd, ino.durableSize); err != nil {
		return loss, fmt.Errorf("faultfs: truncate %s back to %d: %w", loss.Path, ino.durableSize, err)
	}
	for _, sp := range ino.saved.spans {
		for o := int64(0); o < sp.n; {
			b := zeroBlock[:min(int64(len(zeroBlock)), sp.n-o)]
			if sp.data != nil {
				b = sp.data[o:]
			}
			n, err := unix.Pwrite(ino.fd, b, sp.off+o)
			if err != nil {
				return loss, fmt.Errorf("faultfs: restore %s at %d: %w", loss.Path, sp.off+o, err)
			}
			o += int64(n)
		}
	}
	return loss, unix.Fsync(ino.fd)
}

// pathOf is the file's current name under the root, "" when it has none.
func (e *Engine) pathOf(ino *inode) string {
	target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(ino.fd))
	if err != nil {
		return ino.path
	}
	rel, err := filepath.Rel(e.root, target)
	if err != nil || strings.HasPrefix(rel, "..") || strings.HasPrefix(rel, TrashName+"/") || strings.HasSuffix(target, " (deleted)") {
		return ""
	}
	return filepath.ToSlash(rel)
}
