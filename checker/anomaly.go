package checker

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/faultline/faultline/history"
)

// DefaultMaxReported is how many anomalies of each type a result carries
// in full by default; all of them are counted.
const DefaultMaxReported = 10

// found collects a checker's anomalies: every one counted by type, the
// first max of each type kept in full, so that results stay small however
// broken a history is.
type found struct {
	max    int
	kept   map[string][]Anomaly
	counts map[string]int
}

func newFound(max int) *found {
	if max <= 0 {
		max = DefaultMaxReported
	}
	return &found{max: max, kept: map[string][]Anomaly{}, counts: map[string]int{}}
}

// add counts an anomaly of type typ and keeps it if there is room; it
// reports whether it was kept (so that callers can skip building costly
// detail for the rest).
func (f *found) add(typ string, a Anomaly) bool {
	f.counts[typ]++
	if len(f.kept[typ]) >= f.max {
		return false
	}
	a.Type = typ
	a.Summary = clip(a.Summary)
	f.kept[typ] = append(f.kept[typ], a)
	return true
}

// full reports whether no more anomalies of type typ would be kept.
func (f *found) full(typ string) bool { return len(f.kept[typ]) >= f.max }

// types returns the types found, sorted.
func (f *found) types() []string {
	out := make([]string, 0, len(f.counts))
	for t := range f.counts {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// list returns the kept anomalies, by type, and a summary such as
// "2 lost, 1 unexpected".
func (f *found) list() ([]Anomaly, string) {
	var out []Anomaly
	var parts []string
	for _, t := range f.types() {
		out = append(out, f.kept[t]...)
		parts = append(parts, fmt.Sprintf("%d %s", f.counts[t], t))
	}
	return out, strings.Join(parts, ", ")
}

// invalid fills r as an Invalid result from the anomalies found: the
// first anomaly's explanation leads, then the counts.
func (f *found) invalid(r *Result) {
	list, summary := f.list()
	r.Valid = Invalid
	r.Anomalies = list
	r.Explanation = fmt.Sprintf("found %s; first: %s", summary, list[0].Explanation)
	if r.Details == nil {
		r.Details = map[string]any{}
	}
	r.Details["anomaly_counts"] = f.counts
}

// summaryLen is the most a Summary may hold.
const summaryLen = 160

// clip shortens s to summaryLen characters, ending it with an ellipsis.
func clip(s string) string {
	if utf8.RuneCountInString(s) <= summaryLen {
		return s
	}
	r := []rune(s)
	return string(r[:summaryLen-1]) + "…"
}

// clock renders times in anomaly summaries, when the history has them
// and they can be trusted (see clockOf).
type clock struct{ timed bool }

// clockOf is the clock of a whole history: it gives times when the
// history has them and they run with its order. Checkers order ops by
// position, as Knossos does; where times run against it, a time given in
// an explanation could contradict the order the explanation claims.
func clockOf(ops []history.Op) clock {
	var order history.TimeOrder
	timed := false
	for i := range ops {
		order.Add(ops[i])
		timed = timed || ops[i].Time != 0
	}
	return clock{timed: timed && !order.Backwards()}
}

// at says when an op happened: " at 10.4 s", or "" in a history without
// times (summaries name ops by index anyway).
func (c clock) at(t int64) string {
	if !c.timed {
		return ""
	}
	return " at " + seconds(t)
}

// seconds renders ns since the start of a history: "10.4 s", "12 ms".
func seconds(ns int64) string {
	switch {
	case ns == 0:
		return "0 s"
	case ns >= 10e9:
		return fmt.Sprintf("%.1f s", float64(ns)/1e9)
	case ns >= 1e9:
		return fmt.Sprintf("%.2f s", float64(ns)/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.0f ms", float64(ns)/1e6)
	}
	return fmt.Sprintf("%.3f ms", float64(ns)/1e6)
}

// stamp sets a's time to t when the history has times.
func (c clock) stamp(a *Anomaly, t int64) {
	if c.timed {
		a.Time, a.HasTime = t, true
	}
}
