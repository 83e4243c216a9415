package nemesis

import (
	"context"
	"errors"
	"fmt"
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
	return []string{FResume, FStart, FStopPartition, FStopLoss, FResetClock}
}

func (h *healer) Teardown(context.Context) error { return nil }

func (h *healer) Invoke(ctx context.Context, op history.Op) (history.Op, error) {
	switch op.F {
	case FResume:
		value, _, err := resume(ctx, h.cl)
		return complete(op, value, err)
	case FStart:
		// The runtime's own view of each node decides, so a node that
		// crashed by itself is restarted too (and named under "crashed").
		value, _, err := restart(ctx, h.cl)
		return complete(op, value, err)
	case FStopPartition, FStopLoss:
		healed, down, err := healNet(ctx, h.cl)
		return complete(op, healValue(healed, down), err)
	case FResetClock:
		offsets, err := resetClocksUntil(ctx, h.cl, h.deadline)
		return complete(op, map[string]any{"offsets_ms": offsets}, err)
	}
	return complete(op, op.Value, fmt.Errorf("nemesis: heal cannot do f %q", op.F))
}

// DefaultHealTimeout bounds how long HealAll waits for the cluster to be
// healthy again.
const DefaultHealTimeout = 30 * time.Second

// HealAll is the final phase: it stops every fault whatever started it and
// waits until the cluster is healthy, within DefaultHealTimeout.
func HealAll(ctx context.Context, cl Cluster, rec Recorder) error {
	return HealAllWithin(ctx, cl, rec, DefaultHealTimeout)
}

// HealAllWithin resumes every paused node, starts every killed node,
// removes every netctl rule on every node (recorded as stop-partition and
// stop-loss), resets every clock (when the nodes have a clock hook), and
// then waits until cl.WaitHealthy succeeds. Each step is recorded as a nemesis invoke/completion pair. The
// wait is bounded by timeout, counted from the start of the heal; when the
// cluster does not recover the error names the state of every node.
func HealAllWithin(ctx context.Context, cl Cluster, rec Recorder, timeout time.Duration) error {
	h := &healer{cl: cl, deadline: time.Now().Add(timeout)}
	var errs []error
	// Containers must run before netctl can exec in them and before the
	// admin endpoint answers: resume and start first.
	for _, f := range []string{FResume, FStart, FStopPartition, FStopLoss, FResetClock} {
		if f == FResetClock && !hasClockHook(cl) {
			continue
		}
		if _, err := Apply(ctx, h, rec, history.Op{F: f, Value: "all"}); err != nil {
			errs = append(errs, err)
		}
	}
	wctx, cancel := context.WithDeadline(ctx, h.deadline)
	defer cancel()
	if err := cl.WaitHealthy(wctx); err != nil {
		var states []string
		for _, n := range cl.Nodes() {
			states = append(states, fmt.Sprintf("%s is %s", n, cl.State(n)))
		}
		errs = append(errs, fmt.Errorf("cluster did not recover within %v after heal: %s: %w",
			timeout, strings.Join(states, ", "), err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("nemesis: heal: %w", err)
	}
	return nil
}
