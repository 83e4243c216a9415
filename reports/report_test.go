package reports

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/runstore"
)

func writeGolden(t *testing.T, dir string, n int, res func([]history.Op) checker.Results) (string, []history.Op) {
	t.Helper()
	h := goldenHistory(n, 7)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteRun(dir, goldenInfo("register-partition-kill", time.Date(2026, 11, 21, 23, 0, 0, 0, time.UTC)), h, res(h)); err != nil {
		t.Fatalf("WriteRun: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b), h
}

func TestFaultIntervalsGolden(t *testing.T) {
	h := goldenHistory(500, 1)
	a := digest(h)
	if len(a.Intervals) != len(goldenIntervals) {
		t.Fatalf("got %d intervals %+v, want %d", len(a.Intervals), a.Intervals, len(goldenIntervals))
	}
	for i, want := range goldenIntervals {
		got := a.Intervals[i]
		end := want.end * int64(time.Millisecond)
		if want.end < 0 {
			end = a.End
		}
		if got.Kind != want.kind || got.Start != want.start*int64(time.Millisecond) || got.End != end {
			t.Errorf("interval %d: got %s %v [%d, %d], want %s %s [%d, %d]", i, got.Kind, got.Nodes, got.Start, got.End, want.kind, want.node, want.start*1e6, end)
		}
		if want.node != "" && (len(got.Nodes) != 1 || got.Nodes[0] != want.node) {
			t.Errorf("interval %d: nodes %v, want [%s]", i, got.Nodes, want.node)
		}
		if h[got.StartIndex].Time != got.Start || h[got.StartIndex].Type == history.Invoke {
			t.Errorf("interval %d: start index %d is not the start op's completion", i, got.StartIndex)
		}
		if got.EndIndex >= 0 && h[got.EndIndex].Time != got.End {
			t.Errorf("interval %d: end index %d does not match end time", i, got.EndIndex)
		}
	}
}

// TestFaultIntervalsNemesisValues uses the values the nemesis package
// records: clock deltas by node, the final heal's invocations with the
// value "all" and completions naming what was done.
func TestFaultIntervalsNemesisValues(t *testing.T) {
	ms := int64(time.Millisecond)
	var nem []history.Op
	add := func(at int64, f string, typ history.Type, inv, done any) {
		nem = append(nem,
			history.Op{Index: int64(len(nem)), Time: at * ms, Type: history.Invoke, Process: -1, F: f, Value: inv},
			history.Op{Index: int64(len(nem)) + 1, Time: (at + 1) * ms, Type: typ, Process: -1, F: f, Value: done})
	}
	add(1, "bump-clock", history.OK, map[string]any{"target": "minority"}, map[string]any{"target": "minority", "deltas_ms": map[string]any{"n1": 100, "n2": -200}, "offsets_ms": map[string]any{"n1": 100, "n2": -200}})
	add(3, "start-loss", history.OK, map[string]any{"percent": 20, "target": "one"}, map[string]any{"percent": 20, "nodes": []any{"n3"}})
	add(5, "reset-clock", history.OK, nil, map[string]any{"offsets_ms": map[string]any{"n1": 0, "n2": 0, "n3": 0}})
	add(7, "kill", history.OK, map[string]any{"target": "majority"}, nil) // nodes unknown
	add(9, "pause", history.OK, nil, map[string]any{"target": "one", "nodes": []any{"n2"}})
	add(11, "strobe-clock", history.Info, nil, map[string]any{"target": "one", "nodes": []any{"n3"}})
	// final heal
	add(13, "resume", history.OK, "all", map[string]any{"nodes": []any{"n2"}})
	add(15, "start", history.OK, "all", map[string]any{"nodes": []any{}})
	add(17, "stop-partition", history.OK, "all", map[string]any{"healed": []any{"n1", "n2", "n3"}})
	add(19, "stop-loss", history.OK, "all", map[string]any{"healed": []any{"n1", "n2", "n3"}})
	add(21, "reset-clock", history.OK, "all", map[string]any{"offsets_ms": map[string]any{"n1": 0, "n2": 0, "n3": 0}})
	got := faultIntervals(nem, 30*ms)
	want := []string{"clock [n1] 2-6", "clock [n2] 2-6", "loss [n3] 4-20", "kill [] 8-16", "pause [n2] 10-14", "clock [n3] 12-22"}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %v", got, want)
	}
	for i, iv := range got {
		s := fmt.Sprintf("%s %v %d-%d", iv.Kind, iv.Nodes, iv.Start/ms, iv.End/ms)
		if s != want[i] {
			t.Errorf("interval %d: got %s, want %s", i, s, want[i])
		}
	}
}

var (
	faultGroupRe = regexp.MustCompile(`<g class="fault" data-kind="([a-z]+)" data-start="(\d+)" data-end="(\d+)">`)
	svgRe        = regexp.MustCompile(`<svg class="plot" id="([a-z-]+)"[^>]*data-series="(\d+)" data-faults="(\d+)" data-marks="(\d+)">`)
)

func TestWriteRunInvalid(t *testing.T) {
	dir := t.TempDir()
	html, h := writeGolden(t, dir, 2000, invalidResults)
	a := digest(h)

	for _, id := range []string{`id="summary"`, `id="checkers"`, `id="anomalies"`, `id="plots"`, `id="faults"`, `id="availability"`, `id="stats"`, `id="details"`, `id="logs"`} {
		if !strings.Contains(html, id) {
			t.Errorf("report lacks section %s", id)
		}
	}
	// verdicts
	if !strings.Contains(html, `<span class="verdict invalid" id="verdict" data-verdict="false">INVALID</span>`) {
		t.Error("overall verdict is not shown as INVALID")
	}
	for _, r := range invalidResults(h).Checkers {
		row := fmt.Sprintf(`<li class="checker %s" data-checker="%s" data-verdict="%s">`, verdictClass(r.Valid), r.Checker, r.Valid)
		if !strings.Contains(html, row) {
			t.Errorf("missing checker row %s", row)
		}
	}
	// header
	for _, s := range []string{"faultline run --workload register --nemesis partition,kill,pause --time-limit 10s --seed 42", "<code>42</code>", "read-mode", "linearizable"} {
		if !strings.Contains(html, s) {
			t.Errorf("header lacks %q", s)
		}
	}
	// anomalies: ops rendered from the history, with their invocations, escaped text
	res := invalidResults(h)
	for _, idx := range res.Checkers[0].Anomalies[0].Ops[:2] {
		if !strings.Contains(html, fmt.Sprintf(`<tr class="op" data-index="%d">`, idx)) {
			t.Errorf("anomaly op %d not rendered", idx)
		}
	}
	if strings.Count(html, `<tr class="partner"`) < 2 {
		t.Error("invocations of anomaly ops not rendered")
	}
	if !strings.Contains(html, "not in the history") {
		t.Error("missing op not reported")
	}
	if strings.Contains(html, "<script>alert") {
		t.Error("anomaly explanation not escaped")
	}
	for _, art := range []string{"linear-key-1.html", "linear-key-3.html"} {
		if !strings.Contains(html, `<a class="artifact" href="`+art+`">`) {
			t.Errorf("artifact %s not linked", art)
		}
	}
	if !strings.Contains(html, "visualisations of 2 of 2 failing keys (the checker draws at most 10)") {
		t.Error("the visualisations' cover and cap are not stated")
	}
	for _, l := range []string{"logs/n1.log", "logs/n2.log", "logs/n3.log"} {
		if !strings.Contains(html, `<a class="log" href="`+l+`">`) {
			t.Errorf("node log %s not linked", l)
		}
	}
	// details rendered generically, availability section gets its checker
	for _, s := range []string{"<th>time_to_recover_ms</th><td>412.5</td>", "<th>by_f</th>", "<th>f</th><th>fail</th><th>ok</th>"} {
		if !strings.Contains(html, s) {
			t.Errorf("details lack %q", s)
		}
	}
	if !strings.Contains(html, "<h3>availability checker</h3>") {
		t.Error("availability checker details not shown in availability section")
	}

	// plots: three SVGs, series as drawn, each shading exactly the golden intervals
	svgs := svgRe.FindAllStringSubmatch(html, -1)
	if len(svgs) != 3 {
		t.Fatalf("found %d plots, want 3", len(svgs))
	}
	wantSeries := map[string]int{"plot-latency": scatterSeries(a), "plot-quantiles": 3, "plot-throughput": 3}
	parts := strings.Split(html, `<svg class="plot"`)[1:]
	figures := strings.Split(html, `<figure id=`)[1:]
	wantMarks := map[string]string{"plot-latency": "3", "plot-quantiles": "0", "plot-throughput": "3"}
	for i, m := range svgs {
		if m[4] != wantMarks[m[1]] {
			t.Errorf("%s: %s anomaly marks, want %s", m[1], m[4], wantMarks[m[1]])
		}
		if n, _ := strconv.Atoi(m[2]); n != wantSeries[m[1]] {
			t.Errorf("%s: data-series %d, want %d", m[1], n, wantSeries[m[1]])
		}
		part := parts[i][:strings.Index(parts[i], "</svg>")]
		if n := strings.Count(part, `<g class="series"`); n != wantSeries[m[1]] {
			t.Errorf("%s: %d series groups, want %d", m[1], n, wantSeries[m[1]])
		}
		shades := faultGroupRe.FindAllStringSubmatch(part, -1)
		if len(shades) != len(goldenIntervals) {
			t.Fatalf("%s: %d shaded intervals, want %d", m[1], len(shades), len(goldenIntervals))
		}
		for j, s := range shades {
			w := goldenIntervals[j]
			end := w.end * int64(time.Millisecond)
			if w.end < 0 {
				end = a.End
			}
			if s[1] != w.kind || s[2] != fmt.Sprint(w.start*int64(time.Millisecond)) || s[3] != fmt.Sprint(end) {
				t.Errorf("%s: shading %d = %s [%s, %s], want %s [%d, %d]", m[1], j, s[1], s[2], s[3], w.kind, w.start*1e6, end)
			}
		}
		if n := strings.Count(part, `<g class="anomaly-mark" data-time="`); fmt.Sprint(n) != wantMarks[m[1]] {
			t.Errorf("%s: %d anomaly mark groups, want %s", m[1], n, wantMarks[m[1]])
		}
		fig := figures[i][:strings.Index(figures[i], "</figure>")]
		for _, kind := range []string{"partition", "kill", "pause"} {
			if !strings.Contains(fig, `<li class="fault">`) || !strings.Contains(fig, "fault: "+kind+"</li>") {
				t.Errorf("%s: legend lacks fault kind %s", m[1], kind)
			}
		}
		if n := strings.Count(fig, `<li class="series">`); n != wantSeries[m[1]] {
			t.Errorf("%s: %d series in the legend, want %d", m[1], n, wantSeries[m[1]])
		}
	}
	if n := strings.Count(html, `<tr class="interval"`); n != len(goldenIntervals) {
		t.Errorf("interval table has %d rows, want %d", n, len(goldenIntervals))
	}
	if strings.Contains(html, `class="downsampled"`) {
		t.Error("2000-op report should not be downsampled")
	}

	// summary.json
	s, err := ReadSummary(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Valid != checker.Invalid || len(s.Checkers) != 4 || s.Ops != 2000 || s.OK != a.Counts["ok"] || s.Faults != len(goldenIntervals) {
		t.Errorf("summary = %+v", s)
	}
	if s.P99Ms <= 0 || s.OpsPerSec <= 0 || s.P99Ms < s.P50Ms {
		t.Errorf("summary figures: p50 %v p99 %v ops/s %v", s.P50Ms, s.P99Ms, s.OpsPerSec)
	}
	if s.Info.Seed != 42 || s.Info.Rerun == "" {
		t.Errorf("summary info = %+v", s.Info)
	}
	if !strings.HasPrefix(s.Headline, "linearizable: nonlinearizable: "+goldenSummary) {
		t.Errorf("summary headline = %q", s.Headline)
	}
}

// scatterSeries counts the (type, f) combinations of completed client ops.
func scatterSeries(a analysis) int {
	seen := map[string]bool{}
	for _, p := range a.Points {
		seen[p.Type.String()+p.F] = true
	}
	return len(seen)
}

func TestWriteRunValid(t *testing.T) {
	html, _ := writeGolden(t, t.TempDir(), 300, func([]history.Op) checker.Results { return validResults() })
	if !strings.Contains(html, `<span class="verdict valid" id="verdict" data-verdict="true">VALID</span>`) {
		t.Error("overall verdict is not shown as VALID")
	}
	if strings.Contains(html, `id="anomalies"`) || strings.Contains(html, `id="detection"`) {
		t.Error("valid run has an anomalies section or a time to detection")
	}
	untimed := func(h []history.Op) checker.Results {
		return checker.Compose([]checker.Result{{Checker: "set", Valid: checker.Invalid, Anomalies: []checker.Anomaly{{Type: "lost", Explanation: "4 lost"}}}})
	}
	if html, _ := writeGolden(t, t.TempDir(), 300, untimed); !strings.Contains(html, "Time to detection: not known") {
		t.Error("an invalid run without anomaly times does not say its time to detection is unknown")
	}
}

func TestWriteRunEmpty(t *testing.T) {
	dir := t.TempDir()
	if _, err := WriteRun(dir, RunInfo{Name: "empty"}, nil, checker.Results{}); err != nil {
		t.Fatalf("WriteRun on an empty history: %v", err)
	}
	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), "UNKNOWN") {
		t.Error("empty results should show UNKNOWN")
	}
}

var (
	attrURLRe = regexp.MustCompile(`(?i)\b(src|href|xlink:href|action|srcset|poster)\s*=\s*["']?([^"'\s>]*)`)
	cssURLRe  = regexp.MustCompile(`(?i)url\(\s*['"]?([^'")]*)`)
	importRe  = regexp.MustCompile(`(?i)@import|<script[^>]*\ssrc|<iframe|<object|<embed|<img`)
)

// externalRefs lists every reference in an HTML page that is not relative
// or a data: URL.
func externalRefs(page string) []string {
	var bad []string
	for _, s := range []string{"http://", "https://", "ftp://", "//cdn", "file:"} {
		if strings.Contains(strings.ToLower(page), s) {
			bad = append(bad, "contains "+s)
		}
	}
	ok := func(u string) bool {
		u = strings.ToLower(u)
		if strings.HasPrefix(u, "data:") || strings.HasPrefix(u, "#") {
			return true
		}
		return !strings.Contains(u, ":") && !strings.HasPrefix(u, "/")
	}
	for _, m := range attrURLRe.FindAllStringSubmatch(page, -1) {
		if !ok(m[2]) {
			bad = append(bad, m[0])
		}
	}
	for _, m := range cssURLRe.FindAllStringSubmatch(page, -1) {
		if !ok(m[1]) {
			bad = append(bad, m[0])
		}
	}
	for _, m := range importRe.FindAllString(page, -1) {
		bad = append(bad, m)
	}
	return bad
}

func TestNoExternalReferences(t *testing.T) {
	store := t.TempDir()
	dir := filepath.Join(store, "register", "20261121T230000Z")
	html, _ := writeGolden(t, dir, 2000, invalidResults)
	if bad := externalRefs(html); len(bad) > 0 {
		t.Errorf("report.html references external resources: %q", bad)
	}
	if err := WriteIndex(store); err != nil {
		t.Fatal(err)
	}
	idx, err := os.ReadFile(filepath.Join(store, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if bad := externalRefs(string(idx)); len(bad) > 0 {
		t.Errorf("index.html references external resources: %q", bad)
	}
	if bad := externalRefs(`<img src="https://cdn.example/x.png"><a href="/etc/passwd">`); len(bad) < 3 {
		t.Errorf("the scanner misses external references: %q", bad)
	}
}

func TestDetailsRendering(t *testing.T) {
	type custom struct {
		A int     `json:"a"`
		B float64 `json:"b"`
	}
	got := string(renderValue(map[string]any{"x": custom{1, 2.5}, "<k>": "<v>", "l": []int{1, 2}}, 0))
	for _, s := range []string{"<th>&lt;k&gt;</th><td>&lt;v&gt;</td>", "<th>a</th><td>1</td>", "<th>b</th><td>2.5</td>", "<code>[1,2]</code>"} {
		if !strings.Contains(got, s) {
			t.Errorf("renderValue: %q lacks %q", got, s)
		}
	}
}

func TestSummaryJSON(t *testing.T) {
	dir := t.TempDir()
	writeGolden(t, dir, 300, invalidResults)
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"valid", "ops_per_sec", "p99_ms", "ops", "ok", "fail", "info_ops", "checkers", "info", "report"} {
		if _, ok := m[k]; !ok {
			t.Errorf("summary.json lacks %q", k)
		}
	}
	if m["valid"] != false {
		t.Errorf("summary valid = %v", m["valid"])
	}
}

func TestDownsampleKeepsRareFailures(t *testing.T) {
	var pts []latencyPoint
	for i := range 20000 {
		typ := history.OK
		if i%1000 == 7 {
			typ = history.Info
		}
		pts = append(pts, latencyPoint{Invoke: int64(i), Lat: int64(i % 97), Type: typ, F: "read"})
	}
	pts[12345].Lat = 1e9 // a spike among ok ops
	kept, note := downsample(pts, 1000)
	if len(kept) > 1000 {
		t.Fatalf("kept %d points, budget 1000", len(kept))
	}
	infos, spike := 0, false
	for i, p := range kept {
		if p.Type == history.Info {
			infos++
		}
		spike = spike || p.Lat == 1e9
		if i > 0 && kept[i-1].Invoke > p.Invoke {
			t.Fatal("downsampled points out of time order")
		}
	}
	if infos != 20 || !spike {
		t.Errorf("kept %d of 20 info ops, spike kept: %v", infos, spike)
	}
	if !strings.Contains(note, "all 20 fail/info ops") {
		t.Errorf("note %q", note)
	}
}

// TestLateStart: a history whose first op comes long after its clock
// started (the cluster was starting) is plotted from its first second.
func TestLateStart(t *testing.T) {
	h := goldenHistory(500, 1)
	late := int64(20 * time.Second)
	for i := range h {
		h[i].Time += late
	}
	a := digest(h)
	if a.Origin != late || a.Windows[0].Start != late || a.Window != windowWidth(a.End-late) {
		t.Errorf("origin %d, first window %d, width %d; want the plots to start at %d", a.Origin, a.Windows[0].Start, a.Window, late)
	}
	n := 0
	for _, w := range a.Windows {
		n += w.N
	}
	if n != len(a.Points) {
		t.Errorf("windows hold %d ops, want %d", n, len(a.Points))
	}
	if b := digest(goldenHistory(500, 1)); b.Origin != 0 {
		t.Errorf("a history starting at once has origin %d", b.Origin)
	}
}

// TestShrinkLinks: a run's shrink.json links the original run's report to
// its minimal reproducer and a replay's report back to the original.
func TestShrinkLinks(t *testing.T) {
	store := t.TempDir()
	orig, replay := filepath.Join(store, "t", "a"), filepath.Join(store, "t-shrink", "b")
	sum := map[string]any{"original": orig, "schedule": orig + "/shrink/schedule.json", "rerun": "faultline run --schedule=x",
		"faults": []string{"kill:one [n2] at 1s-3s"}, "faults_before": 14, "reproduced": 9, "reproductions": 10,
		"search": map[string]any{"best": map[string]any{"time_limit": int64(8 * time.Second), "workers": 3}}}
	for _, dir := range []string{orig, replay} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := runstore.WriteJSON(filepath.Join(dir, runstore.ShrinkJSON), sum); err != nil {
			t.Fatal(err)
		}
	}
	valid := func([]history.Op) checker.Results { return validResults() }
	html, _ := writeGolden(t, orig, 300, valid)
	for _, want := range []string{"14 faults shrunk to 1, reproduced in 9 of 10 runs", "<code>kill:one [n2] at 1s-3s</code>", "time limit 8s, 3 workers"} {
		if !strings.Contains(html, want) {
			t.Errorf("the original's report does not say %q", want)
		}
	}
	html, _ = writeGolden(t, replay, 300, valid)
	if !strings.Contains(html, `replays the minimal reproducer of <a href="../../t/a/report.html">`) {
		t.Error("the replay's report does not link to the original's")
	}
}
