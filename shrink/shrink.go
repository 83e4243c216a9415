// Package shrink searches, from a failing run, for the smallest fault
// schedule that still fails: delta debugging (Zeller and Hildebrandt) over
// an explicit schedule (nemesis.ScheduleFile), as property-based testing
// shrinks a failing input.
//
// Search is the algorithm, on any RunFunc: from the failing candidate it
// tries one reduction at a time (keep a chunk of faults alone, then drop
// one, halving the chunks down to single faults; shorten the time limit;
// drop one node of a fault; halve a fault's duration, a fault still in
// effect at the end included; move a fault earlier; halve the workers),
// reruns each
// candidate up to K times, and keeps it when one rerun (M with MinFails)
// shows an anomaly of the original's class (same checker, same anomaly
// type). It stops when
// no single reduction still fails (1-minimal), when the budget is spent or
// when its context ends, and returns the best schedule found. Stabilise
// (stabilise.go) then measures that schedule's reproduction rate and,
// below a target, steps back along the kept changes to the smallest
// candidate that reaches it. Faultline (faultline.go) runs candidates as
// real runs and writes what a shrink found next to the original run.
package shrink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/nemesis"
)

// Class is an anomaly class: the checker that found it and the anomaly's
// type (lost, G1a, nonlinearizable, ...).
type Class struct {
	Checker string `json:"checker"`
	Anomaly string `json:"anomaly"`
}

func (c Class) String() string { return c.Checker + ":" + c.Anomaly }

// Candidate is what one shrink step runs: a schedule, the main phase's
// length and the number of client workers.
type Candidate struct {
	Schedule  nemesis.ScheduleFile `json:"schedule"`
	TimeLimit time.Duration        `json:"time_limit"`
	Workers   int                  `json:"workers"`
}

// String summarises c: "2 faults, 20s, 6 workers".
func (c Candidate) String() string {
	return fmt.Sprintf("%d faults, %v, %d workers", len(c.Schedule.Faults), c.TimeLimit, c.Workers)
}

// Outcome is what one run of a candidate showed.
type Outcome struct {
	// Classes are the anomaly classes the checkers found (none: valid).
	Classes []Class
	// Dir is the run's directory, if it has one.
	Dir string
}

// RunFunc runs a candidate once. An error is a harness failure: the
// candidate counts as not failing.
type RunFunc func(ctx context.Context, c Candidate) (Outcome, error)

// Config configures Search.
type Config struct {
	// Target are the original's anomaly classes: a rerun fails when it
	// shows one of them.
	Target []Class
	// RunsPerCandidate (K) is how many reruns a candidate gets at most: it
	// fails as soon as one shows the target.
	RunsPerCandidate int
	// MinFails (M, default 1) is how many of a candidate's reruns must
	// show the target for it to fail: M > 1 keeps only changes after
	// which the bug still fires often, so that a rare bug's minimal
	// schedule still reproduces (with M = 1 lucky reruns shrink it to the
	// edge of reproducibility).
	MinFails int
	// Parallel is how many reruns go at once.
	Parallel int
	// Budget bounds the search's wall-clock time (0: none); the
	// candidate in flight when it runs out is finished.
	Budget time.Duration
	// MinStep is the smallest change of a time a reduction makes (a
	// duration halved, a start moved earlier, the time limit cut).
	MinStep time.Duration
	// MinTimeLimit is the shortest main phase a candidate may have.
	MinTimeLimit time.Duration
	// Reproduce is how many reruns measure a schedule's reproduction
	// rate after the search (0: none, and no stabilising).
	Reproduce int
	// ReproduceTarget is the rate (0 to 1) the schedule Stabilise returns
	// must reproduce at: the search's best if it does, else the
	// candidate fewest kept changes before it that does.
	ReproduceTarget float64
}

// DefaultConfig is 3 reruns per candidate, one at a time, no budget,
// times changed by 1 s at least, main phases of 5 s at least, and a
// result that reproduces in 8 of 10 reruns.
func DefaultConfig() Config {
	return Config{RunsPerCandidate: 3, MinFails: 1, Parallel: 1, MinStep: time.Second, MinTimeLimit: 5 * time.Second,
		Reproduce: 10, ReproduceTarget: 0.8}
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	if len(c.Target) == 0 {
		errs = append(errs, errors.New("shrink: no anomaly class to reproduce: the original run must be invalid"))
	}
	if c.RunsPerCandidate < 1 {
		errs = append(errs, fmt.Errorf("shrink: runs per candidate = %d: use 1 or more", c.RunsPerCandidate))
	}
	if c.MinFails < 1 || c.MinFails > c.RunsPerCandidate {
		errs = append(errs, fmt.Errorf("shrink: min fails = %d: use 1 to the runs per candidate (%d)", c.MinFails, c.RunsPerCandidate))
	}
	if c.Parallel < 1 {
		errs = append(errs, fmt.Errorf("shrink: parallel = %d: use 1 or more", c.Parallel))
	}
	if c.Reproduce < 0 || c.ReproduceTarget < 0 || c.ReproduceTarget > 1 {
		errs = append(errs, fmt.Errorf("shrink: reproduce = %d, target %v: use 0 or more reruns and a rate from 0 to 1", c.Reproduce, c.ReproduceTarget))
	}
	if c.Budget < 0 || c.MinStep <= 0 || c.MinTimeLimit <= 0 {
		errs = append(errs, fmt.Errorf("shrink: budget %v must be >= 0, min step %v and min time limit %v > 0", c.Budget, c.MinStep, c.MinTimeLimit))
	}
	return errors.Join(errs...)
}

// Verdict is one rerun's verdict in a shrink: it showed the target
// (Fail), it did not (Pass), or the harness failed (Error).
type Verdict string

// Verdicts.
const (
	Fail  Verdict = "fail"
	Pass  Verdict = "pass"
	Error Verdict = "error"
)

// Step is one candidate tried: what changed, its reruns' verdicts, and
// the best candidate after it. Progress receives each; the shrink log
// lists them.
type Step struct {
	N        int           `json:"n"`
	Change   string        `json:"change"`
	Verdicts []Verdict     `json:"verdicts"`
	Dirs     []string      `json:"dirs,omitempty"`
	Errors   []string      `json:"errors,omitempty"`
	Kept     bool          `json:"kept"`
	Best     string        `json:"best"`
	Took     time.Duration `json:"took"`
}

// String is the step's progress line.
func (s Step) String() string {
	vs := make([]string, len(s.Verdicts))
	for i, v := range s.Verdicts {
		vs[i] = string(v)
	}
	kept := "rejected"
	if s.Kept {
		kept = "KEPT"
	}
	line := fmt.Sprintf("candidate %d: %s: %s -> %s (%v) | best: %s", s.N, s.Change, strings.Join(vs, " "), kept, s.Took.Round(time.Second), s.Best)
	if len(s.Errors) > 0 {
		line += " | error: " + s.Errors[0]
	}
	return line
}

// maxErrorSteps is how many candidates in a row may end in harness errors
// only before Search gives up: the harness, not the schedule, fails.
const maxErrorSteps = 3

// Result is what a search found.
type Result struct {
	// Best is the smallest candidate that still failed (the start when
	// none did).
	Best Candidate `json:"best"`
	// Steps are the candidates tried, in order.
	Steps []Step `json:"steps"`
	// Runs counts the reruns, Took the search's time.
	Runs int           `json:"runs"`
	Took time.Duration `json:"took"`
	// Minimal says no single reduction of Best still fails; otherwise
	// Stopped says why the search ended early (budget, interrupt).
	Minimal bool   `json:"minimal"`
	Stopped string `json:"stopped,omitempty"`
	// Chain are the candidates the search kept, the start first and its
	// smallest last: Stabilise steps back along it.
	Chain []Candidate `json:"-"`
	// Stabilise's part: its measurements in order, the rung of its ladder
	// Best is (0: the search's best) and what that gives back, and Best's
	// reproduction rate, Reproduced of Reproductions reruns (Reached: at
	// least the target). Interrupted says Ctrl-C cut it short.
	Measures      []Measure `json:"measures,omitempty"`
	Back          int       `json:"back"`
	BackTo        string    `json:"back_to,omitempty"`
	Reproduced    int       `json:"reproduced"`
	Reproductions int       `json:"reproductions"`
	Reached       bool      `json:"reached"`
	Interrupted   bool      `json:"interrupted,omitempty"`
}

// Search shrinks start, which fails, with run; progress (may be nil)
// receives each step as it completes. It ends when Best is 1-minimal,
// when cfg.Budget is spent or when ctx ends (after the candidate in
// flight): Result holds the best found so far either way.
func Search(ctx context.Context, cfg Config, start Candidate, run RunFunc, progress func(Step)) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	begin := time.Now()
	res := Result{Best: start, Chain: []Candidate{start}}
	errorSteps := 0
	// Each pass starts where the last kept change was found (the same
	// kind of change often works again) and wraps around; candidates
	// already rejected are not run again.
	from := 0
	rejected := map[string]bool{}
	for {
		found := false
		list := reductions(cfg, res.Best)
		for k := range list {
			i := (from + k) % len(list)
			r := list[i]
			key := fingerprint(r.cand)
			if rejected[key] {
				continue
			}
			switch {
			case ctx.Err() != nil:
				res.Stopped = "interrupted"
			case cfg.Budget > 0 && time.Since(begin) >= cfg.Budget:
				res.Stopped = fmt.Sprintf("budget of %v spent", cfg.Budget)
			}
			if res.Stopped != "" {
				res.Took = time.Since(begin)
				return res, nil
			}
			if r.cand.Schedule.Validate(r.cand.TimeLimit, r.cand.Schedule.Nodes) != nil {
				continue
			}
			t0 := time.Now()
			verdicts, dirs, errs := try(context.WithoutCancel(ctx), cfg, cfg.RunsPerCandidate, cfg.MinFails, cfg.MinFails, r.cand, run, nil)
			res.Runs += len(verdicts)
			st := Step{N: len(res.Steps) + 1, Change: r.change, Verdicts: verdicts, Dirs: dirs, Errors: errs,
				Kept: fails(verdicts) >= cfg.MinFails, Took: time.Since(t0)}
			if st.Kept {
				res.Best, res.Chain = r.cand, append(res.Chain, r.cand)
			}
			st.Best = res.Best.String()
			res.Steps = append(res.Steps, st)
			if progress != nil {
				progress(st)
			}
			if errorSteps = errorSteps + 1; len(errs) < len(verdicts) {
				errorSteps = 0
			}
			if errorSteps == maxErrorSteps {
				res.Took, res.Stopped = time.Since(begin), "harness errors"
				return res, fmt.Errorf("shrink: %d candidates in a row failed to run: %s", maxErrorSteps, errs[0])
			}
			if st.Kept {
				found, from = true, i
				break
			}
			rejected[key] = true
		}
		if !found {
			res.Minimal, res.Took = true, time.Since(begin)
			return res, nil
		}
	}
}

// fails counts the reruns that showed the target.
func fails(verdicts []Verdict) int {
	n := 0
	for _, v := range verdicts {
		if v == Fail {
			n++
		}
	}
	return n
}

// try reruns c up to runs times, cfg.Parallel at a time, while ctx lasts
// (a rerun fails when it shows one of cfg.Target): it stops starting
// reruns once enough failed (enough > 0), or once the reruns left cannot
// make need failures. each (may be nil) sees every rerun's verdict as it
// comes.
func try(ctx context.Context, cfg Config, runs, need, enough int, c Candidate, run RunFunc, each func(Verdict, string)) (verdicts []Verdict, dirs, errs []string) {
	var (
		mu     sync.Mutex
		failed int
		wg     sync.WaitGroup
		slots  = make(chan struct{}, cfg.Parallel)
	)
	for range runs {
		slots <- struct{}{}
		mu.Lock()
		// Reruns started and not yet done may still fail: count them in.
		stop := (enough > 0 && failed >= enough) || failed+(runs-len(verdicts)) < need || ctx.Err() != nil
		mu.Unlock()
		if stop {
			<-slots
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			out, err := run(context.WithoutCancel(ctx), c)
			v := Pass
			switch {
			case err != nil:
				v = Error
			case Matches(out.Classes, cfg.Target):
				v = Fail
			}
			mu.Lock()
			defer mu.Unlock()
			verdicts = append(verdicts, v)
			if err != nil {
				errs = append(errs, err.Error())
			}
			if out.Dir != "" {
				dirs = append(dirs, out.Dir)
			}
			if v == Fail {
				failed++
			}
			if each != nil {
				each(v, out.Dir)
			}
		})
	}
	wg.Wait()
	return verdicts, dirs, errs
}

// Matches reports whether got shows one of the target classes.
func Matches(got, target []Class) bool {
	return slices.ContainsFunc(got, func(c Class) bool { return slices.Contains(target, c) })
}

// fingerprint identifies a candidate: its JSON form.
func fingerprint(c Candidate) string {
	b, _ := json.Marshal(c)
	return string(b)
}
