package shrink

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/faultline/faultline"
	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/runstore"
)

// Dir is the directory, in the original run's, where a shrink writes:
// the minimal schedule (schedule.json), the shrink log (shrink.log), the
// summary (shrink.json) and every candidate's schedule (candidates/).
const Dir = "shrink"

// Original is a failing run to shrink, read from its directory.
type Original struct {
	// Dir is the run's directory.
	Dir string
	// Test is its configuration (test.json).
	Test faultline.Test
	// Start is its schedule (schedule.json), time limit and workers.
	Start Candidate
	// Target are the anomaly classes its checkers found (results.json).
	Target []Class
}

// Open reads the run in dir (a link such as store/latest is resolved
// first): it must have a schedule.json (every run since schedules are
// written has one) and an invalid verdict.
func Open(dir string) (Original, error) {
	// store/latest moves to each candidate's run as it starts: hold on to
	// the run it names now.
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	run := runstore.Open(dir)
	o := Original{Dir: run.Dir, Test: faultline.DefaultTest()}
	if err := runstore.ReadJSON(run.Path(runstore.TestJSON), &o.Test); err != nil {
		return o, fmt.Errorf("shrink %s: %w", dir, err)
	}
	s, err := nemesis.ReadScheduleFile(run.Path(runstore.ScheduleJSON))
	if err != nil {
		return o, fmt.Errorf("shrink %s: %w (a run made before schedules were written: run it again)", dir, err)
	}
	var results checker.Results
	if err := runstore.ReadJSON(run.Path(runstore.ResultsJSON), &results); err != nil {
		return o, fmt.Errorf("shrink %s: %w (check it first: faultline analyze %s)", dir, err, dir)
	}
	o.Target = Classes(results)
	if len(o.Target) == 0 {
		return o, fmt.Errorf("shrink %s: the run is %s, with no anomaly to reproduce: shrink an invalid run", dir, results.Valid)
	}
	if len(s.Faults) == 0 {
		return o, fmt.Errorf("shrink %s: no fault took effect in the run: nothing to shrink", dir)
	}
	// Every candidate is this schedule less something: one that cannot
	// be replayed would make the measurements fail at the end.
	if err := s.Validate(o.Test.TimeLimit, s.Nodes); err != nil {
		return o, fmt.Errorf("shrink %s: its schedule.json cannot be replayed: %w", dir, err)
	}
	o.Start = Candidate{Schedule: s, TimeLimit: o.Test.TimeLimit, Workers: o.Test.Workers()}
	return o, nil
}

// Classes returns the anomaly classes of the invalid checkers of rs: each
// anomaly's type, or "invalid" for a checker that names none.
func Classes(rs checker.Results) []Class {
	var out []Class
	add := func(c Class) {
		for _, x := range out {
			if x == c {
				return
			}
		}
		out = append(out, c)
	}
	for _, r := range rs.Checkers {
		if r.Valid != checker.Invalid {
			continue
		}
		if len(r.Anomalies) == 0 {
			add(Class{r.Checker, "invalid"})
		}
		for _, a := range r.Anomalies {
			add(Class{r.Checker, a.Type})
		}
	}
	return out
}

// RunTest runs one test: faultline.Run on the command line's runtime.
type RunTest func(ctx context.Context, t faultline.Test) (faultline.Result, error)

// Replay is the run of c: the original's test replaying c's schedule
// (written at path), with c's time limit and workers, named
// <test>-shrink in the original's store ('+' of the test's name as '_').
func (o Original) Replay(c Candidate, path string) faultline.Test {
	t := o.Test
	t.Name = strings.ReplaceAll(o.Test.TestName(), "+", "_") + "-shrink"
	t.Nemesis, t.Schedule = nemesis.None, path
	// The generated schedule's shape says nothing about a replay.
	t.NemesisInterval, t.NemesisConcurrent = faultline.DefaultTest().NemesisInterval, false
	t.TimeLimit, t.Concurrency, t.Quiet = c.TimeLimit, c.Workers, true
	return t
}

// Runner returns the RunFunc that runs each candidate as a real run with
// run: its schedule written into the shrink directory's candidates/. A
// rerun in which some of the schedule's faults did not happen (a power
// failure 0.5 s before the end, the op before it slower than recorded) is
// a harness error, not a pass: it did not run the candidate.
func (o Original) Runner(run RunTest) RunFunc {
	var n atomic.Int64
	return func(ctx context.Context, c Candidate) (Outcome, error) {
		path, err := o.write(c, fmt.Sprintf("candidates/%03d.json", n.Add(1)))
		if err != nil {
			return Outcome{}, err
		}
		res, err := run(ctx, o.Replay(c, path))
		out := Outcome{Classes: Classes(res.Checkers), Dir: res.Dir}
		if err == nil && len(res.MissingFaults) > 0 {
			err = fmt.Errorf("shrink: the rerun did not do %d of its schedule's faults (%v): it says nothing of the candidate (%s)",
				len(res.MissingFaults), res.MissingFaults, res.Dir)
		}
		return out, err
	}
}

// write writes c's schedule as name in the shrink directory and returns
// its absolute path.
func (o Original) write(c Candidate, name string) (string, error) {
	path, err := filepath.Abs(filepath.Join(o.Dir, Dir, name))
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("shrink: %w", err)
	}
	s := c.Schedule
	s.TimeLimit = nemesis.Duration(c.TimeLimit)
	return path, s.Write(path)
}

// Summary is shrink.json: what a shrink found, and the links between the
// original run and the minimal reproducer.
type Summary struct {
	// Original is the original run's directory; Target its anomaly
	// classes.
	Original string  `json:"original"`
	Target   []Class `json:"target"`
	// Schedule is the minimal schedule's file, Rerun the command that
	// replays it.
	Schedule string `json:"schedule"`
	Rerun    string `json:"rerun"`
	// Faults are the minimal schedule's faults, in words; FaultsBefore
	// how many the original had.
	Faults       []string `json:"faults"`
	FaultsBefore int      `json:"faults_before"`
	// Search is the search's result (every step).
	Search Result `json:"search"`
	// Reproduced of Reproductions reruns of the minimal schedule showed
	// the target; ReproductionRuns are their directories.
	Reproduced       int      `json:"reproduced"`
	Reproductions    int      `json:"reproductions"`
	ReproductionRuns []string `json:"reproduction_runs,omitempty"`
}

// Finish writes what a search (and Stabilise) found into the shrink
// directory: the minimal schedule, the shrink log, shrink.json; and links
// each run that measured the minimal schedule's reproduction rate back to
// the original (their shrink.json). It returns the summary.
func (o Original) Finish(res Result) (Summary, error) {
	path, err := o.write(res.Best, "schedule.json")
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{Original: o.Dir, Target: o.Target, Schedule: path, Rerun: o.Replay(res.Best, path).RerunCommand(),
		FaultsBefore: len(o.Start.Schedule.Faults), Search: res, Reproduced: res.Reproduced, Reproductions: res.Reproductions}
	for _, p := range res.Best.Schedule.Faults {
		sum.Faults = append(sum.Faults, p.String())
	}
	var log strings.Builder
	for _, st := range res.Steps {
		log.WriteString(st.String() + "\n")
	}
	for _, m := range res.Measures {
		log.WriteString(m.String() + "\n")
	}
	if err := os.WriteFile(filepath.Join(o.Dir, Dir, "shrink.log"), []byte(log.String()), 0o644); err != nil {
		return sum, fmt.Errorf("shrink: write log: %w", err)
	}
	if res.Reproductions > 0 {
		for _, m := range res.Measures {
			if m.Back == res.Back {
				sum.ReproductionRuns = append(sum.ReproductionRuns, m.Dirs...)
			}
		}
	}
	for _, dir := range sum.ReproductionRuns {
		link(dir, Summary{Original: o.Dir, Target: o.Target, Schedule: path, Rerun: sum.Rerun, Faults: sum.Faults})
	}
	if err := runstore.WriteJSON(filepath.Join(o.Dir, Dir, runstore.ShrinkJSON), sum); err != nil {
		return sum, err
	}
	link(o.Dir, sum)
	return sum, nil
}

// link writes sum as dir's shrink.json and regenerates dir's report, which
// then links the original run and its minimal reproducer.
func link(dir string, sum Summary) {
	if err := runstore.WriteJSON(filepath.Join(dir, runstore.ShrinkJSON), sum); err != nil {
		slog.Warn("shrink: link the runs", "dir", dir, "err", err)
		return
	}
	if _, err := faultline.Report(dir); err != nil {
		slog.Warn("shrink: regenerate the report", "dir", dir, "err", err)
	}
}

// Report is the summary in a few lines, for the terminal.
func (s Summary) Report() string {
	var b strings.Builder
	how := "1-minimal"
	if !s.Search.Minimal {
		how = "not minimal: " + s.Search.Stopped
	}
	fmt.Fprintf(&b, "shrunk %d faults to %d (%s) in %v, %d candidates, %d runs\n", s.FaultsBefore, len(s.Faults), how,
		s.Search.Took.Round(time.Second), len(s.Search.Steps), s.Search.Runs)
	for _, f := range s.Faults {
		fmt.Fprintf(&b, "  %s\n", f)
	}
	fmt.Fprintf(&b, "time limit %v, %d workers\n", s.Search.Best.TimeLimit, s.Search.Best.Workers)
	if s.Search.Back > 0 {
		fmt.Fprintf(&b, "stabilised: %s (rung %d back from the search's best, %d measurements)\n", s.Search.BackTo, s.Search.Back, len(s.Search.Measures))
	}
	switch {
	case s.Reproductions > 0 && !s.Search.Reached:
		fmt.Fprintf(&b, "reproduced %d of %d runs: below the target at every rung measured\n", s.Reproduced, s.Reproductions)
	case s.Reproductions > 0:
		fmt.Fprintf(&b, "reproduced %d of %d runs\n", s.Reproduced, s.Reproductions)
	case s.Search.Interrupted:
		b.WriteString("reproduction rate not measured: interrupted\n")
	}
	fmt.Fprintf(&b, "schedule: %s\nrerun: %s\n", s.Schedule, s.Rerun)
	b.WriteString("anomaly: ")
	names := make([]string, len(s.Target))
	for i, c := range s.Target {
		names[i] = c.String()
	}
	b.WriteString(strings.Join(names, ", ") + "\n")
	return b.String()
}
