package shrink

import (
	"context"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// rateRunner is a system whose bug fires at a rate that depends on the
// candidate: rate(c) of every ten reruns of it, the first ones of each
// ten failing (deterministic, so the measurements are exact).
type rateRunner struct {
	mu   sync.Mutex
	rate func(Candidate) int // tenths
	runs map[string]int
}

func (f *rateRunner) run(_ context.Context, c Candidate) (Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := fingerprint(c)
	i := f.runs[key]
	f.runs[key]++
	if i%10 < f.rate(c) {
		return Outcome{Classes: target}, nil
	}
	return Outcome{}, nil
}

// chainOf is a search's result whose chain has one candidate per rate,
// the start first: candidate i has 10-i workers.
func chainOf(n int) Result {
	var res Result
	for i := range n {
		start, _ := twenty()
		start.Workers = 10 - i
		res.Chain = append(res.Chain, start)
	}
	res.Best = res.Chain[n-1]
	return res
}

// TestStabilise: the candidate returned is the one with the fewest kept
// changes undone that reproduces in 8 of 10, found by galloping back
// from the search's best and bisecting; with none at the target, the one
// with the highest rate, measured over all ten reruns.
func TestStabilise(t *testing.T) {
	for _, tc := range []struct {
		name string
		// rates of the chain's candidates in tenths, the start first
		rates []int
		// undone, its rate, and the chain positions measured (undone)
		undone, reproduced int
		reached            bool
		measured           []int
		runs               int
	}{
		{name: "the best reproduces", rates: []int{10, 10, 9}, undone: 0, reproduced: 9, reached: true, measured: []int{0}, runs: 10},
		{name: "one change back", rates: []int{10, 10, 8, 5}, undone: 1, reproduced: 8, reached: true, measured: []int{0, 1},
			runs: 8 + 10},
		// undone 0 (2 of 10) and 1 (5) below, 3 (8) at it: bisect 2 (7) below.
		{name: "gallop and bisect", rates: []int{10, 10, 10, 9, 8, 7, 5, 2}, undone: 3, reproduced: 8, reached: true,
			measured: []int{0, 1, 3, 2}, runs: 5 + 8 + 10 + 10},
		// undone 0 (3), 1 (6), 3 (1): none reach; 1 has the highest rate and
		// is measured to ten reruns.
		{name: "none reaches the target", rates: []int{1, 2, 6, 3}, undone: 1, reproduced: 6, reached: false,
			measured: []int{0, 1, 3}, runs: 6 + 9 + 4 + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := chainOf(len(tc.rates))
			f := &rateRunner{runs: map[string]int{}, rate: func(c Candidate) int { return tc.rates[10-c.Workers] }}
			cfg := DefaultConfig()
			cfg.Target = target
			var lines []string
			got := Stabilise(context.Background(), cfg, res, f.run, func(m Measure) {
				if m.Done {
					lines = append(lines, m.String())
				}
			})
			var measured []int
			for _, m := range got.Measures {
				measured = append(measured, m.Back)
			}
			runs := 0
			for _, n := range f.runs {
				runs += n
			}
			if got.Back != tc.undone || got.Reproduced != tc.reproduced || got.Reproductions != 10 || got.Reached != tc.reached ||
				!slices.Equal(measured, tc.measured) || runs != tc.runs {
				t.Errorf("undone %d, reproduced %d of %d, reached %v, measured %v in %d runs; want undone %d, %d of 10, reached %v, measured %v in %d runs\n%v",
					got.Back, got.Reproduced, got.Reproductions, got.Reached, measured, runs, tc.undone, tc.reproduced, tc.reached, tc.measured, tc.runs, lines)
			}
			if want := res.Chain[len(res.Chain)-1-tc.undone]; got.Best.Workers != want.Workers {
				t.Errorf("best has %d workers, want %d (undone %d)", got.Best.Workers, want.Workers, tc.undone)
			}
		})
	}
}

// TestMeasureLines: each measurement is one line, grown by each rerun's
// verdict, and ends as the measurement's String (a measurement completed
// to every rerun because none reached the target is a line of its own).
func TestMeasureLines(t *testing.T) {
	res := chainOf(4)
	f := &rateRunner{runs: map[string]int{}, rate: func(c Candidate) int { return []int{1, 2, 6, 3}[10-c.Workers] }}
	cfg := DefaultConfig()
	cfg.Target = target
	var b strings.Builder
	print := MeasureLines(&b)
	var want []string
	calls := 0
	Stabilise(context.Background(), cfg, res, f.run, func(m Measure) {
		calls++
		print(m)
		if m.Done {
			want = append(want, m.String())
		}
	})
	got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if !slices.Equal(got, want) || len(want) != 4 {
		t.Errorf("printed (%d progress calls):\n%s\nwant the 4 ended measurements' lines:\n%s", calls, b.String(), strings.Join(want, "\n"))
	}
}

// TestStabiliseInterrupted: Ctrl-C during a measurement keeps the
// search's best, unmeasured.
func TestStabiliseInterrupted(t *testing.T) {
	res := chainOf(3)
	f := &rateRunner{runs: map[string]int{}, rate: func(Candidate) int { return 5 }}
	cfg := DefaultConfig()
	cfg.Target = target
	ctx, cancel := context.WithCancel(context.Background())
	got := Stabilise(ctx, cfg, res, f.run, func(m Measure) {
		if len(m.Verdicts) == 2 {
			cancel()
		}
	})
	if !got.Interrupted || got.Back != 0 || got.Reproductions != 0 || got.Best.Workers != res.Best.Workers {
		t.Errorf("interrupted %v, undone %d, %d reproductions, best %v: want the search's best, unmeasured", got.Interrupted, got.Back, got.Reproductions, got.Best)
	}
}

// TestShrinkReproduces: a bug that needs the kill of n4 and fires in 19
// of 20 runs with 5 workers or more, 1 in 3 with fewer. The search, one
// failing rerun of three enough, takes the workers below 5 (lucky reruns);
// stabilising gives the workers back, keeps the search's faults, and
// reproduces in 8 of 10.
func TestShrinkReproduces(t *testing.T) {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(2, 2))
	run := func(_ context.Context, c Candidate) (Outcome, error) {
		mu.Lock()
		defer mu.Unlock()
		p := 1.0 / 3
		if c.Workers >= 5 {
			p = 0.95
		}
		for _, f := range c.Schedule.Faults {
			if f.Kind == "kill" && slices.Contains(f.Nodes, "n4") && rng.Float64() < p {
				return Outcome{Classes: target}, nil
			}
		}
		return Outcome{}, nil
	}
	start, _ := twenty()
	cfg := DefaultConfig()
	cfg.Target = target
	res, err := Search(context.Background(), cfg, start, run, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Best.Workers >= 5 {
		t.Fatalf("the search kept %d workers: this seed no longer shows lucky reruns", res.Best.Workers)
	}
	got := Stabilise(context.Background(), cfg, res, run, nil)
	if !got.Reached || got.Reproduced < 8 || got.Reproductions != 10 || got.Best.Workers < 5 {
		t.Fatalf("stabilised to %v, reproduced %d of %d (reached %v): want 5 workers or more, 8 of 10", got.Best, got.Reproduced, got.Reproductions, got.Reached)
	}
	// Workers back, not faults.
	if !reflect.DeepEqual(got.Best.Schedule, res.Best.Schedule) || got.Back == 0 {
		t.Errorf("stabilised to rung %d, schedule %v; want the search's %v with more workers", got.Back, got.Best.Schedule.Faults, res.Best.Schedule.Faults)
	}
}

// TestLadder: time and workers come back before faults, the latest kept
// first, and equal neighbours are one rung.
func TestLadder(t *testing.T) {
	start, _ := twenty()
	start.Schedule.Faults = start.Schedule.Faults[:2]
	dropped := start
	dropped.Schedule.Faults = start.Schedule.Faults[1:]
	shorter := dropped
	shorter.TimeLimit = 30 * time.Second
	fewer := shorter
	fewer.Workers = 3
	got := ladder(Result{Chain: []Candidate{start, dropped, shorter, fewer}})
	want := []string{"1 faults, 30s, 3 workers", "1 faults, 30s, 10 workers", "1 faults, 1m0s, 10 workers", "2 faults, 1m0s, 10 workers"}
	var rungs []string
	for _, r := range got {
		rungs = append(rungs, r.c.String())
	}
	if !slices.Equal(rungs, want) {
		t.Errorf("ladder %v, want %v", rungs, want)
	}
	if got[3].what != "the faults before kept change 1" {
		t.Errorf("the last rung gives back %q", got[3].what)
	}
}
