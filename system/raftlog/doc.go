// Package raftlog is the store's durable raft log: a raft.LogStore and
// raft.StableStore in one directory, built for one fdatasync per appended
// batch.
//
// # Layout
//
// A directory holds a LOCK file (flock: one process at a time), a meta file
// and segment files. Entries are appended to the last segment; a segment
// that would grow past Config.SegmentSize is sealed and a new one started.
//
//	LOCK
//	meta                               stable-store keys + the log's head index
//	0000000000000001-0000000000000001.seg   <seq>-<first index>, hex
//	0000000000000002-00000000000a1b2c.seg
//
// A segment is a 32-byte header followed by records, preallocated (and
// zero-filled by the file system) to SegmentSize so that an append does not
// change the file's size and fdatasync has no metadata to journal:
//
//	header: "FLRAFTL1" | u64 seq | u64 first index | u32 seed | u32 crc32c(previous 28 bytes)
//	record: u32 crc | u32 n | body[n]
//	body:   u64 index | u64 term | u8 type | i64 appended-at (unix ns, 0 = zero time)
//	        | u32 len(data) | data | extensions (the rest)
//
// Record CRCs are Castagnoli CRC-32s chained through the segment: a
// record's crc covers n and body, starting from the previous record's crc
// (the header's random seed for the first). A record left behind by an
// overwritten or truncated tail therefore never validates, even when its
// own bytes are intact.
//
// # Durability
//
//   - StoreLogs writes every record of the batch with one pwrite and one
//     fdatasync; nothing is visible to GetLog before both succeed.
//   - A new segment's header is fsynced, and the directory too, before any
//     record goes in it.
//   - The meta file (stable-store values and the head) is replaced
//     atomically: written to meta.tmp, fsynced, renamed, directory fsynced.
//   - DeleteRange of a suffix (raft's conflict truncation) removes later
//     segments newest first, then truncates the segment holding the new
//     tail and fsyncs it: a crash part-way leaves a prefix of the old log,
//     never a hole. DeleteRange of a prefix (compaction) makes the new head
//     durable in meta before unlinking whole segments below it.
//   - Any write or sync error poisons the log: every later write fails with
//     the first error, and the node must be restarted (after a failed
//     fsync the page cache can no longer be trusted).
//
// # Recovery
//
// Open scans every segment and tells three things apart at the end of the
// valid records:
//
//   - a clean end: zeros (the preallocated space) or the end of the file;
//   - a torn tail: in the last segment only, one record cut short where a
//     write stopped at a sector boundary (zeros or the end of the file
//     from there on), and nothing valid after it. A batch is written with
//     one pwrite, and what of it reaches the disk before a crash is a
//     prefix, sector by sector (page by page when the process is killed);
//     the batch was not synced, so none of it was acknowledged;
//   - corruption: anything else. A bad record with valid records after it
//     (found by resynchronising on pairs of records that chain), zeros
//     followed by valid records (a range lost or rolled back), a bad last
//     record whose bytes are all there, a sealed segment that ends short
//     of the index the next one starts at, a segment shorter than its
//     preallocated size (a truncation: where the file system preallocates,
//     the log never makes a segment shorter, even for a moment), a bad
//     header on a segment that holds more than zeros, a missing segment.
//
// A bad CRC in the very last record is the hard case: the bytes of a
// record that was synced and acknowledged, then damaged, and of a write
// that never completed, can be the same. Open calls it a torn write only
// when the structure shows a write cut short, and corruption otherwise;
// mistaking corruption for a torn write would drop acknowledged entries
// silently, while mistaking a torn write for corruption costs the node
// only a wait for the leader (below).
//
// Either way Open cuts the log at the first bad point, so it stays a
// prefix of what was written (later segments are removed; the cut tail is
// zeroed a page at a time from the end, so a crash part-way leaves a
// prefix that reads as a torn write), and then preallocates again so new
// appends chain from the last valid record. Corruption is also recorded
// (Damage: file, offset, reason, the last index kept, the highest index
// seen past the damage), durably in the meta file before anything is cut,
// and stays recorded across restarts until ClearDamage: the entries cut
// may have been acknowledged, and whoever runs raft on the log must not
// vote on its strength until they are back (package system's recovery
// mode). A meta file that does not validate is an error: it holds the
// raft term and vote, which nothing else can restore.
//
// What cannot be detected: a tail rolled back to an earlier state that is
// valid in itself (the last records zeroed from a record boundary, the
// last segment replaced by an older copy or removed, or, where the file
// system does not preallocate, cut at a record boundary) reads as a log
// that was never written further. A node whose files were rolled back so
// has forgotten acknowledged entries without knowing it; raft stays safe
// only while no committed entry depends on such a node alone.
//
// UnsafeNoSync (a planted bug) skips every fsync and fdatasync: an append
// is acknowledged once it is in the page cache, and a power failure loses
// it.
//
// The store is monotonic (raft.MonotonicLogStore): entries are appended
// without gaps, an empty log accepts any first index, and raft deletes every
// entry after installing a snapshot. DeleteRange accepts a prefix, a suffix
// or the whole log; a range in the middle would leave a hole and is refused.
package raftlog
