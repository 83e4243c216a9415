package nemesis

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/history"
)

// memberFake is a fake cluster whose system changes its members: a member
// per node that has not left, named after the node's incarnation, as
// cluster.Core and the systems do. It records every change in calls.
type memberFake struct {
	*fakeCluster
	incarnation map[string]int
	removed     map[string]bool // removed from the members, still running
	learner     map[string]bool
	// joinErr fails a node's joins; stale keeps a removed member in the
	// list (a system whose member list does not show the change).
	joinErr map[string]error
	stale   bool
	// removeErr is RemoveMember's error; with removeLost the removal
	// commits all the same (its answer lost).
	removeErr  error
	removeLost bool
	// removeWithin is how long RemoveMember's context had left (0: no
	// deadline).
	removeWithin time.Duration
}

func newMemberFake(t *testing.T, n int) *memberFake {
	return &memberFake{fakeCluster: newFake(t, n), incarnation: map[string]int{}, removed: map[string]bool{},
		learner: map[string]bool{}, joinErr: map[string]error{}}
}

var _ MemberCluster = (*memberFake)(nil)

func (f *memberFake) name(n string) string {
	if k := f.incarnation[n]; k > 1 {
		return fmt.Sprintf("%s.%d", n, k)
	}
	return n
}

func (f *memberFake) CanChangeMembership() bool { return true }

func (f *memberFake) Members(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, n := range f.nodes {
		switch {
		case (f.state[n] == StateLeft || f.removed[n]) && !f.stale:
		case f.learner[n]:
			out = append(out, f.name(n)+" (learner)")
		default:
			out = append(out, f.name(n))
		}
	}
	return out, nil
}

func (f *memberFake) RemoveMember(ctx context.Context, n string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if dl, ok := ctx.Deadline(); ok {
		f.removeWithin = time.Until(dl)
	}
	f.calls = append(f.calls, "remove "+f.name(n))
	if f.state[n] == StateLeft || f.removed[n] {
		return "", fmt.Errorf("%s is no member", n)
	}
	if f.removeErr != nil {
		f.removed[n] = f.removeLost
		return "", f.removeErr
	}
	f.removed[n] = true
	return f.name(n), nil
}

func (f *memberFake) Leave(_ context.Context, n string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "leave "+n)
	if f.state[n] == StateLeft {
		return fmt.Errorf("%s already left", n)
	}
	f.state[n] = StateLeft
	delete(f.rules, n)
	delete(f.removed, n)
	return nil
}

func (f *memberFake) Join(_ context.Context, n string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "join "+n)
	if f.state[n] != StateLeft {
		return "", fmt.Errorf("%s is %s: only a node that left joins", n, f.state[n])
	}
	if err := f.joinErr[n]; err != nil {
		return "", err
	}
	f.incarnation[n] = max(f.incarnation[n], 1) + 1
	f.state[n] = StateRunning
	return f.name(n), nil
}

// WaitHealthy waits for the members only, as cluster.Core does.
func (f *memberFake) WaitHealthy(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.nodes {
		if s := f.state[n]; s != StateRunning && s != StateLeft {
			return fmt.Errorf("%s is %s", n, s)
		}
	}
	return f.unhealthy
}

func newMemberNem(t *testing.T, f Cluster, spec string) Nemesis {
	t.Helper()
	cfg, err := DefaultConfig().WithSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	cfg.LeaveGrace = 0
	n, err := New(f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func val(op history.Op) map[string]any { m, _ := op.Value.(map[string]any); return m }

// A leave removes a running member through the system, stops the node
// and wipes it, and reads the members back; a second leave of a 3-node
// cluster would break its majority and is refused; join brings the node
// back under a fresh identity; a join with nothing to join says so and
// counts as no fault.
func TestMembershipLeaveJoin(t *testing.T) {
	f := newMemberFake(t, 3)
	nem := newMemberNem(t, f, "membership,kill")
	rec := &memRecorder{}
	ctx := context.Background()
	c, err := Apply(ctx, nem, rec, history.Op{F: FLeave, Value: map[string]any{"mode": MemberLeave}})
	if err != nil {
		t.Fatalf("leave: %v", c)
	}
	v := val(c)
	nodes, _ := v["nodes"].([]any)
	if len(nodes) != 1 {
		t.Fatalf("leave: %v", v)
	}
	left := nodes[0].(string)
	if f.State(left) != StateLeft || v["removed"] != left || len(v["members"].([]any)) != 2 ||
		slices.Contains(v["members"].([]any), any(left)) {
		t.Fatalf("after %s left: state %s, value %v", left, f.State(left), v)
	}
	if got := f.calls[len(f.calls)-2:]; !slices.Equal(got, []string{"remove " + left, "leave " + left}) {
		t.Fatalf("calls %v: want the member removed, then the node stopped", got)
	}
	c, err = Apply(ctx, nem, rec, history.Op{F: FLeave, Value: map[string]any{"mode": MemberLeave}})
	if err == nil || !strings.Contains(c.Error, "majority") {
		t.Fatalf("a second leave of 3 nodes: %v", c)
	}
	// A node that left is neither killed nor restarted by the process
	// faults.
	k, err := Apply(ctx, nem, rec, history.Op{F: FKill, Value: TargetAll})
	if err == nil && slices.Contains(val(k)["nodes"].([]any), any(left)) {
		t.Fatalf("kill all killed %s, which left: %v", left, k)
	}
	if _, err := Apply(ctx, nem, rec, history.Op{F: FStart}); err != nil || f.State(left) != StateLeft {
		t.Fatalf("start: %v, %s is %s", err, left, f.State(left))
	}
	c, err = Apply(ctx, nem, rec, history.Op{F: FJoin})
	if err != nil {
		t.Fatalf("join: %v", c)
	}
	v = val(c)
	if f.State(left) != StateRunning || !reflect.DeepEqual(v["nodes"], []any{left}) ||
		!reflect.DeepEqual(v["joined"], map[string]any{left: left + ".2"}) || len(v["members"].([]any)) != 3 {
		t.Fatalf("join: state %s, value %v", f.State(left), v)
	}
	c, err = Apply(ctx, nem, rec, history.Op{F: FJoin})
	if err != nil || val(c)["note"] == nil || len(val(c)["nodes"].([]any)) != 0 {
		t.Fatalf("a join with nothing to join: %v", c)
	}
	if got := Happened(rec.all()); !slices.Contains(got, Fault{FaultMembership, MemberLeave}) || slices.ContainsFunc(got, func(x Fault) bool {
		return x.Kind == FaultMembership && x.Option != MemberLeave
	}) {
		t.Fatalf("Happened = %v, want one membership:leave", got)
	}
}

// replace is a leave and a join of the same node, each counted; the
// node's identity moves on with each replacement.
func TestMembershipReplace(t *testing.T) {
	f := newMemberFake(t, 3)
	nem := newMemberNem(t, f, "membership:replace")
	rec := &memRecorder{}
	for i := 2; i <= 4; i++ {
		c, err := Apply(context.Background(), nem, rec, history.Op{F: FReplace, Value: map[string]any{"mode": MemberReplace}})
		if err != nil {
			t.Fatalf("replace %d: %v", i, c)
		}
		v := val(c)
		n := v["nodes"].([]any)[0].(string)
		if f.State(n) != StateRunning || !strings.HasPrefix(v["joined"].(string), n+".") || len(v["members"].([]any)) != 3 {
			t.Fatalf("replace: %s is %s, value %v", n, f.State(n), v)
		}
	}
	if got := Happened(rec.all()); len(got) != 3 || got[0] != (Fault{FaultMembership, MemberReplace}) {
		t.Fatalf("Happened = %v, want membership:replace three times", got)
	}
	if sum := f.incarnation["n1"] + f.incarnation["n2"] + f.incarnation["n3"]; sum-len(f.incarnation) != 3 {
		t.Fatalf("incarnations %v after three replacements", f.incarnation)
	}
}

// A leave's value may name the node (a replayed schedule's); one that is
// not a running member is refused.
func TestMembershipPinnedNode(t *testing.T) {
	f := newMemberFake(t, 5)
	nem := newMemberNem(t, f, "membership")
	rec := &memRecorder{}
	c, err := Apply(context.Background(), nem, rec, history.Op{F: FLeave, Value: map[string]any{"mode": MemberLeave, "node": "n4"}})
	if err != nil || !reflect.DeepEqual(val(c)["nodes"], []any{"n4"}) {
		t.Fatalf("leave of n4: %v", c)
	}
	for _, n := range []string{"n4", "n9"} {
		c, err = Apply(context.Background(), nem, rec, history.Op{F: FLeave, Value: map[string]any{"mode": MemberLeave, "node": n}})
		if err == nil || !strings.Contains(c.Error, "not a running member") {
			t.Fatalf("leave of %s: %v", n, c)
		}
	}
}

// Without a majority running no change can go through the leader: leave
// and join fail at once, leaving the lock to the faults that would bring
// the nodes back.
func TestMembershipNeedsMajority(t *testing.T) {
	f := newMemberFake(t, 3)
	nem := newMemberNem(t, f, "membership,kill")
	rec := &memRecorder{}
	ctx := context.Background()
	if _, err := Apply(ctx, nem, rec, history.Op{F: FLeave, Value: map[string]any{"node": "n2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(ctx, nem, rec, history.Op{F: FKill, Value: map[string]any{"target": TargetOne}}); err != nil {
		t.Fatal(err)
	}
	t0 := len(f.calls)
	c, err := Apply(ctx, nem, rec, history.Op{F: FJoin})
	if err == nil || !strings.Contains(c.Error, "not a majority") || slices.ContainsFunc(f.calls[t0:], func(s string) bool { return strings.HasPrefix(s, "join") }) {
		t.Fatalf("join with a majority down: %v (calls %v)", c, f.calls[t0:])
	}
	if _, err := Apply(ctx, nem, rec, history.Op{F: FStart}); err != nil {
		t.Fatal(err)
	}
	if c, err := Apply(ctx, nem, rec, history.Op{F: FJoin}); err != nil || !reflect.DeepEqual(val(c)["nodes"], []any{"n2"}) {
		t.Fatalf("join once the majority is back: %v", c)
	}
}

// A change the member list does not show is not a fault that happened.
func TestMembershipUnconfirmed(t *testing.T) {
	f := newMemberFake(t, 3)
	f.stale = true
	rec := &memRecorder{}
	c, err := Apply(context.Background(), newMemberNem(t, f, "membership"), rec, history.Op{F: FLeave})
	if err == nil || c.Type != history.Info || !strings.Contains(c.Error, "still shows") {
		t.Fatalf("leave that the members do not show: %v", c)
	}
	if got := Happened(rec.all()); len(got) != 0 {
		t.Fatalf("Happened = %v, want nothing", got)
	}
}

// The final heal brings every node that left back; a node that cannot
// join again stays out, and the heal says which while the members serve.
func TestHealJoinsLeftNodes(t *testing.T) {
	ctx := context.Background()
	for _, failJoin := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail=%v", failJoin), func(t *testing.T) {
			f := newMemberFake(t, 3)
			if _, err := f.RemoveMember(ctx, "n2"); err != nil {
				t.Fatal(err)
			}
			if err := f.Leave(ctx, "n2"); err != nil {
				t.Fatal(err)
			}
			if failJoin {
				f.joinErr["n2"] = errBoom
			}
			rec := &memRecorder{}
			err := HealAll(ctx, f, rec, []string{FaultMembership}, 10*time.Second)
			var partial *PartialHeal
			switch {
			case !failJoin && (err != nil || f.State("n2") != StateRunning):
				t.Fatalf("heal: %v; n2 is %s", err, f.State("n2"))
			case failJoin && (!errors.As(err, &partial) || !slices.Equal(partial.Down, []string{"n2"}) || !errors.Is(err, errBoom)):
				t.Fatalf("heal with a join that fails: %v, want n2 named as out", err)
			}
			var join history.Op
			for _, op := range rec.all() {
				if op.F == FJoin && op.Type != history.Invoke {
					join = op
				}
			}
			if want := !failJoin; reflect.DeepEqual(val(join)["nodes"], []any{"n2"}) != want {
				t.Fatalf("the heal's join: %v", join)
			}
		})
	}
}

// A system that cannot change its members gets no membership heal step,
// and a membership op on it fails saying why.
func TestMembershipUnsupported(t *testing.T) {
	f := newFake(t, 3)
	rec := &memRecorder{}
	if err := HealAll(context.Background(), f, rec, []string{FaultMembership}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(rec.all(), func(op history.Op) bool { return op.F == FJoin }) {
		t.Fatal("the heal joined nodes of a cluster that cannot change its members")
	}
	c, err := Apply(context.Background(), NewMembership(f, nil, 0), rec, history.Op{F: FLeave})
	if err == nil || !strings.Contains(c.Error, "cannot change the cluster's members") {
		t.Fatalf("leave on a cluster without membership changes: %v", c)
	}
}

// The spec takes leave and replace; join is the stop, no option.
func TestMembershipSpec(t *testing.T) {
	cfg, err := DefaultConfig().WithSpec("membership:leave+replace")
	if err != nil || len(cfg.Required()) != 2 {
		t.Fatalf("membership:leave+replace: %v, required %v", err, cfg.Required())
	}
	if _, err := DefaultConfig().WithSpec("membership:join"); err == nil {
		t.Fatal("membership:join was accepted")
	}
	k, _ := KindOf(FaultMembership)
	if f, _ := k.value(cfg, MemberReplace, nil); f != FReplace || k.Stop != FJoin {
		t.Fatalf("replace starts with %s, stops with %s", f, k.Stop)
	}
}

// TestMembershipLostAnswer: a removal whose answer is lost is read back
// from the member list: committed, the leave goes on (and says the answer
// was lost); not committed, the op fails with the removal's error. A node
// the members no longer list although it never left counts as gone for the
// next leave, and is made to leave by the final heal's join, and joins
// again.
func TestMembershipLostAnswer(t *testing.T) {
	ctx := context.Background()
	for _, lost := range []bool{true, false} {
		f := newMemberFake(t, 3)
		f.removeErr, f.removeLost = errors.New("remove: timeout"), lost
		nem := newMemberNem(t, f, "membership")
		c, _ := Apply(ctx, nem, &memRecorder{}, history.Op{F: FLeave, Value: map[string]any{"mode": MemberLeave, "node": "n2"}})
		switch {
		case lost && (c.Type != history.OK || val(c)["answer_lost"] != true || val(c)["removed"] != "n2" || f.State("n2") != StateLeft):
			t.Errorf("leave whose answer was lost: %v (n2 %s), want ok, removed n2, answer_lost", c, f.State("n2"))
		case !lost && (c.Type == history.OK || !strings.Contains(c.Error, "remove: timeout") || f.State("n2") != StateRunning):
			t.Errorf("leave that failed: %v (n2 %s), want the removal's error and n2 running", c, f.State("n2"))
		}
		// The other lanes wait for a leave: its removal call is bounded
		// by ChangeWait, not by the op's two minutes.
		if f.removeWithin <= 0 || f.removeWithin > ChangeWait {
			t.Errorf("the removal's call had %v left, want a deadline within %v", f.removeWithin, ChangeWait)
		}
	}
	f := newMemberFake(t, 3)
	f.removed["n3"] = true // removed, its leave never done
	nem := newMemberNem(t, f, "membership")
	if c, _ := Apply(ctx, nem, &memRecorder{}, history.Op{F: FLeave, Value: map[string]any{"mode": MemberLeave, "node": "n2"}}); c.Type == history.OK || !strings.Contains(c.Error, "has 2 voters") {
		t.Errorf("leave with n3 no member but never left: %v, want it refused by the member list's count", c)
	}
	value, joined, err := joinLeft(ctx, f, f)
	if err != nil || !slices.Equal(joined, []string{"n3"}) || !reflect.DeepEqual(value["no_member"], []any{"n3"}) {
		t.Fatalf("join with n3 no member: %v, %v, %v; want n3 made to leave and joined", value, joined, err)
	}
	if ms, _ := f.Members(ctx); !slices.Contains(ms, "n3.2") {
		t.Errorf("members %v after the join, want n3.2", ms)
	}
}
