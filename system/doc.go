// Package system is the store faultline tests: a Raft-replicated,
// transactional key-value store with a small pipelined binary protocol.
//
// The package holds the wire protocol (the contract between client and
// server, see wire.go), the replicated state machine (FSM), the node server
// (StartNode) and the Go client (NewClient). cmd/kvnode binds flags to a
// NodeConfig.
//
// # Protocol
//
// Frames are u32 length | u64 request id | u8 opcode | payload, big endian,
// strings as u32 length + bytes. Many requests may be in flight on one
// connection; responses carry the request id and may come in any order.
// Every response payload starts with a Status. An oversized frame gets a
// BAD_REQUEST answer (after the requests in flight are answered) and the
// connection is closed; an unknown opcode or a malformed payload gets
// BAD_REQUEST and the connection stays open. An answer over the max frame
// size is replaced by TOO_LARGE and the connection stays open (the Go
// client likewise skips an answer over its own limit).
//
// # Hostile input
//
// A frame's buffer grows as its bytes arrive (ReadFrame), so a header that
// claims a large frame costs nothing until the bytes come. A node serves
// at most MaxConns connections (one more gets BUSY for its first request
// and is closed) and MaxInflightPerConn requests per connection (one more
// gets BUSY, the connection stays), and closes a connection idle for
// IdleTimeout. BUSY is definite: nothing was applied.
//
// # Replication and exactly-once
//
// Mutations go through hashicorp/raft (package raftlog, fdatasync before
// acknowledging; file snapshots). Each mutation carries the client id, a
// sequence number (reused by every retry of that request) and the client's
// floor (its lowest sequence still awaiting an answer). The FSM keeps, per
// client, the responses for sequences at or above the floor, each with a
// hash of the command it answered, so a retried APPEND or CAS applies at
// most once and gets the original answer, while the same (client, seq)
// with another command gets BAD_REQUEST. The session table is part of
// snapshots.
//
// # Reads
//
// ReadLinearizable (default) uses ReadIndex: a fresh leader commits a no-op
// of its term, then each read captures the commit index, confirms
// leadership with a quorum (VerifyLeader) and waits for the index to be
// applied. ReadLease and ReadStale are deliberately UNSAFE modes used to
// prove the checkers can fail.
//
// # Damaged storage
//
// A node's files can be damaged while it is down: a flipped bit, a
// truncated segment, a file rolled back. Opening the raft log tells a torn
// write (a crash: nothing synced is lost) from corruption, cuts the log at
// the first bad point either way, and records the corruption (package
// raftlog). Snapshots that fail their checks (state CRC; meta.json naming
// the snapshot its directory names) are moved aside into DataDir/damaged/
// rather than stopping the node, and the log is emptied if it no longer
// connects to a snapshot; with nothing usable left the node starts empty.
//
// Such a node may have forgotten entries it acknowledged, and raft's
// safety rests on every acknowledgement being kept: if it voted, a
// candidate lacking a committed entry could win with its vote, and the
// write would be lost. So it starts in recovery mode (protocol-aware
// recovery, Alagappan et al., FAST 2018, without changing hashicorp/raft):
//
//   - its stored term is raised by one before raft starts, so the leader
//     of the term it had steps down on hearing from it, and the next
//     leader, elected without this node, counts only what the node
//     acknowledges from now on;
//   - its transport answers RequestVote and RequestPreVote with not
//     granted, refuses leadership transfers, and fails the node's own
//     vote requests (raft's pre-vote, on by default, then never raises
//     the node's term, so it does not disrupt the others);
//   - it leaves recovery once it has accepted an AppendEntries from a
//     leader of a later term whose commit index covers an entry of that
//     leader's term and lies within what the node now holds. Such a
//     leader's log holds every entry committed before its term (its
//     voters' logs are whole, the damaged nodes being a minority that
//     does not vote), and its commit index is past them, so the node
//     again holds everything it may have acknowledged. The recorded damage
//     is cleared then, not before: a node restarted during recovery
//     recovers again.
//
// The node logs entering and leaving recovery; /status shows
// "recovering", "recovery_target" (the leader's commit index to reach,
// once known) and "damage". A torn tail or a clean end is not damage:
// the node starts normally. Refusing to start instead would leave the
// cluster a node short for good.
//
// What recovery cannot help: damage it cannot see (the tail of the log
// rolled back to an earlier state that is valid in itself reads as a log
// never written further; see package raftlog), damage on a majority (the
// recovering nodes cannot elect a leader among the rest), a damaged meta
// file (the term and vote: the node refuses to start, saying what to do),
// and a one-node cluster (there is no leader to recover from).
//
// # Planted bugs
//
// Each is off by default and on only with its --unsafe-* flag:
// UnsafeNoDedup (retried mutations apply twice), UnsafeNoFsync (the raft
// log acknowledges after write() and never syncs: a power failure loses
// acknowledged writes), and, in unsafe.go, UnsafeNonatomicTxn (a TXN's
// micro-ops are separate log entries: interleaving, wrong bank totals,
// G0/G1/G2), UnsafeAckBeforeCommit (the leader acknowledges
// SET/CLEAR/APPEND once in its own log: writes lost when it is cut off)
// and UnsafeDefiniteTimeouts (a timeout is answered BUSY, "not applied",
// though the write commits: G1a). NodeStatus.Unsafe lists those a node
// runs with.
//
// # Performance
//
// Concurrent mutations are batched into one raft entry by the node's
// proposer (one entry in flight by default, so batches grow with load);
// concurrent linearizable reads share one leadership confirmation. The
// benchmark runs an in-process 3-node cluster with fsync on:
//
//	go test -run '^$' -bench BenchmarkCluster -benchtime 20000x ./system/
//
// It reports ops/s, p50-ms and p99-ms (hdrhistogram), cmds/entry (the
// batching factor) and cpu-us/op (process CPU per operation, the figure
// that matters on a shared machine).
//
// # Errors
//
// Failures are *Error values with a Status; Definite statuses mean the
// request certainly did not apply. Timeouts, lost connections and lost
// leadership are indeterminate, and so is a definite status the client
// marks MaybeApplied (BUSY after an earlier attempt was lost; TOO_LARGE
// for a mutation, which applied).
package system
