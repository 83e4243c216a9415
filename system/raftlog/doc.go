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
// Open scans every segment. A sealed segment must validate up to the index
// where the next segment starts; anything else is reported as corruption
// (with what to do). In the last segment, the first record that fails its
// length, CRC or index check ends the log: a torn write from a crash. The
// torn bytes are cut off and the space preallocated again before Open
// returns, so later appends chain from the last valid record.
//
// The store is monotonic (raft.MonotonicLogStore): entries are appended
// without gaps, an empty log accepts any first index, and raft deletes every
// entry after installing a snapshot. DeleteRange accepts a prefix, a suffix
// or the whole log; a range in the middle would leave a hole and is refused.
package raftlog
