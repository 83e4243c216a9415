package workload

import (
	"context"
	"errors"

	"github.com/faultline/faultline/history"
)

// KV is the client a workload drives: what a system under test must offer
// (see package sut, where each system adapts its own client to it).
//
// Error contract (Jepsen's): a nil error means the request took effect; an
// error for which IsDefinite is true means it certainly did not (recorded
// as fail); any other error (timeout, lost connection, context deadline,
// unavailable) means it may or may not have (recorded as info).
type KV interface {
	// Get reads key: its value and whether it exists.
	Get(ctx context.Context, key string) ([]byte, bool, error)
	// Put writes key.
	Put(ctx context.Context, key string, value []byte) error
	// CAS writes value if key holds expected; a missing key or another
	// value is a definite error.
	CAS(ctx context.Context, key string, expected, value []byte) error
	// Append adds elem to the end of the list at key (a missing key is the
	// empty list). Lists are read with MicroReadList.
	Append(ctx context.Context, key string, elem []byte) error
	// Txn applies ops atomically (strict serializability): compares first,
	// against the state before the transaction, then the other micro-ops
	// in order, reads seeing the transaction's earlier writes. It returns
	// one result per op.
	Txn(ctx context.Context, ops []MicroOp) ([]MicroResult, error)
}

// MicroKind is the kind of one micro-op of a Txn.
type MicroKind uint8

// Micro-op kinds.
const (
	// MicroRead reads a value: MicroResult.Value and Found.
	MicroRead MicroKind = iota + 1
	// MicroReadList reads the list that Append and MicroAppend build:
	// MicroResult.List (empty and Found false for a missing key).
	MicroReadList
	// MicroWrite writes Value.
	MicroWrite
	// MicroAppend appends Value to the list at Key.
	MicroAppend
	// MicroCompare guards the whole Txn: unless Key holds Value (or, with
	// Absent, is missing), nothing is applied and Txn returns a definite
	// error.
	MicroCompare
)

// MicroOp is one step of a Txn.
type MicroOp struct {
	Kind  MicroKind
	Key   string
	Value []byte
	// Absent, for MicroCompare, requires Key to be missing.
	Absent bool
}

// MicroResult is the outcome of one micro-op: for reads, whether the key
// exists and its value (MicroRead) or list elements (MicroReadList); empty
// for writes, appends and compares.
type MicroResult struct {
	Value []byte
	List  [][]byte
	Found bool
}

// NodeReporter is implemented by clients that know which node answered the
// last request; the runner copies it into each completion's Node.
type NodeReporter interface {
	LastNode() string
}

// Recorder stores history ops; *history.Recorder satisfies it.
type Recorder interface {
	Record(op history.Op) history.Op
}

// DefiniteError marks a failure known not to have applied anything, decided
// on the client side (e.g. a bank transfer with insufficient funds) or
// reported by a system's client: the runner records it as fail.
type DefiniteError struct {
	Reason string
}

func (e *DefiniteError) Error() string { return "workload: not applied: " + e.Reason }

// Definite implements the definite-error contract.
func (e *DefiniteError) Definite() bool { return true }

// definite is implemented by errors that know whether their request
// certainly did not apply (*DefiniteError, a system client's own error
// type).
type definite interface{ Definite() bool }

// IsDefinite reports whether err certainly means "not applied": some error
// in its chain has a Definite method that says so.
func IsDefinite(err error) bool {
	var d definite
	return errors.As(err, &d) && d.Definite()
}
