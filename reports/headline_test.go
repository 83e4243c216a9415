package reports

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/faultline/faultline/checker"
)

func TestHeadline(t *testing.T) {
	sec := int64(1e9)
	long := strings.Repeat("T1 appended 3 to key 5 and T2 read it back twice, ", 12)
	cases := []struct {
		name string
		r    checker.Result
		want string // the whole line
	}{
		{"the earliest anomaly with a time, its summary and the others counted",
			checker.Result{Checker: "linearizable", Valid: checker.Invalid, Explanation: "2 of 9 keys are not linearizable",
				Anomalies: []checker.Anomaly{
					{Type: "nonlinearizable", Key: "4", Summary: "key 4: read 1 at 12.0 s after write 2 completed", Time: 12 * sec, HasTime: true},
					{Type: "nonlinearizable", Key: "10", Summary: "key 10: read 214 at 10.4 s after write 220 completed at 10.2 s", Time: 10*sec + 4e8, HasTime: true},
					{Type: "nonlinearizable", Key: "11", Summary: "key 11: no time"},
				}},
			"linearizable: nonlinearizable: key 10: read 214 at 10.4 s after write 220 completed at 10.2 s +2 more"}, // the summary says the time: not repeated
		{"a summary naming its type is not prefixed",
			checker.Result{Checker: "list-append", Valid: checker.Invalid,
				Anomalies: []checker.Anomaly{{Type: "G-single", Summary: "G-single: T1 -ww-> T2 -rw-> T1 on key 5", Time: 2 * sec, HasTime: true}}},
			"list-append: G-single: T1 -ww-> T2 -rw-> T1 on key 5 (at 2.00 s)"},
		{"no summary: the first line of the explanation",
			checker.Result{Checker: "set", Valid: checker.Invalid,
				Anomalies: []checker.Anomaly{{Type: "lost", Explanation: "3 elements acknowledged\n  but never read: 4, 7, 9"}}},
			"set: lost: 3 elements acknowledged"},
		{"no anomalies: the result's explanation",
			checker.Result{Checker: "bank", Valid: checker.Invalid, Explanation: "total 90 != 100\nmore"},
			"bank: total 90 != 100"},
		{"unknown: the reason and the error",
			checker.Result{Checker: "linearizable", Valid: checker.Unknown, Explanation: "3 of 9 keys undecided", Error: "time limit reached"},
			"linearizable: 3 of 9 keys undecided; error: time limit reached"},
		{"valid",
			checker.Result{Checker: "stats", Valid: checker.Valid},
			"stats: no anomalies"},
		{"invalid without words",
			checker.Result{Checker: "x", Valid: checker.Invalid},
			"x: invalid (the checker gave no explanation)"},
	}
	for _, c := range cases {
		h := makeHeadline(c.r, func(i int) string { return anomalyID(0, i) })
		if got := h.Line(); got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
	h := makeHeadline(checker.Result{Checker: "list-append", Valid: checker.Invalid,
		Anomalies: []checker.Anomaly{{Type: "G2", Summary: long, Time: 3 * sec, HasTime: true}, {Type: "G0"}}}, func(int) string { return "a" })
	line := "INVALID " + h.Line() // as it reads, with the badge
	if n := utf8.RuneCountInString(line); n > MaxHeadline || n < MaxHeadline-20 {
		t.Errorf("long headline: %d characters, want at most %d (and not much less): %q", n, MaxHeadline, line)
	}
	if !strings.Contains(h.Text, "…") || !strings.HasSuffix(line, "(at 3.00 s) +1 more") || !strings.HasPrefix(line, "INVALID list-append: G2: T1 appended") {
		t.Errorf("long headline cut wrongly: %q", line)
	}
}

func TestHeadlinesOrder(t *testing.T) {
	rs := []checker.Result{
		{Checker: "stats", Valid: checker.Valid},
		{Checker: "availability", Valid: checker.Unknown, Explanation: "no data"},
		{Checker: "set", Valid: checker.Invalid, Anomalies: []checker.Anomaly{{Type: "lost", Summary: "4 lost"}}},
		{Checker: "perf", Valid: checker.Valid},
	}
	var got []string
	for _, h := range headlines(rs, anomalyID) {
		got = append(got, h.Checker)
	}
	if strings.Join(got, " ") != "set availability stats perf" {
		t.Errorf("order %v, want invalid, unknown, then valid", got)
	}
	if hs := headlines(rs, anomalyID); hs[0].Anchor != "anomaly-2-0" {
		t.Errorf("anchor %q, want the set checker's first anomaly", hs[0].Anchor)
	}
}

func TestFirstDetection(t *testing.T) {
	rs := []checker.Result{
		{Checker: "availability", Valid: checker.Unknown, Anomalies: []checker.Anomaly{{Type: "x", Time: 1, HasTime: true}}}, // not a detection
		{Checker: "a", Valid: checker.Invalid, Anomalies: []checker.Anomaly{{Type: "x", Time: 50, HasTime: true}, {Type: "y", Summary: "no time"}}},
		{Checker: "b", Valid: checker.Invalid, Anomalies: []checker.Anomaly{{Type: "G0"}, {Type: "G1c", Summary: "early", Time: 20, HasTime: true}}},
	}
	d, ok := firstDetection(rs, anomalyID)
	if !ok || d.Time != 20 || d.Checker != "b" || d.Anchor != "anomaly-2-1" || d.Text != "G1c: early" {
		t.Errorf("firstDetection = %+v %v", d, ok)
	}
	if _, ok := firstDetection(rs[:1], anomalyID); ok {
		t.Error("an undecided checker's anomaly counted as a detection")
	}
}

func TestShorten(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"one two three four five", 16, "one two three…"},
		{"one two three four five", 12, "one two thr…"}, // no space near the cut
		{"ünïcödé ünïcödé ünïcödé", 10, "ünïcödé…"},
		{"abcdefghijklmnopqrstuvwxyz", 10, "abcdefghi…"},
	} {
		if got := shorten(c.in, c.n); got != c.want || utf8.RuneCountInString(got) > c.n {
			t.Errorf("shorten(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
