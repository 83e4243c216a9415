package sut

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/faultline/faultline/system"
)

var _ Membership = KVNode{}

// memberTimeout bounds one membership call, the leader's search and its
// retries across elections included.
const memberTimeout = 30 * time.Second

// memberClient sends membership changes, which answer once committed
// (kvnode's request timeout, 3 s), on connections that do not outlive a
// call.
var memberClient = &http.Client{
	Timeout: 10 * time.Second,
	Transport: &http.Transport{
		Proxy:             nil,
		DialContext:       (&net.Dialer{Timeout: probeTimeout}).DialContext,
		DisableKeepAlives: true,
	},
}

// errNotLeader is a node's 409 answer: ask the leader.
var errNotLeader = errors.New("not the leader")

// kvnodeAdmin sends method path (with body's JSON, if any) to a node's
// admin address and decodes a 200 answer into out; a 409 answer wraps
// errNotLeader.
func kvnodeAdmin(ctx context.Context, addr, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	err := nodeJSON(ctx, memberClient, method, addr, path, rd, out)
	if se := (*statusError)(nil); errors.As(err, &se) && se.code == http.StatusConflict {
		return fmt.Errorf("%s %s: %s: %w", method, path, se.body, errNotLeader)
	}
	return err
}

// kvnodeLeader finds the leader among r's nodes (asking each which member
// leads, then that member's node whether it does) and returns its node
// and its configuration, retrying through elections until ctx ends.
func kvnodeLeader(ctx context.Context, r Reach) (string, system.Membership, error) {
	type found struct {
		node string
		m    system.Membership
	}
	for {
		f, err := eachNode(r, func(_ string, addrs map[string]string) (found, error) {
			var m system.Membership
			if err := kvnodeAdmin(ctx, addrs[PortAdmin], "GET", "/membership", nil, &m); err != nil {
				return found{}, err
			}
			if m.LeaderID == "" {
				return found{}, errors.New("knows no leader")
			}
			node := system.NodeOfMember(m.LeaderID)
			if m.ID != m.LeaderID {
				leader, ok := r.Addrs[node]
				if !ok {
					return found{}, fmt.Errorf("names the leader %s, whose node %s does not run", m.LeaderID, node)
				}
				if err := kvnodeAdmin(ctx, leader[PortAdmin], "GET", "/membership", nil, &m); err != nil {
					return found{}, err
				}
				if m.ID != m.LeaderID {
					return found{}, fmt.Errorf("names the leader %s, which names %q", node, m.LeaderID)
				}
			}
			return found{node, m}, nil
		})
		if err == nil {
			return f.node, f.m, nil
		}
		select {
		case <-ctx.Done():
			return "", system.Membership{}, fmt.Errorf("kvnode: find the leader: %w (last: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// kvnodeChange posts a membership change to the leader, finding it again
// when leadership moved (409), and returns the configuration after it.
func kvnodeChange(ctx context.Context, r Reach, path string, c system.MemberChange) (system.Membership, error) {
	for {
		node, _, err := kvnodeLeader(ctx, r)
		if err != nil {
			return system.Membership{}, err
		}
		var m system.Membership
		err = kvnodeAdmin(ctx, r.Addrs[node][PortAdmin], "POST", path, c, &m)
		if err == nil {
			return m, nil
		}
		if !errors.Is(err, errNotLeader) || ctx.Err() != nil {
			return m, fmt.Errorf("kvnode: %s %s at the leader %s: %w", path, c.ID, node, err)
		}
	}
}

// kvnodeMembers turns a configuration into members, each on the node of
// its raft address's host.
func kvnodeMembers(l Layout, m system.Membership) []Member {
	out := make([]Member, 0, len(m.Servers))
	for _, s := range m.Servers {
		host, _, _ := net.SplitHostPort(s.Address)
		out = append(out, Member{ID: s.ID, Name: s.ID, Node: l.NodeOfHost(host), Learner: !s.Voter})
	}
	return out
}

// Members implements Membership: the leader's configuration (GET
// /membership).
func (KVNode) Members(ctx context.Context, r Reach) ([]Member, error) {
	ctx, cancel := context.WithTimeout(ctx, memberTimeout)
	defer cancel()
	_, m, err := kvnodeLeader(ctx, r)
	if err != nil {
		return nil, err
	}
	return kvnodeMembers(r.Layout, m), nil
}

// Remove implements Membership: RemoveServer through the leader's POST
// /membership/remove.
func (k KVNode) Remove(ctx context.Context, r Reach, node string) (Member, error) {
	ctx, cancel := context.WithTimeout(ctx, memberTimeout)
	defer cancel()
	ms, err := k.Members(ctx, r)
	if err != nil {
		return Member{}, err
	}
	m, err := memberOf(ms, node)
	if err != nil {
		return Member{}, fmt.Errorf("kvnode: remove: %w", err)
	}
	_, err = kvnodeChange(ctx, r, "/membership/remove", system.MemberChange{ID: m.ID})
	return m, err
}

// kvnodeRaftAddr is node's raft address as the members reach it.
func kvnodeRaftAddr(l Layout, node string) string {
	return net.JoinHostPort(l.Host(node), strconv.Itoa(kvnodeRaftPort))
}

// Add implements Membership: AddNonvoter through the leader's POST
// /membership/add; the node runs with --join (Node), so that it waits to
// be added instead of bootstrapping a cluster of its own.
func (KVNode) Add(ctx context.Context, r Reach, node string) (Member, error) {
	ctx, cancel := context.WithTimeout(ctx, memberTimeout)
	defer cancel()
	m := Member{ID: r.Layout.Name(node), Name: r.Layout.Name(node), Node: node, Learner: true}
	_, err := kvnodeChange(ctx, r, "/membership/add", system.MemberChange{ID: m.ID, Address: kvnodeRaftAddr(r.Layout, node)})
	return m, err
}

// Promote implements Membership: once the node has applied what the
// leader had committed a moment before, AddVoter through the leader's
// POST /membership/add.
func (KVNode) Promote(ctx context.Context, r Reach, node string) (Member, error) {
	ctx, cancel := context.WithTimeout(ctx, memberTimeout)
	defer cancel()
	m := Member{ID: r.Layout.Name(node), Name: r.Layout.Name(node), Node: node}
	leader, _, err := kvnodeLeader(ctx, r)
	if err != nil {
		return m, err
	}
	own, ok := r.Addrs[node]
	if !ok {
		return m, fmt.Errorf("kvnode: promote %s: node %s does not run", m.Name, node)
	}
	var lst, st system.NodeStatus
	if err := kvnodeAdmin(ctx, r.Addrs[leader][PortAdmin], "GET", "/status", nil, &lst); err != nil {
		return m, fmt.Errorf("kvnode: promote %s: the leader's status: %w", m.Name, err)
	}
	if err := kvnodeAdmin(ctx, own[PortAdmin], "GET", "/status", nil, &st); err != nil {
		return m, fmt.Errorf("kvnode: promote %s: its status: %w", m.Name, err)
	}
	if st.AppliedIndex < lst.CommitIndex {
		return m, fmt.Errorf("kvnode: promote %s: applied index %d, the leader's commit index %d: %w", m.Name, st.AppliedIndex, lst.CommitIndex, ErrNotCaughtUp)
	}
	_, err = kvnodeChange(ctx, r, "/membership/add", system.MemberChange{ID: m.ID, Address: kvnodeRaftAddr(r.Layout, node), Voter: true})
	return m, err
}
