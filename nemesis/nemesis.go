package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/faultline/faultline/history"
)

// Fault op names (history f values).
const (
	FStartPartition = "start-partition"
	FStopPartition  = "stop-partition"
	FStartLoss      = "start-loss"
	FStopLoss       = "stop-loss"
	FStartDelay     = "start-delay"
	FStopDelay      = "stop-delay"
	FKill           = "kill"
	FStart          = "start"
	FPause          = "pause"
	FResume         = "resume"
	FBumpClock      = "bump-clock"
	FStrobeClock    = "strobe-clock"
	FResetClock     = "reset-clock"
)

// Nemesis injects one family of faults. Invoke performs op (an invoke whose
// F is one of Fs) and returns its completion: Type OK when the fault is
// confirmed in effect, Type Info with Error set (and a non-nil error) when
// it could not be applied or confirmed. The completion's Value says what was
// done. Teardown undoes every fault the nemesis may have left in effect; it
// is safe to call on any exit path, even with a cancelled ctx.
type Nemesis interface {
	Invoke(ctx context.Context, op history.Op) (history.Op, error)
	Teardown(ctx context.Context) error
	Fs() []string
}

// complete builds the completion of invoke: OK with value, or Info with
// value and err's message when err is not nil.
func complete(invoke history.Op, value any, err error) (history.Op, error) {
	c := history.Op{Type: history.OK, Process: history.NemesisProcess, F: invoke.F,
		Value: value, Node: invoke.Node}
	if err != nil {
		c.Type = history.Info
		c.Error = err.Error()
	}
	return c, err
}

// Compose returns a Nemesis that dispatches each op to the nemesis whose
// Fs contains op.F. Two nemeses claiming the same f is an error.
func Compose(ns ...Nemesis) (Nemesis, error) {
	c := &composed{byF: map[string]Nemesis{}}
	for _, n := range ns {
		for _, f := range n.Fs() {
			if _, dup := c.byF[f]; dup {
				return nil, fmt.Errorf("nemesis: compose: f %q is handled twice", f)
			}
			c.byF[f] = n
		}
		c.all = append(c.all, n)
	}
	return c, nil
}

type composed struct {
	byF map[string]Nemesis
	all []Nemesis
}

func (c *composed) Invoke(ctx context.Context, op history.Op) (history.Op, error) {
	n, ok := c.byF[op.F]
	if !ok {
		return complete(op, op.Value, fmt.Errorf("nemesis: no nemesis handles f %q (have %v)", op.F, c.Fs()))
	}
	return n.Invoke(ctx, op)
}

// Teardown tears down every member, in reverse order, and joins the errors.
func (c *composed) Teardown(ctx context.Context) error {
	var errs []error
	for _, n := range slices.Backward(c.all) {
		errs = append(errs, n.Teardown(ctx))
	}
	return errors.Join(errs...)
}

func (c *composed) Fs() []string {
	fs := make([]string, 0, len(c.byF))
	for f := range c.byF {
		fs = append(fs, f)
	}
	sort.Strings(fs)
	return fs
}

// Targets of kill, pause, loss and clock faults.
const (
	TargetOne      = "one"
	TargetMinority = "minority"
	TargetMajority = "majority"
	TargetAll      = "all"
	TargetLeader   = "leader"
)

// Targets lists every target.
var Targets = []string{TargetOne, TargetMinority, TargetMajority, TargetAll, TargetLeader}

// pickTargets chooses the nodes a target names among the nodes whose state
// (observed) satisfies eligible, e.g. the nodes that are running for a
// pause: one random eligible node, a random minority (floor(n/2) of the n
// nodes), a random majority, every member (every node that has not left
// the cluster), or the leader. Sizes count the whole cluster; a non-nil
// pool narrows the candidates to its nodes. Too few eligible nodes is an
// error naming the others' states, as is a leader that is not eligible:
// all with a member another fault holds (a power failure of all while one
// node is paused) waits for it (Run tries the start again) instead of
// hitting fewer nodes under the name all. The result is sorted and never
// empty.
func pickTargets(ctx context.Context, cl Cluster, rng *rand.Rand, target string, eligible func(string) bool, pool []string) ([]string, error) {
	nodes := cl.Nodes()
	if len(nodes) == 0 {
		return nil, errors.New("nemesis: cluster has no nodes")
	}
	if !slices.Contains(Targets, target) {
		return nil, fmt.Errorf("nemesis: unknown target %q (want one of %v)", target, Targets)
	}
	states := nodeStates(ctx, cl)
	cands := where(cl, states, eligible)
	if pool != nil {
		cands = slices.DeleteFunc(cands, func(n string) bool { return !slices.Contains(pool, n) })
	}
	need := map[string]int{TargetOne: 1, TargetMinority: Majority(len(nodes)) - 1,
		TargetMajority: Majority(len(nodes)), TargetAll: len(members(cl, states, pool)), TargetLeader: 1}[target]
	if need == 0 {
		return nil, fmt.Errorf("nemesis: target %s of %d nodes is no node", target, len(nodes))
	}
	if len(cands) < need {
		if pool != nil {
			return nil, fmt.Errorf("nemesis: target %s needs %d node(s), %d of its pool %v are eligible (%s)",
				target, need, len(cands), pool, describeStates(cl, states, eligible))
		}
		return nil, fmt.Errorf("nemesis: target %s needs %d node(s), %d of %d are eligible (%s)",
			target, need, len(cands), len(nodes), describeStates(cl, states, eligible))
	}
	var out []string
	switch target {
	case TargetOne, TargetMinority, TargetMajority:
		out = shuffled(rng, cands)[:need]
	case TargetAll:
		out = cands
	case TargetLeader:
		l, err := waitLeader(ctx, cl)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(nodes, l) {
			return nil, fmt.Errorf("nemesis: leader %q is not one of %v", l, nodes)
		}
		if !slices.Contains(cands, l) {
			return nil, fmt.Errorf("nemesis: leader %s is %s", l, states[l])
		}
		out = []string{l}
	}
	slices.Sort(out)
	return out, nil
}

// members returns the nodes that have not left the cluster, among pool's
// when pool is not nil.
func members(cl Cluster, states map[string]string, pool []string) []string {
	return slices.DeleteFunc(where(cl, states, func(s string) bool { return s != StateLeft }),
		func(n string) bool { return pool != nil && !slices.Contains(pool, n) })
}

// LeaderWait bounds how long a leader-targeted fault waits for the cluster
// to agree on a leader (e.g. during an election another fault caused).
const LeaderWait = 5 * time.Second

// waitLeader asks cl for its leader until one is agreed, for up to
// LeaderWait: an election in progress is not a reason to skip a fault.
// Run bounds the wait (leaderWaitWithin) so that a start that finds no
// leader leaves its retry time within the main phase.
// When no node is up, or no majority is running (the others paused or
// killed), no leader can be agreed: it fails at once, so that the schedule
// can try another option while there is time.
func waitLeader(ctx context.Context, cl Cluster) (string, error) {
	states := nodeStates(ctx, cl)
	if len(where(cl, states, isUp)) == 0 {
		return "", fmt.Errorf("nemesis: no leader: every node is down (%s)", describeStates(cl, states, isUp))
	}
	if running := where(cl, states, isRunning); len(running) <= len(cl.Nodes())/2 {
		return "", fmt.Errorf("nemesis: no leader: %d of %d nodes are running, not a majority (%s)",
			len(running), len(cl.Nodes()), describeStates(cl, states, isRunning))
	}
	wait := LeaderWait
	if dl, ok := ctx.Value(leaderDeadlineKey{}).(time.Time); ok {
		if wait = min(wait, time.Until(dl)); wait <= 0 {
			l, err := cl.Leader(ctx) // asked once: no time left in the main phase to wait
			if err != nil {
				return "", fmt.Errorf("nemesis: find leader (no time left in the main phase to wait for one): %w", err)
			}
			return l, nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		l, err := cl.Leader(ctx)
		if err == nil {
			return l, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("nemesis: find leader (waited up to %v): %w", wait, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// teardownCtx returns ctx, or when ctx is already done a fresh bounded
// context carrying its values, so cleanup runs on every exit path.
func teardownCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Err() == nil {
		return ctx, func() {}
	}
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

// waitFor polls cond every 100 ms until it returns true, ctx ends or d
// passes; it reports whether cond became true.
func waitFor(ctx context.Context, d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return cond()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stringArg reads a string invoke value (or a map's "target"/"grudge" key).
func stringArg(v any, key, def string) string {
	switch x := v.(type) {
	case string:
		if x != "" {
			return x
		}
	case map[string]any:
		if s, ok := x[key].(string); ok && s != "" {
			return s
		}
	}
	return def
}

// intArg reads an integral key of a map invoke value.
func intArg(v any, key string, def int64) int64 {
	if m, ok := v.(map[string]any); ok {
		if n, ok := history.Int(m[key]); ok {
			return n
		}
	}
	return def
}
