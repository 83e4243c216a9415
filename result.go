package faultline

import (
	"time"

	"github.com/faultline/faultline/checker"
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
	// Faults lists the nemesis operations that took effect, by f.
	Faults []string `json:"faults"`
	// Duration is the wall time of the whole run.
	Duration time.Duration `json:"duration"`
	// Report is the path of report.html.
	Report string `json:"report"`
}

// ExitCode maps the run's verdict to the process exit code: 0 valid,
// 1 invalid, 2 unknown. Harness errors are 3 (see ExitHarnessError).
func (r Result) ExitCode() int { return r.Valid.ExitCode() }

// ExitHarnessError is the exit code when the harness itself failed.
const ExitHarnessError = 3
