package system

import (
	"context"
	"fmt"
)

// proposal is one client mutation waiting to be put in the raft log.
type proposal struct {
	cmd  []byte
	done chan Response // buffered 1
}

// proposer batches concurrent client mutations into one raft log entry.
// At most NodeConfig.MaxInflightProposals entries are in flight; requests that arrive meanwhile
// queue and go out together in the next entry. Fewer, larger entries cut
// the per-entry cost of raft (encoding, replication, futures) on all nodes.
type proposer struct {
	n           *Node
	ch          chan *proposal
	sem         chan struct{}
	maxBatch    int
	maxBytes    int
	maxInflight int
}

func newProposer(n *Node) *proposer {
	maxInflight := n.cfg.MaxInflightProposals
	return &proposer{
		n:           n,
		ch:          make(chan *proposal, 4096),
		sem:         make(chan struct{}, maxInflight),
		maxBatch:    512,
		maxBytes:    256 << 10,
		maxInflight: maxInflight,
	}
}

// propose queues cmd and waits for its response (or ctx).
func (p *proposer) propose(ctx context.Context, cmd []byte) Response {
	pr := &proposal{cmd: cmd, done: make(chan Response, 1)}
	select {
	case p.ch <- pr:
	case <-ctx.Done():
		// Never queued: definitely not applied, but say "unknown" to keep
		// the rule simple (timeouts are indeterminate).
		return p.n.raftErr(ctx.Err())
	}
	select {
	case r := <-pr.done:
		return r
	case <-ctx.Done():
		return p.n.raftErr(ctx.Err())
	}
}

func (p *proposer) run() {
	ctx := p.n.ctx
	for {
		var first *proposal
		select {
		case first = <-p.ch:
		case <-ctx.Done():
			return
		}
		select {
		case p.sem <- struct{}{}:
		case <-ctx.Done():
			first.done <- p.n.raftErr(ctx.Err())
			return
		}
		batch := []*proposal{first}
		size := len(first.cmd)
	drain:
		for len(batch) < p.maxBatch && size < p.maxBytes {
			select {
			case pr := <-p.ch:
				batch = append(batch, pr)
				size += len(pr.cmd)
			default:
				break drain
			}
		}
		p.submit(batch)
	}
}

// submit appends one entry for batch and answers every proposal when it
// commits (or fails).
func (p *proposer) submit(batch []*proposal) {
	var entry []byte
	if len(batch) == 1 {
		entry = batch[0].cmd
	} else {
		cmds := make([][]byte, len(batch))
		for i, pr := range batch {
			cmds[i] = pr.cmd
		}
		entry = encodeBatch(cmds)
	}
	p.n.metrics.proposals.Add(uint64(len(batch)))
	p.n.metrics.proposalEntries.Add(1)
	f := p.n.raft.Apply(entry, p.n.cfg.RequestTimeout)
	go func() {
		defer func() { <-p.sem }()
		err := f.Error()
		if err != nil {
			r := p.n.raftErr(err)
			for _, pr := range batch {
				pr.done <- r
			}
			return
		}
		switch res := f.Response().(type) {
		case *Response:
			for _, pr := range batch {
				pr.done <- *res
			}
		case []Response:
			if len(res) != len(batch) {
				p.answerAll(batch, fmt.Sprintf("batch of %d got %d results", len(batch), len(res)))
				return
			}
			for i, pr := range batch {
				pr.done <- res[i]
			}
		default:
			p.answerAll(batch, fmt.Sprintf("unexpected FSM result %T", res))
		}
	}()
}

func (p *proposer) answerAll(batch []*proposal, msg string) {
	for _, pr := range batch {
		pr.done <- Response{Status: StatusUnavailable, Msg: "internal: " + msg + "; outcome unknown"}
	}
}
