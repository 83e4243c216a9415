package reports

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// maxRender is the longest a 100,000-op report may take to render.
const maxRender = 2 * time.Second

// chromiumPath finds Debian's chromium (or another Chrome). When none is
// installed the test fails on CI (CI=true) and is skipped elsewhere.
func chromiumPath(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if p := "/usr/bin/chromium"; fileExists(p) {
		return p
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal("chromium not found: install chromium (apt-get install -y chromium)")
	}
	tb.Skip("chromium not found: install chromium (apt-get install -y chromium) to run the browser tests")
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// browser starts a headless chromium with the flags this machine needs (it
// runs as root) and returns a chromedp context for one tab.
func browser(tb testing.TB) context.Context {
	tb.Helper()
	path := chromiumPath(tb)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	tb.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // start the browser
		tb.Fatalf("starting %s: %v", path, err)
	}
	return ctx
}

// consoleErrors records console errors, uncaught exceptions and browser
// log errors (such as failed loads) of the tab.
type consoleErrors struct {
	mu   sync.Mutex
	msgs []string
}

func watchConsole(tb testing.TB, ctx context.Context) *consoleErrors {
	tb.Helper()
	ce := &consoleErrors{}
	err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				msg = fmt.Sprintf("console.%s: %s", e.Type, strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			msg = "exception: " + e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError {
				msg = fmt.Sprintf("log %s: %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL)
			}
		}
		if msg != "" {
			ce.mu.Lock()
			ce.msgs = append(ce.msgs, msg)
			ce.mu.Unlock()
		}
	})
	if err != nil {
		tb.Fatalf("listening to the console: %v", err)
	}
	return ce
}

func (ce *consoleErrors) check(tb testing.TB, page string) {
	tb.Helper()
	ce.mu.Lock()
	defer ce.mu.Unlock()
	for _, m := range ce.msgs {
		tb.Errorf("%s: %s", page, m)
	}
	ce.msgs = nil
}

// rendered is the time from navigation start to the second animation
// frame after load (layout and paint done), in ms.
const renderedJS = `new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now()))))`

// openPage loads a file and returns the render time.
func openPage(tb testing.TB, ctx context.Context, path string) time.Duration {
	tb.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+abs)); err != nil {
		tb.Fatalf("opening %s: %v", path, err)
	}
	ms, err := chromedp.Run(ctx, chromedp.Evaluate[float64](renderedJS, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.Fatalf("waiting for %s to render: %v", path, err)
	}
	tb.Logf("%s: loaded in %s (wall), rendered %.0f ms after navigation start", filepath.Base(path), time.Since(start).Round(time.Millisecond), ms)
	return time.Duration(ms * float64(time.Millisecond))
}

// screenshot takes a PNG of the page: all of it, or the first screen.
func screenshot(tb testing.TB, ctx context.Context, name string, full bool) string {
	tb.Helper()
	shot := chromedp.CaptureScreenshot()
	if full {
		shot = chromedp.FullScreenshot(100) // png
	}
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		tb.Fatalf("screenshot: %v", err)
	}
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		tb.Fatal(err)
	}
	if d := os.Getenv("FAULTLINE_SCREENSHOT_DIR"); d != "" { // keep a copy to look at
		_ = os.WriteFile(filepath.Join(d, name), png, 0o644)
	}
	tb.Logf("screenshot: %s (%d bytes)", p, len(png))
	return p
}

// plotInfo is what the page says about one rendered plot.
type plotInfo struct {
	ID       string  `json:"id"`
	Declared int     `json:"declared"` // data-series
	Series   int     `json:"series"`   // series groups
	Painted  int     `json:"painted"`  // series groups with a non-empty box
	Faults   int     `json:"faults"`
	Marks    int     `json:"marks"` // anomaly markers painted
	Paths    int     `json:"paths"`
	Width    float64 `json:"width"`
	Height   float64 `json:"height"`
}

const plotsJS = `[...document.querySelectorAll('svg.plot')].map(s => {
  const r = s.getBoundingClientRect();
  const groups = [...s.querySelectorAll('g.series')];
  return {id: s.id, declared: +s.dataset.series, series: groups.length,
    painted: groups.filter(g => { const b = g.getBBox(); return b.width > 0 || b.height > 0; }).length,
    faults: s.querySelectorAll('g.fault').length, paths: s.querySelectorAll('path').length,
    marks: [...s.querySelectorAll('g.anomaly-mark')].filter(g => g.getBBox().height > 0).length,
    width: r.width, height: r.height};
})`

// clippedJS lists the text of plots, cycles and legends that the browser
// draws outside its SVG's box or its legend item's box: clipped text.
const clippedJS = `(() => {
  const out = [];
  for (const svg of document.querySelectorAll('svg.plot, svg.cycle')) {
    const box = svg.getBoundingClientRect();
    for (const t of svg.querySelectorAll('text')) {
      const r = t.getBoundingClientRect();
      if (r.width === 0) continue;
      if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1)
        out.push((svg.id || svg.getAttribute('class')) + ': ' + t.textContent);
    }
  }
  for (const li of document.querySelectorAll('ul.legend li'))
    if (li.scrollWidth > li.clientWidth + 1) out.push('legend: ' + li.textContent);
  return out;
})()`

// firstScreenJS says what the reader sees without scrolling (the window is
// 1280x1000): the headline lines, the time to detection.
const firstScreenJS = `(() => {
  const visible = el => { const r = el.getBoundingClientRect(); return r.height > 0 && r.top >= 0 && r.bottom <= innerHeight; };
  const lines = [...document.querySelectorAll('ul.headline li.checker')];
  const det = document.getElementById('detection');
  return {headlines: lines.filter(visible).map(li => li.textContent.trim()),
    detection: det && visible(det) ? det.textContent.trim() : '',
    outcome: (document.getElementById('outcome') || {}).textContent || ''};
})()`

type firstScreen struct {
	Headlines []string `json:"headlines"`
	Detection string   `json:"detection"`
	Outcome   string   `json:"outcome"`
}

// cycleJS measures the drawn cycles.
const cycleJS = `[...document.querySelectorAll('svg.cycle')].map(s => {
  const r = s.getBoundingClientRect();
  return {nodes: s.querySelectorAll('g.node circle').length, edges: s.querySelectorAll('g.edge path').length,
    labels: [...s.querySelectorAll('text.edge-label')].filter(t => t.getBBox().width > 0).map(t => t.textContent),
    width: r.width, height: r.height};
})`

type cycleInfo struct {
	Nodes  int      `json:"nodes"`
	Edges  int      `json:"edges"`
	Labels []string `json:"labels"`
	Width  float64  `json:"width"`
	Height float64  `json:"height"`
}

func TestBrowserReportAndIndex(t *testing.T) {
	ctx := browser(t)
	ce := watchConsole(t, ctx)

	store := goldenStore(t)
	const caught = 6 // a planted bug, caught: an invalid run with an expectation
	dir := goldenRunDir(store, caught)
	s, err := ReadSummary(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Valid.String() != "false" || s.Info.Expect != expectInvalid {
		t.Fatalf("expected the golden caught run, got %v expecting %q", s.Valid, s.Info.Expect)
	}
	openPage(t, ctx, filepath.Join(dir, "report.html"))
	screenshot(t, ctx, "report-first-screen.png", false)

	// The first screen: the headline of every checker, the time to
	// detection and the outcome against the expectation.
	fs, err := chromedp.Run(ctx, chromedp.Evaluate[firstScreen](firstScreenJS))
	if err != nil {
		t.Fatal(err)
	}
	if len(fs.Headlines) != 4 || !strings.Contains(fs.Headlines[0], "linearizable: nonlinearizable: "+goldenSummary) ||
		!strings.Contains(fs.Headlines[1], "list-append: G-single: T1 appended 3") {
		t.Errorf("headlines on the first screen: %q", fs.Headlines)
	}
	first, _ := firstDetection(invalidResults(goldenRunHistory(caught)).Checkers, anomalyID)
	if !strings.HasPrefix(fs.Detection, "Time to detection: the first anomalous op was "+fmtAt(first.Time)+" into the run") || !strings.Contains(fs.Detection, "during partition") {
		t.Errorf("time to detection on the first screen: %q", fs.Detection)
	}
	if fs.Outcome != "caught" {
		t.Errorf("outcome shown as %q, want caught", fs.Outcome)
	}

	plots, err := chromedp.Run(ctx, chromedp.Evaluate[[]plotInfo](plotsJS))
	if err != nil {
		t.Fatal(err)
	}
	a := digest(goldenRunHistory(caught))
	want := map[string]int{"plot-latency": scatterSeries(a), "plot-quantiles": 3, "plot-throughput": 3}
	wantMarks := map[string]int{"plot-latency": 3, "plot-quantiles": 0, "plot-throughput": 3}
	if len(plots) != 3 {
		t.Fatalf("%d plots rendered, want 3: %+v", len(plots), plots)
	}
	for _, p := range plots {
		if p.Width < 400 || p.Height < 100 || p.Paths < 10 {
			t.Errorf("%s: plot looks empty: %+v", p.ID, p)
		}
		if p.Series != want[p.ID] || p.Declared != want[p.ID] || p.Painted != want[p.ID] {
			t.Errorf("%s: %d series (%d declared, %d painted), want %d", p.ID, p.Series, p.Declared, p.Painted, want[p.ID])
		}
		if p.Faults != len(goldenIntervals) {
			t.Errorf("%s: %d fault shadings, want %d", p.ID, p.Faults, len(goldenIntervals))
		}
		if p.Marks != wantMarks[p.ID] {
			t.Errorf("%s: %d anomaly markers painted, want %d", p.ID, p.Marks, wantMarks[p.ID])
		}
	}
	cycles, err := chromedp.Run(ctx, chromedp.Evaluate[[]cycleInfo](cycleJS))
	if err != nil {
		t.Fatal(err)
	}
	if len(cycles) != 2 || cycles[0].Nodes != 3 || cycles[0].Edges != 3 || cycles[0].Width < 100 ||
		strings.Join(cycles[0].Labels, ",") != "ww 5,wr 6,rw 5" || cycles[1].Nodes != 2 || cycles[1].Edges != 2 {
		t.Errorf("drawn cycles: %+v, want a G-single of 3 and a G1c of 2 with their labels", cycles)
	}
	clipped, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](clippedJS))
	if err != nil {
		t.Fatal(err)
	}
	if len(clipped) > 0 {
		t.Errorf("text drawn outside its box (clipped): %q", clipped)
	}
	verdict, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('verdict').textContent + ' ' + getComputedStyle(document.getElementById('verdict')).backgroundColor`))
	if err != nil {
		t.Fatal(err)
	}
	if verdict != "INVALID rgb(207, 34, 46)" {
		t.Errorf("verdict shown as %q, want INVALID in red", verdict)
	}
	screenshot(t, ctx, "report.png", true)
	for id, name := range map[string]string{"#plots": "report-plots.png", "#anomaly-1-0": "report-cycle.png"} {
		png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(id)))
		if err != nil {
			t.Fatalf("screenshot of %s: %v", id, err)
		}
		if d := os.Getenv("FAULTLINE_SCREENSHOT_DIR"); d != "" {
			_ = os.WriteFile(filepath.Join(d, name), png, 0o644)
		}
	}
	ce.check(t, "report.html")

	openPage(t, ctx, filepath.Join(store, "index.html"))
	type indexInfo struct {
		Runs, Sparks, Bars, Links int
		Expected                  []string
		Outcomes                  []string
		Filtered                  int
	}
	const indexJS = `(() => {
	  const runs = [...document.querySelectorAll('tr.run')];
	  const info = {Runs: runs.length,
	    Sparks: [...document.querySelectorAll('svg.spark')].filter(s => s.getBoundingClientRect().width > 0).length,
	    Bars: document.querySelectorAll('svg.verdicts rect').length,
	    Links: document.querySelectorAll('a[href$="report.html"]').length,
	    Expected: runs.map(r => r.querySelector('td.expect').textContent),
	    Outcomes: runs.map(r => { const o = r.querySelector('.outcome'); return o && o.getBoundingClientRect().width > 0 ? o.textContent : ''; })};
	  const f = document.getElementById('filter');
	  f.value = 'stale'; f.dispatchEvent(new Event('input'));
	  info.Filtered = runs.filter(r => r.getBoundingClientRect().height > 0).length;
	  return info;
	})()`
	idx, err := chromedp.Run(ctx, chromedp.Evaluate[indexInfo](indexJS))
	if err != nil {
		t.Fatal(err)
	}
	wantIdx := indexInfo{Runs: 8, Sparks: 10, Bars: 11, Links: 9, // 8 runs and the last missed run
		Expected: []string{"-", "-", "valid", "invalid", "invalid", "invalid", "valid", "-"},
		Outcomes: []string{"", "", "false alarm", "caught", "caught", "missed", "valid", ""},
		Filtered: 3}
	if fmt.Sprint(idx) != fmt.Sprint(wantIdx) {
		t.Errorf("index: %+v\nwant   %+v", idx, wantIdx)
	}
	screenshot(t, ctx, "index-filtered.png", true)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`(() => { const f = document.getElementById('filter'); f.value = ''; f.dispatchEvent(new Event('input')); return 0; })()`)); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "index.png", true)
	ce.check(t, "index.html")
}

// TestBrowserCatchesConsoleErrors proves the console watch works.
func TestBrowserCatchesConsoleErrors(t *testing.T) {
	ctx := browser(t)
	ce := watchConsole(t, ctx)
	p := filepath.Join(t.TempDir(), "bad.html")
	if err := os.WriteFile(p, []byte(`<!DOCTYPE html><title>bad</title><script>console.error("boom"); undefinedFunction();</script>`), 0o644); err != nil {
		t.Fatal(err)
	}
	openPage(t, ctx, p)
	ce.mu.Lock()
	defer ce.mu.Unlock()
	if len(ce.msgs) < 2 {
		t.Errorf("console errors seen: %q, want the console.error and the exception", ce.msgs)
	}
}

func TestBrowserLargeReport(t *testing.T) {
	if testing.Short() {
		t.Skip("large report in -short mode")
	}
	ctx := browser(t)
	ce := watchConsole(t, ctx)
	dir := t.TempDir()
	h := largeHistory()
	if _, err := WriteRun(dir, goldenInfo("register-large", time.Now()), h, invalidResults(h)); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	openPage(t, ctx, filepath.Join(dir, "report.html")) // warm up the browser
	d := openPage(t, ctx, filepath.Join(dir, "report.html"))
	t.Logf("100,000-op report: %.2f MB, rendered in %s", float64(fi.Size())/(1<<20), d)
	// The 2 s target is a speed figure: BenchmarkBrowserRender100k reports
	// it (render-ms). Here only a gross regression fails, so a loaded CI
	// machine does not turn the figure into a flake.
	if d > maxRender {
		t.Logf("note: rendered in %s, over the %s target (machine load?); see BenchmarkBrowserRender100k", d, maxRender)
	}
	if d > 5*maxRender {
		t.Errorf("100,000-op report rendered in %s, more than 5x the %s target", d, maxRender)
	}
	plots, err := chromedp.Run(ctx, chromedp.Evaluate[[]plotInfo](plotsJS))
	if err != nil {
		t.Fatal(err)
	}
	if len(plots) != 3 || plots[0].Paths < MaxScatterPoints/2 {
		t.Errorf("large report plots: %+v", plots)
	}
	screenshot(t, ctx, "large-report.png", true)
	latPNG, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS("#plot-latency-figure")))
	if err != nil {
		t.Fatalf("screenshot of the latency plot: %v", err)
	}
	if d := os.Getenv("FAULTLINE_SCREENSHOT_DIR"); d != "" {
		_ = os.WriteFile(filepath.Join(d, "large-latency.png"), latPNG, 0o644)
	}
	ce.check(t, "large report.html")
}

// BenchmarkBrowserRender100k measures how long chromium takes to render the
// report of a 100,000-op history (ms from navigation start to the second
// animation frame after load).
func BenchmarkBrowserRender100k(b *testing.B) {
	ctx := browser(b)
	dir := b.TempDir()
	h := largeHistory()
	if _, err := WriteRun(dir, goldenInfo("register-large", time.Now()), h, invalidResults(h)); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "report.html"))
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	b.ResetTimer()
	for b.Loop() {
		total += openPage(b, ctx, filepath.Join(dir, "report.html"))
	}
	ms := float64(total.Milliseconds()) / float64(b.N)
	b.ReportMetric(ms, "render-ms")
	b.ReportMetric(float64(fi.Size()), "report-bytes")
	b.Logf("100,000-op report: %d bytes, %.0f ms to render", fi.Size(), ms)
}

// BenchmarkWriteRun100k measures report generation for 100,000 ops.
func BenchmarkWriteRun100k(b *testing.B) {
	h := largeHistory()
	res := invalidResults(h)
	dir := b.TempDir()
	for b.Loop() {
		if _, err := WriteRun(dir, goldenInfo("register-large", time.Now()), h, res); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(h)), "history-ops")
}
