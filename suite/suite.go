package suite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/faultline/faultline"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/nemesis"
)

// Scenario is one entry of the suite's matrix.
type Scenario struct {
	// Name identifies the scenario in the summary and in the store.
	Name string
	// Test is the run's configuration; its Seed is replaced per repeat,
	// and its Expect is the verdict the scenario must produce.
	Test faultline.Test
	// Nightly keeps the scenario out of the CI matrix (make chaos): it
	// runs only in the nightly one.
	Nightly bool
	// Finding, for an ExpectInvalid scenario without a planted bug, is the
	// bug of the system itself the scenario reproduces: a finding of ours
	// or of a published analysis, with its upstream issue.
	Finding string
}

// RunFunc runs one test; faultline.Run is the real one, tests use fakes.
type RunFunc func(ctx context.Context, t faultline.Test) (faultline.Result, error)

// Config configures Run.
type Config struct {
	// Scenarios is the matrix to run, in order.
	Scenarios []Scenario
	// Repeat runs each scenario this many times with different seeds.
	Repeat int
	// Seed is the first seed; repeat i of scenario j uses Seed + 1000*j + i
	// so every run's seed is distinct and printed.
	Seed int64
	// Parallel is how many runs go at once; 0 and 1 run them one after
	// another (the Docker runtime on one machine runs one cluster at a
	// time well). Each run has its own cluster (a namespace per run under
	// the Kubernetes runtime) and writes into the same store.
	Parallel int
	// TimeLimit is each scenario's main phase, raised where the faults it
	// names need longer (Default and Nightly take it).
	TimeLimit time.Duration
	// Run runs one test (faultline.Run in production).
	Run RunFunc
	// Out receives progress and the summary table; nil discards.
	Out io.Writer
}

// DefaultConfig is one run of each scenario, one at a time, 12 s main
// phases, from a seed taken from the clock (each run's seed is printed).
func DefaultConfig() Config {
	return Config{Repeat: 1, Seed: time.Now().Unix() % 100000, Parallel: 1, TimeLimit: 12 * time.Second}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if len(c.Scenarios) == 0 {
		errs = append(errs, errors.New("suite: no scenarios selected: check --only"))
	}
	if c.Repeat < 1 {
		errs = append(errs, fmt.Errorf("suite: repeat = %d: use 1 or more", c.Repeat))
	}
	if c.Parallel < 0 {
		errs = append(errs, fmt.Errorf("suite: parallel = %d: use 1 or more (0 means 1)", c.Parallel))
	}
	if c.Run == nil {
		errs = append(errs, errors.New("suite: no run function"))
	}
	for _, s := range c.Scenarios {
		if s.Test.Expect == faultline.ExpectNone {
			errs = append(errs, fmt.Errorf("suite: scenario %s: no expectation: set Test.Expect to valid or invalid", s.Name))
		}
		if err := s.Test.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("suite: scenario %s: %w", s.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Outcome is the result of one scenario run.
type Outcome struct {
	Scenario Scenario
	Seed     int64
	Result   faultline.Result
	// Err is a harness error (the run did not produce a verdict).
	Err error
}

// Passed reports whether the outcome meets the scenario's expectation.
// A planted bug must come back invalid; a safe scenario valid; and every
// fault the scenario names must have happened. Unknown verdicts and
// harness errors never pass.
func (o Outcome) Passed() bool {
	if o.Err != nil || len(o.Result.MissingFaults) > 0 {
		return false
	}
	if o.Scenario.Test.Expect == faultline.ExpectInvalid {
		return o.Result.Valid == checker.Invalid
	}
	return o.Result.Valid == checker.Valid
}

// Status is the outcome in words for the summary.
func (o Outcome) Status() string {
	switch {
	case o.Err != nil:
		return "ERROR"
	case len(o.Result.MissingFaults) > 0:
		return "FAULTS-MISSING"
	case o.Passed() && o.Scenario.Test.Expect == faultline.ExpectInvalid:
		return "caught"
	case o.Passed():
		return "ok"
	case o.Scenario.Test.Expect == faultline.ExpectInvalid:
		return "MISSED"
	}
	return "FALSE-ALARM"
}

// Result holds every outcome of a suite.
type Result struct {
	Outcomes []Outcome
	Duration time.Duration
}

// Passed reports whether every safe scenario was valid and every planted
// bug was caught, in every repeat.
func (r Result) Passed() bool {
	for _, o := range r.Outcomes {
		if !o.Passed() {
			return false
		}
	}
	return len(r.Outcomes) > 0
}

// Rate is a count of passes over runs for one scenario.
type Rate struct {
	Scenario string
	Expect   faultline.Expect
	Passed   int
	Runs     int
}

// Fraction returns Passed/Runs (0 when there were no runs).
func (r Rate) Fraction() float64 {
	if r.Runs == 0 {
		return 0
	}
	return float64(r.Passed) / float64(r.Runs)
}

// Rates returns, per scenario in suite order, how often it met its
// expectation: the detection rate of a planted bug, or one minus the
// false-alarm rate of a safe scenario.
func (r Result) Rates() []Rate {
	idx := map[string]int{}
	var out []Rate
	for _, o := range r.Outcomes {
		i, ok := idx[o.Scenario.Name]
		if !ok {
			i = len(out)
			idx[o.Scenario.Name] = i
			out = append(out, Rate{Scenario: o.Scenario.Name, Expect: o.Scenario.Test.Expect})
		}
		out[i].Runs++
		if o.Passed() {
			out[i].Passed++
		}
	}
	return out
}

// Run runs every scenario cfg.Repeat times, cfg.Parallel at a time
// (default one after another), prints progress and a summary table, and
// returns all outcomes in matrix order. It stops starting runs only when
// ctx is cancelled; the outcomes so far are returned with ctx's error.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	out := cfg.Out
	if out == nil {
		out = io.Discard
	}
	start := time.Now()
	total := len(cfg.Scenarios) * cfg.Repeat
	outcomes := make([]*Outcome, total)
	var (
		mu      sync.Mutex // guards out and outcomes
		wg      sync.WaitGroup
		slots   = make(chan struct{}, max(cfg.Parallel, 1))
		started int
	)
	for j, sc := range cfg.Scenarios {
		for i := 0; i < cfg.Repeat; i++ {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				break
			}
			started++
			k := started
			t := sc.withSeed(cfg.Seed + int64(1000*j+i))
			mu.Lock()
			fmt.Fprintf(out, "[%d/%d] %s (expect %s, seed %d) ...\n", k, total, sc.Name, t.Expect, t.Seed)
			mu.Unlock()
			wg.Go(func() {
				defer func() { <-slots }()
				r, err := cfg.Run(ctx, t)
				o := Outcome{Scenario: sc, Seed: t.Seed, Result: r, Err: err}
				if err != nil {
					slog.Error("scenario failed to run", "scenario", sc.Name, "seed", t.Seed, "err", err)
				}
				mu.Lock()
				defer mu.Unlock()
				outcomes[k-1] = &o
				fmt.Fprintf(out, "[%d/%d] %s: %s (verdict %s, %d ops, %s)\n", k, total, sc.Name, o.Status(),
					r.Valid, r.Ops, r.Duration.Round(time.Second))
			})
		}
	}
	wg.Wait()
	var res Result
	for _, o := range outcomes {
		if o != nil {
			res.Outcomes = append(res.Outcomes, *o)
		}
	}
	res.Duration = time.Since(start)
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("suite interrupted after %d of %d runs: %w", len(res.Outcomes), total, err)
	}
	res.WriteSummary(out)
	return res, nil
}

// WriteSummary prints the summary table, the rates when scenarios repeat,
// and a rerun command for every failure.
func (r Result) WriteSummary(w io.Writer) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tEXPECTED\tVERDICT\tSTATUS\tDETECTED\tOPS\tOK%\tP99\tFAULTS\tSEED\tREPORT")
	for _, o := range r.Outcomes {
		okPct := "-"
		if o.Result.Ops > 0 {
			okPct = fmt.Sprintf("%.1f", 100*float64(o.Result.OK)/float64(o.Result.Ops))
		}
		verdict := o.Result.Valid.String()
		if o.Err != nil {
			verdict = "error"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%d\t%s\n", o.Scenario.Name, o.Scenario.Test.Expect,
			verdict, o.Status(), o.detected(), o.Result.Ops, okPct, o.Result.P99.Round(100*time.Microsecond),
			faultSummary(o.Result.Faults), o.Seed, orDash(o.Result.Report))
	}
	tw.Flush()
	if rates := r.Rates(); len(rates) > 0 && len(rates) < len(r.Outcomes) {
		fmt.Fprintln(w)
		for _, rt := range rates {
			what := "false alarms"
			v := float64(rt.Runs-rt.Passed) / float64(rt.Runs)
			if rt.Expect == faultline.ExpectInvalid {
				what = "detection"
				v = rt.Fraction()
			}
			fmt.Fprintf(w, "%-32s %s %5.1f%% (%d/%d)\n", rt.Scenario, what, 100*v, rt.Passed, rt.Runs)
		}
	}
	fmt.Fprintln(w)
	var failed []Outcome
	for _, o := range r.Outcomes {
		if !o.Passed() {
			failed = append(failed, o)
		}
	}
	if len(failed) == 0 {
		fmt.Fprintf(w, "suite PASSED: %d runs in %s; every safe scenario valid, every planted bug caught.\n",
			len(r.Outcomes), r.Duration.Round(time.Second))
		return
	}
	fmt.Fprintf(w, "suite FAILED: %d of %d runs did not meet expectations (%s):\n", len(failed), len(r.Outcomes),
		r.Duration.Round(time.Second))
	for _, o := range failed {
		why := "the harness missed a known bug (" + o.Scenario.bugs() + ")"
		if o.Scenario.Finding != "" {
			why = "the run did not reproduce the finding (" + o.Scenario.Finding + ")"
		}
		switch {
		case o.Err != nil:
			why = "harness error: " + o.Err.Error()
		case len(o.Result.MissingFaults) > 0:
			why = fmt.Sprintf("faults the scenario names never took effect: %s (the run did not test what its name says; see the report's nemesis ops)",
				joinFaults(o.Result.MissingFaults))
		case o.Scenario.Test.Expect == faultline.ExpectValid && o.Result.Valid == checker.Unknown:
			why = "a checker could not decide (unknown); see the report"
		case o.Scenario.Test.Expect == faultline.ExpectValid:
			why = "a safe configuration came back invalid: a real bug or a checker false alarm; see the report"
		}
		fmt.Fprintf(w, "  %s seed %d: %s\n    rerun: %s\n", o.Scenario.Name, o.Seed, why, o.Scenario.withSeed(o.Seed).RerunCommand())
	}
}

// detected says how far into the run the first anomalous op was, for an
// invalid verdict whose anomalies carry times ("-" otherwise).
func (o Outcome) detected() string {
	if o.Err != nil || o.Result.Valid != checker.Invalid || !o.Result.Detected {
		return "-"
	}
	return "at " + o.Result.FirstAnomaly.Round(100*time.Millisecond).String()
}

// bugs describes the planted bugs the scenario turns on, in the system's
// words.
func (s Scenario) bugs() string {
	plan, err := s.Test.Plan()
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, b := range plan.Bugs() {
		out = append(out, b.Flag()+": "+b.Doc)
	}
	return strings.Join(out, "; ")
}

func (s Scenario) withSeed(seed int64) faultline.Test {
	t := s.Test
	t.Seed = seed
	if t.Name == "" {
		t.Name = s.Name
	}
	return t
}

// faultSummary counts the faults that happened, by kind:option.
func faultSummary(fs []nemesis.Fault) string {
	if len(fs) == 0 {
		return "-"
	}
	count := map[string]int{}
	for _, f := range fs {
		count[f.String()]++
	}
	keys := slices.Sorted(maps.Keys(count))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, count[k])
	}
	return strings.Join(parts, ",")
}

func joinFaults(fs []nemesis.Fault) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.String()
	}
	return strings.Join(parts, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
