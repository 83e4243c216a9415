package reports

import (
	"bytes"
	"fmt"
	"html/template"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/runstore"
)

// Expectations of suite runs (RunInfo.Expect), as the suite writes them.
const (
	expectValid   = "valid"   // a safe configuration: must come back valid
	expectInvalid = "invalid" // a planted bug: must be caught
)

// outcome compares a suite run's verdict with what its scenario expects.
type outcome struct {
	Expect string // RunInfo.Expect; "" outside a suite
	// Name is caught, missed, valid, false alarm or unknown; "" without an
	// expectation.
	Name string
	// Class colours the badge: good, bad or unknown.
	Class string
	// Says is the outcome in words, e.g. "expected invalid, got invalid".
	Says string
}

// outcomeOf compares verdict v with expectation expect.
func outcomeOf(expect string, v checker.Verdict) outcome {
	o := outcome{Expect: expect}
	if expect == "" {
		return o
	}
	got := verdictClass(v)
	o.Says = "expected " + expect + ", got " + got
	switch {
	case v == checker.Unknown:
		o.Name, o.Class = "unknown", "unknown"
		o.Says = "expected " + expect + ", the checkers could not decide"
	case expect == expectInvalid && v == checker.Invalid:
		o.Name, o.Class = "caught", "good"
	case expect == expectInvalid:
		o.Name, o.Class = "missed", "bad"
	case expect == expectValid && v == checker.Valid:
		o.Name, o.Class = "valid", "good"
	case expect == expectValid:
		o.Name, o.Class = "false alarm", "bad"
	default:
		o.Name, o.Class = "unknown", "unknown"
		o.Says = fmt.Sprintf("unrecognised expectation %q, got %s", expect, got)
	}
	return o
}

// indexRun is one row of store/index.html.
type indexRun struct {
	Summary
	Outcome  outcome
	Link     string // relative to the store dir
	Time     string
	Duration string
	Nemeses  string
	P99      string
	Rate     string
}

// trend is one test's row of the trends table: its recent runs.
type trend struct {
	Test       string
	Runs       int
	Outcomes   template.HTML // one bar per run: its outcome, or its verdict outside a suite
	Throughput template.HTML
	P99        template.HTML
	Last       indexRun
	Rate       detectionRate
}

// detectionRate counts how often a test's recent runs met the expectation
// of its latest run: a planted bug caught, a safe configuration valid.
type detectionRate struct {
	Expect      string
	Bug         string
	Hits, Total int // runs with the expectation that met it
	Unknown     int // runs with the expectation and no verdict
	// Last10Hits and Last10Total count the ten most recent of them.
	Last10Hits, Last10Total int
	// LastMiss is the newest run that did not meet it (nil if none).
	LastMiss *indexRun
}

// Text says the rate in words: "caught 5 of 6 (83%)" for a planted bug,
// "0 false alarms in 30" for a safe configuration.
func (d detectionRate) Text() string {
	if d.Total == 0 {
		return ""
	}
	var s string
	if d.Expect == expectInvalid {
		s = fmt.Sprintf("caught %d of %d (%.0f%%)", d.Hits, d.Total, 100*float64(d.Hits)/float64(d.Total))
	} else {
		n := d.Total - d.Hits - d.Unknown
		s = fmt.Sprintf("%d false alarm%s in %d", n, plural(n), d.Total)
	}
	if d.Unknown > 0 {
		s += fmt.Sprintf(", %d undecided", d.Unknown)
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

type indexPage struct {
	Runs      []indexRun
	Trends    []trend
	Bugs      []trend // trends of tests whose latest run expects a planted bug caught
	Tests     []string
	Skipped   []string
	Generated string
	MaxTrend  int
}

// maxTrend is the number of most recent runs per test the sparklines show.
const maxTrend = 50

// WriteIndex reads the summary.json of every run in storeDir (the layout
// is package runstore's; an unreadable one is skipped with a warning) and
// writes storeDir/index.html: every run, newest first, and per test the
// sparklines of verdict, throughput and p99 across its runs.
func WriteIndex(storeDir string) error {
	runs, err := runstore.List(storeDir, runstore.SummaryJSON)
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	pg := indexPage{Generated: time.Now().UTC().Format(time.RFC3339), MaxTrend: maxTrend}
	for _, run := range runs {
		rel := run.Rel()
		s, err := ReadSummary(run.Dir)
		if err != nil {
			slog.Warn("store index: skipping an unreadable run", "dir", run.Dir, "err", err)
			pg.Skipped = append(pg.Skipped, rel)
			continue
		}
		if s.Report == "" {
			s.Report = runstore.ReportHTML
		}
		r := indexRun{Summary: s, Outcome: outcomeOf(s.Info.Expect, s.Valid), Link: rel + "/" + s.Report,
			Duration: durationRound(int64(s.Info.Duration)).String(),
			Nemeses:  strings.Join(s.Info.Nemeses, ", "),
			P99:      fmt.Sprintf("%.2f", s.P99Ms), Rate: fmt.Sprintf("%.1f", s.OpsPerSec)}
		if r.Nemeses == "" {
			r.Nemeses = "none"
		}
		if s.Info.Name == "" {
			r.Info.Name = run.Test()
		}
		if !s.Info.Start.IsZero() {
			r.Time = s.Info.Start.UTC().Format("2006-01-02 15:04:05")
		} else {
			r.Time = filepath.Base(rel)
		}
		pg.Runs = append(pg.Runs, r)
	}
	sort.SliceStable(pg.Runs, func(i, j int) bool {
		a, b := pg.Runs[i], pg.Runs[j]
		if !a.Info.Start.Equal(b.Info.Start) {
			return a.Info.Start.After(b.Info.Start)
		}
		return a.Link > b.Link
	})
	pg.Trends = trends(pg.Runs)
	for _, t := range pg.Trends {
		pg.Tests = append(pg.Tests, t.Test)
		if t.Rate.Expect == expectInvalid {
			pg.Bugs = append(pg.Bugs, t)
		}
	}
	var buf bytes.Buffer
	if err := indexTmpl.Execute(&buf, pg); err != nil {
		return fmt.Errorf("reports: rendering index: %w", err)
	}
	if err := runstore.WriteFile(filepath.Join(storeDir, runstore.IndexHTML), buf.Bytes()); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	return nil
}

// trends groups runs (newest first) by test name.
func trends(runs []indexRun) []trend {
	byTest := map[string][]indexRun{}
	var order []string
	for _, r := range runs {
		if _, ok := byTest[r.Info.Name]; !ok {
			order = append(order, r.Info.Name)
		}
		byTest[r.Info.Name] = append(byTest[r.Info.Name], r)
	}
	sort.Strings(order)
	var out []trend
	for _, name := range order {
		rs := byTest[name]
		t := trend{Test: name, Runs: len(rs), Last: rs[0]}
		if len(rs) > maxTrend {
			rs = rs[:maxTrend]
		}
		t.Rate = rate(rs)
		chrono := make([]indexRun, len(rs)) // oldest first
		for i, r := range rs {
			chrono[len(rs)-1-i] = r
		}
		var tp, p99 []float64
		for _, r := range chrono {
			tp = append(tp, r.OpsPerSec)
			p99 = append(p99, r.P99Ms)
		}
		t.Outcomes = outcomeStrip(chrono)
		t.Throughput = sparkline(tp, "#1f77b4", "ops/s")
		t.P99 = sparkline(p99, "#d62728", "p99 ms")
		out = append(out, t)
	}
	return out
}

// rate counts, over runs (newest first), how often the runs with the
// latest run's expectation met it.
func rate(runs []indexRun) detectionRate {
	d := detectionRate{Expect: runs[0].Info.Expect, Bug: runs[0].Info.Bug}
	if d.Expect == "" {
		return d
	}
	for _, r := range runs {
		if r.Info.Expect != d.Expect {
			continue
		}
		d.Total++
		hit := r.Outcome.Class == "good"
		if hit {
			d.Hits++
		}
		if r.Outcome.Name == "unknown" {
			d.Unknown++
		}
		if d.Total <= 10 {
			d.Last10Total++
			if hit {
				d.Last10Hits++
			}
		}
		if !hit && d.LastMiss == nil {
			r := r
			d.LastMiss = &r
		}
	}
	return d
}

const sparkW, sparkH = 160.0, 28.0

// sparkline draws values as an inline SVG polyline with the last value
// marked.
func sparkline(vals []float64, col, what string) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="spark" width="%g" height="%g" viewBox="0 0 %g %g" role="img" aria-label="%s">`, sparkW, sparkH, sparkW, sparkH, what)
	if len(vals) > 0 {
		lo, hi := vals[0], vals[0]
		for _, v := range vals {
			lo, hi = min(lo, v), max(hi, v)
		}
		span := hi - lo
		x := func(i int) float64 {
			if len(vals) == 1 {
				return sparkW / 2
			}
			return 2 + float64(i)*(sparkW-4)/float64(len(vals)-1)
		}
		y := func(v float64) float64 {
			if span == 0 {
				return sparkH / 2
			}
			return sparkH - 3 - (v-lo)/span*(sparkH-6)
		}
		b.WriteString(`<polyline fill="none" stroke="` + col + `" stroke-width="1.5" points="`)
		for i, v := range vals {
			fmt.Fprintf(&b, "%.1f,%.1f ", x(i), y(v))
		}
		b.WriteString(`"/>`)
		last := len(vals) - 1
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"><title>%s: latest %s, min %s, max %s</title></circle>`,
			x(last), y(vals[last]), col, what, fmtNum2(vals[last]), fmtNum2(lo), fmtNum2(hi))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // numbers and constant strings only
}

func fmtNum2(f float64) string { return fmt.Sprintf("%.2f", f) }

// stripColors colour a run's bar: its outcome against the expectation,
// or its verdict outside a suite.
var stripColors = map[string]string{
	"good": "#1a7f37", "bad": "#cf222e", "unknown": "#bf8700",
	"valid": "#1a7f37", "invalid": "#cf222e",
}

// outcomeStrip draws one coloured bar per run, oldest first: green for a
// run that met its expectation (a planted bug caught, a safe run valid),
// red for one that did not, amber for no verdict; runs outside a suite
// are coloured by their verdict.
func outcomeStrip(runs []indexRun) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="spark verdicts" width="%g" height="%g" viewBox="0 0 %g %g" role="img" aria-label="outcomes">`, sparkW, sparkH, sparkW, sparkH)
	if n := len(runs); n > 0 {
		w := min((sparkW-2)/float64(n), 12)
		for i, r := range runs {
			key, what := verdictClass(r.Valid), verdictText(r.Valid)
			if r.Outcome.Name != "" {
				key, what = r.Outcome.Class, r.Outcome.Name+" ("+r.Outcome.Says+")"
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="3" width="%.1f" height="%g" fill="%s" data-outcome="%s"><title>%s: %s</title></rect>`,
				1+float64(i)*w, max(w-1, 0.5), sparkH-6, stripColors[key], template.HTMLEscapeString(r.Outcome.Name), template.HTMLEscapeString(r.Time), template.HTMLEscapeString(what))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every text escaped above
}

var indexTmpl = template.Must(template.New("index").Funcs(funcs).Parse(indexHTML))

const indexHTML = htmlHead + `<title>faultline runs</title>
</head>
<body>
<main class="wide">
<h1>faultline runs</h1>
<p class="note">{{len .Runs}} runs. Generated {{.Generated}}. Suite runs show their outcome against the scenario's expectation: <span class="outcome good">caught</span> a planted bug found, <span class="outcome bad">missed</span> a planted bug not found, <span class="outcome good">valid</span> a safe configuration found valid, <span class="outcome bad">false alarm</span> a safe configuration found invalid, <span class="outcome unknown">unknown</span> no verdict.</p>
<p class="filter"><label>Filter by test name: <input type="search" id="filter" list="tests" placeholder="e.g. bug-stale-read" autocomplete="off"></label> <span id="shown" class="note"></span></p>
<datalist id="tests">{{range .Tests}}<option value="{{.}}">{{end}}</datalist>
{{if .Bugs}}<section id="bugs">
<h2>Planted bugs: detection (oldest to newest, at most the last {{.MaxTrend}} runs per test)</h2>
<table>
<tr><th>test</th><th>planted bug</th><th>runs</th><th>outcomes</th><th>caught</th><th>last 10</th><th>last missed</th></tr>
{{range .Bugs}}<tr class="bugrow" data-test="{{.Test}}"><td>{{.Test}}</td><td>{{.Rate.Bug}}</td><td class="num">{{.Runs}}</td><td>{{.Outcomes}}</td><td class="rate">{{.Rate.Text}}</td><td class="num">{{.Rate.Last10Hits}}/{{.Rate.Last10Total}}</td><td>{{with .Rate.LastMiss}}<a href="{{.Link}}">{{.Time}}</a> ({{.Outcome.Name}}){{else}}never{{end}}</td></tr>
{{end}}</table>
</section>{{end}}
<section id="trends">
<h2>Trends (oldest to newest, at most the last {{.MaxTrend}} runs per test)</h2>
<table>
<tr><th>test</th><th>runs</th><th>expected</th><th>outcomes</th><th>rate</th><th>ok ops/s</th><th>p99 (ms)</th><th>latest</th></tr>
{{range .Trends}}<tr class="trend" data-test="{{.Test}}"><td>{{.Test}}{{if .Rate.Bug}}<span class="bug">{{.Rate.Bug}}</span>{{end}}</td><td class="num">{{.Runs}}</td><td>{{if .Rate.Expect}}{{.Rate.Expect}}{{else}}<span class="note">-</span>{{end}}</td><td>{{.Outcomes}}</td><td class="rate">{{.Rate.Text}}</td><td class="trendcell">{{.Throughput}} {{.Last.Rate}}</td><td class="trendcell">{{.P99}} {{.Last.P99}}</td><td>{{template "verdict" .Last}}</td></tr>
{{else}}<tr><td colspan="8">no runs</td></tr>{{end}}
</table>
</section>
<section id="runs">
<h2>Runs (newest first)</h2>
<table>
<tr><th>time (UTC)</th><th>test</th><th>system</th><th>workload</th><th>nemeses</th><th>expected</th><th>verdict</th><th>first anomaly</th><th>ok ops/s</th><th>p99 (ms)</th><th>duration</th><th>report</th></tr>
{{range .Runs}}<tr class="run" data-verdict="{{.Valid}}" data-test="{{.Info.Name}}" data-outcome="{{.Outcome.Name}}"><td class="nowrap">{{.Time}}</td><td class="nowrap"{{if .Info.Bug}} title="planted bug: {{.Info.Bug}}"{{end}}>{{.Info.Name}}</td><td>{{.Info.System}}</td><td>{{.Info.Workload}}</td><td>{{.Nemeses}}</td><td class="expect">{{if .Info.Expect}}{{.Info.Expect}}{{else}}<span class="note">-</span>{{end}}</td><td>{{template "verdict" .}}</td><td class="why" title="{{.Headline}}">{{.Headline}}</td><td class="num">{{.Rate}}</td><td class="num">{{.P99}}</td><td>{{.Duration}}</td><td><a href="{{.Link}}">report</a></td></tr>
{{else}}<tr><td colspan="12">no runs</td></tr>{{end}}
</table>
{{if .Skipped}}<p class="note">Unreadable summary.json in: {{range .Skipped}}<code>{{.}}</code> {{end}}</p>{{end}}
</section>
</main>
<script>
(function () {
  var input = document.getElementById('filter'), shown = document.getElementById('shown');
  function apply() {
    var q = input.value.trim().toLowerCase(), runs = 0, match = 0;
    document.querySelectorAll('[data-test]').forEach(function (row) {
      var ok = !q || row.getAttribute('data-test').toLowerCase().indexOf(q) >= 0;
      row.hidden = !ok;
      if (row.classList.contains('run')) { runs++; if (ok) match++; }
    });
    shown.textContent = q ? match + ' of ' + runs + ' runs shown' : '';
  }
  if (location.hash.indexOf('#test=') === 0) input.value = decodeURIComponent(location.hash.slice(6));
  input.addEventListener('input', apply);
  apply();
})();
</script>
</body>
</html>
{{define "verdict"}}{{if .Outcome.Name}}<span class="outcome {{.Outcome.Class}}" title="{{.Outcome.Says}}">{{.Outcome.Name}}</span> <span class="note">{{verdictClass .Valid}}</span>{{else}}<span class="badge {{verdictClass .Valid}}">{{verdictText .Valid}}</span>{{end}}{{end}}`
