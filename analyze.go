package faultline

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/reports"
	"github.com/faultline/faultline/workload"
)

// Analyze re-checks a stored run from its history.jsonl and test.json: it
// works on the directory of a run whose harness was killed (a torn last
// line is tolerated), rewrites results.json, history.edn and report.html,
// and returns the verdict.
func Analyze(ctx context.Context, dir string, checkTimeout time.Duration) (Result, error) {
	dir = resolveDir(dir)
	var t Test
	if err := readJSON(filepath.Join(dir, TestJSON), &t); err != nil {
		return Result{}, err
	}
	if checkTimeout > 0 {
		t.CheckTimeout = checkTimeout
	}
	ops, err := history.ReadFile(filepath.Join(dir, HistoryJSONL))
	if err != nil {
		return Result{}, fmt.Errorf("analyze %s: %w", dir, err)
	}
	wl, err := workload.ByName(t.Workload, workload.DefaultOptions())
	if err != nil {
		return Result{}, fmt.Errorf("analyze %s: %w", dir, err)
	}
	start, _ := time.Parse(timeLayout, filepath.Base(dir))
	var took time.Duration
	if n := len(ops); n > 0 {
		took = time.Duration(ops[n-1].Time)
	}
	res, err := analyze(ctx, dir, t, wl.Info(), ops, start, took)
	res.Faults = faultsIn(ops)
	return res, err
}

// Report regenerates a stored run's report.html from history.jsonl,
// results.json and summary.json (no re-check), and the store index.
func Report(dir string) (string, error) {
	dir = resolveDir(dir)
	ops, err := history.ReadFile(filepath.Join(dir, HistoryJSONL))
	if err != nil {
		return "", fmt.Errorf("report %s: %w", dir, err)
	}
	var results checker.Results
	if err := readJSON(filepath.Join(dir, ResultsJSON), &results); err != nil {
		return "", fmt.Errorf("report %s: %w (run `faultline analyze %s` to check it first)", dir, err, dir)
	}
	var info reports.RunInfo
	if sum, err := reports.ReadSummary(dir); err == nil {
		info = sum.Info
	} else {
		var t Test
		if err := readJSON(filepath.Join(dir, TestJSON), &t); err != nil {
			return "", err
		}
		kinds, _ := ParseNemeses(t.Nemesis)
		info = reports.RunInfo{Name: t.TestName(), Workload: t.Workload, Nemeses: kinds, Seed: t.Seed,
			Rerun: t.RerunCommand(), Config: testConfigMap(t)}
	}
	if err := reports.WriteRun(dir, info, ops, results); err != nil {
		return "", fmt.Errorf("report %s: %w", dir, err)
	}
	// The store is two levels up: store/<test>/<start-time>.
	if store := filepath.Dir(filepath.Dir(dir)); store != "" {
		_ = reports.WriteIndex(store)
	}
	return filepath.Join(dir, ReportHTML), nil
}

// resolveDir follows a "latest" link so `faultline analyze store/latest`
// works, and keeps the real path for the store layout.
func resolveDir(dir string) string {
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		return real
	}
	return dir
}
