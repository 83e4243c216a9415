package nemesis

import (
	"context"
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

// procNemesis takes nodes down (kill, pause, power failure, corruption)
// and brings them back.
type procNemesis struct {
	cl       Cluster
	rng      *rand.Rand
	targets  []string
	startF   string                  // kill, pause, power-off, corrupt
	stopF    string                  // start, resume, power-on, restart-corrupt
	eligible func(state string) bool // the nodes a fault may hit
	// down takes nodes down and returns those confirmed, adding what it
	// did to the completion value.
	down func(ctx context.Context, op history.Op, nodes []string, value map[string]any) ([]string, error)
	mu   sync.Mutex
	hit  map[string]bool // nodes this nemesis faulted and has not undone
	// lasting says the fault's damage outlives its stop (a corruption):
	// the nodes it ever hits stay within one minority, pool, drawn at its
	// first op, so that damage done by one op and by the next never adds
	// up to a majority's data, which no replicated system survives; and
	// within a minority of the current members (lastingPool).
	lasting bool
	pool    []string
}

// NewKill returns the nemesis for kill / start. A kill value is a target
// (one, minority, majority, all, leader; default a random one of targets)
// chosen among the nodes that are up (running or paused); the chosen nodes
// get SIGKILL all at once (concurrently: kill all is a whole-cluster
// crash) and the op is ok once each reads back as killed. start restarts,
// concurrently, every node that is down, whoever killed it, ok once each
// reads back running; a node that died by itself is named under
// "crashed". Completions are {"target": t, "nodes": [...]} for kill and
// {"nodes": [...]} (plus "crashed") for start.
func NewKill(cl Cluster, rng *rand.Rand, targets []string) Nemesis {
	return &procNemesis{cl: cl, rng: rng, targets: targets, startF: FKill, stopF: FStart,
		eligible: isUp, hit: map[string]bool{},
		down: func(ctx context.Context, _ history.Op, nodes []string, _ map[string]any) ([]string, error) {
			return kill(ctx, cl, nodes)
		}}
}

// NewPause returns the nemesis for pause / resume (docker pause), with the
// same targets and values as NewKill; targets are chosen among running
// nodes.
func NewPause(cl Cluster, rng *rand.Rand, targets []string) Nemesis {
	return &procNemesis{cl: cl, rng: rng, targets: targets, startF: FPause, stopF: FResume,
		eligible: isRunning, hit: map[string]bool{},
		down: func(ctx context.Context, _ history.Op, nodes []string, _ map[string]any) ([]string, error) {
			return transition(ctx, cl, nodes, cl.Pause, isPaused, FPause)
		}}
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
		var pool []string
		if p.lasting {
			var err error
			if pool, err = p.lastingPool(); err != nil {
				return complete(op, value, err)
			}
		}
		nodes, err := targetNodes(ctx, p.cl, p.rng, op, target, p.eligible, pool)
		if err != nil {
			return complete(op, value, err)
		}
		done, err := p.down(ctx, op, nodes, value)
		for _, n := range nodes {
			p.hit[n] = true // also on failure: teardown will undo it
		}
		value["nodes"] = strs(done)
		return complete(op, value, err)
	case p.stopF:
		value, err := p.restore(ctx)
		return complete(op, value, err)
	}
	return complete(op, op.Value, fmt.Errorf("nemesis: %s nemesis cannot do f %q", p.startF, op.F))
}

// lastingPool returns the nodes a lasting fault may hit now: its pool
// (drawn at its first op: as many nodes as a majority of them can lose)
// that are still members. When the members have shrunk (a membership
// fault's leave) so that the undamaged members would be no majority of
// them, it may hit none: the damage already done would then reach the
// current voters' quorum.
func (p *procNemesis) lastingPool() ([]string, error) {
	all := p.cl.Nodes()
	if p.pool == nil {
		p.pool = shuffled(p.rng, all)[:len(all)-Majority(len(all))]
		slices.Sort(p.pool)
	}
	// Membership is the runtime's bookkeeping (a leave records it), so no
	// node is observed here: pickTargets observes them next.
	members := slices.DeleteFunc(slices.Clone(all), func(n string) bool { return p.cl.State(n) == StateLeft })
	pool := slices.DeleteFunc(slices.Clone(p.pool), func(n string) bool { return !slices.Contains(members, n) })
	if len(pool) > len(members)-Majority(len(members)) {
		return nil, fmt.Errorf("nemesis: %s: %v, damaged before, are no longer a minority of the members %v (a membership change): another %s could leave no majority of undamaged members, so none is done",
			p.startF, pool, members, p.startF)
	}
	return pool, nil
}

// restore undoes the fault on every node whose state shows it, whoever
// caused it (start also restarts nodes that crashed by themselves); nodes
// this nemesis hit that something else already restored are forgotten.
func (p *procNemesis) restore(ctx context.Context) (map[string]any, error) {
	var value map[string]any
	var done []string
	var err error
	if p.stopF != FResume {
		value, done, err = restart(ctx, p.cl)
	} else {
		value, done, err = resume(ctx, p.cl)
	}
	for _, n := range done {
		delete(p.hit, n)
	}
	states := nodeStates(ctx, p.cl)
	for n := range p.hit {
		if states[n] == StateRunning {
			delete(p.hit, n)
		}
	}
	return value, err
}

// kill sends SIGKILL to every node at once and confirms each reads back
// down; it returns the nodes confirmed.
func kill(ctx context.Context, cl Cluster, nodes []string) ([]string, error) {
	return transition(ctx, cl, nodes, cl.Kill, isDown, FKill)
}

// restart starts, concurrently, every node that is down: killed (by the
// nemesis or the runtime's bookkeeping) or crashed (down per the runtime
// while its bookkeeping says it is up; such a node is first killed, so the
// bookkeeping agrees, then started). It returns the completion value
// {"nodes": [restarted], "crashed": [crashed nodes, when any]} and the
// nodes confirmed running.
func restart(ctx context.Context, cl Cluster) (map[string]any, []string, error) {
	states := nodeStates(ctx, cl)
	var down, crashed []string
	for _, n := range cl.Nodes() {
		book := cl.State(n)
		if isDown(book) || isDown(states[n]) {
			down = append(down, n)
		}
		if !isDown(book) && isDown(states[n]) {
			crashed = append(crashed, n)
		}
	}
	start := func(ctx context.Context, n string) error {
		if slices.Contains(crashed, n) {
			if err := cl.Kill(ctx, n); err != nil {
				return fmt.Errorf("record crashed node %s as killed: %w", n, err)
			}
		}
		return cl.Start(ctx, n)
	}
	done, err := transition(ctx, cl, down, start, isRunning, FStart)
	value := map[string]any{"nodes": strs(done)}
	if len(crashed) > 0 {
		value["crashed"] = strs(crashed)
	}
	return value, done, err
}

// resume resumes, concurrently, every paused node and returns the
// completion value {"nodes": [...]} and the nodes confirmed running.
func resume(ctx context.Context, cl Cluster) (map[string]any, []string, error) {
	states := nodeStates(ctx, cl)
	var paused []string
	for _, n := range cl.Nodes() {
		if isPaused(cl.State(n)) || isPaused(states[n]) {
			paused = append(paused, n)
		}
	}
	done, err := transition(ctx, cl, paused, cl.Resume, isRunning, FResume)
	return map[string]any{"nodes": strs(done)}, done, err
}

// transition runs action on every node at once and waits until each
// node's state satisfies want, both in the runtime's bookkeeping and as
// observed; it returns the nodes confirmed, sorted.
func transition(ctx context.Context, cl Cluster, nodes []string, action func(context.Context, string) error,
	want func(string) bool, name string) ([]string, error) {
	done, err := onNodes(nodes, func(n string) error {
		if err := action(ctx, n); err != nil {
			return fmt.Errorf("nemesis: %s %s: %w", name, n, err)
		}
		ok := func() bool { return want(cl.State(n)) && want(observe(ctx, cl, n)) }
		if !waitFor(ctx, stateTimeout, ok) {
			return fmt.Errorf("nemesis: %s %s: state is %q (observed %q) after %v",
				name, n, cl.State(n), observe(ctx, cl, n), stateTimeout)
		}
		return nil
	})
	slices.Sort(done)
	return done, err
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
