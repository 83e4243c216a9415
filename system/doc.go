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
// Mutations go through hashicorp/raft (raft-boltdb log, fsync before
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
// # Planted bugs
//
// Each is off by default and on only with its --unsafe-* flag:
// UnsafeNoDedup (retried mutations apply twice), and, in unsafe.go,
// UnsafeNonatomicTxn (a TXN's micro-ops are separate log entries:
// interleaving, wrong bank totals, G0/G1/G2), UnsafeAckBeforeCommit (the
// leader acknowledges SET/CLEAR/APPEND once in its own log: writes lost
// when it is cut off) and UnsafeDefiniteTimeouts (a timeout is answered
// BUSY, "not applied", though the write commits: G1a). NodeStatus.Unsafe
// lists those a node runs with.
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
