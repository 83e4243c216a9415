package faultline

import (
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/nemesis"
)

// Result is what one run produced.
type Result struct {
	// Test is the configuration that ran (with defaults filled in).
	Test Test `json:"test"`
	// Dir is the run's directory in the store.
	Dir string `json:"dir"`
	// Valid is the overall verdict of the checkers.
	Valid checker.Verdict `json:"valid"`
	// Checkers holds every checker's result.
	Checkers checker.Results `json:"checkers"`
	// Ops counts client operations (invocations); OK, Fail and Info their
	// completions.
	Ops, OK, Fail, Info int
	// OpsPerSec is the rate of ok client operations over the main phase.
	OpsPerSec float64 `json:"ops_per_sec"`
	// P99 is the 99th percentile latency of ok client operations.
	P99 time.Duration `json:"p99"`
	// Faults lists the faults that took effect (confirmed by the
	// nemesis), in order, repeats kept.
	Faults []nemesis.Fault `json:"faults"`
	// MissingFaults lists the faults the run's --nemesis required that
	// never took effect: a run that did not exercise what it names.
	MissingFaults []nemesis.Fault `json:"missing_faults,omitempty"`
	// FirstAnomaly is how far into the run the first anomalous op was
	// (time to detection); Detected says whether any anomaly had a time.
	FirstAnomaly time.Duration `json:"first_anomaly,omitempty"`
	Detected     bool          `json:"detected,omitempty"`
	// Duration is the wall time of the whole run.
	Duration time.Duration `json:"duration"`
	// Report is the path of report.html.
	Report string `json:"report"`
	// StayedDown are the nodes that did not come back after the final
	// heal (they exit as they start, e.g. on a disk the corrupt fault
	// damaged) while a majority served the final reads.
	StayedDown []string `json:"stayed_down,omitempty"`
	// History is how the history was read: a run re-checked after its
	// harness died may have had its torn last line dropped (Dropped).
	History history.ReadStats `json:"history"`
}

// firstAnomaly returns how far into the run the earliest anomaly that
// carries a time happened; false when none does.
func firstAnomaly(rs checker.Results) (time.Duration, bool) {
	var first time.Duration
	found := false
	for _, r := range rs.Checkers {
		for _, a := range r.Anomalies {
			if a.HasTime && (!found || time.Duration(a.Time) < first) {
				first, found = time.Duration(a.Time), true
			}
		}
	}
	return first, found
}
