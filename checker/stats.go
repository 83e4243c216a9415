package checker

import (
	"context"
	"fmt"
	"sort"

	"github.com/faultline/faultline/history"
)

// Stats counts client ops by function and outcome. A history in which no
// client op succeeded is invalid.
type Stats struct{}

// NewStats returns the stats checker.
func NewStats() Stats { return Stats{} }

// Name implements Checker.
func (Stats) Name() string { return "stats" }

// FCounts are the completions of one function.
type FCounts struct {
	Count int `json:"count"`
	OK    int `json:"ok"`
	Fail  int `json:"fail"`
	Info  int `json:"info"`
}

// Check implements Checker.
func (s Stats) Check(ctx context.Context, ops []history.Op) Result {
	byF := map[string]*FCounts{}
	var total FCounts
	var first []int64 // the first completions, for an anomaly
	firstTime := int64(-1)
	for i, o := range ops {
		if i&0xffff == 0 && ctx.Err() != nil {
			return ctxUnknown(ctx, s.Name())
		}
		if o.Process == history.NemesisProcess || o.Type == history.Invoke {
			continue
		}
		c := byF[o.F]
		if c == nil {
			c = &FCounts{}
			byF[o.F] = c
		}
		if len(first) < DefaultMaxReported {
			first = append(first, o.Index)
			if firstTime < 0 {
				firstTime = o.Time
			}
		}
		for _, x := range []*FCounts{c, &total} {
			x.Count++
			switch o.Type {
			case history.OK:
				x.OK++
			case history.Fail:
				x.Fail++
			case history.Info:
				x.Info++
			}
		}
	}
	// Invocations never completed count as info.
	for _, p := range clientPairs(ops) {
		if p.Open {
			c := byF[p.Invoke.F]
			if c == nil {
				c = &FCounts{}
				byF[p.Invoke.F] = c
			}
			c.Count++
			c.Info++
			total.Count++
			total.Info++
		}
	}
	fs := make([]string, 0, len(byF))
	details := map[string]any{}
	for f, c := range byF {
		fs = append(fs, f)
		details[f] = *c
	}
	sort.Strings(fs)
	res := Result{Checker: s.Name(), Valid: Valid, Details: map[string]any{"total": total, "by_f": details}}
	var never []string
	for _, f := range fs {
		if byF[f].OK == 0 {
			never = append(never, f)
		}
	}
	if len(never) > 0 {
		res.Details["never_ok"] = never
	}
	if total.OK == 0 {
		res.Valid = Invalid
		res.Explanation = fmt.Sprintf("no client operation succeeded: %d ops completed (%d fail, %d info)", total.Count, total.Fail, total.Info)
		a := Anomaly{Type: "no-ok-ops", Explanation: res.Explanation, Ops: first,
			Summary: fmt.Sprintf("no client op succeeded: %d completed, %d failed, %d info", total.Count, total.Fail, total.Info)}
		clock{history.HasTimes(ops)}.stamp(&a, max(firstTime, 0))
		res.Anomalies = []Anomaly{a}
	}
	return res
}
