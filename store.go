package faultline

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/faultline/faultline/checker"
)

// Files of a stored run, in store/<test-name>/<start-time>/.
const (
	HistoryJSONL = "history.jsonl"
	HistoryEDN   = "history.edn"
	ResultsJSON  = "results.json"
	TestJSON     = "test.json"
	ReportHTML   = "report.html"
	LogsDir      = "logs"
)

// timeLayout names run directories as Jepsen does (UTC, sortable).
const timeLayout = "20060102T150405.000Z"

// newRunDir creates store/<name>/<start-time>/ and points store/latest and
// store/<name>/latest at it.
func newRunDir(store, name string, start time.Time) (string, error) {
	stamp := start.UTC().Format(timeLayout)
	dir := filepath.Join(store, name, stamp)
	if err := os.MkdirAll(filepath.Join(dir, LogsDir), 0o755); err != nil {
		return "", fmt.Errorf("create run directory %s: %w (check --store is writable)", dir, err)
	}
	if err := relink(filepath.Join(store, "latest"), filepath.Join(name, stamp)); err != nil {
		return dir, err
	}
	return dir, relink(filepath.Join(store, name, "latest"), stamp)
}

// relink atomically replaces the symlink at path with one to target.
func relink(path, target string) error {
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("link %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("link %s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// StoredRun is one run found in the store.
type StoredRun struct {
	Dir   string
	Test  Test
	Start time.Time
	// Valid is the stored verdict; Checked is false when results.json is
	// missing (the harness died before checking: run `faultline analyze`).
	Valid   checker.Verdict
	Checked bool
}

// ListRuns returns every run in store, newest first.
func ListRuns(store string) ([]StoredRun, error) {
	var runs []StoredRun
	matches, err := filepath.Glob(filepath.Join(store, "*", "*", TestJSON))
	if err != nil {
		return nil, fmt.Errorf("scan store %s: %w", store, err)
	}
	for _, m := range matches {
		dir := filepath.Dir(m)
		if fi, err := os.Lstat(dir); err != nil || fi.Mode()&fs.ModeSymlink != 0 {
			continue // skip the latest links
		}
		r := StoredRun{Dir: dir}
		if err := readJSON(m, &r.Test); err != nil {
			return nil, err
		}
		r.Start, _ = time.Parse(timeLayout, filepath.Base(dir))
		var res checker.Results
		if err := readJSON(filepath.Join(dir, ResultsJSON), &res); err == nil {
			r.Valid, r.Checked = res.Valid, true
		}
		runs = append(runs, r)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].Start.After(runs[j].Start) })
	return runs, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s not found: is this a faultline run directory?: %w", path, err)
		}
		return fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}
