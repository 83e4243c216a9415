package reports

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"github.com/faultline/faultline/runstore"
)

// shrinkView is what a run's shrink.json (written by package shrink) says
// for its report: on the original run, the minimal reproducer a shrink
// found; on a run that replayed it, the original it came from.
type shrinkView struct {
	Original      string   `json:"original"`
	Schedule      string   `json:"schedule"`
	Rerun         string   `json:"rerun"`
	Faults        []string `json:"faults"`
	FaultsBefore  int      `json:"faults_before"`
	Reproduced    int      `json:"reproduced"`
	Reproductions int      `json:"reproductions"`
	Search        struct {
		Best struct {
			TimeLimit time.Duration `json:"time_limit"`
			Workers   int           `json:"workers"`
		} `json:"best"`
	} `json:"search"`
	// IsOriginal says the report is the original run's; OriginalReport
	// links to it from a replay's.
	IsOriginal     bool   `json:"-"`
	OriginalReport string `json:"-"`
}

// TimeLimit and Workers are the minimal reproducer's.
func (s shrinkView) TimeLimit() time.Duration { return s.Search.Best.TimeLimit }

// Workers is the minimal reproducer's number of client workers.
func (s shrinkView) Workers() int { return s.Search.Best.Workers }

// readShrink reads dir's shrink.json; nil when there is none.
func readShrink(dir string) *shrinkView {
	b, err := os.ReadFile(filepath.Join(dir, runstore.ShrinkJSON))
	if err != nil {
		return nil
	}
	var s shrinkView
	if json.Unmarshal(b, &s) != nil || s.Original == "" {
		return nil
	}
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	s.IsOriginal = abs(dir) == abs(s.Original)
	if rel, err := filepath.Rel(abs(dir), filepath.Join(abs(s.Original), runstore.ReportHTML)); err == nil {
		s.OriginalReport = rel
	}
	return &s
}
