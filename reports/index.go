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

// indexRun is one row of store/index.html.
type indexRun struct {
	Summary
	Link     string // relative to the store dir
	Time     string
	Duration string
	Nemeses  string
	P99      string
	Rate     string
}

type trend struct {
	Test       string
	Runs       int
	Verdicts   template.HTML
	Throughput template.HTML
	P99        template.HTML
	Last       indexRun
}

type indexPage struct {
	Runs      []indexRun
	Trends    []trend
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
		r := indexRun{Summary: s, Link: rel + "/" + s.Report,
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
		chrono := make([]indexRun, len(rs)) // oldest first
		for i, r := range rs {
			chrono[len(rs)-1-i] = r
		}
		var tp, p99 []float64
		var vs []checker.Verdict
		for _, r := range chrono {
			tp = append(tp, r.OpsPerSec)
			p99 = append(p99, r.P99Ms)
			vs = append(vs, r.Valid)
		}
		t.Verdicts = verdictStrip(vs)
		t.Throughput = sparkline(tp, "#1f77b4", "ops/s")
		t.P99 = sparkline(p99, "#d62728", "p99 ms")
		out = append(out, t)
	}
	return out
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

// verdictStrip draws one coloured bar per run, oldest first.
func verdictStrip(vs []checker.Verdict) template.HTML {
	colors := map[checker.Verdict]string{checker.Valid: "#1a7f37", checker.Invalid: "#cf222e", checker.Unknown: "#bf8700"}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="spark verdicts" width="%g" height="%g" viewBox="0 0 %g %g" role="img" aria-label="verdicts">`, sparkW, sparkH, sparkW, sparkH)
	if n := len(vs); n > 0 {
		w := min((sparkW-2)/float64(n), 12)
		for i, v := range vs {
			fmt.Fprintf(&b, `<rect x="%.1f" y="3" width="%.1f" height="%g" fill="%s"><title>%s</title></rect>`, 1+float64(i)*w, max(w-1, 0.5), sparkH-6, colors[v], verdictText(v))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

var indexTmpl = template.Must(template.New("index").Funcs(funcs).Parse(indexHTML))

const indexHTML = htmlHead + `<title>faultline runs</title>
</head>
<body>
<main>
<h1>faultline runs</h1>
<p class="note">{{len .Runs}} runs. Generated {{.Generated}}.</p>
<section id="trends">
<h2>Trends (oldest to newest, at most the last {{.MaxTrend}} runs per test)</h2>
<table>
<tr><th>test</th><th>runs</th><th>verdicts</th><th>ok ops/s</th><th>p99 (ms)</th><th>latest</th></tr>
{{range .Trends}}<tr class="trend"><td>{{.Test}}</td><td class="num">{{.Runs}}</td><td>{{.Verdicts}}</td><td class="trendcell">{{.Throughput}} {{.Last.Rate}}</td><td class="trendcell">{{.P99}} {{.Last.P99}}</td><td><span class="badge {{verdictClass .Last.Valid}}">{{verdictText .Last.Valid}}</span></td></tr>
{{else}}<tr><td colspan="6">no runs</td></tr>{{end}}
</table>
</section>
<section id="runs">
<h2>Runs (newest first)</h2>
<table>
<tr><th>time (UTC)</th><th>test</th><th>workload</th><th>nemeses</th><th>verdict</th><th>ok ops/s</th><th>p99 (ms)</th><th>duration</th><th>report</th></tr>
{{range .Runs}}<tr class="run" data-verdict="{{.Valid}}"><td>{{.Time}}</td><td>{{.Info.Name}}</td><td>{{.Info.Workload}}</td><td>{{.Nemeses}}</td><td><span class="badge {{verdictClass .Valid}}">{{verdictText .Valid}}</span></td><td class="num">{{.Rate}}</td><td class="num">{{.P99}}</td><td>{{.Duration}}</td><td><a href="{{.Link}}">report</a></td></tr>
{{else}}<tr><td colspan="9">no runs</td></tr>{{end}}
</table>
{{if .Skipped}}<p class="note">Unreadable summary.json in: {{range .Skipped}}<code>{{.}}</code> {{end}}</p>{{end}}
</section>
</main>
</body>
</html>
`
