package faultfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// MountConfig says what to mount where.
type MountConfig struct {
	// Config is the engine's: the backing directory and the journal limit.
	Config
	// Mountpoint is where the filesystem appears; created when missing.
	Mountpoint string
	// Debug logs every FUSE request.
	Debug bool
}

// DefaultMountConfig is DefaultConfig with nothing mounted yet.
func DefaultMountConfig() MountConfig { return MountConfig{Config: DefaultConfig()} }

// Validate says what is missing or wrong.
func (c MountConfig) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if c.Mountpoint == "" {
		return errors.New("faultfs: no mount point: set --mount to the directory the node uses for its data")
	}
	return nil
}

// Mounted is a mounted faultfs.
type Mounted struct {
	engine *Engine
	server *fuse.Server
	dir    string
}

// Mount mounts cfg.Backing at cfg.Mountpoint (root only: it calls
// mount(2), without fusermount). A stale FUSE mount left there by a killed
// daemon is lazily unmounted first. The mount is allow_other and
// default_permissions; FUSE passthrough and writeback caching are refused,
// so every write reaches the journal.
func Mount(ctx context.Context, cfg MountConfig) (*Mounted, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.Mountpoint)
	if err != nil {
		return nil, fmt.Errorf("faultfs: mount point %q: %w", cfg.Mountpoint, err)
	}
	if err := UnmountStale(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("faultfs: create mount point: %w", err)
	}
	e, err := Open(cfg.Config)
	if err != nil {
		return nil, err
	}
	lb, err := fs.NewLoopbackRoot(e.Root())
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("faultfs: backing root: %w", err)
	}
	root := &node{LoopbackNode: lb.(*fs.LoopbackNode), e: e}
	second := time.Second
	server, err := fs.Mount(dir, root, &fs.Options{
		EntryTimeout: &second,
		AttrTimeout:  &second,
		MountOptions: fuse.MountOptions{
			AllowOther:           true,
			Options:              []string{"default_permissions"},
			FsName:               "faultfs:" + e.Root(),
			Name:                 "faultfs",
			DirectMountStrict:    true,
			DisabledCapabilities: fuse.CAP_PASSTHROUGH | fuse.CAP_WRITEBACK_CACHE,
			Debug:                cfg.Debug,
		},
	})
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("faultfs: mount %s on %s: %w (needs root, /dev/fuse and, in a container, --device /dev/fuse --cap-add SYS_ADMIN)", e.Root(), dir, err)
	}
	closeFuseOnExec()
	return &Mounted{engine: e, server: server, dir: dir}, nil
}

// CanMount says why this process cannot mount faultfs, or nil: it needs
// root and /dev/fuse.
func CanMount() error {
	if os.Geteuid() != 0 {
		return errors.New("not root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return errors.New("no /dev/fuse")
	}
	return nil
}

// closeFuseOnExec marks this process's /dev/fuse descriptors close-on-exec.
// go-fuse v2.12.1 leaves the one a direct mount opens inheritable; a
// command started afterwards would hold the connection, and when the
// daemon dies that command hangs for ever in its exit, flushing files to
// a server no one runs.
func closeFuseOnExec() {
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, ent := range ents {
		fd, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		if target, err := os.Readlink("/proc/self/fd/" + ent.Name()); err == nil && target == "/dev/fuse" {
			unix.CloseOnExec(fd)
		}
	}
}

// Engine is the journal behind the mount.
func (m *Mounted) Engine() *Engine { return m.engine }

// Dir is the mount point.
func (m *Mounted) Dir() string { return m.dir }

// PowerFail rolls the backing store back to its durable state under model
// (see Engine.PowerFail); every later request on the mount fails with EIO.
// Unmount it afterwards.
func (m *Mounted) PowerFail(model PowerModel) (PowerFailReport, error) {
	return m.engine.PowerFail(model)
}

// Unmount unmounts (lazily when files are still open) and closes the
// engine; without a PowerFail the backing store keeps every write.
func (m *Mounted) Unmount() error {
	err := m.server.Unmount()
	if err != nil {
		if lerr := unix.Unmount(m.dir, unix.MNT_DETACH); lerr != nil {
			return fmt.Errorf("faultfs: unmount %s: %w; lazy unmount: %w", m.dir, err, lerr)
		}
	}
	return m.engine.Close()
}

// UnmountStale lazily unmounts whatever is mounted at dir (a daemon killed
// earlier leaves "transport endpoint is not connected" there); nothing
// mounted is no error.
func UnmountStale(dir string) error {
	err := unix.Unmount(dir, unix.MNT_DETACH)
	if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return fmt.Errorf("faultfs: unmount the stale mount at %s: %w (unmount it by hand: umount -l %s)", dir, err, dir)
}

// errno is the status a FUSE request answers for err.
func errno(err error) syscall.Errno {
	var en syscall.Errno
	switch {
	case err == nil:
		return 0
	case errors.As(err, &en):
		return en
	default:
		return syscall.EIO
	}
}

// node is a file or directory of the mount: reads and stats go to the
// backing store through the embedded loopback node; everything that
// changes it goes through the engine.
type node struct {
	*fs.LoopbackNode
	e *Engine
}

var (
	_ fs.NodeWrapChilder    = (*node)(nil)
	_ fs.NodeLookuper       = (*node)(nil)
	_ fs.NodeOpendirHandler = (*node)(nil)
	_ fs.NodeReaddirer      = (*node)(nil)
	_ fs.NodeCreater        = (*node)(nil)
	_ fs.NodeOpener         = (*node)(nil)
	_ fs.NodeMkdirer        = (*node)(nil)
	_ fs.NodeMknoder        = (*node)(nil)
	_ fs.NodeSymlinker      = (*node)(nil)
	_ fs.NodeLinker         = (*node)(nil)
	_ fs.NodeUnlinker       = (*node)(nil)
	_ fs.NodeRmdirer        = (*node)(nil)
	_ fs.NodeRenamer        = (*node)(nil)
	_ fs.NodeSetattrer      = (*node)(nil)
	_ fs.NodeTmpfiler       = (*node)(nil)
	_ fs.NodeCopyFileRanger = (*node)(nil)
)

func (n *node) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	return &node{LoopbackNode: ops.(*fs.LoopbackNode), e: n.e}
}

func (n *node) rel() string              { return n.Path(n.Root()) }
func (n *node) child(name string) string { return path.Join(n.rel(), name) }
func (n *node) isRoot() bool             { return n.EmbeddedInode() == n.Root() }
func (n *node) hidden(name string) bool  { return n.isRoot() && name == TrashName }

// owner is the caller, whom a created entry belongs to.
func (n *node) owner(ctx context.Context) *Owner {
	c, ok := fuse.FromContext(ctx)
	if !ok || os.Geteuid() != 0 {
		return nil
	}
	return &Owner{UID: c.Uid, GID: c.Gid}
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if n.hidden(name) {
		return nil, syscall.ENOENT
	}
	return n.LoopbackNode.Lookup(ctx, name, out)
}

// entry answers a request that made the entry name.
func (n *node) entry(ctx context.Context, name string, err error, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if err != nil {
		return nil, errno(err)
	}
	return n.LoopbackNode.Lookup(ctx, name, out)
}

func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	f, err := n.e.Create(n.child(name), int(flags), mode, n.owner(ctx))
	if err != nil {
		return nil, nil, 0, errno(err)
	}
	ch, en := n.LoopbackNode.Lookup(ctx, name, out)
	if en != 0 {
		f.Release()
		return nil, nil, 0, en
	}
	return ch, &handle{f: f}, 0, 0
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	f, err := n.e.Open(n.rel(), int(flags))
	if err != nil {
		return nil, 0, errno(err)
	}
	return &handle{f: f}, 0, 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.entry(ctx, name, n.e.Mkdir(n.child(name), mode, n.owner(ctx)), out)
}

func (n *node) Mknod(ctx context.Context, name string, mode, rdev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.entry(ctx, name, n.e.Mknod(n.child(name), mode, uint64(rdev), n.owner(ctx)), out)
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.entry(ctx, name, n.e.Symlink(target, n.child(name), n.owner(ctx)), out)
}

func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.entry(ctx, name, n.e.Link(target.EmbeddedInode().Path(n.Root()), n.child(name)), out)
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return errno(n.e.Unlink(n.child(name)))
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return errno(n.e.Rmdir(n.child(name)))
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	to := path.Join(newParent.EmbeddedInode().Path(n.Root()), newName)
	return errno(n.e.Rename(n.child(name), to, uint(flags)))
}

// Setattr journals a size change; mode, owner and times go to the
// backing store unjournaled (a power failure keeps them).
func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok {
		var err error
		if h, ok := f.(*handle); ok {
			err = h.f.Truncate(int64(size))
		} else {
			err = n.e.Truncate(n.rel(), int64(size))
		}
		if err != nil {
			return errno(err)
		}
		in.Valid &^= fuse.FATTR_SIZE
	}
	return n.LoopbackNode.Setattr(ctx, f, in, out)
}

// Tmpfile is refused: an O_TMPFILE file would bypass the journal; callers
// fall back to a named file.
func (n *node) Tmpfile(ctx context.Context, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EOPNOTSUPP
}

// CopyFileRange is refused, so the kernel copies with reads and writes
// that the journal sees.
func (n *node) CopyFileRange(ctx context.Context, fhIn fs.FileHandle, offIn uint64, out *fs.Inode, fhOut fs.FileHandle, offOut, length, flags uint64) (uint32, syscall.Errno) {
	return 0, syscall.EOPNOTSUPP
}

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	ds, en := n.Readdir(ctx)
	if en != 0 {
		return nil, 0, en
	}
	return &dirHandle{ds: ds, n: n}, 0, 0
}

func (n *node) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	ds, en := fs.NewLoopbackDirStream(filepath.Join(n.e.Root(), n.rel()))
	if en != 0 || !n.isRoot() {
		return ds, en
	}
	return &hidingStream{DirStream: ds}, 0
}

// hidingStream leaves the trash out of the root's listing.
type hidingStream struct {
	fs.DirStream
	next *fuse.DirEntry
}

func (h *hidingStream) HasNext() bool {
	for h.next == nil && h.DirStream.HasNext() {
		de, en := h.DirStream.Next()
		if en != 0 || de.Name != TrashName {
			h.next = &de
		}
	}
	return h.next != nil
}

func (h *hidingStream) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	h.next = nil
	return seekdir(ctx, h.DirStream, off)
}

func (h *hidingStream) Next() (fuse.DirEntry, syscall.Errno) {
	if !h.HasNext() {
		return fuse.DirEntry{}, syscall.ENOENT
	}
	de := *h.next
	h.next = nil
	return de, 0
}

// dirHandle is an open directory: its fsync goes to the engine.
type dirHandle struct {
	ds fs.DirStream
	n  *node
}

var (
	_ fs.FileReaddirenter = (*dirHandle)(nil)
	_ fs.FileFsyncdirer   = (*dirHandle)(nil)
	_ fs.FileSeekdirer    = (*dirHandle)(nil)
	_ fs.FileReleasedirer = (*dirHandle)(nil)
)

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if !d.ds.HasNext() {
		return nil, 0
	}
	de, en := d.ds.Next()
	if en != 0 {
		return nil, en
	}
	return &de, 0
}

// Seekdir serves rewinddir and seekdir.
func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	return seekdir(ctx, d.ds, off)
}

func seekdir(ctx context.Context, ds fs.DirStream, off uint64) syscall.Errno {
	if s, ok := ds.(fs.FileSeekdirer); ok {
		return s.Seekdir(ctx, off)
	}
	return syscall.ENOTSUP
}

func (d *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	return errno(d.n.e.SyncDir(d.n.rel()))
}

func (d *dirHandle) Releasedir(ctx context.Context, flags uint32) { d.ds.Close() }

// handle is an open file of the mount. It offers no passthrough
// descriptor: every read and write is served here.
type handle struct{ f *File }

var (
	_ fs.FileReader    = (*handle)(nil)
	_ fs.FileWriter    = (*handle)(nil)
	_ fs.FileFsyncer   = (*handle)(nil)
	_ fs.FileFlusher   = (*handle)(nil)
	_ fs.FileReleaser  = (*handle)(nil)
	_ fs.FileGetattrer = (*handle)(nil)
	_ fs.FileAllocater = (*handle)(nil)
)

func (h *handle) Read(ctx context.Context, buf []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.f.ReadAt(buf, off)
	if err != nil {
		return nil, errno(err)
	}
	return fuse.ReadResultData(buf[:n]), 0
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	n, err := h.f.WriteAt(data, off)
	return uint32(n), errno(err)
}

// Fsync is fsync, or fdatasync when the kernel says so (flag bit 0).
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return errno(h.f.Sync(flags&1 != 0))
}

func (h *handle) Flush(ctx context.Context) syscall.Errno { return 0 }

func (h *handle) Release(ctx context.Context) syscall.Errno {
	h.f.Release()
	return 0
}

func (h *handle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	var st syscall.Stat_t
	if err := h.f.Stat(&st); err != nil {
		return errno(err)
	}
	out.FromStat(&st)
	return 0
}

func (h *handle) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	return errno(h.f.Allocate(int64(off), int64(size), mode))
}
