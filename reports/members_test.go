package reports

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/nemesis"
)

// membershipHistory: n2 leaves, joins again as n2.2; a replace of n3 that
// the member list did not confirm; clients read in between.
func membershipHistory() []history.Op {
	ms := func(d int) int64 { return int64(d) * int64(time.Millisecond) }
	nem := func(typ history.Type, t int, f string, v any, err string) history.Op {
		return history.Op{Type: typ, Time: ms(t), Process: history.NemesisProcess, F: f, Value: v, Error: err}
	}
	ops := []history.Op{
		{Type: history.Invoke, Time: ms(0), Process: 0, F: "read", Value: []any{"k", nil}},
		{Type: history.OK, Time: ms(5), Process: 0, F: "read", Value: []any{"k", nil}},
		nem(history.Invoke, 100, nemesis.FLeave, map[string]any{"mode": "leave"}, ""),
		nem(history.OK, 2300, nemesis.FLeave, map[string]any{"mode": "leave", "node": "n2", "nodes": []any{"n2"}, "removed": "n2",
			"members": []any{"n1", "n3"}}, ""),
		nem(history.Invoke, 5300, nemesis.FJoin, nil, ""),
		nem(history.OK, 8000, nemesis.FJoin, map[string]any{"nodes": []any{"n2"}, "joined": map[string]any{"n2": "n2.2"},
			"members": []any{"n1", "n3", "n2.2"}}, ""),
		nem(history.Invoke, 11000, nemesis.FReplace, map[string]any{"mode": "replace"}, ""),
		nem(history.Info, 12000, nemesis.FReplace, map[string]any{"mode": "replace", "node": "n3"}, "member remove n3: unhealthy cluster"),
		{Type: history.Invoke, Time: ms(12100), Process: 0, F: "read", Value: []any{"k", nil}},
		{Type: history.OK, Time: ms(12105), Process: 0, F: "read", Value: []any{"k", nil}},
	}
	for i := range ops {
		ops[i].Index = int64(i)
	}
	return ops
}

// The report lists the members over time, each change with the member
// list read back, an unconfirmed change marked; the membership fault has
// its lane, per node.
func TestReportMembership(t *testing.T) {
	ops := membershipHistory()
	a := digest(ops)
	if len(a.Members) != 3 || a.Members[1].Change != "n2 joined as n2.2" || strings.Join(a.Members[1].Members, ",") != "n1,n3,n2.2" ||
		a.Members[0].Change != "n2: member n2 removed" || a.Members[2].OK {
		t.Fatalf("member changes %+v", a.Members)
	}
	if len(a.Intervals) == 0 || a.Intervals[0].Kind != nemesis.FaultMembership || strings.Join(a.Intervals[0].Nodes, ",") != "n2" {
		t.Fatalf("intervals %+v: want n2's membership interval first", a.Intervals)
	}
	dir := t.TempDir()
	if _, err := WriteRun(dir, RunInfo{Name: "membership", Nemeses: []string{"membership"}}, ops, checker.Results{Valid: checker.Valid}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, want := range []string{`<section id="membership">`, `<a href="#membership">`, "<td>n2: member n2 removed</td><td>n1, n3</td>",
		"<td>n2 joined as n2.2</td><td>n1, n3, n2.2</td>", `class="member-change failed"`, "unhealthy cluster"} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// Without membership changes, no such section.
	if _, err := WriteRun(dir, RunInfo{Name: "none"}, ops[:2], checker.Results{Valid: checker.Valid}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "report.html")); strings.Contains(string(b), `id="membership"`) {
		t.Error("a report without membership changes has a membership section")
	}
}
