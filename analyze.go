package faultline

import (
	"context"
	"fmt"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/reports"
	"github.com/faultline/faultline/runstore"
	"github.com/faultline/faultline/workload"
)

// Analyze re-checks a stored run from its history.jsonl and test.json: it
// works on the directory of a run whose harness was killed (a torn last
// line is tolerated), rewrites results.json, history.edn and report.html,
// and returns the verdict.
func Analyze(ctx context.Context, dir string, checkTimeout time.Duration) (Result, error) {
	run := runstore.Open(dir)
	var t Test
	if err := runstore.ReadJSON(run.Path(runstore.TestJSON), &t); err != nil {
		return Result{}, err
	}
	if checkTimeout > 0 {
		t.CheckTimeout = checkTimeout
	}
	ops, err := history.ReadFile(run.Path(runstore.HistoryJSONL))
	if err != nil {
		return Result{}, fmt.Errorf("analyze %s: %w", run.Dir, err)
	}
	wl, err := workload.ByName(string(t.Workload), workload.DefaultOptions())
	if err != nil {
		return Result{}, fmt.Errorf("analyze %s: %w", run.Dir, err)
	}
	start, _ := run.Start()
	var took time.Duration
	if n := len(ops); n > 0 {
		took = time.Duration(ops[n-1].Time)
	}
	return analyze(ctx, run, t, wl.Info(), ops, start, took)
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
		var t Test
		if err := runstore.ReadJSON(run.Path(runstore.TestJSON), &t); err != nil {
			return "", err
		}
		start, _ := run.Start()
		info = runInfo(t, start, 0, nil, nil)
	}
	if err := reports.WriteRun(run.Dir, info, ops, results); err != nil {
		return "", fmt.Errorf("report %s: %w", run.Dir, err)
	}
	_ = reports.WriteIndex(run.Store())
	return run.Path(runstore.ReportHTML), nil
}
