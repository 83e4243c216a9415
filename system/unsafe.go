package system

// UNSAFE: planted bugs. Everything in this file is deliberately wrong.
// Each piece breaks one guarantee of the store so that the chaos suite can
// prove its checkers catch the violation; each is off by default and runs
// only behind its --unsafe-* flag (NodeConfig.Unsafe*). Nothing safe may
// call into this file unconditionally.

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// ---- --unsafe-nonatomic-txn -------------------------------------------

// unsafeTxnNonatomic (UNSAFE) applies a mutating TXN one log entry at a
// time: first its compares (all of them, as one guard entry), then each
// other micro-op in order as its own entry. Other requests commit between
// the entries, so the transaction is neither atomic nor isolated: a bank
// read sees a transfer half done and two transfers pass the same guard
// (totals break), list-append transactions interleave (G0, G1b, G1c,
// G-single, G2). The pieces carry no session, so a retried TXN applies
// again.
func (n *Node) unsafeTxnNonatomic(ctx context.Context, req *Request) Response {
	var guards []MicroOp
	for _, m := range req.Ops {
		if m.Kind == MicroCompare {
			guards = append(guards, m)
		}
	}
	step := func(ops []MicroOp) Response {
		return n.prop.propose(ctx, encodeCommand(&Request{Op: OpTxn, Ops: ops}))
	}
	if len(guards) > 0 {
		if r := step(guards); r.Status != StatusOK {
			return r // nothing applied yet: the answer stands
		}
	}
	results := make([]MicroResult, len(req.Ops))
	applied := false
	for i, m := range req.Ops {
		if m.Kind == MicroCompare {
			continue
		}
		r := step([]MicroOp{m})
		if r.Status != StatusOK {
			if applied {
				return Response{Status: StatusUnavailable, Msg: fmt.Sprintf(
					"TXN op %d: %s: %s; the earlier micro-ops applied (UNSAFE nonatomic transactions)", i, r.Status, r.Msg)}
			}
			return r
		}
		applied = true
		results[i] = r.Results[0]
	}
	return Response{Status: StatusOK, Results: results}
}

// ---- --unsafe-ack-before-commit ---------------------------------------

// blindWrite reports whether req's answer does not depend on the state
// (SET, CLEAR, APPEND with a session): the ones the leader can acknowledge
// before applying them.
func blindWrite(req *Request) bool {
	switch req.Op {
	case OpSet, OpClear, OpAppend:
		return req.ClientID != 0
	}
	return false
}

// unsafeAckBeforeCommit (UNSAFE) answers OK as soon as the request's log
// entry is stored (and fsynced) in this node's own log, before a quorum
// has it; the real outcome of the commit is dropped. Each such write is
// its own raft entry, past the proposer, so a leader that can no longer
// commit keeps acknowledging. When the leader is cut off or killed before
// it replicates the entries, a new leader is elected without them and the
// old leader's copies are truncated when it rejoins: acknowledged writes
// are lost (set: lost elements; register: a read after the acknowledgement
// returns an older value). Reads wait for the leader's last log index (see
// confirmRead), so while the leader is healthy they do observe the
// acknowledged write.
func (n *Node) unsafeAckBeforeCommit(ctx context.Context, req *Request) Response {
	stored, ok := n.acks.expect(req.ClientID, req.Seq)
	if !ok { // the same request is already waiting (a retry): no shortcut
		return n.prop.propose(ctx, encodeCommand(req))
	}
	defer n.acks.forget(req.ClientID, req.Seq)
	f := n.raft.Apply(encodeCommand(req), n.cfg.RequestTimeout)
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case <-stored:
		return Response{Status: StatusOK}
	case err := <-done:
		if err != nil {
			return n.raftErr(err)
		}
		if r, ok := f.Response().(*Response); ok {
			return *r
		}
		return Response{Status: StatusUnavailable, Msg: fmt.Sprintf("internal: unexpected FSM result %T; outcome unknown", f.Response())}
	case <-ctx.Done():
		return n.raftErr(ctx.Err())
	}
}

type sessionKey struct{ client, seq uint64 }

// localAckStore (UNSAFE) wraps the raft log store: once an entry is
// stored, every expected command in it (by client id and seq) is signalled.
type localAckStore struct {
	raft.LogStore
	mu      sync.Mutex
	waiters map[sessionKey]chan struct{}
}

func newLocalAckStore(s raft.LogStore) *localAckStore {
	return &localAckStore{LogStore: s, waiters: map[sessionKey]chan struct{}{}}
}

// expect registers (client, seq); the channel closes when a log entry
// holding it is stored. ok is false when it is already expected.
func (s *localAckStore) expect(client, seq uint64) (<-chan struct{}, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := sessionKey{client, seq}
	if _, dup := s.waiters[k]; dup {
		return nil, false
	}
	ch := make(chan struct{})
	s.waiters[k] = ch
	return ch, true
}

func (s *localAckStore) forget(client, seq uint64) {
	s.mu.Lock()
	delete(s.waiters, sessionKey{client, seq})
	s.mu.Unlock()
}

// IsMonotonic passes on the wrapped store's answer: raft asks it after
// installing a snapshot, and a monotonic log refuses the gap it would
// otherwise leave.
func (s *localAckStore) IsMonotonic() bool {
	m, ok := s.LogStore.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}

// StoreLog implements raft.LogStore.
func (s *localAckStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

// StoreLogs implements raft.LogStore: store, then signal.
func (s *localAckStore) StoreLogs(logs []*raft.Log) error {
	if err := s.LogStore.StoreLogs(logs); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.waiters) == 0 {
		return nil
	}
	for _, l := range logs {
		if l.Type != raft.LogCommand || len(l.Data) == 0 {
			continue
		}
		cmds := [][]byte{l.Data}
		if Opcode(l.Data[0]) == opBatch {
			cmds, _ = decodeBatch(l.Data)
		}
		for _, c := range cmds {
			if len(c) < 1+sessionLen || !Mutating(Opcode(c[0])) {
				continue
			}
			k := sessionKey{binary.BigEndian.Uint64(c[1:]), binary.BigEndian.Uint64(c[9:])}
			if ch, ok := s.waiters[k]; ok {
				close(ch)
				delete(s.waiters, k)
			}
		}
	}
	return nil
}

// ---- --unsafe-definite-timeouts ---------------------------------------

// unsafeDefiniteTimeout is how long a node with UnsafeDefiniteTimeouts
// works on a request before it answers it "not applied".
const unsafeDefiniteTimeout = 100 * time.Millisecond

// unsafeTimeoutAsBusy (UNSAFE) turns a TIMEOUT, which rightly says "may
// or may not apply", into BUSY, which says "not applied", although the
// request's log entry is already on its way and usually commits. The
// client reports a definite failure for a write that takes effect: a
// list-append read observes a failed transaction's append (G1a, aborted
// read), a register read returns a value whose write failed. It is the
// classic misclassified timeout.
//
// The bug also gives up early, after unsafeDefiniteTimeout, so that it
// shows whenever a commit is slow (a paused follower, lost packets), not
// only past the client's own attempt timeout.
func unsafeTimeoutAsBusy(r Response) Response {
	if r.Status != StatusTimeout {
		return r
	}
	return Response{Status: StatusBusy, Msg: "overloaded: not committed in time, so not applied (UNSAFE: it may still apply)"}
}

// ---- --unsafe-removed-serves-reads ------------------------------------

// unsafeRemovedRead (UNSAFE) answers a read on a node that the cluster
// removed from its configuration from the node's own state, which no
// longer changes: the leader stopped replicating to it. A safe node is no
// leader once removed and answers NOT_LEADER; this one serves stale reads
// until an operator stops it.
func (n *Node) unsafeRemovedRead(req *Request) Response {
	n.metrics.staleReads.Add(1)
	return n.fsm.Read(req)
}
