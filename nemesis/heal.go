package nemesis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/history"
)

// healer performs HealAll's steps as a Nemesis, so they are recorded like
// any other nemesis op.
type healer struct {
	cl       Cluster
	deadline time.Time
}

func (h *healer) Fs() []string {
	var fs []string
	for _, k := range healOrder() {
		fs = append(fs, k.Stop)
	}
	return fs
}

func (h *healer) Teardown(context.Context) error { return nil }

func (h *healer) Invoke(ctx context.Context, op history.Op) (history.Op, error) {
	for _, k := range healOrder() {
		if k.Stop == op.F {
			value, err := k.heal(ctx, h)
			return complete(op, value, err)
		}
	}
	return complete(op, op.Value, fmt.Errorf("nemesis: heal cannot do f %q", op.F))
}

// HealAll is the final phase: it runs the heal step of each fault kind in
// kinds (the run's Config.Faults), in heal order (resume every paused
// node, start every killed node, remove every netctl rule on every node,
// bring every node that left the cluster back as a new member, reset
// every clock, each when the system can), each recorded as the kind's stop
// op, and then waits until cl.WaitHealthy succeeds. Kinds the run did not
// use have nothing to undo, and their steps would only lengthen the heal
// and draw empty lanes; kill's step (start) always runs, as it restarts a
// node that crashed by itself. The wait is bounded by timeout, counted from the
// start of the heal; when the cluster does not recover the error names
// the state of every node.
func HealAll(ctx context.Context, cl Cluster, rec Recorder, kinds []string, timeout time.Duration) error {
	h := &healer{cl: cl, deadline: time.Now().Add(timeout)}
	var errs []error
	// Every kind's heal step, in heal order: containers must run before
	// netctl can exec in them and before the admin endpoint answers.
	for _, k := range healOrder() {
		if (k.Name != FaultKill && !slices.Contains(kinds, k.Name)) || !provides(cl, k.Needs) {
			continue // nothing of the kind to undo here
		}
		if _, err := Apply(ctx, h, rec, history.Op{F: k.Stop, Value: "all"}); err != nil {
			errs = append(errs, err)
		}
	}
	wctx, cancel := context.WithDeadline(ctx, h.deadline)
	defer cancel()
	err := cl.WaitHealthy(wctx)
	out := func(s string) bool { return isDown(s) || s == StateLeft }
	if err == nil {
		// The members serve; a node that could not join again stays out
		// of the cluster, and the final reads go to the members.
		states := nodeStates(context.WithoutCancel(ctx), cl)
		if left := where(cl, states, out); len(left) > 0 {
			return &PartialHeal{Down: left, Err: errors.Join(errs...)}
		}
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("nemesis: heal: %w", err)
		}
		return nil
	}
	// Nodes that exit at every start (a node refusing its corrupted disk)
	// or that could not join the cluster again do not stop the run when a
	// majority serves: the final reads go to it, and the run says which
	// nodes stayed down.
	states := nodeStates(context.WithoutCancel(ctx), cl)
	if down := where(cl, states, out); len(down) > 0 && len(down) < Majority(len(cl.Nodes())) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), LeaderWait)
		defer cancel()
		if _, lerr := cl.Leader(lctx); lerr == nil {
			return &PartialHeal{Down: down, Err: errors.Join(append(errs, err)...)}
		}
	}
	var desc []string
	for _, n := range cl.Nodes() {
		desc = append(desc, fmt.Sprintf("%s is %s", n, states[n]))
	}
	errs = append(errs, fmt.Errorf("cluster did not recover within %v after heal: %s: %w",
		timeout, strings.Join(desc, ", "), err))
	return fmt.Errorf("nemesis: heal: %w", errors.Join(errs...))
}

// PartialHeal is HealAll's error when a minority of nodes stayed down
// (they exit as they start: a node refusing its damaged disk) or out of
// the cluster (a node that left and could not join again) while the
// others elected a leader and serve. Err says what failed.
type PartialHeal struct {
	Down []string
	Err  error
}

func (p *PartialHeal) Error() string {
	return fmt.Sprintf("nemesis: heal: %s stayed down or out of the cluster (a majority serves): %v", strings.Join(p.Down, ", "), p.Err)
}

func (p *PartialHeal) Unwrap() error { return p.Err }
