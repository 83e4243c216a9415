package faultfs

import (
	"errors"
	"fmt"
	"log/slog"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

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

// PowerFail drops everything not durable under model, as a power failure
// would: every file's content and size go back to their last sync, and,
// under PowerPOSIX, the pending directory operations are undone, newest
// first (under PowerDataOnly they all stay). The engine is down
// afterwards: every operation fails with ErrPowerFailed.
func (e *Engine) PowerFail(model PowerModel) (PowerFailReport, error) {
	if err := model.Validate(); err != nil {
		return PowerFailReport{}, err
	}
	e.gate.Lock()
	defer e.gate.Unlock()
	if e.down {
		return PowerFailReport{}, ErrPowerFailed
	}
	e.down = true
	rep := PowerFailReport{Model: model, Journal: e.Stats(), Files: []FileLoss{}, Entries: []EntryUndone{}}
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
	// Under PowerDataOnly the pending operations are left done: the
	// entries they removed or displaced go with the trash (closeAll).
	for i := len(e.ops) - 1; i >= 0 && model == PowerPOSIX; i-- {
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
	e.log.Info("faultfs: power failure", "model", model, "bytes_dropped", rep.BytesDropped, "files", rep.FilesChanged, "entries_undone", rep.EntriesUndone)
	return rep, nil
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
