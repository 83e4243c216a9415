package workload

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// draw takes up to n ops from g for worker w of workers.
func draw(t testing.TB, g Generator, seed int64, w, workers, n int) []Op {
	t.Helper()
	gen := g(WorkerInfo{Worker: w, Workers: workers})
	r := WorkerRand(seed, w, "main")
	var out []Op
	for range n {
		op, err := gen.Next(context.Background(), r)
		if errors.Is(err, ErrExhausted) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, op)
	}
	return out
}

func mustWorkload(t testing.TB, name string) Workload {
	t.Helper()
	w, err := ByName(name, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestGeneratorDeterministicBySeed(t *testing.T) {
	cases := []struct {
		name string
		gen  func() Generator
		// seedMatters is false for generators that use no randomness.
		seedMatters bool
	}{
		{"mix", func() Generator {
			return Mix(W(2, Repeat("a", func(r *rand.Rand) any { return r.Int64N(1000) })), W(1, Repeat("b", nil)))
		}, true},
		{"stagger+phases", func() Generator {
			return Stagger(time.Microsecond, Phases(Once(Op{F: "x"}), Mix(W(1, Repeat("y", nil)), W(1, Repeat("z", nil)))))
		}, true},
		{"set", func() Generator { // adds only: reads are paced by time
			w, err := NewSet(SetConfig{Keys: 256})
			if err != nil {
				t.Fatal(err)
			}
			return w.Generator()
		}, false},
	}
	for _, name := range []string{"register", "bank", "list-append"} {
		cases = append(cases, struct {
			name        string
			gen         func() Generator
			seedMatters bool
		}{name, func() Generator { return mustWorkload(t, name).Generator() }, true})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const workers = 3
			for w := range workers {
				a := draw(t, tc.gen(), 42, w, workers, 300)
				b := draw(t, tc.gen(), 42, w, workers, 300)
				if len(a) != 300 || !reflect.DeepEqual(a, b) {
					t.Fatalf("worker %d: same seed gave different ops", w)
				}
				c := draw(t, tc.gen(), 43, w, workers, 300)
				if tc.seedMatters && reflect.DeepEqual(a, c) {
					t.Fatalf("worker %d: seeds 42 and 43 gave the same ops", w)
				}
			}
			// Workers see different streams.
			if tc.seedMatters && reflect.DeepEqual(draw(t, tc.gen(), 42, 0, workers, 50), draw(t, tc.gen(), 42, 1, workers, 50)) {
				t.Fatal("workers 0 and 1 got identical ops")
			}
		})
	}
}

func TestMix(t *testing.T) {
	ops := draw(t, Mix(W(3, Repeat("a", nil)), W(1, Repeat("b", nil)), W(0, Repeat("never", nil))), 1, 0, 1, 20000)
	counts := map[string]int{}
	for _, o := range ops {
		counts[o.F]++
	}
	if frac := float64(counts["a"]) / float64(len(ops)); frac < 0.73 || frac > 0.77 || counts["never"] > 0 {
		t.Errorf("mix counts %v (a fraction %.3f, want 0.75)", counts, frac)
	}
	// An exhausted choice is dropped; the mix ends when all are.
	ops = draw(t, Mix(W(100, Once(Op{F: "once"})), W(1, Once(Op{F: "b1"}, Op{F: "b2"}))), 1, 0, 1, 100)
	if len(ops) != 3 {
		t.Errorf("got %v, want once, b1 and b2", ops)
	}
}

func TestPhasesAndOnWorker(t *testing.T) {
	g := Phases(Once(Op{F: "a"}, Op{F: "b"}), OnWorker(1, Once(Op{F: "c"})), Once(Op{F: "d"}))
	for _, tc := range []struct {
		worker int
		want   []Op
	}{
		{0, []Op{{F: "a"}, {F: "b"}, {F: "d"}}},
		{1, []Op{{F: "a"}, {F: "b"}, {F: "c"}, {F: "d"}}},
	} {
		if got := draw(t, g, 1, tc.worker, 2, 10); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("worker %d: got %v, want %v", tc.worker, got, tc.want)
		}
	}
}

// runGen drives g with workers goroutines until it is exhausted or ctx
// ends, returning the number of ops.
func runGen(ctx context.Context, g Generator, workers int) int64 {
	var n atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gen := g(WorkerInfo{Worker: w, Workers: workers})
			r := WorkerRand(1, w, "main")
			for {
				if _, err := gen.Next(ctx, r); err != nil {
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return n.Load()
}

// TestLimitsAndRate checks what the limiting generators promise, in the
// direction a loaded machine cannot break: a limit is exact; a time limit
// and a stagger never end sooner than they must, and a time limit ends the
// generator by itself; a rate never runs faster than its rate (a slow
// machine only runs fewer ops).
func TestLimitsAndRate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		gen     Generator
		window  time.Duration // ctx timeout; 0: none (the generator must end by itself)
		n       int64         // exact count; -1: any
		minTime time.Duration
		rate    float64 // ops/s the count may not exceed over the elapsed time (plus the burst)
	}{
		{"limit is global", Limit(1000, Repeat("a", nil)), 0, 1000, 0, 0},
		{"time limit", TimeLimit(100*time.Millisecond, Stagger(time.Millisecond, Repeat("a", nil))), 0, -1, 100 * time.Millisecond, 0},
		{"rate", Rate(200, Repeat("a", nil)), 300 * time.Millisecond, -1, 0, 200},
		{"stagger", Limit(100, Stagger(2*time.Millisecond, Repeat("a", nil))), 0, 100, 25 * time.Millisecond, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.window > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.window)
				defer cancel()
			}
			start := time.Now()
			n := runGen(ctx, tc.gen, 4)
			el := time.Since(start)
			if tc.n >= 0 && n != tc.n {
				t.Errorf("%d ops, want %d", n, tc.n)
			}
			if n == 0 {
				t.Errorf("no op at all")
			}
			if el < tc.minTime {
				t.Errorf("ended after %v, before %v", el, tc.minTime)
			}
			if tc.rate > 0 {
				if most := int64(tc.rate*el.Seconds()) + 1; n > most {
					t.Errorf("%d ops in %v: faster than %v ops/s (at most %d)", n, el, tc.rate, most)
				}
			}
		})
	}
}

func TestGeneratorsHonourCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, g := range map[string]Generator{
		"stagger": Stagger(time.Hour, Repeat("a", nil)),
		"rate":    Rate(0.001, Phases(Once(Op{F: "x"}), Repeat("a", nil))),
	} {
		gen := g(WorkerInfo{Workers: 1})
		r := WorkerRand(1, 0, "main")
		var err error
		for range 3 {
			if _, err = gen.Next(ctx, r); err != nil {
				break
			}
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: err = %v, want context.Canceled", name, err)
		}
	}
}
