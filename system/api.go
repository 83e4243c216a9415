package system

import (
	"errors"
	"fmt"
)

// Opcode identifies a request type on the wire.
type Opcode uint8

// Request opcodes. GET, SET and CLEAR are the seed protocol's three.
const (
	OpGet    Opcode = 1 // GET k -> value | NOT_FOUND
	OpSet    Opcode = 2 // SET k v (PUT)
	OpClear  Opcode = 3 // CLEAR k (DELETE); a missing key is a no-op
	OpCAS    Opcode = 4 // CAS k expected new -> OK | CAS_MISMATCH | NOT_FOUND
	OpAppend Opcode = 5 // APPEND k elem: append elem to the list at k
	OpTxn    Opcode = 6 // TXN [micro-op...] applied atomically
)

// Status is the first byte of every response payload.
type Status uint8

// Response statuses. Definite statuses mean the request was certainly not
// applied (or certainly applied, for OK); indeterminate ones mean it may or
// may not have been applied.
const (
	StatusOK          Status = 0 // applied / read
	StatusNotFound    Status = 1 // definite: key absent
	StatusCASMismatch Status = 2 // definite: not applied
	StatusNotLeader   Status = 3 // definite: not applied; carries the leader
	StatusTimeout     Status = 4 // indeterminate
	StatusUnavailable Status = 5 // indeterminate (no quorum, shutting down)
	StatusBadRequest  Status = 6 // definite: malformed, unknown op, too large, (client, seq) reused for another command
	// StatusBusy: definite, nothing applied. The node refused the request
	// before looking at it: too many connections (--max-conns) or too many
	// requests in flight on this connection (--max-inflight-per-conn).
	StatusBusy Status = 7
	// StatusTooLarge: the answer would exceed the max frame size (of the
	// server, or of the client that received it). A read-only request was
	// not applied. A mutation that gets it HAS applied (only its results
	// could not be sent): clients must report its outcome unknown, as the Go
	// client does (Error.MaybeApplied).
	StatusTooLarge Status = 8

	maxStatus = StatusTooLarge
)

// String returns the protocol name of s.
func (s Status) String() string {
	switch s {
	case StatusOK:
		return "OK"
	case StatusNotFound:
		return "NOT_FOUND"
	case StatusCASMismatch:
		return "CAS_MISMATCH"
	case StatusNotLeader:
		return "NOT_LEADER"
	case StatusTimeout:
		return "TIMEOUT"
	case StatusUnavailable:
		return "UNAVAILABLE"
	case StatusBadRequest:
		return "BAD_REQUEST"
	case StatusBusy:
		return "BUSY"
	case StatusTooLarge:
		return "TOO_LARGE"
	}
	return fmt.Sprintf("STATUS(%d)", uint8(s))
}

// Definite reports whether a response with status s says for certain that
// the request was not applied (or, for OK, that it was). TOO_LARGE counts
// as definite for the read-only requests it can fail; see StatusTooLarge
// for mutations.
func (s Status) Definite() bool {
	switch s {
	case StatusTimeout, StatusUnavailable:
		return false
	}
	return true
}

// MicroKind is the kind of one micro-op in a TXN.
type MicroKind uint8

// Micro-op kinds.
const (
	MicroRead    MicroKind = 'r' // r k: read k (found + value)
	MicroWrite   MicroKind = 'w' // w k v: write k
	MicroAppend  MicroKind = 'a' // append k v: append v to the list at k
	MicroCompare MicroKind = 'c' // c k v: guard; if k's value != v (or, with
	// Absent, if k exists) the whole TXN aborts with CAS_MISMATCH and nothing
	// is applied. All compares are evaluated first, against the state before
	// the TXN (etcd's If/Then). Used for the bank's transfers.
)

// MicroOp is one step of a TXN.
type MicroOp struct {
	Kind  MicroKind
	Key   string
	Value []byte
	// Absent, for MicroCompare, requires the key to be missing.
	Absent bool
}

// MicroResult is the outcome of one micro-op: for reads the value and
// whether the key existed; empty for writes, appends and compares.
type MicroResult struct {
	Value []byte
	Found bool
}

// Error is a failed request: the status and, for NOT_LEADER, the leader.
// Clients map Definite errors to a Jepsen fail and the others to info.
type Error struct {
	Status Status
	// Msg is the server's (or client's) explanation.
	Msg string
	// LeaderID and LeaderAddr name the leader for NOT_LEADER, if known.
	LeaderID   string
	LeaderAddr string
	// MaybeApplied is set by the client when the request may have applied
	// although Status alone says otherwise: an earlier attempt of it was
	// lost or timed out before this one got BUSY, or a mutation applied
	// but its answer was TOO_LARGE. Such an error is indeterminate.
	MaybeApplied bool
}

func (e *Error) Error() string {
	s := "kv: " + e.Status.String()
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.LeaderID != "" || e.LeaderAddr != "" {
		s += fmt.Sprintf(" (leader %s at %s)", e.LeaderID, e.LeaderAddr)
	}
	if e.MaybeApplied {
		s += " (the request may have applied: outcome unknown)"
	}
	return s
}

// Definite reports whether the error says for certain the request was not
// applied.
func (e *Error) Definite() bool { return e.Status.Definite() && !e.MaybeApplied }

// Sentinel errors, matched with errors.Is against any *Error of that status.
var (
	// ErrNotFound: the key does not exist (definite).
	ErrNotFound = &Error{Status: StatusNotFound}
	// ErrCASMismatch: the expected value did not match; nothing applied.
	ErrCASMismatch = &Error{Status: StatusCASMismatch}
	// ErrTimeout: no answer in time; the request may or may not apply.
	ErrTimeout = &Error{Status: StatusTimeout}
	// ErrUnavailable: the cluster could not serve the request now; it may
	// or may not apply.
	ErrUnavailable = &Error{Status: StatusUnavailable}
	// ErrBusy: the node refused the request (connection or in-flight
	// limit); definite unless MaybeApplied.
	ErrBusy = &Error{Status: StatusBusy}
	// ErrTooLarge: the answer exceeded the max frame size.
	ErrTooLarge = &Error{Status: StatusTooLarge}
)

// Is makes errors.Is(err, ErrNotFound) etc. compare by status.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status
}

// IsDefinite reports whether err certainly means "not applied": a definite
// *Error. Any other error (connection lost, context deadline) is
// indeterminate, as is a nil error's opposite: callers check err != nil first.
func IsDefinite(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Definite()
	}
	return false
}
