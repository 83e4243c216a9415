package suite

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline/faultline"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/sut"
	"github.com/faultline/faultline/workload"
)

// fakeRun returns verdicts from a table keyed by scenario name, so the
// suite's logic is tested without clusters.
func fakeRun(verdicts map[string][]checker.Verdict, errs map[string]error) RunFunc {
	return fakeRunMissing(verdicts, errs, nil)
}

// fakeRunMissing is fakeRun whose runs of the named scenarios miss the
// given faults.
func fakeRunMissing(verdicts map[string][]checker.Verdict, errs map[string]error, missing map[string][]nemesis.Fault) RunFunc {
	calls := map[string]int{}
	return func(_ context.Context, t faultline.Test) (faultline.Result, error) {
		i := calls[t.Name]
		calls[t.Name]++
		if err := errs[t.Name]; err != nil {
			return faultline.Result{}, err
		}
		vs := verdicts[t.Name]
		v := vs[i%len(vs)]
		return faultline.Result{Test: t, Valid: v, Ops: 100, OK: 90, P99: 3 * time.Millisecond,
			Detected: v == checker.Invalid, FirstAnomaly: 4210 * time.Millisecond,
			Faults:        []nemesis.Fault{{Kind: "kill", Option: "one"}, {Kind: "kill", Option: "one"}, {Kind: "partition", Option: "halves"}},
			MissingFaults: missing[t.Name], Report: "store/" + t.Name + "/report.html"}, nil
	}
}

func TestSuiteOutcomes(t *testing.T) {
	safe := Scenario{Name: "safe", Test: expecting(faultline.ExpectValid)}
	bug := Scenario{Name: "bug", Test: expecting(faultline.ExpectInvalid)}
	bug.Test.ReadMode = sut.KVNodeReadStale
	tests := []struct {
		name     string
		verdicts map[string][]checker.Verdict
		errs     map[string]error
		pass     bool
		status   []string
		want     []string // substrings of the output
	}{
		{"all as expected", map[string][]checker.Verdict{"safe": {checker.Valid}, "bug": {checker.Invalid}}, nil,
			true, []string{"ok", "caught"}, []string{"suite PASSED", "kill:one×2", "at 4.2s"}},
		{"missed bug", map[string][]checker.Verdict{"safe": {checker.Valid}, "bug": {checker.Valid}}, nil,
			false, []string{"ok", "MISSED"}, []string{"suite FAILED", "the harness missed a known bug (--read-mode=stale: any node answers reads from local state)", "rerun: faultline run"}},
		{"false alarm", map[string][]checker.Verdict{"safe": {checker.Invalid}, "bug": {checker.Invalid}}, nil,
			false, []string{"FALSE-ALARM", "caught"}, []string{"a safe configuration came back invalid"}},
		{"unknown is not valid", map[string][]checker.Verdict{"safe": {checker.Unknown}, "bug": {checker.Invalid}}, nil,
			false, []string{"FALSE-ALARM", "caught"}, []string{"could not decide"}},
		{"unknown is not caught", map[string][]checker.Verdict{"safe": {checker.Valid}, "bug": {checker.Unknown}}, nil,
			false, []string{"ok", "MISSED"}, nil},
		{"harness error", map[string][]checker.Verdict{"bug": {checker.Invalid}}, map[string]error{"safe": errors.New("docker gone")},
			false, []string{"ERROR", "caught"}, []string{"harness error: docker gone"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			res, err := Run(context.Background(), Config{Scenarios: []Scenario{safe, bug}, Repeat: 1, Seed: 7,
				Run: fakeRun(tc.verdicts, tc.errs), Out: &out})
			if err != nil {
				t.Fatal(err)
			}
			if res.Passed() != tc.pass {
				t.Errorf("Passed() = %v, want %v\n%s", res.Passed(), tc.pass, out.String())
			}
			for i, o := range res.Outcomes {
				if o.Status() != tc.status[i] {
					t.Errorf("outcome %d status %q, want %q", i, o.Status(), tc.status[i])
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// TestSuiteFailsWhenNamedFaultsDidNotHappen: a scenario that did not
// exercise what its name says fails, whatever its verdict.
func TestSuiteFailsWhenNamedFaultsDidNotHappen(t *testing.T) {
	safe := Scenario{Name: "safe", Test: expecting(faultline.ExpectValid)}
	var out bytes.Buffer
	res, err := Run(context.Background(), Config{Scenarios: []Scenario{safe}, Repeat: 1, Seed: 7, Out: &out,
		Run: fakeRunMissing(map[string][]checker.Verdict{"safe": {checker.Valid}}, nil,
			map[string][]nemesis.Fault{"safe": {{Kind: "kill"}, {Kind: "pause", Option: "leader"}}})})
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed() || res.Outcomes[0].Status() != "FAULTS-MISSING" {
		t.Fatalf("passed %v, status %q; want a failure for missing faults\n%s", res.Passed(), res.Outcomes[0].Status(), out.String())
	}
	if !strings.Contains(out.String(), "never took effect: kill, pause:leader") {
		t.Errorf("the summary does not name the missing faults:\n%s", out.String())
	}
}

func TestSuiteRepeatRatesAndSeeds(t *testing.T) {
	safe := Scenario{Name: "safe", Test: expecting(faultline.ExpectValid)}
	bug := Scenario{Name: "bug", Test: expecting(faultline.ExpectInvalid)}
	verdicts := map[string][]checker.Verdict{
		"safe": {checker.Valid, checker.Valid, checker.Valid, checker.Invalid},
		"bug":  {checker.Invalid, checker.Valid, checker.Invalid, checker.Invalid},
	}
	var out bytes.Buffer
	res, err := Run(context.Background(), Config{Scenarios: []Scenario{safe, bug}, Repeat: 4, Seed: 100,
		Run: fakeRun(verdicts, nil), Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	seeds := map[int64]bool{}
	for _, o := range res.Outcomes {
		if seeds[o.Seed] {
			t.Errorf("seed %d used twice", o.Seed)
		}
		seeds[o.Seed] = true
		if o.Result.Test.Seed != o.Seed {
			t.Errorf("run got seed %d, outcome says %d", o.Result.Test.Seed, o.Seed)
		}
	}
	rates := res.Rates()
	if len(rates) != 2 || rates[0].Passed != 3 || rates[0].Runs != 4 || rates[1].Passed != 3 || rates[1].Runs != 4 {
		t.Fatalf("rates = %+v, want 3/4 and 3/4", rates)
	}
	for _, w := range []string{"false alarms  25.0% (3/4)", "detection  75.0% (3/4)"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
	if res.Passed() {
		t.Error("suite with a miss and a false alarm passed")
	}
}

func TestSuiteInterruptedKeepsOutcomes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	run := func(_ context.Context, t faultline.Test) (faultline.Result, error) {
		n++
		if n == 2 {
			cancel()
		}
		return faultline.Result{Test: t, Valid: checker.Valid}, nil
	}
	sc := []Scenario{{Name: "a", Test: expecting(faultline.ExpectValid)}, {Name: "b", Test: expecting(faultline.ExpectValid)}, {Name: "c", Test: expecting(faultline.ExpectValid)}}
	res, err := Run(ctx, Config{Scenarios: sc, Repeat: 1, Run: run})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if len(res.Outcomes) != 2 {
		t.Fatalf("kept %d outcomes, want 2", len(res.Outcomes))
	}
}

// expecting is the default test with an expectation, as suite scenarios
// have.
func expecting(e faultline.Expect) faultline.Test {
	t := faultline.DefaultTest()
	t.Expect = e
	return t
}

func TestSuiteRefusesScenarioWithoutExpectation(t *testing.T) {
	_, err := Run(context.Background(), Config{Scenarios: []Scenario{{Name: "x", Test: faultline.DefaultTest()}}, Repeat: 1,
		Run: fakeRun(nil, nil)})
	if err == nil || !strings.Contains(err.Error(), "no expectation") {
		t.Fatalf("err = %v, want a missing expectation", err)
	}
}

func TestDefaultSuiteCoversEverything(t *testing.T) {
	s := Default(10 * time.Second)
	workloadsSeen, faultsSeen := map[string]bool{}, map[string]bool{}
	bugs := 0
	for _, sc := range s {
		if err := sc.Test.Validate(); err != nil {
			t.Errorf("%s: %v", sc.Name, err)
		}
		if sc.Test.Expect == faultline.ExpectInvalid {
			bugs++
			continue
		}
		if sc.Test.ReadMode != sut.Linearizable || len(sc.Test.Unsafe) > 0 {
			t.Errorf("%s: a safe scenario runs an unsafe mode", sc.Name)
		}
		workloadsSeen[string(sc.Test.Workload)] = true
		for _, f := range sc.Test.Nemesis.Kinds() {
			faultsSeen[f] = true
		}
	}
	for _, w := range workload.Names() {
		if !workloadsSeen[w] {
			t.Errorf("no safe scenario runs workload %s", w)
		}
	}
	for _, f := range nemesis.KindNames() {
		if !faultsSeen[f] {
			t.Errorf("no safe scenario injects %s", f)
		}
	}
	if bugs < 3 {
		t.Errorf("%d planted bugs, want at least 3", bugs)
	}
}

// TestEtcdScenarios: on etcd too, every workload (the queue nightly) and
// every fault kind it supports run safe, and a planted bug must be caught.
func TestEtcdScenarios(t *testing.T) {
	workloads, faults, bugs := map[string]bool{}, map[string]bool{}, 0
	for _, sc := range scenarios(10 * time.Second) {
		if sc.Test.System != "etcd" {
			continue
		}
		if !strings.HasPrefix(sc.Name, "etcd-") {
			t.Errorf("%s: etcd scenarios are named etcd-...", sc.Name)
		}
		if sc.Finding != "" {
			// A fault under which etcd itself loses data is covered by
			// the scenario that shows it.
			for _, f := range sc.Test.Nemesis.Kinds() {
				faults[f] = true
			}
			continue
		}
		if sc.Test.Expect == faultline.ExpectInvalid {
			bugs++
			continue
		}
		workloads[string(sc.Test.Workload)] = true
		for _, f := range sc.Test.Nemesis.Kinds() {
			faults[f] = true
		}
	}
	for _, w := range workload.Names() {
		if !workloads[w] {
			t.Errorf("no safe etcd scenario runs workload %s", w)
		}
	}
	for _, k := range nemesis.Kinds {
		if f := k.Name; !faults[f] && !slices.Contains(k.Needs, nemesis.NeedClockHook) {
			t.Errorf("no etcd scenario injects %s", f)
		}
	}
	if bugs != 1 {
		t.Errorf("%d etcd planted-bug scenarios, want 1 (serializable reads)", bugs)
	}
	x := faultline.DefaultTest()
	x.System, x.Nemesis = "etcd", nemesis.MustParseSpec("partition,kill")
	if got := x.TestName(); got != "etcd-register-partition+kill" {
		t.Errorf("TestName of an etcd run = %q: runs of another system must not share our store's directories", got)
	}
}

// TestSuiteParallel runs up to Parallel scenarios at once and still
// returns the outcomes in matrix order.
func TestSuiteParallel(t *testing.T) {
	// Every run holds its slot until three run at once (or, if the suite
	// never runs three at once, until the test gives up waiting), so the
	// runs overlap whatever the machine's speed.
	var running, most atomic.Int32
	three, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	run := func(_ context.Context, t faultline.Test) (faultline.Result, error) {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		if n == 3 {
			once.Do(func() { close(three) })
		}
		<-release
		running.Add(-1)
		return faultline.Result{Test: t, Valid: checker.Valid}, nil
	}
	go func() {
		select {
		case <-three:
		case <-time.After(time.Minute):
		}
		close(release)
	}()
	var sc []Scenario
	for _, name := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		sc = append(sc, Scenario{Name: name, Test: expecting(faultline.ExpectValid)})
	}
	res, err := Run(context.Background(), Config{Scenarios: sc, Repeat: 1, Parallel: 3, Run: run})
	if err != nil {
		t.Fatal(err)
	}
	if got := most.Load(); got != 3 {
		t.Errorf("at most %d runs at once, want 3", got)
	}
	for i, o := range res.Outcomes {
		if o.Scenario.Name != sc[i].Name {
			t.Fatalf("outcome %d is %s, want %s (matrix order)", i, o.Scenario.Name, sc[i].Name)
		}
	}
	if len(res.Outcomes) != len(sc) || !res.Passed() {
		t.Fatalf("%d outcomes, passed %v", len(res.Outcomes), res.Passed())
	}
	if err := (Config{Scenarios: sc, Repeat: 1, Parallel: -1, Run: run}).Validate(); err == nil {
		t.Error("parallel -1 accepted")
	}
}

// TestNoDedupOneFaultAtATime: with pause and kill of the leader
// overlapping, the cluster is leaderless for long stretches, retries time
// out with the requests they retry and the bug goes unseen (4 of 10 runs).
func TestNoDedupOneFaultAtATime(t *testing.T) {
	for _, s := range Default(12 * time.Second) {
		if s.Name == "bug-no-dedup" {
			if s.Test.NemesisConcurrent {
				t.Fatal("bug-no-dedup overlaps its faults")
			}
			return
		}
	}
	t.Fatal("no bug-no-dedup scenario")
}

// TestDefiniteTimeoutsSeveralLossCycles: with one loss cycle per run, 2
// of 10 quiet runs saw no failed append read back; with four, 10 of 10
// saw 18-209.
func TestDefiniteTimeoutsSeveralLossCycles(t *testing.T) {
	for _, s := range Default(12 * time.Second) {
		if s.Name == "bug-definite-timeouts" {
			if cycles := s.Test.TimeLimit / (2 * s.Test.NemesisInterval); cycles < 3 {
				t.Fatalf("bug-definite-timeouts has room for %d loss cycles, want at least 3", cycles)
			}
			return
		}
	}
	t.Fatal("no bug-definite-timeouts scenario")
}

// TestNATSScenarios: the published findings are pinned to the release
// the analysis tested and name their upstream issue (or say they are
// faultline's own); the safe scenario
// and the control fsync every write.
func TestNATSScenarios(t *testing.T) {
	seen := map[string]bool{}
	for _, sc := range scenarios(10 * time.Second) {
		if sc.Test.System != "nats" {
			continue
		}
		seen[sc.Name] = true
		if err := sc.Test.Validate(); err != nil {
			t.Errorf("%s: %v", sc.Name, err)
		}
		if sc.Test.Workload != "queue" || !strings.HasPrefix(sc.Name, "nats-") {
			t.Errorf("%s: NATS scenarios are nats-..., on the queue workload", sc.Name)
		}
		if sc.Test.Expect == faultline.ExpectInvalid && (sc.Test.SystemVersion != "v2.12.1" ||
			!strings.Contains(sc.Finding, "nats-io/nats-server#") && !strings.Contains(sc.Finding, "a finding of faultline's")) {
			t.Errorf("%s: a finding is pinned to v2.12.1 and names its issue, or says it is faultline's own: %q %q", sc.Name, sc.Test.SystemVersion, sc.Finding)
		}
		if sc.Test.Expect == faultline.ExpectValid && !slices.Contains(sc.Test.SystemOpt, "sync_interval=always") {
			t.Errorf("%s: a safe NATS scenario fsyncs every write", sc.Name)
		}
	}
	for _, want := range []string{"nats-queue", "nats-2.12.1-power-all-default-sync", "nats-2.12.1-power-all-sync-always", "nats-2.12.1-power-all-posix-dirs", "nats-2.12.1-bitflip-blk", "nats-2.12.1-power-one-split-brain"} {
		if !seen[want] {
			t.Errorf("no scenario %s", want)
		}
	}
}
