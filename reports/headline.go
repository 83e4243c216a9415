package reports

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/faultline/faultline/checker"
)

// MaxHeadline is the most characters one headline line may take: the
// checker's name, its verdict, the anomaly in words and its time.
const MaxHeadline = 200

// headline is one checker's line at the top of report.html.
type headline struct {
	Checker string
	Valid   checker.Verdict
	// Text says what the checker found: the most telling anomaly in words,
	// or the explanation's first sentence.
	Text string
	// At is the time of the anomaly Text tells ("" when unknown).
	At string
	// Anchor is the id of the anomaly's section in the report ("" when
	// there is none).
	Anchor string
	// More counts the checker's other anomalies.
	More int
}

// Line returns the headline as plain text, as it reads on the page but for
// the verdict's badge: "linearizable: key 10: read 214 ... (at 10.4 s)".
func (h headline) Line() string {
	s := h.Checker + ": " + h.Text
	if h.At != "" {
		s += " (at " + h.At + ")"
	}
	if h.More > 0 {
		s += fmt.Sprintf(" +%d more", h.More)
	}
	return s
}

// tellingAnomaly picks the anomaly the headline tells: the earliest one
// with a time (what went wrong first), else the first the checker listed.
// It returns -1 when there is none.
func tellingAnomaly(as []checker.Anomaly) int {
	best := -1
	for i, a := range as {
		if a.HasTime && (best < 0 || !as[best].HasTime || a.Time < as[best].Time) {
			best = i
		}
	}
	if best < 0 && len(as) > 0 {
		best = 0
	}
	return best
}

// anomalySummary is an anomaly in one line: its Summary, or the first
// line of its Explanation; prefixed with its type unless the words name it.
func anomalySummary(a checker.Anomaly) string {
	s := oneLine(a.Summary)
	if s == "" {
		s = firstLine(a.Explanation)
	}
	if s == "" && a.Key != "" {
		s = "key " + a.Key
	}
	if a.Type != "" && !strings.Contains(strings.ToLower(s), strings.ToLower(a.Type)) {
		if s == "" {
			return a.Type
		}
		s = a.Type + ": " + s
	}
	return s
}

// makeHeadline builds the headline of one checker result; anchor(i) is the
// id of anomaly i's section.
func makeHeadline(r checker.Result, anchor func(int) string) headline {
	h := headline{Checker: r.Checker, Valid: r.Valid}
	switch r.Valid {
	case checker.Invalid:
		if i := tellingAnomaly(r.Anomalies); i >= 0 {
			a := r.Anomalies[i]
			h.Text = anomalySummary(a)
			if a.HasTime && !strings.Contains(h.Text, fmtAt(a.Time)) {
				h.At = fmtAt(a.Time) // unless the words say it already
			}
			h.Anchor = anchor(i)
			h.More = len(r.Anomalies) - 1
		} else {
			h.Text = firstLine(r.Explanation)
		}
		if h.Text == "" {
			h.Text = "invalid (the checker gave no explanation)"
		}
	case checker.Unknown:
		h.Text = firstLine(r.Explanation)
		if r.Error != "" && !strings.Contains(h.Text, firstLine(r.Error)) {
			if h.Text != "" {
				h.Text += "; "
			}
			h.Text += "error: " + firstLine(r.Error)
		}
		if h.Text == "" {
			h.Text = "could not decide (no reason given)"
		}
	default:
		h.Text = firstLine(r.Explanation)
		if h.Text == "" {
			h.Text = "no anomalies"
		}
	}
	// Fit the whole line, the verdict's badge included, into MaxHeadline:
	// what is not the text is fixed.
	rest := utf8.RuneCountInString(verdictText(h.Valid)+" "+h.Line()) - utf8.RuneCountInString(h.Text)
	h.Text = shorten(h.Text, max(MaxHeadline-rest, 20))
	return h
}

// headlines builds one line per checker, invalid ones first, then unknown,
// then valid, each group in the checkers' order.
func headlines(rs []checker.Result, anchor func(ci, ai int) string) []headline {
	out := make([]headline, 0, len(rs))
	for ci, r := range rs {
		out = append(out, makeHeadline(r, func(ai int) string { return anchor(ci, ai) }))
	}
	rank := map[checker.Verdict]int{checker.Invalid: 0, checker.Unknown: 1, checker.Valid: 2}
	sort.SliceStable(out, func(i, j int) bool { return rank[out[i].Valid] < rank[out[j].Valid] })
	return out
}

// detection is when the first anomalous op of a run happened.
type detection struct {
	Time    int64  // ns since the history began
	Checker string // the checker that found it
	Text    string // the anomaly in one line
	Anchor  string
}

// firstDetection returns the earliest anomaly with a time among the
// invalid results; false when no anomaly has one.
func firstDetection(rs []checker.Result, anchor func(ci, ai int) string) (detection, bool) {
	var d detection
	found := false
	for ci, r := range rs {
		if r.Valid != checker.Invalid {
			continue
		}
		for ai, a := range r.Anomalies {
			if a.HasTime && (!found || a.Time < d.Time) {
				d = detection{Time: a.Time, Checker: r.Checker, Text: anomalySummary(a), Anchor: anchor(ci, ai)}
				found = true
			}
		}
	}
	return d, found
}

// firstLine returns the first line of s, whitespace collapsed.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return oneLine(s)
}

// oneLine collapses runs of white space (newlines included) into one space.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// shorten cuts s to at most n runes, at a word boundary when one is near,
// and marks the cut with an ellipsis.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	rs := []rune(s)[:n-1]
	cut := len(rs)
	for i := len(rs) - 1; i > len(rs)*3/4; i-- {
		if rs[i] == ' ' {
			cut = i
			break
		}
	}
	return strings.TrimRight(string(rs[:cut]), " ,;:") + "…"
}

// fmtAt says a time since the history began, e.g. "10.4 s" or "0.25 s".
func fmtAt(ns int64) string {
	s := seconds(ns)
	if s >= 10 || s <= -10 {
		return fmt.Sprintf("%.1f s", s)
	}
	return fmt.Sprintf("%.2f s", s)
}
