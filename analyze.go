package faultline

import (
	"context"
	"fmt"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/reports"
	"github.com/faultline/faultline/runstore"
)

// Analyze re-checks a stored run from its history.jsonl and test.json: it
// works on the directory of a run whose harness was killed (a torn last
// line is tolerated), rewrites results.json, history.edn and report.html,
// and returns the verdict. checkTimeout, when positive, replaces the
// run's own check timeout.
func Analyze(ctx context.Context, dir string, checkTimeout time.Duration) (Result, error) {
	run := runstore.Open(dir)
	plan, err := storedPlan(run)
	if err != nil {
		return Result{}, fmt.Errorf("analyze %s: %w", run.Dir, err)
	}
	if checkTimeout > 0 {
		plan.Test.CheckTimeout = checkTimeout
	}
	ops, read, err := history.ReadFileStats(run.Path(runstore.HistoryJSONL))
	if err != nil {
		return Result{}, fmt.Errorf("analyze %s: %w", run.Dir, err)
	}
	start, _ := run.Start()
	var took time.Duration
	if n := len(ops); n > 0 {
		took = time.Duration(ops[n-1].Time)
	}
	return checkRun(ctx, run, plan, ops, read, nil, start, took)
}

// Report regenerates a stored run's report.html from history.jsonl,
// results.json and summary.json (no re-check), and the store index.
func Report(dir string) (string, error) {
	run := runstore.Open(dir)
	ops, err := history.ReadFile(run.Path(runstore.HistoryJSONL))
	if err != nil {
		return "", fmt.Errorf("report %s: %w", run.Dir, err)
	}
	var results checker.Results
	if err := runstore.ReadJSON(run.Path(runstore.ResultsJSON), &results); err != nil {
		return "", fmt.Errorf("report %s: %w (run `faultline analyze %s` to check it first)", run.Dir, err, run.Dir)
	}
	var info reports.RunInfo
	if sum, err := reports.ReadSummary(run.Dir); err == nil {
		info = sum.Info
	} else {
		plan, err := storedPlan(run)
		if err != nil {
			return "", fmt.Errorf("report %s: %w", run.Dir, err)
		}
		start, _ := run.Start()
		info = runInfo(plan, start, 0, run.Dir)
	}
	if _, err := reports.WriteRun(run.Dir, info, ops, results); err != nil {
		return "", fmt.Errorf("report %s: %w", run.Dir, err)
	}
	_ = reports.WriteIndex(run.Store())
	return run.Path(runstore.ReportHTML), nil
}

// storedPlan resolves a stored run's test.json, read over DefaultTest (a
// run stored by an older faultline lacks the fields added since).
func storedPlan(run runstore.Run) (Plan, error) {
	t := DefaultTest()
	if err := runstore.ReadJSON(run.Path(runstore.TestJSON), &t); err != nil {
		return Plan{}, err
	}
	plan, err := t.resolve()
	if err != nil {
		return plan, fmt.Errorf("test.json: %w", err)
	}
	return plan, nil
}
