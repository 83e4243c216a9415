package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/faultline/faultline/history"
)

// stateTimeout bounds how long a kill, start, pause or resume waits for the
// container state to read back (a variable so tests can shorten it).
var stateTimeout = 15 * time.Second

// procNemesis kills/starts or pauses/resumes nodes.
type procNemesis struct {
	cl      Cluster
	rng     *rand.Rand
	targets []string
	startF  string // kill or pause
	stopF   string // start or resume
	fault   func(ctx context.Context, node string) error
	undo    func(ctx context.Context, node string) error
	faulted func(state string) bool // the state the fault leaves
	mu      sync.Mutex
	hit     map[string]bool // nodes this nemesis faulted and has not undone
}

// NewKill returns the nemesis for kill / start. A kill value is a target
// (one, minority, majority, all, leader; default a random one of targets);
// the chosen nodes get SIGKILL and the op is ok once each reads back as
// killed. start restarts every node this nemesis killed plus any node that
// reads as down, ok once each reads back running. Both completions are
// {"nodes": [...]} (kill adds "target").
func NewKill(cl Cluster, rng *rand.Rand, targets []string) Nemesis {
	return &procNemesis{cl: cl, rng: rng, targets: targets, startF: FKill, stopF: FStart,
		fault: cl.Kill, undo: cl.Start, faulted: isDown, hit: map[string]bool{}}
}

// NewPause returns the nemesis for pause / resume (docker pause), with the
// same targets and values as NewKill.
func NewPause(cl Cluster, rng *rand.Rand, targets []string) Nemesis {
	return &procNemesis{cl: cl, rng: rng, targets: targets, startF: FPause, stopF: FResume,
		fault: cl.Pause, undo: cl.Resume, faulted: func(s string) bool { return s == StatePaused },
		hit: map[string]bool{}}
}

func (p *procNemesis) Fs() []string { return []string{p.startF, p.stopF} }

func (p *procNemesis) Invoke(ctx context.Context, op history.Op) (history.Op, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch op.F {
	case p.startF:
		def := TargetOne
		if len(p.targets) > 0 {
			def = p.targets[p.rng.IntN(len(p.targets))]
		}
		target := stringArg(op.Value, "target", def)
		value := map[string]any{"target": target}
		nodes, err := pickTargets(ctx, p.cl, p.rng, target)
		if err != nil {
			return complete(op, value, err)
		}
		done, err := p.apply(ctx, nodes, p.fault, p.faulted, p.startF)
		for _, n := range nodes {
			p.hit[n] = true // also on failure: teardown will undo it
		}
		value["nodes"] = strs(done)
		return complete(op, value, err)
	case p.stopF:
		done, err := p.restore(ctx)
		return complete(op, map[string]any{"nodes": strs(done)}, err)
	}
	return complete(op, op.Value, fmt.Errorf("nemesis: %s nemesis cannot do f %q", p.startF, op.F))
}

// restore undoes the fault on every node whose state shows it (whoever
// caused it); nodes this nemesis hit that something else already restored
// are forgotten.
func (p *procNemesis) restore(ctx context.Context) ([]string, error) {
	var nodes []string
	for _, n := range p.cl.Nodes() {
		if p.faulted(p.cl.State(n)) {
			nodes = append(nodes, n)
		} else {
			delete(p.hit, n)
		}
	}
	done, err := p.apply(ctx, nodes, p.undo, func(s string) bool { return s == StateRunning }, p.stopF)
	for _, n := range done {
		delete(p.hit, n)
	}
	return done, err
}

// apply runs action on each node and waits until its state satisfies
// want; it returns the nodes confirmed.
func (p *procNemesis) apply(ctx context.Context, nodes []string, action func(context.Context, string) error,
	want func(string) bool, name string) ([]string, error) {
	var done []string
	var errs []error
	for _, n := range nodes {
		if err := action(ctx, n); err != nil {
			errs = append(errs, fmt.Errorf("nemesis: %s %s: %w", name, n, err))
			continue
		}
		// Both the runtime's bookkeeping and the container must agree.
		ok := func() bool { return want(p.cl.State(n)) && want(observe(ctx, p.cl, n)) }
		if !waitFor(ctx, stateTimeout, ok) {
			errs = append(errs, fmt.Errorf("nemesis: %s %s: state is %q (observed %q) after %v",
				name, n, p.cl.State(n), observe(ctx, p.cl, n), stateTimeout))
			continue
		}
		done = append(done, n)
	}
	slices.Sort(done)
	return done, errors.Join(errs...)
}

// Teardown restarts / resumes every node this nemesis faulted.
func (p *procNemesis) Teardown(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.hit) == 0 {
		return nil
	}
	ctx, cancel := teardownCtx(ctx)
	defer cancel()
	if _, err := p.restore(ctx); err != nil {
		return fmt.Errorf("nemesis: teardown %s: %w", p.startF, err)
	}
	return nil
}
