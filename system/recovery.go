package system

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// recovery is a node's recovery mode (see the package documentation,
// Damaged storage): after finding damage in its files the node neither
// grants nor asks for votes until a leader of a term after aboveTerm has
// committed an entry of its own term and this node's log holds the
// leader's log up to that commit index.
type recovery struct {
	log       *slog.Logger
	aboveTerm uint64
	// termAt reads the term of a local log entry; clear forgets the
	// recorded damage once the node has caught up.
	termAt func(index uint64) (uint64, error)
	clear  func() error

	active  atomic.Bool
	target  atomic.Uint64 // the commit index to reach, 0 until a leader of a later term has one
	refused atomic.Uint64 // vote requests refused or not sent
	leaving sync.Mutex    // one AppendEntries at a time ends the recovery
}

func newRecovery(log *slog.Logger, aboveTerm uint64, termAt func(uint64) (uint64, error), clear func() error) *recovery {
	r := &recovery{log: log, aboveTerm: aboveTerm, termAt: termAt, clear: clear}
	r.active.Store(true)
	return r
}

// Recovering reports whether the node is still in recovery mode.
func (r *recovery) Recovering() bool { return r != nil && r.active.Load() }

// Target is the commit index the node must reach (0: not known yet).
func (r *recovery) Target() uint64 {
	if r == nil {
		return 0
	}
	return r.target.Load()
}

// Refused counts the vote requests refused or not sent.
func (r *recovery) Refused() uint64 {
	if r == nil {
		return 0
	}
	return r.refused.Load()
}

// appended looks at an AppendEntries this node accepted: once it comes
// from a leader of a later term whose commit index covers an entry of
// that term, and the entries this node now holds reach that index, the
// node has every entry ever committed before that term, and so every one
// it may have acknowledged before its files were damaged.
func (r *recovery) appended(req *raft.AppendEntriesRequest) {
	commit := req.LeaderCommitIndex
	if !r.active.Load() || req.Term <= r.aboveTerm || commit == 0 {
		return
	}
	last := req.PrevLogEntry
	if n := len(req.Entries); n > 0 {
		last = req.Entries[n-1].Index
	}
	var term uint64
	switch {
	case commit == req.PrevLogEntry:
		term = req.PrevLogTerm
	case commit > req.PrevLogEntry && commit <= last:
		term = req.Entries[commit-req.PrevLogEntry-1].Term
	case commit < req.PrevLogEntry:
		t, err := r.termAt(commit)
		if err != nil { // not in the log (a snapshot was just installed): a later request will tell
			r.log.Debug("recovery: read the term of a committed entry", "index", commit, "err", err)
			return
		}
		term = t
	}
	if term != req.Term {
		return // the leader has not committed an entry of its own term yet
	}
	r.target.Store(commit)
	if last < commit {
		return
	}
	r.leaving.Lock()
	defer r.leaving.Unlock()
	if !r.active.Load() {
		return
	}
	if err := r.clear(); err != nil {
		r.log.Error("recovery: caught up, but the damage record could not be cleared; still not voting", "err", err)
		return
	}
	r.active.Store(false)
	r.log.Warn("left recovery: caught up with the leader, voting again", "leader_term", req.Term, "commit_index", commit)
}

// errRecovering is what an outbound vote request gets in recovery. Its
// text must not be raft's "unexpected command", which raft counts as a
// granted pre-vote.
var errRecovering = errors.New("this node is recovering from damaged storage and does not campaign")

// recoveryTransport wraps a node's raft transport while it recovers: it
// answers inbound RequestVote and RequestPreVote with not granted and
// refuses TimeoutNow (a leadership transfer), fails the node's own vote
// requests, and shows the recovery every AppendEntries the node accepts.
// Once the recovery is over it passes everything through.
//
// Raft's pre-vote must be on (the default): a candidate whose pre-vote
// fails never raises its term, so a recovering node does not disrupt the
// cluster with ever higher terms.
type recoveryTransport struct {
	raft.Transport
	rec      *recovery
	consumer chan raft.RPC
	done     chan struct{}
	closeMu  sync.Once
}

var (
	_ raft.Transport   = (*recoveryTransport)(nil)
	_ raft.WithPreVote = (*recoveryTransport)(nil)
	_ raft.WithClose   = (*recoveryTransport)(nil)
)

// preVoteTransport is what recoveryTransport needs of the transport it
// wraps.
type preVoteTransport interface {
	raft.Transport
	raft.WithPreVote
}

func newRecoveryTransport(inner preVoteTransport, rec *recovery) *recoveryTransport {
	t := &recoveryTransport{Transport: inner, rec: rec, consumer: make(chan raft.RPC), done: make(chan struct{})}
	go t.relay(inner.Consumer())
	return t
}

// Consumer implements raft.Transport.
func (t *recoveryTransport) Consumer() <-chan raft.RPC { return t.consumer }

// relay passes inbound RPCs on to raft, answering votes itself while the
// node recovers.
func (t *recoveryTransport) relay(in <-chan raft.RPC) {
	for {
		var rpc raft.RPC
		select {
		case rpc = <-in:
		case <-t.done:
			return
		}
		if t.rec.Recovering() {
			switch req := rpc.Command.(type) {
			case *raft.RequestVoteRequest:
				t.rec.refused.Add(1)
				rpc.Respond(&raft.RequestVoteResponse{Term: req.Term, Granted: false}, nil)
				continue
			case *raft.RequestPreVoteRequest:
				t.rec.refused.Add(1)
				rpc.Respond(&raft.RequestPreVoteResponse{Term: req.Term, Granted: false}, nil)
				continue
			case *raft.TimeoutNowRequest:
				rpc.Respond(nil, errRecovering)
				continue
			case *raft.AppendEntriesRequest:
				rpc = t.watch(rpc, req)
			}
		}
		select {
		case t.consumer <- rpc:
		case <-t.done:
			return
		}
	}
}

// watch returns rpc with its answer routed through the recovery.
func (t *recoveryTransport) watch(rpc raft.RPC, req *raft.AppendEntriesRequest) raft.RPC {
	orig := rpc.RespChan
	resp := make(chan raft.RPCResponse, 1)
	rpc.RespChan = resp
	go func() {
		select {
		case r := <-resp:
			if ae, ok := r.Response.(*raft.AppendEntriesResponse); ok && r.Error == nil && ae.Success {
				t.rec.appended(req)
			}
			orig <- r
		case <-t.done:
		}
	}()
	return rpc
}

// RequestVote implements raft.Transport: no vote is asked for while the
// node recovers.
func (t *recoveryTransport) RequestVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	if t.rec.Recovering() {
		t.rec.refused.Add(1)
		return errRecovering
	}
	return t.Transport.RequestVote(id, target, args, resp)
}

// RequestPreVote implements raft.WithPreVote, likewise.
func (t *recoveryTransport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	if t.rec.Recovering() {
		t.rec.refused.Add(1)
		return errRecovering
	}
	return t.Transport.(raft.WithPreVote).RequestPreVote(id, target, args, resp)
}

// Close implements raft.WithClose: it stops the relay and closes the
// wrapped transport if it can be closed.
func (t *recoveryTransport) Close() error {
	var err error
	t.closeMu.Do(func() {
		close(t.done)
		if c, ok := t.Transport.(raft.WithClose); ok {
			err = c.Close()
		}
	})
	return err
}
