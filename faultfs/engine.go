package faultfs

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// TrashName is the hidden directory at the backing root where unlinked,
// removed and displaced entries wait until their directory is fsynced
// (then they are deleted) or the power fails (then they are put back). The
// mount never shows it; it is emptied at every start.
const TrashName = ".faultfs-trash"

// ErrPowerFailed is returned by every operation after a power failure:
// the filesystem is down until it is mounted again.
var ErrPowerFailed = errors.New("faultfs: the power failed: the filesystem is down; mount it again to bring the node back")

// Config says where the backing store is and how much memory the undo
// journal may hold.
type Config struct {
	// Backing is the directory that holds the files; everything in it when
	// the engine opens is durable.
	Backing string
	// MaxJournalBytes bounds the journal's memory (saved old bytes plus
	// spanOverhead a range). Past it, the file holding the most is made
	// durable, as a kernel writes dirty pages back under memory pressure.
	MaxJournalBytes int64
	// Logger receives one line per eviction and per rollback; nil means
	// slog.Default().
	Logger *slog.Logger
}

// DefaultConfig is a 256 MiB journal; Backing must still be set.
func DefaultConfig() Config {
	return Config{MaxJournalBytes: 256 << 20}
}

// Validate says what is missing or wrong.
func (c Config) Validate() error {
	if c.Backing == "" {
		return errors.New("faultfs: no backing directory: set --backing to the directory that holds the node's data")
	}
	if c.MaxJournalBytes <= 0 {
		return fmt.Errorf("faultfs: journal limit %d bytes: give a positive limit (default %d)", c.MaxJournalBytes, DefaultConfig().MaxJournalBytes)
	}
	return nil
}

// Owner is who a created entry belongs to.
type Owner struct{ UID, GID uint32 }

type fileKey struct{ dev, ino uint64 }

func keyOf(st *unix.Stat_t) fileKey { return fileKey{uint64(st.Dev), st.Ino} }

// Engine is the journal behind the filesystem, usable without FUSE: every
// operation is done on the backing store at once (write-through, so a
// crash of the whole process keeps everything) and remembered with what
// it takes to undo it, until a sync makes it durable. PowerFail undoes
// whatever is not durable.
//
// Durability: Sync of a file makes its content and size durable (a File
// opened O_SYNC or O_DSYNC syncs after every write). SyncDir of a
// directory makes the creates, links, unlinks, rmdirs and renames in it
// durable; a rename between two directories is durable once both were
// synced after it.
//
// Paths are slash-separated and relative to the backing root ("" is the
// root).
type Engine struct {
	cfg     Config
	log     *slog.Logger
	root    string
	rootFd  int
	trashFd int

	// gate: every operation holds it shared; PowerFail and Close hold it
	// alone. down is set by them, under it.
	gate sync.RWMutex
	down bool

	// nsMu serializes directory operations, so ops is in the order they
	// were done.
	nsMu     sync.Mutex
	ops      []*nsOp
	dirs     map[fileKey]*dirRef
	trashSeq uint64

	// mu guards inodes and every inode's refs. Lock order: nsMu, then an
	// inode's mu, then mu.
	mu     sync.Mutex
	inodes map[fileKey]*inode

	held         atomic.Int64
	dirtyFiles   atomic.Int64
	peak         atomic.Int64
	evictions    atomic.Int64
	evictedBytes atomic.Int64
	writes       atomic.Int64
	writeBytes   atomic.Int64
	syncs        atomic.Int64
}

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

// dirRef is a directory some pending operation happened in, held open so
// that an undo finds it wherever it was renamed to.
type dirRef struct {
	key  fileKey
	fd   int
	refs int // guarded by Engine.nsMu
}

type opKind int

const (
	opCreate opKind = iota
	opMkdir
	opMknod
	opSymlink
	opLink
	opUnlink
	opRmdir
	opRename
	opExchange
)

var opNames = [...]string{"create", "mkdir", "mknod", "symlink", "link", "unlink", "rmdir", "rename", "exchange"}

func (k opKind) String() string { return opNames[k] }

// nsOp is a directory operation not yet durable: name in dirs[0]; for a
// rename, name2 in dirs[1] is the new name.
type nsOp struct {
	kind        opKind
	dirs        [2]*dirRef
	synced      [2]bool
	name, name2 string
	path, path2 string
	obj         fileKey // what was created, removed or renamed
	trash       string  // the removed or displaced entry's name in the trash
}

func (op *nsOp) durable() bool {
	for i, d := range op.dirs {
		if d != nil && !op.synced[i] {
			return false
		}
	}
	return true
}

// Open starts the journal over cfg.Backing: everything there is durable.
// It empties the trash a killed daemon left behind.
func Open(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	root, err := filepath.Abs(cfg.Backing)
	if err != nil {
		return nil, fmt.Errorf("faultfs: backing directory %q: %w", cfg.Backing, err)
	}
	rootFd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("faultfs: open backing directory %s: %w (create it, or fix --backing)", root, err)
	}
	if err := removeAt(rootFd, TrashName); err != nil && !errors.Is(err, unix.ENOENT) {
		unix.Close(rootFd)
		return nil, fmt.Errorf("faultfs: empty the trash %s: %w", filepath.Join(root, TrashName), err)
	}
	if err := unix.Mkdirat(rootFd, TrashName, 0o700); err != nil {
		unix.Close(rootFd)
		return nil, fmt.Errorf("faultfs: create the trash %s: %w (the backing directory must be writable)", filepath.Join(root, TrashName), err)
	}
	trashFd, err := unix.Openat(rootFd, TrashName, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(rootFd)
		return nil, fmt.Errorf("faultfs: open the trash: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Engine{
		cfg: cfg, log: log, root: root, rootFd: rootFd, trashFd: trashFd,
		dirs: map[fileKey]*dirRef{}, inodes: map[fileKey]*inode{},
	}, nil
}

// Root is the backing directory's absolute path.
func (e *Engine) Root() string { return e.root }

// enter takes the gate shared; the caller must e.gate.RUnlock() when it
// returns nil.
func (e *Engine) enter() error {
	e.gate.RLock()
	if e.down {
		e.gate.RUnlock()
		return ErrPowerFailed
	}
	return nil
}

// cleanPath checks a relative path and returns it cleaned ("" for the root).
func cleanPath(p string) (string, error) {
	c := path.Clean("/" + filepath.ToSlash(p))[1:]
	if strings.HasPrefix(p, "/") || strings.Contains("/"+filepath.ToSlash(p)+"/", "/../") {
		return "", fmt.Errorf("faultfs: path %q: %w (give a path relative to the mount, without ..)", p, unix.EINVAL)
	}
	return c, nil
}

// splitPath cleans p and splits it into its directory and name, refusing
// the root and the trash.
func splitPath(p string) (dir, name string, err error) {
	c, err := cleanPath(p)
	if err != nil {
		return "", "", err
	}
	if c == "" {
		return "", "", fmt.Errorf("faultfs: %q names the root: %w", p, unix.EINVAL)
	}
	dir, name = path.Split(c)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" && name == TrashName {
		return "", "", fmt.Errorf("faultfs: %s is faultfs's own: %w", TrashName, unix.EPERM)
	}
	return dir, name, nil
}

func (e *Engine) abs(rel string) string { return filepath.Join(e.root, filepath.FromSlash(rel)) }

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

// Create creates and opens a file (mode and owner as given) in one
// journaled step; an existing file is opened instead unless flags has
// O_EXCL.
func (e *Engine) Create(p string, flags int, mode uint32, owner *Owner) (*File, error) {
	if err := e.enter(); err != nil {
		return nil, err
	}
	defer e.gate.RUnlock()
	e.nsMu.Lock()
	defer e.nsMu.Unlock()
	dir, name, err := splitPath(p)
	if err != nil {
		return nil, err
	}
	d, err := e.openDir(dir)
	if err != nil {
		return nil, err
	}
	defer e.releaseDir(d)
	fd, err := unix.Openat(d.fd, name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode&0o7777)
	if errors.Is(err, unix.EEXIST) && flags&unix.O_EXCL == 0 {
		fd, err = unix.Openat(d.fd, name, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("faultfs: open %s: %w", p, err)
		}
		return e.openFd(fd, path.Join(dir, name), flags)
	}
	if err != nil {
		return nil, fmt.Errorf("faultfs: create %s: %w", p, err)
	}
	if owner != nil {
		unix.Fchown(fd, int(owner.UID), int(owner.GID))
	}
	f, err := e.openFd(fd, path.Join(dir, name), flags&^unix.O_TRUNC)
	if err != nil {
		unix.Unlinkat(d.fd, name, 0)
		return nil, err
	}
	e.record(&nsOp{kind: opCreate, dirs: [2]*dirRef{d}, name: name, path: path.Join(dir, name), obj: f.ino.key})
	return f, nil
}

// Mkdir creates a directory.
func (e *Engine) Mkdir(p string, mode uint32, owner *Owner) error {
	return e.create(p, opMkdir, owner, func(dfd int, name string) error {
		return unix.Mkdirat(dfd, name, mode&0o7777)
	})
}

// Mknod creates a special file (or a regular one with S_IFREG).
func (e *Engine) Mknod(p string, mode uint32, dev uint64, owner *Owner) error {
	return e.create(p, opMknod, owner, func(dfd int, name string) error {
		return unix.Mknodat(dfd, name, mode, int(dev))
	})
}

// Symlink creates a symbolic link at p to target.
func (e *Engine) Symlink(target, p string, owner *Owner) error {
	return e.create(p, opSymlink, owner, func(dfd int, name string) error {
		return unix.Symlinkat(target, dfd, name)
	})
}

// Link makes p a new name of the file at old.
func (e *Engine) Link(old, p string) error {
	o, err := cleanPath(old)
	if err != nil {
		return err
	}
	return e.create(p, opLink, nil, func(dfd int, name string) error {
		return unix.Linkat(unix.AT_FDCWD, e.abs(o), dfd, name, 0)
	})
}

// create makes an entry with mk and journals it.
func (e *Engine) create(p string, kind opKind, owner *Owner, mk func(dfd int, name string) error) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.gate.RUnlock()
	e.nsMu.Lock()
	defer e.nsMu.Unlock()
	dir, name, err := splitPath(p)
	if err != nil {
		return err
	}
	d, err := e.openDir(dir)
	if err != nil {
		return err
	}
	defer e.releaseDir(d)
	if err := mk(d.fd, name); err != nil {
		return fmt.Errorf("faultfs: %s %s: %w", kind, p, err)
	}
	if owner != nil && kind != opLink {
		unix.Fchownat(d.fd, name, int(owner.UID), int(owner.GID), unix.AT_SYMLINK_NOFOLLOW)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("faultfs: stat %s: %w", p, err)
	}
	e.record(&nsOp{kind: kind, dirs: [2]*dirRef{d}, name: name, path: path.Join(dir, name), obj: keyOf(&st)})
	return nil
}

// Unlink removes a name; the file waits in the trash until the directory
// is synced.
func (e *Engine) Unlink(p string) error { return e.remove(p, opUnlink) }

// Rmdir removes an empty directory, kept in the trash like Unlink's files.
func (e *Engine) Rmdir(p string) error { return e.remove(p, opRmdir) }

func (e *Engine) remove(p string, kind opKind) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.gate.RUnlock()
	e.nsMu.Lock()
	defer e.nsMu.Unlock()
	dir, name, err := splitPath(p)
	if err != nil {
		return err
	}
	d, err := e.openDir(dir)
	if err != nil {
		return err
	}
	defer e.releaseDir(d)
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("faultfs: %s %s: %w", kind, p, err)
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	switch {
	case kind == opUnlink && isDir:
		return fmt.Errorf("faultfs: unlink %s: %w", p, unix.EISDIR)
	case kind == opRmdir && !isDir:
		return fmt.Errorf("faultfs: rmdir %s: %w", p, unix.ENOTDIR)
	case kind == opRmdir:
		if err := checkEmpty(d.fd, name); err != nil {
			return fmt.Errorf("faultfs: rmdir %s: %w", p, err)
		}
	}
	trash := e.nextTrash()
	if err := unix.Renameat(d.fd, name, e.trashFd, trash); err != nil {
		return fmt.Errorf("faultfs: %s %s (into the trash): %w", kind, p, err)
	}
	e.record(&nsOp{kind: kind, dirs: [2]*dirRef{d}, name: name, path: path.Join(dir, name), obj: keyOf(&st), trash: trash})
	return nil
}

// Rename renames old to new; flags are renameat2's (RENAME_NOREPLACE,
// RENAME_EXCHANGE). An entry it replaces waits in the trash.
func (e *Engine) Rename(old, new string, flags uint) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.gate.RUnlock()
	e.nsMu.Lock()
	defer e.nsMu.Unlock()
	odir, oname, err := splitPath(old)
	if err != nil {
		return err
	}
	ndir, nname, err := splitPath(new)
	if err != nil {
		return err
	}
	if flags&^uint(unix.RENAME_NOREPLACE|unix.RENAME_EXCHANGE) != 0 {
		return fmt.Errorf("faultfs: rename %s: flags %#x: %w", old, flags, unix.EINVAL)
	}
	od, err := e.openDir(odir)
	if err != nil {
		return err
	}
	defer e.releaseDir(od)
	nd, err := e.openDir(ndir)
	if err != nil {
		return err
	}
	defer e.releaseDir(nd)
	var src, dst unix.Stat_t
	if err := unix.Fstatat(od.fd, oname, &src, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("faultfs: rename %s: %w", old, err)
	}
	op := &nsOp{kind: opRename, dirs: [2]*dirRef{od, nd}, name: oname, name2: nname,
		path: path.Join(odir, oname), path2: path.Join(ndir, nname), obj: keyOf(&src)}
	if flags&unix.RENAME_EXCHANGE != 0 {
		if err := unix.Renameat2(od.fd, oname, nd.fd, nname, unix.RENAME_EXCHANGE); err != nil {
			return fmt.Errorf("faultfs: exchange %s and %s: %w", old, new, err)
		}
		op.kind = opExchange
		e.record(op)
		return nil
	}
	err = unix.Fstatat(nd.fd, nname, &dst, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case errors.Is(err, unix.ENOENT):
	case err != nil:
		return fmt.Errorf("faultfs: rename %s to %s: %w", old, new, err)
	case keyOf(&dst) == keyOf(&src):
		return nil // two names of one file: rename does nothing
	case flags&unix.RENAME_NOREPLACE != 0:
		return fmt.Errorf("faultfs: rename %s to %s: %w", old, new, unix.EEXIST)
	default:
		srcDir, dstDir := src.Mode&unix.S_IFMT == unix.S_IFDIR, dst.Mode&unix.S_IFMT == unix.S_IFDIR
		switch {
		case srcDir && !dstDir:
			return fmt.Errorf("faultfs: rename %s to %s: %w", old, new, unix.ENOTDIR)
		case !srcDir && dstDir:
			return fmt.Errorf("faultfs: rename %s to %s: %w", old, new, unix.EISDIR)
		case dstDir:
			if err := checkEmpty(nd.fd, nname); err != nil {
				return fmt.Errorf("faultfs: rename %s to %s: %w", old, new, err)
			}
		}
		op.trash = e.nextTrash()
		if err := unix.Renameat(nd.fd, nname, e.trashFd, op.trash); err != nil {
			return fmt.Errorf("faultfs: rename %s to %s (displacing the target): %w", old, new, err)
		}
	}
	if err := unix.Renameat2(od.fd, oname, nd.fd, nname, unix.RENAME_NOREPLACE); err != nil {
		if op.trash != "" {
			unix.Renameat(e.trashFd, op.trash, nd.fd, nname)
		}
		return fmt.Errorf("faultfs: rename %s to %s: %w", old, new, err)
	}
	e.record(op)
	return nil
}

// SyncDir fsyncs a directory: the pending operations in it become durable
// on its side (a rename needs both of its directories synced).
func (e *Engine) SyncDir(p string) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.gate.RUnlock()
	e.syncs.Add(1)
	c, err := cleanPath(p)
	if err != nil {
		return err
	}
	fd, err := unix.Open(e.abs(c), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("faultfs: fsync directory %s: %w", c, err)
	}
	defer unix.Close(fd)
	if err := unix.Fsync(fd); err != nil {
		return fmt.Errorf("faultfs: fsync directory %s: %w", c, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("faultfs: stat directory %s: %w", c, err)
	}
	key := keyOf(&st)
	e.nsMu.Lock()
	defer e.nsMu.Unlock()
	kept := e.ops[:0]
	for _, op := range e.ops {
		for i, d := range op.dirs {
			if d != nil && d.key == key {
				op.synced[i] = true
			}
		}
		if op.durable() {
			e.settle(op)
		} else {
			kept = append(kept, op)
		}
	}
	clear(e.ops[len(kept):])
	e.ops = kept
	return nil
}

// settle forgets a durable operation: what it removed leaves the trash
// for good. Called with nsMu held.
func (e *Engine) settle(op *nsOp) {
	if op.trash != "" {
		if err := removeAt(e.trashFd, op.trash); err != nil {
			e.log.Warn("faultfs: could not delete a durably removed entry from the trash", "entry", op.path, "err", err)
		}
		e.forgetUnlinked(op)
	}
	for _, d := range op.dirs {
		if d != nil {
			e.releaseDir(d)
		}
	}
}

// forgetUnlinked drops the journal of a file whose last name is gone for
// good: no power failure can bring it back.
func (e *Engine) forgetUnlinked(op *nsOp) {
	e.mu.Lock()
	var victims []*inode
	for _, ino := range e.inodes {
		var st unix.Stat_t
		if unix.Fstat(ino.fd, &st) == nil && st.Nlink == 0 {
			victims = append(victims, ino)
		}
	}
	e.mu.Unlock()
	for _, ino := range victims {
		ino.mu.Lock()
		e.commitLocked(ino)
		ino.mu.Unlock()
	}
}

func (e *Engine) nextTrash() string {
	e.trashSeq++
	return strconv.FormatUint(e.trashSeq, 10)
}

// record appends a pending operation, holding its directories. Called
// with nsMu held.
func (e *Engine) record(op *nsOp) {
	for _, d := range op.dirs {
		if d != nil {
			d.refs++
		}
	}
	e.ops = append(e.ops, op)
}

// openDir holds a directory open (the caller releases it). Called with
// nsMu held.
func (e *Engine) openDir(rel string) (*dirRef, error) {
	var fd int
	var err error
	if rel == "" {
		fd, err = unix.FcntlInt(uintptr(e.rootFd), unix.F_DUPFD_CLOEXEC, 0)
	} else {
		fd, err = unix.Openat(e.rootFd, filepath.FromSlash(rel), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("faultfs: open directory %q: %w", rel, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("faultfs: stat directory %q: %w", rel, err)
	}
	if d, ok := e.dirs[keyOf(&st)]; ok {
		unix.Close(fd)
		d.refs++
		return d, nil
	}
	d := &dirRef{key: keyOf(&st), fd: fd, refs: 1}
	e.dirs[d.key] = d
	return d, nil
}

// releaseDir drops a hold on a directory. Called with nsMu held.
func (e *Engine) releaseDir(d *dirRef) {
	d.refs--
	if d.refs == 0 {
		unix.Close(d.fd)
		delete(e.dirs, d.key)
	}
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

// Stats is the journal's state now.
func (e *Engine) Stats() JournalStats {
	e.nsMu.Lock()
	pending := len(e.ops)
	e.nsMu.Unlock()
	return JournalStats{
		Bytes: e.held.Load(), Peak: e.peak.Load(), Limit: e.cfg.MaxJournalBytes,
		DirtyFiles: int(e.dirtyFiles.Load()), PendingEntries: pending,
		Evictions: e.evictions.Load(), EvictedBytes: e.evictedBytes.Load(),
		Writes: e.writes.Load(), WriteBytes: e.writeBytes.Load(), Syncs: e.syncs.Load(),
	}
}

// PowerFail drops everything not durable, as a power failure would: every
// file's content and size go back to their last sync, and the pending
// directory operations are undone, newest first. The engine is down
// afterwards: every operation fails with ErrPowerFailed.
func (e *Engine) PowerFail() (PowerFailReport, error) {
	e.gate.Lock()
	defer e.gate.Unlock()
	if e.down {
		return PowerFailReport{}, ErrPowerFailed
	}
	e.down = true
	rep := PowerFailReport{Journal: e.Stats(), Files: []FileLoss{}, Entries: []EntryUndone{}}
	var errs []error
	for _, ino := range e.inodes {
		if !ino.dirty {
			continue
		}
		loss, err := e.rollback(ino)
		if err != nil {
			errs = append(errs, err)
		}
		rep.Files = append(rep.Files, loss)
		rep.BytesDropped += loss.BytesDropped
	}
	sort.Slice(rep.Files, func(i, j int) bool { return rep.Files[i].Path < rep.Files[j].Path })
	rep.FilesChanged = len(rep.Files)
	for i := len(e.ops) - 1; i >= 0; i-- {
		u, err := e.undo(e.ops[i])
		if err != nil {
			errs = append(errs, err)
		}
		rep.Entries = append(rep.Entries, u)
	}
	rep.EntriesUndone = len(rep.Entries)
	if err := unix.Syncfs(e.rootFd); err != nil {
		errs = append(errs, fmt.Errorf("faultfs: syncfs after the rollback: %w", err))
	}
	e.closeAll()
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("faultfs: power failure: the rollback was incomplete: %w", err)
	}
	e.log.Info("faultfs: power failure", "bytes_dropped", rep.BytesDropped, "files", rep.FilesChanged, "entries_undone", rep.EntriesUndone)
	return rep, nil
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

// undo reverts one pending directory operation.
func (e *Engine) undo(op *nsOp) (EntryUndone, error) {
	u := EntryUndone{Op: op.kind.String(), Path: op.path, To: op.path2}
	d0, d1 := op.dirs[0], op.dirs[1]
	switch op.kind {
	case opCreate, opMkdir, opMknod, opSymlink, opLink:
		if !sameEntry(d0.fd, op.name, op.obj) {
			u.Note = "the name no longer holds what was created; left as it is"
			return u, nil
		}
		if err := removeAt(d0.fd, op.name); err != nil {
			return u, fmt.Errorf("faultfs: undo %s %s: %w", op.kind, op.path, err)
		}
	case opUnlink, opRmdir:
		err := unix.Renameat2(e.trashFd, op.trash, d0.fd, op.name, unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.EEXIST) {
			u.Note = "a durable entry took the name; the removed one stays lost"
			return u, nil
		}
		if err != nil {
			return u, fmt.Errorf("faultfs: undo %s %s: %w", op.kind, op.path, err)
		}
	case opRename:
		if !sameEntry(d1.fd, op.name2, op.obj) {
			u.Note = "the new name no longer holds the renamed entry; left as it is"
			return u, nil
		}
		err := unix.Renameat2(d1.fd, op.name2, d0.fd, op.name, unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.EEXIST) {
			u.Note = "a durable entry took the old name; the renamed one is lost"
			err = removeAt(d1.fd, op.name2)
		}
		if err != nil {
			return u, fmt.Errorf("faultfs: undo rename %s to %s: %w", op.path, op.path2, err)
		}
		if op.trash != "" {
			if err := unix.Renameat2(e.trashFd, op.trash, d1.fd, op.name2, unix.RENAME_NOREPLACE); err != nil {
				return u, fmt.Errorf("faultfs: undo rename %s to %s: restore the replaced entry: %w", op.path, op.path2, err)
			}
		}
	case opExchange:
		if err := unix.Renameat2(d0.fd, op.name, d1.fd, op.name2, unix.RENAME_EXCHANGE); err != nil {
			return u, fmt.Errorf("faultfs: undo exchange %s and %s: %w", op.path, op.path2, err)
		}
	}
	return u, nil
}

func sameEntry(dfd int, name string, key fileKey) bool {
	var st unix.Stat_t
	return unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && keyOf(&st) == key
}

// Close stops the engine without a power failure: the backing store keeps
// every operation (process-crash semantics) and the trash is emptied.
func (e *Engine) Close() error {
	e.gate.Lock()
	defer e.gate.Unlock()
	if e.down {
		return nil
	}
	e.down = true
	e.closeAll()
	return nil
}

// closeAll releases every descriptor and empties the trash. Called with
// the gate held alone.
func (e *Engine) closeAll() {
	for _, ino := range e.inodes {
		unix.Close(ino.fd)
	}
	for _, d := range e.dirs {
		unix.Close(d.fd)
	}
	e.inodes, e.dirs, e.ops = nil, nil, nil
	unix.Close(e.trashFd)
	if err := removeAt(e.rootFd, TrashName); err != nil {
		e.log.Warn("faultfs: could not empty the trash", "dir", filepath.Join(e.root, TrashName), "err", err)
	}
	unix.Close(e.rootFd)
}

// checkEmpty fails with ENOTEMPTY unless the directory name in dfd is empty.
func checkEmpty(dfd int, name string) error {
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	names, err := f.Readdirnames(1)
	if len(names) > 0 {
		return unix.ENOTEMPTY
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// removeAt removes the entry name in dfd, a whole tree if it is a
// directory.
func removeAt(dfd int, name string) error {
	err := unix.Unlinkat(dfd, name, 0)
	if err == nil || !(errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EPERM)) {
		return err
	}
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	names, err := f.Readdirnames(-1)
	if err != nil {
		f.Close()
		return err
	}
	for _, n := range names {
		if err := removeAt(fd, n); err != nil {
			f.Close()
			return err
		}
	}
	f.Close()
	return unix.Unlinkat(dfd, name, unix.AT_REMOVEDIR)
}
