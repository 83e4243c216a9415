// Package faultfs gives a node a disk that can lose power, and corrupts a
// down node's files: the disk faults `power` and `corrupt`.
//
// A SIGKILL of a process leaves the kernel's page cache alone, so writes
// never fsynced survive it, and a system that acknowledges before it
// fsyncs passes every kill. faultfs is a FUSE filesystem (go-fuse v2) over
// a backing directory that, like LazyFS, drops what was not synced when
// the power fails.
//
// # Power failures
//
// Writes go through to the backing directory at once, and an in-memory
// undo journal remembers what they replaced. So an ordinary kill of the
// whole node, daemon included, keeps every write (the backing directory
// holds them, as a page cache survives a process crash), while a power
// failure (Engine.PowerFail, `faultfs powerfail`) undoes everything not
// durable. Each power failure follows one of two models (PowerModel, the
// list PowerModels), named by whoever fails the power and stated in its
// report. PowerPOSIX, the default:
//
//   - fsync or fdatasync of a file makes its content and size durable;
//     a file opened O_SYNC or O_DSYNC makes each write durable;
//   - fsync of a directory makes the creates, mkdirs, mknods, symlinks,
//     links, unlinks, rmdirs and renames in it durable; a rename between
//     two directories is durable once both were fsynced after it;
//   - everything else is dropped: overwritten bytes are restored, a file
//     that grew is cut back to its durable size, a truncate is undone, a
//     create or mkdir is removed (with what is under it), an unlink,
//     rmdir or rename is undone. Unlinked and replaced entries wait in a
//     hidden trash on the backing store (TrashName) until their
//     directory is fsynced.
//
// PowerDataOnly is LazyFS's clear-cache fault, the one Jepsen's analyses
// inject: file content and sizes not fsynced are lost as above, but every
// directory operation is durable at once (LazyFS passes create, mkdir,
// rename, unlink, link and symlink straight through to its backing
// filesystem; only written pages live in its cache). A file created and
// written, never fsynced, is left existing and empty.
//
// Everything on the backing store when it is mounted is durable. Modes,
// owners, times and extended attributes are not journaled (a power
// failure keeps them).
//
// The journal saves a file's old bytes once per range between syncs, the
// first time a write, truncate or fallocate is about to change them; a
// range that was all zeros (a preallocated log segment) costs no memory.
// Its memory is bounded (Config.MaxJournalBytes): past the bound the file
// holding the most is made durable, as a kernel writes dirty pages back
// under memory pressure. JournalStats reports it.
//
// The mount refuses FUSE passthrough (with it the kernel writes the
// backing file itself and the journal never sees the write) and writeback
// caching, and offers no handle the kernel could pass through: every write
// is served by the daemon. It needs root, /dev/fuse and, in a container,
// --device /dev/fuse --cap-add SYS_ADMIN; it calls mount(2) itself, so no
// fusermount binary is needed in a FROM scratch image.
//
// `faultfs mount` (RunDaemon) mounts the filesystem, runs the node's
// command on it as a child in a process group of its own, and answers
// `faultfs powerfail` on a control socket: the child's group is killed,
// the backing store rolled back, the client gets a PowerFailReport (JSON),
// and the daemon exits PowerFailExit (137). A daemon killed earlier leaves
// a dead mount behind; the next one lazily unmounts it first.
//
// # Corruption
//
// Corrupt works on a down node's backing directory: it chooses, by a
// seed, files among those matching glob patterns that hold written bytes,
// and flips bits in them, truncates them, copies chunks aside or writes
// chunks back (a rollback to older content), drawing offsets from the
// written part of a file only (never its preallocated zeros). Its
// CorruptReport says exactly what changed.
//
// Every report type is encoded by its Encode method and decoded by its
// Parse function, here and nowhere else.
package faultfs
