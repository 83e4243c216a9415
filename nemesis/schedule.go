package nemesis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/history"
)

// Step is one scheduled nemesis op: invoke Op (Type Invoke, Process
// NemesisProcess) in its Lane, Wait after the lane's previous op completed
// (after the schedule started, for the first), as Jepsen's nemesis sleeps
// after an op completes: slow ops (an exec through an apiserver) push
// later steps back instead of eating the time a fault is in effect.
// Offset is when it is due if every op takes Config.OpAllowance. Fault is the fault
// a start step starts (zero for a stop step). Retry, when set, is invoked
// once at once if Op's fault does not take effect (e.g. no leader to
// target while other faults are in effect), so a named fault is not lost
// to bad timing: the same op, or, when the spec left the kind's options to
// the defaults, the same fault on "one" node instead of the leader. When
// that fails too (every node it could hit is down or gone), Run tries it
// again after each op of another lane, until its own lane's next step.
//
// A replayed step is Fixed: it is due Offset after the schedule started,
// the time the recorded run did it, however long its lane's earlier ops
// take in the replay.
type Step struct {
	Lane   int
	Wait   time.Duration
	Offset time.Duration
	Fixed  bool
	Op     history.Op
	Fault  Fault
	Retry  history.Op
}

// due returns when st is due in a schedule that started at start, given
// when its lane's previous op completed (zero for the lane's first).
func (st Step) due(start, laneDone time.Time) time.Time {
	switch {
	case st.Fixed:
		return start.Add(st.Offset)
	case laneDone.IsZero():
		return start.Add(st.Wait)
	}
	return laneDone.Add(st.Wait)
}

// Schedule is a list of steps in offset order.
type Schedule []Step

// NewSchedule returns the seeded schedule of cfg for a main phase of
// length limit, or an error when limit is too short for every required
// fault (Config.CheckTimeLimit): faults are never skipped silently.
//
// One at a time (the default): Interval after the start a fault starts,
// Interval after that op completed it stops, Interval after the stop
// completed the next starts, and so on while a fault can start, stop and
// leave one Interval to recover before limit (allowing each op
// OpAllowance). The order is a seeded, shuffled rotation, kinds first, then
// options: the first len(cfg.Faults) faults are one of each kind, then
// come the remaining options cfg names, then the remaining default
// options; every (kind, option) pair runs once before any runs again.
// With Concurrent, each kind cycles on its own lane (start, stop, ...,
// each Interval after the lane's previous op) through its own shuffled rotation of options, the kinds
// staggered by Interval/len(Faults) so faults of different kinds overlap;
// pause and kill are staggered last (see Config.staggerOrder), so no fault
// starts while every node is down.
//
// A fault still in effect at the end is stopped by HealAll. Every random
// choice (the order, the grudge, the target, the mode) is drawn from
// cfg.Seed and written into the op value, so the same Config gives the
// same (offset, op) sequence. The nodes a target picks are drawn at invoke
// time by the nemesis (also seeded).
func NewSchedule(cfg Config, limit time.Duration) (Schedule, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Faults) == 0 {
		return nil, nil
	}
	if err := cfg.CheckTimeLimit(limit); err != nil {
		return nil, err
	}
	if cfg.Replay != nil {
		return cfg.Replay.Steps(), nil
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x7363686564)) // "sched"
	// Secondary lists (the clock's targets) rotate on their own, in the
	// order the starts draw from them.
	rotations := map[string]*rotation{}
	draw := func(list []string) string {
		key := strings.Join(list, "+")
		r := rotations[key]
		if r == nil {
			r = newRotation(rng, list)
			rotations[key] = r
		}
		return r.next()
	}
	startOp := func(f Fault) history.Op {
		k, _ := KindOf(f.Kind)
		fn, v := k.value(cfg, f.Option, draw)
		return history.Op{Type: history.Invoke, Process: history.NemesisProcess, F: fn, Value: v}
	}
	start := func(f Fault) Step {
		st := Step{Op: startOp(f), Fault: f}
		st.Retry = st.Op // the same op again (a clock fault's targets too)
		if _, named := cfg.KindOptions(f.Kind); !named && f.Option == TargetLeader {
			retry := f
			retry.Option = TargetOne // GrudgeOne for a partition: the same word
			st.Retry = startOp(retry)
		}
		return st
	}
	stop := func(f Fault) Step {
		k, _ := KindOf(f.Kind)
		return Step{Op: history.Op{Type: history.Invoke, Process: history.NemesisProcess, F: k.Stop}}
	}
	// A lane's k-th step (1-based) waits Interval after the previous one
	// completed (the first also the lane's stagger); allowing each op
	// OpAllowance, it is due at stagger + k x Interval + (k-1) x
	// OpAllowance. A fault starts only when its stop's completion and one
	// Interval of recovery fit within the main phase.
	due := func(stagger time.Duration, k int) time.Duration {
		return stagger + time.Duration(k)*cfg.Interval + time.Duration(k-1)*cfg.OpAllowance
	}
	fits := func(stagger time.Duration, k int) bool {
		return due(stagger, k+1)+cfg.OpAllowance+cfg.Interval <= limit
	}
	lane := func(j int, stagger time.Duration, next func() Fault) Schedule {
		var out Schedule
		var on *Fault
		for k := 1; due(stagger, k) < limit; k++ {
			var st Step
			if on != nil {
				st, on = stop(*on), nil
			} else {
				if !fits(stagger, k) {
					break // no time to stop it within the main phase
				}
				f := next()
				st, on = start(f), &f
			}
			st.Lane, st.Offset, st.Wait = j, due(stagger, k), cfg.Interval
			if k == 1 {
				st.Wait += stagger
			}
			out = append(out, st)
		}
		return out
	}
	if cfg.concurrent() {
		var s Schedule
		for j, kind := range cfg.staggerOrder() {
			opts, _ := cfg.KindOptions(kind)
			rot := newRotation(rng, opts)
			s = append(s, lane(j, cfg.stagger(j), func() Fault { return Fault{Kind: kind, Option: rot.next()} })...)
		}
		slices.SortStableFunc(s, func(a, b Step) int { return cmp.Compare(a.Offset, b.Offset) })
		return s, nil
	}
	var queue []Fault
	s := lane(0, 0, func() Fault {
		if len(queue) == 0 {
			queue = serialCycle(cfg, rng)
		}
		f := queue[0]
		queue = queue[1:]
		return f
	})
	return s, nil
}

// serialCycle returns one cycle of the one-at-a-time rotation: every
// (kind, option) pair of cfg once, kinds first, then options. It is built
// in rounds, each visiting in shuffled order every kind that has options
// left: first over each named kind's options and one option of each
// default kind (so the first len(cfg.Required()) faults are exactly the
// required ones), then over the default kinds' other options.
func serialCycle(cfg Config, rng *rand.Rand) []Fault {
	first := map[string][]string{}
	later := map[string][]string{}
	for _, kind := range cfg.Faults {
		opts, named := cfg.KindOptions(kind)
		rng.Shuffle(len(opts), func(i, j int) { opts[i], opts[j] = opts[j], opts[i] })
		if named {
			first[kind] = opts
		} else {
			first[kind], later[kind] = opts[:1], opts[1:]
		}
	}
	var out []Fault
	for _, phase := range []map[string][]string{first, later} {
		for {
			var kinds []string
			for _, kind := range cfg.Faults {
				if len(phase[kind]) > 0 {
					kinds = append(kinds, kind)
				}
			}
			if len(kinds) == 0 {
				break
			}
			rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
			for _, kind := range kinds {
				out = append(out, Fault{Kind: kind, Option: phase[kind][0]})
				phase[kind] = phase[kind][1:]
			}
		}
	}
	return out
}

// rotation yields options in shuffled cycles: each option once per cycle,
// reshuffled for the next.
type rotation struct {
	rng  *rand.Rand
	opts []string
	left []string
}

func newRotation(rng *rand.Rand, opts []string) *rotation {
	return &rotation{rng: rng, opts: opts}
}

func (r *rotation) next() string {
	if len(r.left) == 0 {
		r.left = slices.Clone(r.opts)
		r.rng.Shuffle(len(r.left), func(i, j int) { r.left[i], r.left[j] = r.left[j], r.left[i] })
	}
	o := r.left[0]
	r.left = r.left[1:]
	return o
}

// Fs returns the distinct fs of the schedule, sorted.
func (s Schedule) Fs() []string {
	var fs []string
	for _, st := range s {
		if !slices.Contains(fs, st.Op.F) {
			fs = append(fs, st.Op.F)
		}
	}
	slices.Sort(fs)
	return fs
}

// ErrSkipped is wrapped by Run's error when the run ended before some
// scheduled faults started.
var ErrSkipped = errors.New("scheduled faults did not start")

// Run is the nemesis worker: it runs sched's steps one at a time, in
// offset order, whatever their lanes (one lane when faults run one at a
// time, one per kind when they overlap). A step is due Wait after its
// lane's previous op completed (after the call, for a lane's first; a
// replayed step at its recorded time, Step.Fixed), and never before the
// previous step of the schedule completed: a slow op
// pushes every later step back rather than letting lanes drift past each
// other, so faults overlap in the order the schedule was drawn in (the
// stagger that keeps every start out of a kill or pause of all nodes holds
// however long the ops take). Each op's invoke and completion (ok, or
// info with the error) is recorded. A fault that fails does not stop the
// schedule. A fault is not started when ctx's deadline comes before its
// stop is due: its lane's remaining steps are dropped. ctx ends the
// schedule between steps; an op in progress is finished first. Run
// returns nil when every step ran; when some fault never started, an
// error wrapping ErrSkipped that names them (never a silent skip); other
// errors are bad arguments. Faults still in effect are left for HealAll /
// Teardown.
func Run(ctx context.Context, sched Schedule, nem Nemesis, rec Recorder) error {
	if nem == nil || rec == nil {
		return fmt.Errorf("nemesis: run: nil nemesis or recorder")
	}
	start := time.Now()
	laneDone := map[int]time.Time{}
	dropped := map[int]bool{}
	waiting := map[int]history.Op{} // lane -> its start that did not take effect
	prevDone := start
	var errs []error
	opCtx := leaderWaitWithin(ctx)
	for i, st := range sched {
		if dropped[st.Lane] {
			continue
		}
		due := st.due(start, laneDone[st.Lane])
		if due.Before(prevDone) {
			due = prevDone
		}
		if st.Fault != (Fault{}) {
			if next, ok := laneNext(sched, i); ok {
				// No time to stop it within the main phase: do not start it.
				if dl, ok := ctx.Deadline(); ok && !next.due(start, due).Before(dl) {
					dropped[st.Lane] = true
					errs = append(errs, skipped(laneRest(sched, i), fmt.Errorf("main phase ends before its stop is due")))
					continue
				}
			}
		}
		if !sleepUntil(ctx, due) {
			var rest Schedule
			for _, r := range sched[i:] {
				if !dropped[r.Lane] {
					rest = append(rest, r)
				}
			}
			errs = append(errs, skipped(rest, context.Cause(ctx)))
			break
		}
		// Once invoked, a fault runs to completion (bounded by OpTimeout)
		// even if ctx ends meanwhile: a kill cut off mid-call may have
		// happened without being recorded, and the final heal would then
		// not know to restart the node.
		delete(waiting, st.Lane) // its next step is due: the start's chance is over
		_, err := Apply(opCtx, nem, rec, st.Op)
		if err != nil && st.Retry.F != "" && ctx.Err() == nil {
			_, err = Apply(opCtx, nem, rec, st.Retry)
		}
		if err != nil && st.Fault != (Fault{}) && st.Retry.F != "" {
			waiting[st.Lane] = st.Retry
		}
		// A start of another lane that found no node it could hit may find
		// one now that this op changed the cluster (a stop brought nodes
		// back): it is tried again after each op of another lane until its
		// own lane's next step, so overlapping faults do not starve the
		// kinds staggered after them.
		for _, lane := range slices.Sorted(maps.Keys(waiting)) {
			if lane == st.Lane || ctx.Err() != nil {
				continue
			}
			if _, err := Apply(opCtx, nem, rec, waiting[lane]); err == nil {
				delete(waiting, lane)
			}
		}
		prevDone = time.Now()
		laneDone[st.Lane] = prevDone
	}
	return errors.Join(errs...)
}

// leaderWaitWithin returns the context every op of Run runs in: ctx without
// its cancellation (an op runs to completion), carrying ctx's deadline less
// retryRoom as the latest a leader-targeted fault waits for a leader
// (waitLeader), so that a start that finds none still leaves its Retry (the
// same fault on one node) time to start within the main phase. On
// Kubernetes, with each op an exec through the apiserver, a 5 s wait begun
// 6 s before the end of a 12 s main phase left none, and the kill never
// happened.
func leaderWaitWithin(ctx context.Context) context.Context {
	out := context.WithoutCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		out = context.WithValue(out, leaderDeadlineKey{}, dl.Add(-retryRoom))
	}
	return out
}

// retryRoom is what a leader wait leaves of the main phase for the retry.
const retryRoom = time.Second

type leaderDeadlineKey struct{}

// laneNext returns the step after sched[i] in sched[i]'s lane.
func laneNext(sched Schedule, i int) (Step, bool) {
	for _, st := range sched[i+1:] {
		if st.Lane == sched[i].Lane {
			return st, true
		}
	}
	return Step{}, false
}

// laneRest returns sched[i] and the steps after it in its lane.
func laneRest(sched Schedule, i int) Schedule {
	var out Schedule
	for _, st := range sched[i:] {
		if st.Lane == sched[i].Lane {
			out = append(out, st)
		}
	}
	return out
}

// skipped returns the error for the fault starts among rest that did not
// run, or nil when rest only stops faults.
func skipped(rest Schedule, cause error) error {
	var names []string
	for _, st := range rest {
		if st.Fault != (Fault{}) {
			names = append(names, fmt.Sprintf("%s at %v", st.Fault, st.Offset))
		}
	}
	if len(names) == 0 {
		return nil
	}
	return fmt.Errorf("nemesis: run ended (%v) before %d faults: %s: %w", cause, len(names), strings.Join(names, ", "), ErrSkipped)
}

// OpTimeout bounds one nemesis op (all its docker calls, state waits and
// admin requests); an op that takes longer completes as info.
const OpTimeout = 2 * time.Minute

// Apply records op's invoke (as the nemesis process), performs it with nem
// (bounded by OpTimeout) and records its completion; it returns the
// recorded completion and the fault's error.
func Apply(ctx context.Context, nem Nemesis, rec Recorder, op history.Op) (history.Op, error) {
	op.Type, op.Process = history.Invoke, history.NemesisProcess
	inv := rec.Record(op)
	ictx, cancel := context.WithTimeout(ctx, OpTimeout)
	defer cancel()
	c, err := nem.Invoke(ictx, inv)
	c.Type, c.Process, c.F = completionType(err), history.NemesisProcess, inv.F
	if err != nil && c.Error == "" {
		c.Error = err.Error()
	}
	c.Index, c.Time = 0, 0
	return rec.Record(c), err
}

func completionType(err error) history.Type {
	if err != nil {
		return history.Info
	}
	return history.OK
}

// sleepUntil waits until t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
