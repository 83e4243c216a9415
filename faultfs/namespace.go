package faultfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

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

// inDir runs f on p's directory (open, and the namespace locked) with the
// directory's path and p's name in it.
func (e *Engine) inDir(p string, f func(d *dirRef, dir, name string) error) error {
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
	return f(d, dir, name)
}

// Create creates and opens a file (mode and owner as given) in one
// journaled step; an existing file is opened instead unless flags has
// O_EXCL.
func (e *Engine) Create(p string, flags int, mode uint32, owner *Owner) (*File, error) {
	var f *File
	err := e.inDir(p, func(d *dirRef, dir, name string) (err error) {
		f, err = e.createIn(d, dir, name, p, flags, mode, owner)
		return err
	})
	return f, err
}

// createIn is Create in its directory d, locked.
func (e *Engine) createIn(d *dirRef, dir, name, p string, flags int, mode uint32, owner *Owner) (*File, error) {
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
	return e.inDir(p, func(d *dirRef, dir, name string) error {
		return e.createWith(d, dir, name, p, kind, owner, mk)
	})
}

// createWith is create in its directory d, locked.
func (e *Engine) createWith(d *dirRef, dir, name, p string, kind opKind, owner *Owner, mk func(dfd int, name string) error) error {
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
	return e.inDir(p, func(d *dirRef, dir, name string) error { return e.removeIn(d, dir, name, p, kind) })
}

// removeIn is remove in its directory d, locked.
func (e *Engine) removeIn(d *dirRef, dir, name, p string, kind opKind) error {
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
		if dirRemoved(d0.fd) {
			// Its directory was emptied and removed, and the removal made
			// durable (nats-server empties a directory it renamed aside,
			// removes it and fsyncs the parent): what it held is gone
			// with it.
			u.Note = "its directory was removed durably; the entry stays lost"
			if err := removeAt(e.trashFd, op.trash); err != nil {
				e.log.Warn("faultfs: could not delete an entry of a removed directory from the trash", "entry", op.path, "err", err)
			}
			return u, nil
		}
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

// dirRemoved reports whether the directory open as dfd has no name left.
func dirRemoved(dfd int) bool {
	var st unix.Stat_t
	return unix.Fstat(dfd, &st) == nil && st.Nlink == 0
}

func sameEntry(dfd int, name string, key fileKey) bool {
	var st unix.Stat_t
	return unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && keyOf(&st) == key
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
