package shrink

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/nemesis"
)

var target = []Class{{Checker: "linearizable", Anomaly: "nonlinearizable"}}

// twenty is a schedule of 20 faults over 60 s on 5 nodes, one of them the
// culprit: a kill of n4 (the others never kill n4).
func twenty() (Candidate, nemesis.Planned) {
	d := func(x time.Duration) *nemesis.Duration { v := nemesis.Duration(x); return &v }
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	kinds := []struct{ kind, f string }{{"partition", "start-partition"}, {"pause", "pause"}, {"clock", "bump-clock"}, {"loss", "start-loss"}}
	var faults []nemesis.Planned
	for i := range 20 {
		k := kinds[i%len(kinds)]
		start := time.Duration(i) * 2500 * time.Millisecond
		p := nemesis.Planned{Kind: k.kind, Option: "one", F: k.f, Start: nemesis.Duration(start), Stop: d(start + 2*time.Second),
			Nodes: []string{nodes[i%5], nodes[(i+1)%5]}}
		if k.kind == "clock" {
			p.Stop = nil // still in effect at the end: the final heal stops it
		}
		faults = append(faults, p)
	}
	culprit := nemesis.Planned{Kind: "kill", Option: "minority", F: "kill", Start: nemesis.Duration(31 * time.Second),
		Stop: d(32400 * time.Millisecond), Nodes: []string{"n2", "n4"}} // stopped before fault 14 pauses n4
	faults[12] = culprit
	return Candidate{Schedule: nemesis.ScheduleFile{Version: nemesis.ScheduleFileVersion, TimeLimit: nemesis.Duration(time.Minute),
		Nodes: nodes, Faults: faults}, TimeLimit: time.Minute, Workers: 10}, culprit
}

// fakeRunner is a system whose bug fires only when n4 is killed while
// the main phase still runs 1 s after the kill, and then only on
// every third run of a candidate (a flaky bug).
type fakeRunner struct {
	mu   sync.Mutex
	runs map[string]int
}

func (f *fakeRunner) run(_ context.Context, c Candidate) (Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := fingerprint(c)
	f.runs[key]++
	for _, p := range c.Schedule.Faults {
		if p.Kind == "kill" && slices.Contains(p.Nodes, "n4") && p.Start.D()+time.Second < c.TimeLimit && f.runs[key]%3 == 0 {
			return Outcome{Classes: []Class{{"stats", "slow"}, target[0]}}, nil
		}
	}
	return Outcome{Classes: []Class{{"stats", "slow"}}}, nil
}

// TestSearchFindsTheCulprit: among 20 faults, the shrink keeps exactly
// the one that makes the bug fire, on its one node, early, short, in a
// short run with one worker; a flaky bug is caught by the K reruns.
func TestSearchFindsTheCulprit(t *testing.T) {
	start, culprit := twenty()
	cfg := DefaultConfig()
	cfg.Target = target
	f := &fakeRunner{runs: map[string]int{}}
	var lines []string
	res, err := Search(context.Background(), cfg, start, f.run, func(s Step) { lines = append(lines, s.String()) })
	if err != nil {
		t.Fatal(err)
	}
	if !res.Minimal {
		t.Fatalf("search stopped: %s", res.Stopped)
	}
	best := res.Best.Schedule.Faults
	if len(best) != 1 || best[0].Kind != culprit.Kind || !slices.Equal(best[0].Nodes, []string{"n4"}) {
		t.Fatalf("best %v, want the kill of n4 alone; log:\n%v", best, lines)
	}
	if best[0].Start.D() >= time.Second || res.Best.TimeLimit > 5*time.Second || res.Best.Workers != 1 {
		t.Errorf("best %v at %v in %v with %d workers: want it moved early, the run short, one worker", best[0], best[0].Start.D(), res.Best.TimeLimit, res.Best.Workers)
	}
	if len(lines) != len(res.Steps) || res.Runs < len(res.Steps) {
		t.Errorf("%d progress lines, %d steps, %d runs", len(lines), len(res.Steps), res.Runs)
	}
	// Three reruns at once find the same.
	cfg.Parallel = 3
	f = &fakeRunner{runs: map[string]int{}}
	par, _ := Search(context.Background(), cfg, start, f.run, nil)
	if !reflect.DeepEqual(par.Best, res.Best) {
		t.Errorf("in parallel the shrink found %v, one at a time %v", par.Best, res.Best)
	}
	cfg.Parallel = 1
	// Asking two of three reruns to fail, the bug that fires in one of
	// three is never seen often enough to drop anything.
	cfg.MinFails = 2
	f = &fakeRunner{runs: map[string]int{}}
	res, _ = Search(context.Background(), cfg, start, f.run, nil)
	if len(res.Best.Schedule.Faults) != 20 || res.Runs > 2*len(res.Steps) {
		t.Errorf("with two fails of three the shrink kept %d faults in %d runs for %d candidates, want none dropped, two runs each",
			len(res.Best.Schedule.Faults), res.Runs, len(res.Steps))
	}
	// Without the reruns the flaky bug is never seen again.
	cfg.RunsPerCandidate, cfg.MinFails = 1, 1
	f = &fakeRunner{runs: map[string]int{}}
	res, _ = Search(context.Background(), cfg, start, f.run, nil)
	if len(res.Best.Schedule.Faults) != 20 {
		t.Errorf("with one run per candidate the shrink kept %d faults, want none dropped", len(res.Best.Schedule.Faults))
	}
}

// TestSearchKeepsAFaultAlone: a bug that one fault fires alone, on a
// system that never recovers when any other fault comes with it (a
// no-fsync power failure after a kill): every schedule that drops some
// faults and keeps that one ends in a harness error, so dropping chunks
// alone never gets there; keeping each chunk alone, as ddmin's subsets,
// finds it.
func TestSearchKeepsAFaultAlone(t *testing.T) {
	start, _ := twenty()
	power := nemesis.Planned{Kind: nemesis.FaultPower, Option: "all", F: nemesis.FPowerOff, Start: nemesis.Duration(59 * time.Second),
		Nodes: start.Schedule.Nodes}
	start.Schedule.Faults = append(slices.Clone(start.Schedule.Faults[:6]), power)
	cfg := DefaultConfig()
	cfg.Target = target
	var lines []string
	res, err := Search(context.Background(), cfg, start, func(_ context.Context, c Candidate) (Outcome, error) {
		i := slices.IndexFunc(c.Schedule.Faults, func(p nemesis.Planned) bool { return p.Kind == nemesis.FaultPower })
		switch {
		case i < 0:
			return Outcome{}, nil
		case len(c.Schedule.Faults) > 1:
			return Outcome{}, fmt.Errorf("the cluster never elected a leader again")
		}
		return Outcome{Classes: target}, nil
	}, func(s Step) { lines = append(lines, s.String()) })
	if err != nil {
		t.Fatalf("%v; log:\n%s", err, strings.Join(lines, "\n"))
	}
	if best := res.Best.Schedule.Faults; len(best) != 1 || best[0].Kind != nemesis.FaultPower {
		t.Fatalf("best %v, want the power failure alone; log:\n%s", best, strings.Join(lines, "\n"))
	}
}

// TestSearchStops: an interrupt (or a spent budget) ends the search after
// the candidate in flight, keeping the best so far.
func TestSearchStops(t *testing.T) {
	start, _ := twenty()
	cfg := DefaultConfig()
	cfg.Target = target
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeRunner{runs: map[string]int{}}
	kept := 0
	res, err := Search(ctx, cfg, start, f.run, func(s Step) {
		if s.Kept {
			if kept++; kept == 2 {
				cancel()
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Minimal || res.Stopped != "interrupted" || len(res.Best.Schedule.Faults) >= 20 {
		t.Fatalf("minimal %v, stopped %q, best %v", res.Minimal, res.Stopped, res.Best)
	}
	if last := res.Steps[len(res.Steps)-1]; !last.Kept {
		t.Errorf("the search went on after the interrupt: last step %v", last)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"no target", func(c *Config) { c.Target = nil }},
		{"no runs", func(c *Config) { c.RunsPerCandidate = 0 }},
		{"no parallel", func(c *Config) { c.Parallel = 0 }},
		{"more fails than runs", func(c *Config) { c.MinFails = 4 }},
		{"negative budget", func(c *Config) { c.Budget = -time.Second }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Target = target
			tc.mod(&c)
			if c.Validate() == nil {
				t.Fatal("valid")
			}
		})
	}
}

// TestSearchHarnessErrors: when the runs themselves fail, the search says
// so instead of calling the schedule minimal.
func TestSearchHarnessErrors(t *testing.T) {
	start, _ := twenty()
	cfg := DefaultConfig()
	cfg.Target = target
	res, err := Search(context.Background(), cfg, start, func(context.Context, Candidate) (Outcome, error) {
		return Outcome{}, fmt.Errorf("invalid test: name %q", "a+b")
	}, nil)
	if err == nil || !strings.Contains(err.Error(), `invalid test: name "a+b"`) || res.Minimal || len(res.Steps) != maxErrorSteps {
		t.Fatalf("err %v, minimal %v after %d steps", err, res.Minimal, len(res.Steps))
	}
}

// TestReductionsCheapFirst: after the faults dropped, the time limit is
// cut before any node of a fault is dropped, so that the candidates after
// it rerun shorter runs.
func TestReductionsCheapFirst(t *testing.T) {
	start, _ := twenty()
	first := func(rs []reduction, prefix string) int {
		return slices.IndexFunc(rs, func(r reduction) bool { return strings.Contains(r.change, prefix) })
	}
	rs := reductions(DefaultConfig(), start)
	limit, node, fault := first(rs, "time limit"), first(rs, "drop node"), first(rs, "drop fault ")
	if limit < 0 || node < 0 || fault < 0 {
		t.Fatalf("reductions of %v lack a time limit cut (%d), a node drop (%d) or a single fault drop (%d)", start, limit, node, fault)
	}
	if !(fault < limit && limit < node) {
		t.Errorf("order: a single fault dropped at %d, the time limit at %d, a node at %d: want faults, then the time limit, then nodes", fault, limit, node)
	}
}
