package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Op is what a generator asks a worker to do: a function and its argument
// (the invoke's Value, in the shapes documented on history.Op).
type Op struct {
	F     string
	Value any
}

// ErrExhausted is returned by Gen.Next when a generator has no more ops
// for the worker.
var ErrExhausted = errors.New("workload: generator exhausted")

// Gen yields the ops of one worker. It is used by that worker only, so it
// may keep state without locking. Next returns ErrExhausted when done and
// ctx.Err() when cancelled while waiting.
type Gen interface {
	Next(ctx context.Context, r *rand.Rand) (Op, error)
}

// GenFunc adapts a function to Gen.
type GenFunc func(ctx context.Context, r *rand.Rand) (Op, error)

// Next implements Gen.
func (f GenFunc) Next(ctx context.Context, r *rand.Rand) (Op, error) { return f(ctx, r) }

// WorkerInfo identifies the worker a Gen is built for.
type WorkerInfo struct {
	// Worker is the worker's number, 0 <= Worker < Workers.
	Worker int
	// Workers is the number of workers (the concurrency C).
	Workers int
}

// Generator builds one Gen per worker. State shared between workers
// (limits, deadlines, rate limiters) lives in the Generator's closure;
// per-worker state lives in the Gen.
type Generator func(w WorkerInfo) Gen

// WorkerRand returns the deterministic random source of a worker in a
// phase: the same (seed, worker, phase) always gives the same stream.
func WorkerRand(seed int64, worker int, phase string) *rand.Rand {
	var h uint64 = 14695981039346656037 // FNV-1a of the phase name
	for i := 0; i < len(phase); i++ {
		h = (h ^ uint64(phase[i])) * 1099511628211
	}
	return rand.New(rand.NewPCG(uint64(seed), uint64(worker)<<32^h))
}

// Repeat yields f with the value from value(r) forever.
func Repeat(f string, value func(r *rand.Rand) any) Generator {
	return func(WorkerInfo) Gen {
		return GenFunc(func(_ context.Context, r *rand.Rand) (Op, error) {
			var v any
			if value != nil {
				v = value(r)
			}
			return Op{F: f, Value: v}, nil
		})
	}
}

// Once yields ops, in order, once per worker.
func Once(ops ...Op) Generator {
	return func(WorkerInfo) Gen {
		i := 0
		return GenFunc(func(context.Context, *rand.Rand) (Op, error) {
			if i >= len(ops) {
				return Op{}, ErrExhausted
			}
			i++
			return ops[i-1], nil
		})
	}
}

// OnceLazy yields, once per worker, the ops build returns when the worker
// first asks (so a final phase can depend on what the main phase did).
func OnceLazy(build func() []Op) Generator {
	return func(w WorkerInfo) Gen {
		var inner Gen
		return GenFunc(func(ctx context.Context, r *rand.Rand) (Op, error) {
			if inner == nil {
				inner = Once(build()...)(w)
			}
			return inner.Next(ctx, r)
		})
	}
}

// OnWorker runs g on worker n only; other workers get nothing. Final
// phases use it for reads that one worker should make.
func OnWorker(n int, g Generator) Generator {
	return func(w WorkerInfo) Gen {
		if w.Worker != n {
			return exhausted{}
		}
		return g(w)
	}
}

type exhausted struct{}

func (exhausted) Next(context.Context, *rand.Rand) (Op, error) { return Op{}, ErrExhausted }

// Weighted is one choice of Mix.
type Weighted struct {
	Weight float64
	Gen    Generator
}

// W is shorthand for Weighted{weight, g}.
func W(weight float64, g Generator) Weighted { return Weighted{Weight: weight, Gen: g} }

// Mix picks, for each op, one of the choices at random in proportion to
// its weight. An exhausted choice is dropped; Mix is exhausted when all
// are.
func Mix(choices ...Weighted) Generator {
	return func(w WorkerInfo) Gen {
		gens := make([]Gen, len(choices))
		weights := make([]float64, len(choices))
		for i, c := range choices {
			gens[i] = c.Gen(w)
			weights[i] = max(c.Weight, 0)
		}
		return GenFunc(func(ctx context.Context, r *rand.Rand) (Op, error) {
			for {
				total := 0.0
				for _, wt := range weights {
					total += wt
				}
				if total <= 0 {
					return Op{}, ErrExhausted
				}
				x := r.Float64() * total
				i := 0
				for ; i < len(weights)-1; i++ {
					if x < weights[i] {
						break
					}
					x -= weights[i]
				}
				for weights[i] == 0 { // float edge: land on a live choice
					i--
				}
				op, err := gens[i].Next(ctx, r)
				if errors.Is(err, ErrExhausted) {
					weights[i] = 0
					continue
				}
				return op, err
			}
		})
	}
}

// Limit stops g after n ops in total across all workers.
func Limit(n int64, g Generator) Generator {
	var count atomic.Int64
	return func(w WorkerInfo) Gen {
		inner := g(w)
		return GenFunc(func(ctx context.Context, r *rand.Rand) (Op, error) {
			if count.Add(1) > n {
				return Op{}, ErrExhausted
			}
			return inner.Next(ctx, r)
		})
	}
}

// TimeLimit stops g d after any worker first asks it for an op.
func TimeLimit(d time.Duration, g Generator) Generator {
	var once sync.Once
	var deadline time.Time
	return func(w WorkerInfo) Gen {
		inner := g(w)
		return GenFunc(func(ctx context.Context, r *rand.Rand) (Op, error) {
			once.Do(func() { deadline = time.Now().Add(d) })
			if !time.Now().Before(deadline) {
				return Op{}, ErrExhausted
			}
			return inner.Next(ctx, r)
		})
	}
}

// Stagger waits a random time, uniform in [0, 2*mean), before each op of
// g, as Jepsen's stagger does. The delay is drawn from the worker's rand,
// so op sequences stay deterministic.
func Stagger(mean time.Duration, g Generator) Generator {
	if mean <= 0 {
		return g
	}
	return func(w WorkerInfo) Gen {
		inner := g(w)
		return GenFunc(func(ctx context.Context, r *rand.Rand) (Op, error) {
			d := time.Duration(r.Int64N(int64(2 * mean)))
			if err := sleep(ctx, d); err != nil {
				return Op{}, err
			}
			return inner.Next(ctx, r)
		})
	}
}

// Rate limits g to opsPerSec ops per second in total across all workers
// (one golang.org/x/time/rate limiter shared by every worker's Gen).
// opsPerSec <= 0 means unlimited.
func Rate(opsPerSec float64, g Generator) Generator {
	if opsPerSec <= 0 {
		return g
	}
	lim := rate.NewLimiter(rate.Limit(opsPerSec), 1)
	return func(w WorkerInfo) Gen {
		inner := g(w)
		return GenFunc(func(ctx context.Context, r *rand.Rand) (Op, error) {
			if err := lim.Wait(ctx); err != nil {
				if ctx.Err() != nil {
					return Op{}, ctx.Err()
				}
				return Op{}, fmt.Errorf("workload: rate limit: %w", err)
			}
			return inner.Next(ctx, r)
		})
	}
}

// Phases runs each generator until it is exhausted for the worker, then
// the next one. Workers move through the phases independently.
func Phases(gens ...Generator) Generator {
	return func(w WorkerInfo) Gen {
		i := 0
		var cur Gen
		return GenFunc(func(ctx context.Context, r *rand.Rand) (Op, error) {
			for i < len(gens) {
				if cur == nil {
					cur = gens[i](w)
				}
				op, err := cur.Next(ctx, r)
				if !errors.Is(err, ErrExhausted) {
					return op, err
				}
				i++
				cur = nil
			}
			return Op{}, ErrExhausted
		})
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
