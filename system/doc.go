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
// BAD_REQUEST answer and the connection is closed; an unknown opcode or a
// malformed payload gets BAD_REQUEST and the connection stays open.
//
// # Replication and exactly-once
//
// Mutations go through hashicorp/raft (raft-wal log, fsync before
// acknowledging; file snapshots). Each mutation carries the client id, a
// sequence number (reused by every retry of that request) and the client's
// floor (its lowest sequence still awaiting an answer). The FSM keeps, per
// client, the responses for sequences at or above the floor, so a retried
// APPEND or CAS applies at most once and gets the original answer. The
// session table is part of snapshots.
//
// # Reads
//
// ReadLinearizable (default) uses ReadIndex: a fresh leader commits a no-op
// of its term, then each read captures the commit index, confirms
// leadership with a quorum (VerifyLeader) and waits for the index to be
// applied. ReadLease and ReadStale are deliberately UNSAFE modes used to
// prove the checkers can fail, as is UnsafeNoDedup.
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
// leadership are indeterminate.
package system
