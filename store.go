package faultline

import (
	"log/slog"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/runstore"
)

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

// ListRuns returns every run in store, newest first. A run whose test.json
// cannot be read is skipped with a warning naming it.
func ListRuns(store string) ([]StoredRun, error) {
	dirs, err := runstore.List(store, runstore.TestJSON)
	if err != nil {
		return nil, err
	}
	var runs []StoredRun
	for _, d := range dirs {
		r := StoredRun{Dir: d.Dir}
		if err := runstore.ReadJSON(d.Path(runstore.TestJSON), &r.Test); err != nil {
			slog.Warn("skipping an unreadable run", "dir", d.Dir, "err", err)
			continue
		}
		r.Start, _ = d.Start()
		var res checker.Results
		if err := runstore.ReadJSON(d.Path(runstore.ResultsJSON), &res); err == nil {
			r.Valid, r.Checked = res.Valid, true
		}
		runs = append(runs, r)
	}
	return runs, nil
}
