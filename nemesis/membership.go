package nemesis

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/history"
)

// FaultMembership is the membership fault kind's name.
const FaultMembership = "membership"

// Membership fault ops.
const (
	FLeave   = "leave"
	FReplace = "replace"
	FJoin    = "join"
)

// Membership modes: the membership fault's options.
const (
	MemberLeave   = "leave"
	MemberReplace = "replace"
)

// MemberModes lists the membership modes.
var MemberModes = []string{MemberLeave, MemberReplace}

// DefaultLeaveGrace is how long a node that was removed from the cluster
// keeps running before it is stopped, as an operator decommissions a
// machine after removing its member.
const DefaultLeaveGrace = 2 * time.Second

// MemberCluster is implemented by a Cluster whose system changes its
// members through its own API (sut.Membership) and whose runtime gives a
// node a fresh identity on the same host. The membership fault needs it
// (CanChangeMembership true). Members are named as sut.Member.String
// names them: "n3.2", or "n3.2 (learner)" while one does not vote.
type MemberCluster interface {
	// CanChangeMembership reports whether the system and the runtime can
	// change the members.
	CanChangeMembership() bool
	// Members lists the current members, as the system's leader knows
	// them.
	Members(ctx context.Context) ([]string, error)
	// RemoveMember removes node's member through the system's API and
	// returns its name; the node keeps running.
	RemoveMember(ctx context.Context, node string) (string, error)
	// Leave stops node and wipes its data: it is out of the cluster
	// (StateLeft) until Join.
	Leave(ctx context.Context, node string) error
	// Join brings node, which left, back as a new member with a fresh
	// identity (added as a learner, started on empty data, promoted once
	// it caught up) and returns the new member's name.
	Join(ctx context.Context, node string) (string, error)
}

// memberCluster returns cl's MemberCluster, or why it has none.
func memberCluster(cl Cluster) (MemberCluster, error) {
	mc, ok := cl.(MemberCluster)
	if !ok || !mc.CanChangeMembership() {
		return nil, errors.New("nemesis: membership: the system under test or its runtime cannot change the cluster's members")
	}
	return mc, nil
}

// memberNemesis changes the cluster's members.
type memberNemesis struct {
	cl    Cluster
	rng   *rand.Rand
	grace time.Duration
	mu    sync.Mutex
	out   map[string]bool // nodes it made leave that have not joined again
}

// NewMembership returns the nemesis for leave / replace / join, through
// the cluster's MemberCluster. leave removes the member of a node (the
// value's "node", else a random running member, seeded) through the
// system's API, lets the node
// run for grace (as an operator decommissions it after the removal), then
// stops it and wipes its data; replace is leave, then join of the same
// node. join brings every node that left back, each as a new member with
// a fresh identity (a learner first, promoted once it caught up); when
// none left it does nothing and says so. The cluster keeps a majority of
// its original size as members at all times: a leave that would break it
// fails. A change counts only when the member list read back afterwards
// shows it. Completions are {"mode", "nodes": [the node], "removed": the
// member removed, "joined": the new member (replace), "members": [...]}
// for leave and replace, and {"nodes": [...], "joined": {node: member},
// "members": [...]} (or "note" when nothing was to join) for join.
func NewMembership(cl Cluster, rng *rand.Rand, grace time.Duration) Nemesis {
	return &memberNemesis{cl: cl, rng: rng, grace: grace, out: map[string]bool{}}
}

func (m *memberNemesis) Fs() []string { return []string{FLeave, FReplace, FJoin} }

func (m *memberNemesis) Invoke(ctx context.Context, op history.Op) (history.Op, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mc, err := memberCluster(m.cl)
	if err != nil {
		return complete(op, op.Value, err)
	}
	switch op.F {
	case FLeave, FReplace:
		value := map[string]any{"mode": MemberLeave}
		if op.F == FReplace {
			value["mode"] = MemberReplace
		}
		err := m.leave(ctx, mc, stringArg(op.Value, "node", ""), op.F == FReplace, value)
		return complete(op, value, err)
	case FJoin:
		value, joined, err := joinLeft(ctx, m.cl, mc)
		for _, n := range joined {
			delete(m.out, n)
		}
		return complete(op, value, err)
	}
	return complete(op, op.Value, fmt.Errorf("nemesis: membership nemesis cannot do f %q", op.F))
}

// leave makes one running member leave (and, for replace, join again),
// filling value: node, or when it is "" a random one.
func (m *memberNemesis) leave(ctx context.Context, mc MemberCluster, node string, replace bool, value map[string]any) error {
	states := nodeStates(ctx, m.cl)
	nodes := m.cl.Nodes()
	members := where(m.cl, states, func(s string) bool { return s != StateLeft })
	if len(members)-1 < Majority(len(nodes)) {
		return fmt.Errorf("nemesis: membership: %d of the %d nodes are members; one more leaving breaks the majority of %d the cluster keeps (a join comes first)",
			len(members), len(nodes), Majority(len(nodes)))
	}
	// A change goes through the leader: without one (a majority down) it
	// fails at once, instead of holding the other faults back meanwhile.
	if _, err := waitLeader(ctx, m.cl); err != nil {
		return err
	}
	cands := where(m.cl, states, isRunning)
	switch {
	case node != "" && !slices.Contains(cands, node):
		return fmt.Errorf("nemesis: membership: %s cannot leave: it is %s, not a running member", node, states[node])
	case len(cands) == 0:
		return fmt.Errorf("nemesis: membership: no running member to leave (%s)", describeStates(m.cl, states, isRunning))
	case node == "":
		node = cands[m.rng.IntN(len(cands))]
	}
	value["node"] = node
	before, err := mc.Members(ctx)
	if err != nil {
		return err
	}
	// The system's own list counts: an earlier removal whose answer was
	// lost may have left fewer voters than the nodes that never left.
	if voters := slices.DeleteFunc(slices.Clone(before), func(m string) bool { return memberName(m) != m }); len(voters)-1 < Majority(len(nodes)) {
		return fmt.Errorf("nemesis: membership: the member list %v has %d voters; one more leaving breaks the majority of %d the cluster keeps (a join comes first)",
			before, len(voters), Majority(len(nodes)))
	}
	// Bounded by ChangeWait: the ops of every other lane wait for this
	// one, the stops that would give the cluster its leader back
	// included.
	rctx, cancel := context.WithTimeout(ctx, ChangeWait)
	removed, err := mc.RemoveMember(rctx, node)
	cancel()
	if err != nil {
		// The removal may have committed with its answer lost (the
		// leader removed itself, or was cut off): the member list says.
		// Until it does (RemovalWait at most), no other fault starts, so
		// that none is drawn over members that are no longer members.
		wctx, cancel := context.WithTimeout(ctx, RemovalWait)
		removed, err = removedAnyway(wctx, mc, node, before, err)
		cancel()
		if err != nil {
			return err
		}
		value["answer_lost"] = true
	}
	value["removed"] = removed
	m.out[node] = true
	sleepUntil(ctx, time.Now().Add(m.grace))
	if err := mc.Leave(ctx, node); err != nil {
		return err
	}
	if s := observe(ctx, m.cl, node); s != StateLeft {
		return fmt.Errorf("nemesis: membership: %s is %s after it left", node, s)
	}
	ms, err := mc.Members(ctx)
	if err != nil {
		return err
	}
	value["members"] = memberNames(ms)
	if i := slices.IndexFunc(ms, func(x string) bool { return memberName(x) == removed }); i >= 0 {
		return fmt.Errorf("nemesis: membership: the member list still shows %s after %s left", ms[i], node)
	}
	if replace {
		joined, err := mc.Join(ctx, node)
		if err != nil {
			return err
		}
		delete(m.out, node)
		value["joined"] = joined
		ms, err := mc.Members(ctx)
		if err != nil {
			return err
		}
		value["members"] = memberNames(ms)
		if err := showsVoter(ms, joined); err != nil {
			return err
		}
	}
	value["nodes"] = []any{node}
	return nil
}

// ChangeWait bounds a leave's removal call (a removal commits in well
// under a second while the cluster has a leader); RemovalWait bounds how
// long a leave whose answer was lost reads the member list back, waiting
// for a leader to answer; memberWait is the pause between reads. Every
// other lane's ops wait for a leave meanwhile, the stops of the network
// faults that may be what keeps the cluster leaderless among them: with
// every kind at once and 30 s each, 7 of 8 runs of 60 s did no fault
// after their first leave (started at about 8 s, ended info at about 68 s).
const (
	ChangeWait  = 10 * time.Second
	RemovalWait = 10 * time.Second
	memberWait  = time.Second
)

// removedAnyway reads the member list after RemoveMember of node failed
// with removeErr, until it answers or ctx ends: node's member (as before
// listed it) gone means the removal committed, and its name is returned;
// still there means it did not, and removeErr is returned. Without an
// answer the error says the removal's fate is unknown.
func removedAnyway(ctx context.Context, mc MemberCluster, node string, before []string, removeErr error) (string, error) {
	name := memberOf(before, node)
	if name == "" {
		return "", fmt.Errorf("nemesis: membership: %w (and %s was not in the member list %v before)", removeErr, node, before)
	}
	for {
		ms, err := mc.Members(ctx)
		if err == nil {
			if memberOf(ms, node) == name {
				return "", removeErr
			}
			return name, nil
		}
		if !sleepUntil(ctx, time.Now().Add(memberWait)) {
			return "", fmt.Errorf("nemesis: membership: %w; whether %s was removed is unknown: the member list gave no answer in %v (%v); the final heal reads it again", removeErr, name, RemovalWait, err)
		}
	}
}

// memberOf returns the name of node's member in the member list ms ("n3"
// or "n3.2"), or "" when it has none.
func memberOf(ms []string, node string) string {
	for _, m := range ms {
		name := memberName(m)
		if base, _, _ := strings.Cut(name, "."); base == node {
			return name
		}
	}
	return ""
}

// joinLeft brings every node that left back as a new member, in node
// order, and confirms the member list shows each as a voter. A node that
// is no member although it never left (a removal whose answer was lost)
// is first made to leave, so that it joins too. It returns the completion
// value and the nodes that joined.
func joinLeft(ctx context.Context, cl Cluster, mc MemberCluster) (map[string]any, []string, error) {
	value := map[string]any{"nodes": []any{}}
	states := nodeStates(ctx, cl)
	anyLeft := len(where(cl, states, func(s string) bool { return s == StateLeft })) > 0
	var ms []string
	_, err := waitLeader(ctx, cl)
	if err == nil {
		ms, err = mc.Members(ctx)
	}
	switch {
	case err != nil && anyLeft:
		return value, nil, err
	case err != nil:
		// Nothing to join that is known; the cluster's own recovery
		// (WaitHealthy) says the rest.
		value["note"] = "no node had left: nothing to join (the member list could not be read: " + err.Error() + ")"
		return value, nil, nil
	}
	var strays []string
	for _, n := range where(cl, states, func(s string) bool { return s != StateLeft }) {
		if memberOf(ms, n) == "" {
			if err := mc.Leave(ctx, n); err != nil {
				return value, nil, fmt.Errorf("nemesis: membership: %s is no member of %v: make it leave: %w", n, ms, err)
			}
			strays = append(strays, n)
		}
	}
	if len(strays) > 0 {
		value["no_member"] = strs(strays)
		states = nodeStates(ctx, cl)
	}
	left := where(cl, states, func(s string) bool { return s == StateLeft })
	if len(left) == 0 {
		value["note"] = "no node had left: nothing to join"
		return value, nil, nil
	}
	joined := map[string]any{}
	var done, members []string
	var errs []error
	for _, n := range left {
		m, err := mc.Join(ctx, n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		joined[n] = m
		members = append(members, m)
		done = append(done, n)
	}
	value["joined"] = joined
	if len(done) > 0 {
		ms, err := mc.Members(ctx)
		if err != nil {
			return value, done, errors.Join(append(errs, err)...)
		}
		value["members"] = memberNames(ms)
		for _, m := range members {
			if err := showsVoter(ms, m); err != nil {
				errs = append(errs, err)
			}
		}
	}
	value["nodes"] = strs(done)
	return value, done, errors.Join(errs...)
}

// showsVoter checks that the member list ms shows m as a voter.
func showsVoter(ms []string, m string) error {
	if !slices.Contains(ms, m) {
		return fmt.Errorf("nemesis: membership: the member list %v does not show %s as a voter after it joined", ms, m)
	}
	return nil
}

// memberName is the name of a member as MemberCluster lists it, without
// the learner's note.
func memberName(m string) string {
	name, _, _ := strings.Cut(m, " ")
	return name
}

// memberNames renders a member list for a history value, sorted.
func memberNames(ms []string) []any {
	return strs(slices.Sorted(slices.Values(ms)))
}

// Teardown brings back every node this nemesis made leave that is still
// out.
func (m *memberNemesis) Teardown(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.out) == 0 {
		return nil
	}
	mc, err := memberCluster(m.cl)
	if err != nil {
		return err
	}
	ctx, cancel := teardownCtx(ctx)
	defer cancel()
	_, joined, err := joinLeft(ctx, m.cl, mc)
	for _, n := range joined {
		delete(m.out, n)
	}
	if err != nil {
		return fmt.Errorf("nemesis: teardown membership: %w", err)
	}
	return nil
}

// confirmLeaves returns ops with each leave or replace whose answer was
// lost (an info completion naming its node, the removal's fate unknown
// when the op ended) that a later join found no member of (its no_member:
// the removal had committed) as the ok leave it was: its node under nodes,
// answer_lost. A replace so confirmed left its node out until that join,
// so it becomes a leave, its invoke too (replaced: true says what was
// asked). Such a leave happened, so a run's faults and its schedule count
// it. ops itself is not changed.
func confirmLeaves(ops []history.Op) []history.Op {
	var out []history.Op
	for i, op := range ops {
		if !op.IsNemesis() || (op.F != FLeave && op.F != FReplace) || op.Type != history.Info {
			continue
		}
		v, _ := op.Value.(map[string]any)
		node, _ := v["node"].(string)
		if node == "" || !slices.ContainsFunc(ops[i+1:], func(j history.Op) bool {
			jv, _ := j.Value.(map[string]any)
			return j.IsNemesis() && j.F == FJoin && j.Type == history.OK && slices.Contains(listOf(jv["no_member"]), node)
		}) {
			continue
		}
		if out == nil {
			out = slices.Clone(ops)
		}
		c := maps.Clone(v)
		c["nodes"], c["answer_lost"] = []any{node}, true
		if op.F == FReplace {
			c["mode"], c["replaced"] = MemberLeave, true
			for j := i - 1; j >= 0; j-- {
				if inv := out[j]; inv.IsNemesis() && inv.F == FReplace && inv.Type == history.Invoke {
					out[j].F, out[j].Value = FLeave, map[string]any{"mode": MemberLeave, "replaced": true}
					break
				}
			}
		}
		out[i].Type, out[i].F, out[i].Value = history.OK, FLeave, c
	}
	if out == nil {
		return ops
	}
	return out
}
