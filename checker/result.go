package checker

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/faultline/faultline/history"
)

// Verdict is a checker's answer: valid, invalid or unknown. It is a value,
// never an error: a checker that could not decide says Unknown and why.
type Verdict uint8

const (
	// Unknown means the checker could not decide (timeout, too large, panic).
	Unknown Verdict = iota
	// Valid means the history satisfies the property.
	Valid
	// Invalid means the history violates the property; the Result explains.
	Invalid
)

// String returns "true", "false" or "unknown", as Jepsen prints :valid?.
func (v Verdict) String() string {
	switch v {
	case Valid:
		return "true"
	case Invalid:
		return "false"
	}
	return "unknown"
}

// MarshalJSON encodes Valid as true, Invalid as false, Unknown as "unknown".
func (v Verdict) MarshalJSON() ([]byte, error) {
	switch v {
	case Valid:
		return []byte("true"), nil
	case Invalid:
		return []byte("false"), nil
	}
	return []byte(`"unknown"`), nil
}

// UnmarshalJSON accepts true, false and "unknown".
func (v *Verdict) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true":
		*v = Valid
	case "false":
		*v = Invalid
	case `"unknown"`, "null":
		*v = Unknown
	default:
		return fmt.Errorf("checker: bad verdict %s (want true, false or \"unknown\")", b)
	}
	return nil
}

// Merge composes two verdicts: Invalid beats Unknown beats Valid.
func Merge(a, b Verdict) Verdict {
	if a == Invalid || b == Invalid {
		return Invalid
	}
	if a == Unknown || b == Unknown {
		return Unknown
	}
	return Valid
}

// Anomaly is one thing a checker found wrong, explained in words.
type Anomaly struct {
	// Type names the anomaly class: G0, G1a, G1b, G1c, G-single, G2,
	// internal, duplicate, incompatible-order, lost, unexpected,
	// nonlinearizable, wrong-total, negative-balance, ...
	Type string `json:"type"`
	// Explanation says what happened in terms of the ops involved.
	Explanation string `json:"explanation"`
	// Ops are the history indexes of the ops involved.
	Ops []int64 `json:"ops,omitempty"`
	// Key is the key concerned, if any.
	Key string `json:"key,omitempty"`
	// Summary says the anomaly in one line of at most about 160
	// characters, for a report's headline: e.g. "key 10: read 214 at
	// 10.4 s after write 220 completed at 10.2 s".
	Summary string `json:"summary,omitempty"`
	// Time is when the first op of the anomaly happened, in ns since the
	// history began (history.Op.Time); HasTime says it is known (a
	// time-less imported history has none).
	Time    int64 `json:"time,omitempty"`
	HasTime bool  `json:"has_time,omitempty"`
	// Cycle is the dependency cycle of a transactional anomaly (G0, G1c,
	// G-single, G2, ...), one edge per step, the last edge returning to
	// the first edge's From; empty for other anomalies.
	Cycle []CycleEdge `json:"cycle,omitempty"`
}

// CycleEdge is one dependency in an anomaly cycle: transaction From must
// precede transaction To because of Kind.
type CycleEdge struct {
	// From and To are the history indexes of the transactions' completions.
	From int64 `json:"from"`
	To   int64 `json:"to"`
	// Kind is the dependency as Elle names it: ww, wr, rw, process or
	// realtime.
	Kind string `json:"kind"`
	// Key is the key the dependency is about (empty for process and
	// realtime edges).
	Key string `json:"key,omitempty"`
	// Why says it in words, e.g. "T2 appended 5 after T1's 4".
	Why string `json:"why,omitempty"`
}

// Result is one checker's verdict on a history.
type Result struct {
	// Checker names the checker that produced the result.
	Checker string `json:"checker"`
	// Valid is the verdict.
	Valid Verdict `json:"valid"`
	// Explanation summarises the verdict in words; always set when Invalid
	// or Unknown.
	Explanation string `json:"explanation,omitempty"`
	// Anomalies lists what was found wrong (empty when Valid).
	Anomalies []Anomaly `json:"anomalies,omitempty"`
	// Ruled out lists the consistency models the anomalies rule out
	// (list-append: strict-serializable, serializable, snapshot-isolation,
	// read-committed, ...).
	RuledOut []string `json:"ruled_out,omitempty"`
	// Error is set when the verdict is Unknown because the checker failed
	// (timeout, panic, bad input).
	Error string `json:"error,omitempty"`
	// Details holds checker-specific figures (counts, quantiles, rates) for
	// reports; it must marshal to JSON.
	Details map[string]any `json:"details,omitempty"`
	// Artifacts are files written next to results.json (relative names),
	// e.g. the porcupine visualisation of a failing key.
	Artifacts []string `json:"artifacts,omitempty"`
	// Input says how much of a history read from a file the verdict rests
	// on: ops read, dropped and refused, and why (see CheckFile).
	Input *history.ReadStats `json:"input,omitempty"`
}

// Checker decides a property of a history. Check must honour ctx: when it
// is done, the checker returns an Unknown result promptly, never hangs.
type Checker interface {
	Name() string
	Check(ctx context.Context, ops []history.Op) Result
}

// Results is the content of results.json: the overall verdict and one
// entry per checker.
type Results struct {
	Valid    Verdict  `json:"valid"`
	Checkers []Result `json:"checkers"`
}

// Compose returns the overall verdict of rs.
func Compose(rs []Result) Results {
	out := Results{Valid: Valid, Checkers: rs}
	for _, r := range rs {
		out.Valid = Merge(out.Valid, r.Valid)
	}
	return out
}

// MarshalIndent renders r as indented JSON.
func (r Results) MarshalIndent() ([]byte, error) { return json.MarshalIndent(r, "", "  ") }
