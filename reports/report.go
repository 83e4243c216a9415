package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/runstore"
)

// RunInfo is what a report needs to know about a run besides its history
// and results. The root package fills it in (reports cannot import it).
type RunInfo struct {
	Name     string         `json:"name"`
	Workload string         `json:"workload"`
	Nemeses  []string       `json:"nemeses"`
	Seed     int64          `json:"seed"`
	Rerun    string         `json:"rerun"` // the command that reproduces the run
	Config   map[string]any `json:"config,omitempty"`
	Start    time.Time      `json:"start"`
	Duration time.Duration  `json:"duration"`
	Nodes    []string       `json:"nodes,omitempty"`
	// NodeLogs are file names relative to report.html, e.g. "logs/n1.log".
	NodeLogs []string `json:"node_logs,omitempty"`
	// System names the system under test, e.g. "kvnode" or "etcd".
	System string `json:"system,omitempty"`
	// Expect is the verdict a suite scenario expects: "valid" for a safe
	// configuration, "invalid" for a planted bug; empty outside a suite.
	Expect string `json:"expect,omitempty"`
	// Bug describes the planted bugs the run turns on, in the system's
	// words, with the flags that turn them on.
	Bug string `json:"bug,omitempty"`
	// History is how the history was read: a stored run re-checked after
	// its harness died may have had its torn last line dropped, which the
	// report says at the top.
	History history.ReadStats `json:"history,omitzero"`
	// StayedDown are the nodes that did not come back after the final
	// heal while a majority served (a node refusing its damaged disk).
	StayedDown []string `json:"stayed_down,omitempty"`
}

// CheckerVerdict is one checker's verdict in a Summary.
type CheckerVerdict struct {
	Checker string          `json:"checker"`
	Valid   checker.Verdict `json:"valid"`
}

// Summary is the content of summary.json: the figures store/index.html
// lists for a run, and the RunInfo the report was made from.
type Summary struct {
	Info      RunInfo          `json:"info"`
	Valid     checker.Verdict  `json:"valid"`
	Checkers  []CheckerVerdict `json:"checkers"`
	Ops       int              `json:"ops"` // client invocations
	OK        int              `json:"ok"`
	Fail      int              `json:"fail"`
	InfoOps   int              `json:"info_ops"`
	Open      int              `json:"open"` // invocations never completed
	Faults    int              `json:"faults"`
	OpsPerSec float64          `json:"ops_per_sec"` // ok client ops per second of history
	P50Ms     float64          `json:"p50_ms"`      // latency of ok client ops
	P95Ms     float64          `json:"p95_ms"`
	P99Ms     float64          `json:"p99_ms"`
	MaxMs     float64          `json:"max_ms"`
	Report    string           `json:"report"` // file name of the report, relative to summary.json
	// Headline is the report's first headline line when the run is not
	// valid: the checker, its verdict and the most telling anomaly.
	Headline string `json:"headline,omitempty"`
}

// ReadSummary reads dir/summary.json.
func ReadSummary(dir string) (Summary, error) {
	var s Summary
	if err := runstore.ReadJSON(filepath.Join(dir, runstore.SummaryJSON), &s); err != nil {
		return s, fmt.Errorf("reports: %w", err)
	}
	return s, nil
}

// WriteRun writes dir/report.html and dir/summary.json for one run (dir is
// created if needed) and returns the summary. The report is one
// self-contained file; artifacts and node logs are linked by names
// relative to dir. ReadSummary(dir).Info gives back info, so a report can
// be regenerated from a stored run.
func WriteRun(dir string, info RunInfo, ops []history.Op, res checker.Results) (Summary, error) {
	a := digest(ops)
	sum := summarize(info, a, res)
	page, err := buildPage(info, ops, res, &a)
	if err != nil {
		return sum, err
	}
	page.Shrink = readShrink(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return sum, fmt.Errorf("reports: %w", err)
	}
	var buf bytes.Buffer
	if err := reportTmpl.Execute(&buf, page); err != nil {
		return sum, fmt.Errorf("reports: rendering report: %w", err)
	}
	if err := runstore.WriteFile(filepath.Join(dir, runstore.ReportHTML), buf.Bytes()); err != nil {
		return sum, fmt.Errorf("reports: %w", err)
	}
	if err := runstore.WriteJSON(filepath.Join(dir, runstore.SummaryJSON), sum); err != nil {
		return sum, fmt.Errorf("reports: %w", err)
	}
	return sum, nil
}

func summarize(info RunInfo, a analysis, res checker.Results) Summary {
	s := Summary{
		Info: info, Valid: res.Valid,
		Ops: a.Invoked, OK: a.Counts["ok"], Fail: a.Counts["fail"], InfoOps: a.Counts["info"], Open: a.Counts["open"],
		Faults: len(a.Intervals), OpsPerSec: a.OKRate,
		P50Ms: millis(a.Quantiles.P50), P95Ms: millis(a.Quantiles.P95), P99Ms: millis(a.Quantiles.P99), MaxMs: millis(a.Quantiles.Max),
		Report: runstore.ReportHTML,
	}
	for _, r := range res.Checkers {
		s.Checkers = append(s.Checkers, CheckerVerdict{r.Checker, r.Valid})
	}
	if hs := headlines(res.Checkers, anomalyID); len(hs) > 0 && hs[0].Valid != checker.Valid {
		s.Headline = hs[0].Line()
	}
	return s
}

// page is the data of the report template.
type page struct {
	Info        RunInfo
	Verdict     checker.Verdict
	Outcome     outcome
	Duration    string
	Headlines   []headline
	Detection   *detectionView
	Checkers    []checkerView
	Invalid     []checkerView
	Config      template.HTML
	Plots       []plotSVG
	A           *analysis
	Intervals   []intervalView
	Members     []memberView
	Avail       []kv
	AvailDetail template.HTML
	Counts      []kv
	ByF         []fCount
	Latency     []kv
	Generated   string
	Shrink      *shrinkView
}

type kv struct{ K, V string }

// detectionView says when the first anomalous op happened.
type detectionView struct {
	detection
	At     string // time since start
	Share  string // share of the run's length, e.g. "35%"
	During string // the faults active then, or ""
}

type checkerView struct {
	checker.Result
	// LongExplanation is set when the explanation is too long to show
	// open: it is folded away.
	LongExplanation bool
	Anomalies       []anomalyView
	More            int // anomalies not shown
	Details         template.HTML
	Artifacts       []string
	ArtifactNote    string // how many failing keys the artifacts cover, and the cap
}

type anomalyView struct {
	checker.Anomaly
	ID   string
	Open bool   // unfolded: among the first few, or the one the headline tells
	Line string // the anomaly in one line
	// KeyShown is the key, when Line does not name it.
	KeyShown string
	At       string // its time, or ""
	Cycle    template.HTML
	CycleOf  string // why a cycle is not drawn, or ""
	Txns     []txnView
	Ops      []opView
	MoreOps  int
}

// txnView is one transaction of a drawn cycle.
type txnView struct {
	Name string // T1, T2, ...
	Op   opView
}

type opView struct {
	Index                         int64
	Time, Process, Type, F, Value string
	Error, Node                   string
	Missing                       bool
	Partner                       bool // the invocation or completion of a referenced op
}

type intervalView struct {
	Kind, Nodes, Start, End, Length string
	StartIndex, EndIndex            int64
}

const (
	maxAnomalies     = 100
	maxOpsPerAnomaly = 40
	// openAnomalies is how many anomalies of each checker are unfolded.
	openAnomalies = 3
	// longExplanation is the length past which a checker's explanation is
	// folded away.
	longExplanation = 300
)

func verdictClass(v checker.Verdict) string {
	switch v {
	case checker.Valid:
		return "valid"
	case checker.Invalid:
		return "invalid"
	}
	return "unknown"
}

func verdictText(v checker.Verdict) string { return strings.ToUpper(verdictClass(v)) }

// anomalyID is the id of anomaly ai of checker ci in report.html.
func anomalyID(ci, ai int) string { return fmt.Sprintf("anomaly-%d-%d", ci, ai) }

func buildPage(info RunInfo, ops []history.Op, res checker.Results, a *analysis) (*page, error) {
	p := &page{Info: info, Verdict: res.Valid, A: a, Generated: time.Now().UTC().Format(time.RFC3339),
		Outcome: outcomeOf(info.Expect, res.Valid)}
	p.Duration = durationRound(int64(info.Duration)).String()
	if info.Duration == 0 {
		p.Duration = durationRound(a.End).String() + " (history)"
	}
	if len(info.Config) > 0 {
		p.Config = renderValue(info.Config, 0)
	}
	p.Headlines = headlines(res.Checkers, anomalyID)
	if d, ok := firstDetection(res.Checkers, anomalyID); ok {
		dv := &detectionView{detection: d, At: fmtAt(d.Time)}
		if span := max(int64(info.Duration), a.End); span > 0 {
			dv.Share = fmt.Sprintf("%.0f%%", 100*float64(d.Time)/float64(span))
		}
		dv.During = activeFaults(a.Intervals, d.Time)
		p.Detection = dv
	}
	byIndex := make(map[int64]int, len(ops))
	for i, o := range ops {
		byIndex[o.Index] = i
	}
	partner := partners(ops)
	var marks []anomalyMark
	for ci, r := range res.Checkers {
		cv := checkerView{Result: r, LongExplanation: len(r.Explanation) > longExplanation || strings.Contains(r.Explanation, "\n")}
		if len(r.Details) > 0 {
			cv.Details = renderValue(r.Details, 0)
		}
		for _, art := range r.Artifacts {
			cv.Artifacts = append(cv.Artifacts, relLink(art))
		}
		cv.ArtifactNote = artifactNote(r)
		telling := tellingAnomaly(r.Anomalies)
		for ai, an := range r.Anomalies {
			if r.Valid == checker.Invalid && an.HasTime {
				marks = append(marks, anomalyMark{Time: an.Time, Label: r.Checker + ": " + shorten(anomalySummary(an), 160)})
			}
			if ai >= maxAnomalies && ai != telling {
				continue
			}
			cv.Anomalies = append(cv.Anomalies, viewAnomaly(an, anomalyID(ci, ai), ai < openAnomalies || ai == telling, ops, byIndex, partner))
		}
		cv.More = len(r.Anomalies) - len(cv.Anomalies)
		p.Checkers = append(p.Checkers, cv)
		if r.Valid == checker.Invalid {
			p.Invalid = append(p.Invalid, cv)
		}
		if r.Checker == "availability" && len(r.Details) > 0 {
			p.AvailDetail = cv.Details
		}
	}
	for _, iv := range a.Intervals {
		v := intervalView{Kind: iv.Kind, Nodes: strings.Join(iv.Nodes, ", "),
			Start: fmtSec(iv.Start), End: fmtSec(iv.End), Length: durationRound(iv.End - iv.Start).String(),
			StartIndex: iv.StartIndex, EndIndex: iv.EndIndex}
		if iv.EndIndex < 0 {
			v.End += " (end of history)"
		}
		p.Intervals = append(p.Intervals, v)
	}
	p.Members = memberViews(a.Members)
	av := a.Avail
	p.Avail = []kv{
		{"ok share of ops invoked during faults", share(av.DuringOK, av.DuringN)},
		{"ok share of ops invoked outside faults", share(av.OutsideOK, av.OutsideN)},
	}
	switch {
	case av.LastFaultEnd < 0:
		p.Avail = append(p.Avail, kv{"time to recover after the last fault", "n/a (no fault ended before the end of the history)"})
	case av.Recovered:
		p.Avail = append(p.Avail, kv{"time to recover after the last fault", fmt.Sprintf("%s (first ok op completed after the fault ended at %s)", durationRound(av.TimeToRecover), fmtSec(av.LastFaultEnd))})
	default:
		p.Avail = append(p.Avail, kv{"time to recover after the last fault", fmt.Sprintf("not recovered: no ok op after the fault ended at %s", fmtSec(av.LastFaultEnd))})
	}
	p.Counts = []kv{
		{"client ops invoked", fmt.Sprint(a.Invoked)},
		{"ok", fmt.Sprint(a.Counts["ok"])},
		{"fail", fmt.Sprint(a.Counts["fail"])},
		{"info", fmt.Sprint(a.Counts["info"])},
		{"never completed", fmt.Sprint(a.Counts["open"])},
		{"nemesis ops", fmt.Sprint(a.NemesisOps)},
		{"ok ops/s", fmt.Sprintf("%.1f", a.OKRate)},
	}
	q := a.Quantiles
	p.Latency = []kv{
		{"p50", fmtMs(q.P50)}, {"p95", fmtMs(q.P95)}, {"p99", fmtMs(q.P99)}, {"p99.9", fmtMs(q.P999)}, {"max", fmtMs(q.Max)},
	}
	p.ByF = a.ByF
	for _, f := range []func() (plotSVG, error){
		func() (plotSVG, error) { return latencyPlot(a, marks) },
		func() (plotSVG, error) { return quantilePlot(a) },
		func() (plotSVG, error) { return throughputPlot(a, marks) },
	} {
		ps, err := f()
		if err != nil {
			return nil, err
		}
		p.Plots = append(p.Plots, ps)
	}
	return p, nil
}

// viewAnomaly prepares one anomaly for the report: its line, its drawn
// cycle with the transactions named, and the ops involved with their
// invocations or completions.
func viewAnomaly(an checker.Anomaly, id string, open bool, ops []history.Op, byIndex map[int64]int, partner map[int64]int64) anomalyView {
	line := oneLine(an.Summary)
	if line == "" {
		line = firstLine(an.Explanation)
	}
	av := anomalyView{Anomaly: an, ID: id, Open: open, Line: shorten(line, MaxHeadline)}
	if an.Key != "" && !strings.Contains(line, "key "+an.Key) {
		av.KeyShown = an.Key
	}
	if an.HasTime {
		av.At = fmtAt(an.Time)
	}
	lookup := func(idx int64, isPartner bool) opView {
		j, ok := byIndex[idx]
		if !ok {
			return opView{Index: idx, Missing: true}
		}
		return viewOp(ops[j], isPartner)
	}
	switch {
	case len(an.Cycle) > MaxCycleEdges:
		av.CycleOf = fmt.Sprintf("a cycle of %d dependencies: too long to draw (at most %d); the explanation below follows it edge by edge", len(an.Cycle), MaxCycleEdges)
	case len(an.Cycle) > 0:
		nodes := cycleNodes(an.Cycle)
		for i, n := range nodes {
			av.Txns = append(av.Txns, txnView{Name: fmt.Sprintf("T%d", i+1), Op: lookup(n, false)})
		}
		av.Cycle = cycleSVG(an.Cycle, func(idx int64) string {
			o := lookup(idx, false)
			if o.Missing {
				return ""
			}
			return fmt.Sprintf("process %s, %s %s: %s", o.Process, o.Type, o.F, truncate(o.Value, 120))
		})
	}
	seen := map[int64]bool{}
	add := func(idx int64, isPartner bool) {
		if !seen[idx] {
			seen[idx] = true
			av.Ops = append(av.Ops, lookup(idx, isPartner))
		}
	}
	for k, idx := range an.Ops {
		if k == maxOpsPerAnomaly {
			av.MoreOps = len(an.Ops) - maxOpsPerAnomaly
			break
		}
		if pi, ok := partner[idx]; ok && pi < idx {
			add(pi, true)
		}
		add(idx, false)
		if pi, ok := partner[idx]; ok && pi > idx {
			add(pi, true)
		}
	}
	return av
}

// activeFaults names the faults active at t, e.g. "partition; kill n1".
func activeFaults(ivs []faultInterval, t int64) string {
	var out []string
	for _, iv := range ivs {
		if iv.Start <= t && t < iv.End {
			s := iv.Kind
			if len(iv.Nodes) > 0 {
				s += " " + strings.Join(iv.Nodes, ", ")
			}
			out = append(out, s)
		}
	}
	return strings.Join(out, "; ")
}

// artifactNote says which failing keys a checker's artifacts (the
// linearizability visualisations) cover: how many of how many, and the
// checker's cap when it states one in Details["max_visualized"].
func artifactNote(r checker.Result) string {
	if len(r.Artifacts) == 0 {
		return ""
	}
	failing := -1
	switch v := r.Details["failing_keys"].(type) {
	case []string:
		failing = len(v)
	case []any:
		failing = len(v)
	}
	if failing < 0 {
		if n, ok := detailInt(r.Details["keys_nonlinearizable"]); ok {
			failing = n
		}
	}
	n := len(r.Artifacts)
	if failing <= 0 {
		return fmt.Sprintf("%d visualisations", n)
	}
	s := fmt.Sprintf("visualisations of %d of %d failing keys", min(n, failing), failing)
	if cap, ok := detailInt(r.Details["max_visualized"]); ok && cap > 0 {
		s += fmt.Sprintf(" (the checker draws at most %d)", cap)
	} else if n < failing {
		s += " (the checker drew no more)"
	}
	return s
}

// detailInt reads a whole number from a checker's Details, as the checker
// stored it or as it came back from results.json.
func detailInt(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case int64:
		return int(x), true
	case float64:
		return int(x), x == float64(int(x))
	}
	return 0, false
}

// partners maps the index of each client op to the index of its
// invocation or completion.
func partners(ops []history.Op) map[int64]int64 {
	m := map[int64]int64{}
	for _, pr := range history.Pairs(ops) {
		if !pr.Open {
			m[pr.Invoke.Index] = pr.Complete.Index
			m[pr.Complete.Index] = pr.Invoke.Index
		}
	}
	return m
}

func viewOp(o history.Op, partner bool) opView {
	proc := fmt.Sprint(o.Process)
	if o.IsNemesis() {
		proc = ":nemesis"
	}
	v, err := json.Marshal(o.Value)
	if err != nil {
		v = []byte(fmt.Sprint(o.Value))
	}
	return opView{Index: o.Index, Time: fmtSec(o.Time), Process: proc, Type: o.Type.String(), F: o.F,
		Value: truncate(string(v), 300), Error: o.Error, Node: o.Node, Partner: partner}
}

// relLink keeps artifact links relative to the report.
func relLink(p string) string {
	p = filepath.ToSlash(p)
	if i := strings.LastIndex(p, "/store/"); filepath.IsAbs(p) && i >= 0 {
		// an absolute path into a store: keep the part after the run dir
		parts := strings.SplitN(p[i+len("/store/"):], "/", 3)
		if len(parts) == 3 {
			return parts[2]
		}
	}
	if filepath.IsAbs(p) {
		return filepath.Base(p)
	}
	return p
}

func share(ok, n int) string {
	if n == 0 {
		return "n/a (no ops)"
	}
	return fmt.Sprintf("%.1f%% (%d of %d)", 100*float64(ok)/float64(n), ok, n)
}

func fmtSec(ns int64) string { return fmt.Sprintf("%.3fs", seconds(ns)) }

func fmtMs(ns int64) string {
	if ns == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f ms", millis(ns))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

const maxRows = 200

// renderValue renders a JSON-like value as HTML: maps as key/value tables,
// lists of maps as tables with one column per key, other lists inline.
// Every leaf is escaped.
func renderValue(v any, depth int) template.HTML {
	var b strings.Builder
	writeValue(&b, normalize(v), depth)
	return template.HTML(b.String()) // all leaves escaped by writeValue
}

// normalize turns any value into the JSON data model.
func normalize(v any) any {
	switch v.(type) {
	case nil, bool, string, float64, int, int64, map[string]any, []any:
		return v
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return string(b)
	}
	return out
}

func writeValue(b *strings.Builder, v any, depth int) {
	esc := template.HTMLEscapeString
	v = normalize(v)
	if depth > 4 {
		j, _ := json.Marshal(v)
		b.WriteString("<code>" + esc(truncate(string(j), 500)) + "</code>")
		return
	}
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(`<table class="kv">`)
		for i, k := range keys {
			if i == maxRows {
				fmt.Fprintf(b, `<tr><td colspan="2">… %d more</td></tr>`, len(keys)-maxRows)
				break
			}
			b.WriteString("<tr><th>" + esc(k) + "</th><td>")
			writeValue(b, x[k], depth+1)
			b.WriteString("</td></tr>")
		}
		b.WriteString("</table>")
	case []any:
		if cols, ok := tableColumns(x); ok {
			b.WriteString(`<table class="grid"><tr>`)
			for _, c := range cols {
				b.WriteString("<th>" + esc(c) + "</th>")
			}
			b.WriteString("</tr>")
			for i, e := range x {
				if i == maxRows {
					fmt.Fprintf(b, `<tr><td colspan="%d">… %d more rows</td></tr>`, len(cols), len(x)-maxRows)
					break
				}
				b.WriteString("<tr>")
				for _, c := range cols {
					b.WriteString("<td>")
					if cv, ok := e.(map[string]any)[c]; ok {
						writeValue(b, cv, depth+1)
					}
					b.WriteString("</td>")
				}
				b.WriteString("</tr>")
			}
			b.WriteString("</table>")
			return
		}
		j, _ := json.Marshal(x)
		b.WriteString("<code>" + esc(truncate(string(j), 2000)) + "</code>")
	case float64:
		b.WriteString(esc(fmtNum(x)))
	case string:
		b.WriteString(esc(x))
	default:
		b.WriteString(esc(fmt.Sprint(x)))
	}
}

// tableColumns returns the union of the keys of a non-empty list of maps.
func tableColumns(l []any) ([]string, bool) {
	if len(l) == 0 {
		return nil, false
	}
	seen := map[string]bool{}
	var cols []string
	for _, e := range l {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, false
		}
		for k := range m {
			if !seen[k] {
				seen[k] = true
				cols = append(cols, k)
			}
		}
	}
	sort.Strings(cols)
	return cols, len(cols) <= 20
}

func fmtNum(f float64) string {
	if f == float64(int64(f)) && f < 1e15 && f > -1e15 {
		return fmt.Sprint(int64(f))
	}
	return fmt.Sprintf("%.4g", f)
}

var funcs = template.FuncMap{"verdictClass": verdictClass, "verdictText": verdictText}

var reportTmpl = template.Must(template.New("report").Funcs(funcs).Parse(reportHTML))
