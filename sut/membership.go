package sut

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Membership is implemented by a System whose members are removed and
// added through its own API (Info.Membership), as its operators change
// them: kvnode through hashicorp/raft's RemoveServer, AddNonvoter and
// AddVoter on its admin port, etcd through MemberRemove,
// MemberAddAsLearner and MemberPromote. The membership fault drives it:
// a node leaves (Remove, then the runtime stops it and wipes its data),
// and joins again under a fresh identity (Add, then the runtime starts it
// on an empty data directory as Node says for its next incarnation, then
// Promote once it caught up).
//
// Each call reaches the cluster through the nodes in Reach.Addrs (those
// that run) and finds the one that can serve it (the leader) itself.
type Membership interface {
	// Members lists the cluster's current members, voters and learners,
	// as its leader knows them.
	Members(ctx context.Context, r Reach) ([]Member, error)
	// Remove removes node's current member from the cluster. The node
	// keeps running until the runtime stops it.
	Remove(ctx context.Context, r Reach, node string) (Member, error)
	// Add adds node's incarnation in r.Layout (Layout.Name) as a new
	// member that does not vote yet (a learner, a non-voter), before the
	// node starts.
	Add(ctx context.Context, r Reach, node string) (Member, error)
	// Promote makes node's learner a voter. An error wrapping
	// ErrNotCaughtUp means it has not caught up with the leader yet: the
	// caller retries.
	Promote(ctx context.Context, r Reach, node string) (Member, error)
}

// Reach is how a Membership call reaches the cluster.
type Reach struct {
	// Layout is the cluster's layout; for Add and Promote, with the
	// joining node's new incarnation.
	Layout Layout
	// Addrs maps each node that runs to its exposed ports' addresses (as
	// the harness dials them), as Probe takes them.
	Addrs map[string]map[string]string
}

// Nodes returns the nodes in r.Addrs, in layout order.
func (r Reach) Nodes() []string {
	var out []string
	for _, id := range r.Layout.Nodes {
		if _, ok := r.Addrs[id]; ok {
			out = append(out, id)
		}
	}
	return out
}

// Member is one member of a cluster.
type Member struct {
	// ID is the system's own id of the member (kvnode: its raft server
	// id; etcd: its member id in hex).
	ID string `json:"id"`
	// Name is its name, Layout.Name of its node's incarnation ("n3.2").
	Name string `json:"name"`
	// Node is the node that runs it ("" when none of the layout's).
	Node string `json:"node"`
	// Learner says it does not vote yet.
	Learner bool `json:"learner,omitempty"`
}

// String is the member as histories and reports show it: its name, with
// " (learner)" while it does not vote.
func (m Member) String() string {
	if m.Learner {
		return m.Name + " (learner)"
	}
	return m.Name
}

// ErrNotCaughtUp is wrapped by Promote's error while the learner has not
// caught up with the leader.
var ErrNotCaughtUp = errors.New("the learner has not caught up with the leader yet")

// ErrNoMembership is wrapped by the error of a membership change asked of
// a system without Membership.
var ErrNoMembership = errors.New("the system cannot change its members")

// MembershipOf returns s's Membership, or an error wrapping
// ErrNoMembership that names the system.
func MembershipOf(s System) (Membership, error) {
	m, ok := s.(Membership)
	if !ok || !s.Info().Membership {
		return nil, fmt.Errorf("%s: %w: it declares no membership changes (Info.Membership)", s.Info().Name, ErrNoMembership)
	}
	return m, nil
}

// memberOf returns the member of ms that node runs, or an error naming
// the members.
func memberOf(ms []Member, node string) (Member, error) {
	for _, m := range ms {
		if m.Node == node {
			return m, nil
		}
	}
	return Member{}, fmt.Errorf("node %s runs no member: the members are %v", node, ms)
}

// eachNode tries f on each node of r in turn, until one succeeds; the
// error joins every node's.
func eachNode[T any](r Reach, f func(node string, addrs map[string]string) (T, error)) (T, error) {
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(r.Addrs)) {
		v, err := f(id, r.Addrs[id])
		if err == nil {
			return v, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", id, err))
	}
	var zero T
	if len(errs) == 0 {
		return zero, errors.New("no node runs to ask")
	}
	return zero, errors.Join(errs...)
}
