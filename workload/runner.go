package workload

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faultline/faultline/history"
)

// Info describes a workload to the runner that checks it.
type Info struct {
	// Name is the workload's registry name.
	Name string
	// Model is the checker model (checker.New) that judges the
	// workload's histories: "cas-register", "bank", "list-append", "set".
	// Every run adds the figures every workload gets (stats, latency,
	// availability).
	Model string
	// Accounts and Total configure the "bank" checker: the account names
	// (the keys of a read's Value map) and the constant total.
	Accounts []string
	Total    int64
}

// Workload is one kind of test: what to do, how to do it against the
// store, and how to judge it.
type Workload interface {
	// Info names the workload and the checkers it wants.
	Info() Info
	// Setup prepares the store before the main phase (e.g. opens the bank
	// accounts). It is not recorded in the history.
	Setup(ctx context.Context, kv KV) error
	// Generator yields the main phase's ops.
	Generator() Generator
	// Final yields the final phase's ops (final reads), or nil.
	Final() Generator
	// Invoke executes op against kv and returns the completion Value. A
	// nil error records ok with that value; a definite error (IsDefinite)
	// records fail and any other error info, both with the invoke's value.
	// Invoke must not modify op.Value.
	Invoke(ctx context.Context, kv KV, op Op) (any, error)
}

// Requests is implemented by a workload whose op may take several
// requests to the store one after another (the set's read: a transaction
// per chunk of its keys): such an op gets OpTimeout for each, so that its
// deadline bounds each request, not how fast the machine does many.
type Requests interface {
	Requests(op Op) int
}

// RunConfig configures a Runner.
type RunConfig struct {
	// Concurrency is the number of client workers (C). Process ids are
	// worker + k*C, k growing after each info.
	Concurrency int
	// Seed makes every generator deterministic.
	Seed int64
	// OpTimeout is the deadline of each client op (of each of its
	// requests, for a workload that implements Requests); past it the op
	// is info.
	OpTimeout time.Duration
	// Rate limits the main phase to this many ops/s across all workers;
	// 0 means unlimited.
	Rate float64
	// Stagger, if > 0, waits a random time (mean Stagger) before each op.
	Stagger time.Duration
	// TimeLimit bounds the main phase; 0 means until the generator is
	// exhausted, Limit is reached or ctx is done.
	TimeLimit time.Duration
	// Limit bounds the number of main-phase ops; 0 means no bound.
	Limit int64
	// SetupTimeout bounds Setup, retried until it succeeds.
	SetupTimeout time.Duration
	// FinalAttempts is how many times a final-phase op is tried until it
	// is ok (each attempt is recorded).
	FinalAttempts int
	// FinalBackoff is the pause between final-phase attempts.
	FinalBackoff time.Duration
}

// DefaultRunConfig returns the defaults: 6 workers (2 per node of 3), seed
// 0, 5 s per op, unlimited rate, 60 s main phase, final ops tried 5 times
// 1 s apart.
func DefaultRunConfig() RunConfig {
	return RunConfig{
		Concurrency:   6,
		OpTimeout:     5 * time.Second,
		TimeLimit:     60 * time.Second,
		SetupTimeout:  30 * time.Second,
		FinalAttempts: 5,
		FinalBackoff:  time.Second,
	}
}

// Validate reports the first invalid field.
func (c RunConfig) Validate() error {
	switch {
	case c.Concurrency < 1:
		return fmt.Errorf("workload: concurrency %d: want at least 1", c.Concurrency)
	case c.OpTimeout <= 0:
		return fmt.Errorf("workload: op timeout %v: want > 0", c.OpTimeout)
	case c.Rate < 0:
		return fmt.Errorf("workload: rate %v: want >= 0 (0 = unlimited)", c.Rate)
	case c.Stagger < 0 || c.TimeLimit < 0 || c.Limit < 0 || c.SetupTimeout < 0 || c.FinalBackoff < 0:
		return errors.New("workload: stagger, time limit, limit, setup timeout and final backoff must not be negative")
	case c.FinalAttempts < 1:
		return fmt.Errorf("workload: final attempts %d: want at least 1", c.FinalAttempts)
	}
	return nil
}

// Counts are the runner's live op counts (for a progress line).
type Counts struct {
	Invoked, OK, Fail, Info int64
}

// Runner runs a workload's phases with C workers. Use it as:
//
//	r, _ := NewRunner(cfg, w, clients, rec)
//	r.Setup(ctx)    // before faults start
//	r.Run(ctx)      // main phase (nemesis runs alongside)
//	// stop faults, heal, wait for recovery
//	r.RunFinal(ctx) // final reads
type Runner struct {
	cfg     RunConfig
	w       Workload
	rec     Recorder
	clients []KV
	procs   []int // current process of each worker

	setupOnce sync.Once
	setupErr  error

	invoked, ok, fail, info atomic.Int64
}

// NewRunner opens one client per worker with clients(worker).
func NewRunner(cfg RunConfig, w Workload, clients func(worker int) (KV, error), rec Recorder) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if w == nil || clients == nil || rec == nil {
		return nil, errors.New("workload: runner needs a workload, a client factory and a recorder")
	}
	r := &Runner{cfg: cfg, w: w, rec: rec, clients: make([]KV, cfg.Concurrency), procs: make([]int, cfg.Concurrency)}
	for i := range cfg.Concurrency {
		kv, err := clients(i)
		if err != nil {
			return nil, fmt.Errorf("workload: client for worker %d: %w", i, err)
		}
		r.clients[i] = kv
		r.procs[i] = i
	}
	return r, nil
}

// Counts returns the op counts so far.
func (r *Runner) Counts() Counts {
	return Counts{Invoked: r.invoked.Load(), OK: r.ok.Load(), Fail: r.fail.Load(), Info: r.info.Load()}
}

// Setup runs the workload's Setup with worker 0's client, retrying until
// it succeeds or SetupTimeout passes. Run calls it if it was not called.
func (r *Runner) Setup(ctx context.Context) error {
	r.setupOnce.Do(func() {
		if r.cfg.SetupTimeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, r.cfg.SetupTimeout)
			defer cancel()
		}
		for attempt := 1; ; attempt++ {
			octx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
			err := r.w.Setup(octx, r.clients[0])
			cancel()
			if err == nil {
				return
			}
			if serr := sleep(ctx, min(time.Duration(attempt)*100*time.Millisecond, time.Second)); serr != nil {
				r.setupErr = fmt.Errorf("workload: %s setup (%d attempts): %w", r.w.Info().Name, attempt, err)
				return
			}
		}
	})
	return r.setupErr
}

// Run runs the main phase: the workload's generator, wrapped with the
// configured Limit, TimeLimit, Stagger and Rate, on every worker until it
// is exhausted or ctx is done. Ops in flight when ctx is cancelled
// complete as info. It returns nil when the phase ended normally or by
// cancellation, and an error only for a harness failure.
func (r *Runner) Run(ctx context.Context) error {
	if err := r.Setup(ctx); err != nil {
		return err
	}
	g := r.w.Generator()
	if r.cfg.Limit > 0 {
		g = Limit(r.cfg.Limit, g)
	}
	if r.cfg.TimeLimit > 0 {
		g = TimeLimit(r.cfg.TimeLimit, g)
	}
	g = Rate(r.cfg.Rate, Stagger(r.cfg.Stagger, g))
	return r.phase(ctx, "main", g, 1)
}

// Rebind gives worker a new client, between phases (a worker whose node
// stayed down after the heal reads from another for the final phase); the
// caller closes the old one.
func (r *Runner) Rebind(worker int, kv KV) error {
	if worker < 0 || worker >= len(r.clients) {
		return fmt.Errorf("workload: rebind worker %d: there are %d workers", worker, len(r.clients))
	}
	r.clients[worker] = kv
	return nil
}

// RunFinal runs the workload's final generator (final reads) on every
// worker, retrying each op up to FinalAttempts times until it is ok. Call
// it after the cluster has been healed.
func (r *Runner) RunFinal(ctx context.Context) error {
	g := r.w.Final()
	if g == nil {
		return nil
	}
	return r.phase(ctx, "final", g, r.cfg.FinalAttempts)
}

func (r *Runner) phase(ctx context.Context, name string, g Generator, attempts int) error {
	var wg sync.WaitGroup
	errs := make([]error, r.cfg.Concurrency)
	for i := range r.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.worker(ctx, i, name, g(WorkerInfo{Worker: i, Workers: r.cfg.Concurrency}), attempts)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (r *Runner) worker(ctx context.Context, i int, phase string, gen Gen, attempts int) error {
	rng := WorkerRand(r.cfg.Seed, i, phase)
	for ctx.Err() == nil {
		op, err := gen.Next(ctx, rng)
		if errors.Is(err, ErrExhausted) || ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("workload: worker %d, %s phase: %w", i, phase, err)
		}
		for a := 1; ; a++ {
			c := r.Do(ctx, i, op)
			if c.Type == history.OK || a >= attempts || ctx.Err() != nil {
				break
			}
			if sleep(ctx, r.cfg.FinalBackoff) != nil {
				break
			}
		}
	}
	return nil
}

// Do performs one op as worker i: records the invoke, calls the store with
// the per-op deadline and records the completion, which it returns. After
// an info the worker's process id moves on by Concurrency. Workers call it;
// it is exported for runners that drive ops themselves. Calls for the same
// worker must not overlap.
func (r *Runner) Do(ctx context.Context, i int, op Op) history.Op {
	proc := r.procs[i]
	r.invoked.Add(1)
	r.rec.Record(history.Op{Type: history.Invoke, Process: proc, F: op.F, Value: op.Value})
	timeout := r.cfg.OpTimeout
	if rq, ok := r.w.(Requests); ok {
		timeout *= time.Duration(max(1, rq.Requests(op)))
	}
	octx, cancel := context.WithTimeout(ctx, timeout)
	v, err := r.w.Invoke(octx, r.clients[i], op)
	cancel()
	c := history.Op{Process: proc, F: op.F, Value: op.Value}
	switch {
	case err == nil:
		c.Type, c.Value = history.OK, v
		r.ok.Add(1)
	case IsDefinite(err):
		c.Type, c.Error = history.Fail, err.Error()
		r.fail.Add(1)
	default:
		c.Type, c.Error = history.Info, err.Error()
		r.info.Add(1)
		r.procs[i] += r.cfg.Concurrency
	}
	if nr, ok := r.clients[i].(NodeReporter); ok {
		c.Node = nr.LastNode()
	}
	return r.rec.Record(c)
}
