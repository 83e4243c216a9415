package reports

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
)

// goldenRun is one run of goldenStore.
type goldenRun struct {
	test   string
	hours  int  // after goldenBase
	valid  bool // the verdict
	expect string
	bug    string
}

var goldenBase = time.Date(2026, 11, 20, 1, 0, 0, 0, time.UTC)

// goldenRuns: runs outside a suite (register), a safe scenario with one
// false alarm (bank) and a planted bug caught twice and missed once
// (bug-stale-read).
var goldenRuns = []goldenRun{
	{"register", 0, true, "", ""},
	{"register", 24, false, "", ""},
	{"bank", 2, true, expectValid, ""},
	{"register", 12, true, "", ""},
	{"bug-stale-read", 3, true, expectInvalid, "stale reads: any node answers reads from local state"},
	{"bug-stale-read", 5, false, expectInvalid, "stale reads: any node answers reads from local state"},
	{"bug-stale-read", 7, false, expectInvalid, "stale reads: any node answers reads from local state"},
	{"bank", 8, false, expectValid, ""},
}

// goldenRunDir is the directory goldenStore writes run i to.
func goldenRunDir(store string, i int) string {
	r := goldenRuns[i]
	return filepath.Join(store, r.test, goldenBase.Add(time.Duration(r.hours)*time.Hour).Format("20060102T150405Z"))
}

// goldenRunHistory is the history goldenStore writes for run i.
func goldenRunHistory(i int) []history.Op { return goldenHistory(300+100*i, uint64(i)) }

// goldenStore writes the goldenRuns (and "latest" symlinks) under a new
// store directory and returns it.
func goldenStore(t testing.TB) string {
	t.Helper()
	store := t.TempDir()
	for i, r := range goldenRuns {
		start := goldenBase.Add(time.Duration(r.hours) * time.Hour)
		dir := goldenRunDir(store, i)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		h := goldenRunHistory(i)
		res := validResults()
		if !r.valid {
			res = invalidResults(h)
		}
		info := goldenInfo(r.test, start)
		info.Expect, info.Bug = r.expect, r.bug
		if r.expect != "" {
			info.System = "kvnode"
		}
		if _, err := WriteRun(dir, info, h, res); err != nil {
			t.Fatal(err)
		}
		// the runner's symlinks: store/<test>/latest and store/latest
		for link, target := range map[string]string{
			filepath.Join(store, r.test, "latest"): filepath.Base(dir),
			filepath.Join(store, "latest"):         filepath.Join(r.test, filepath.Base(dir)),
		} {
			_ = os.Remove(link)
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
		}
	}
	// a broken run directory is listed as skipped, not fatal
	bad := filepath.Join(store, "register", "broken")
	if err := os.MkdirAll(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "summary.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteIndex(store); err != nil {
		t.Fatalf("WriteIndex: %v", err)
	}
	return store
}

func TestWriteIndex(t *testing.T) {
	store := goldenStore(t)
	b, err := os.ReadFile(filepath.Join(store, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	links := regexp.MustCompile(`<a href="([^"]+)">report</a>`).FindAllStringSubmatch(html, -1)
	want := []string{
		"register/20261121T010000Z/report.html",
		"register/20261120T130000Z/report.html",
		"bank/20261120T090000Z/report.html",
		"bug-stale-read/20261120T080000Z/report.html",
		"bug-stale-read/20261120T060000Z/report.html",
		"bug-stale-read/20261120T040000Z/report.html",
		"bank/20261120T030000Z/report.html",
		"register/20261120T010000Z/report.html",
	}
	if len(links) != len(want) {
		t.Fatalf("index lists %d runs %v, want %d (latest symlinks skipped)", len(links), links, len(want))
	}
	for i, l := range links {
		if l[1] != want[i] {
			t.Errorf("run %d: %s, want %s (newest first)", i, l[1], want[i])
		}
		if _, err := os.Stat(filepath.Join(store, filepath.FromSlash(l[1]))); err != nil {
			t.Errorf("link %s does not resolve: %v", l[1], err)
		}
	}
	counts := map[string]int{
		`<tr class="run" data-verdict="false"`:           4,
		`<tr class="trend"`:                              3, // bank, bug-stale-read, register
		`<tr class="bugrow"`:                             1,
		`<svg class="spark`:                              10, // 3 per trend, 1 per planted bug
		"<rect ":                                         11, // one bar per run in the trends, and in the planted bugs' table
		`data-outcome="caught"><td class="nowrap">`:      2,
		`data-outcome="missed"><td class="nowrap">`:      1,
		`data-outcome="valid"><td class="nowrap">`:       1,
		`data-outcome="false alarm"><td class="nowrap">`: 1,
		`data-outcome=""><td class="nowrap">`:            3,
		`<td class="expect">invalid</td>`:                3,
		`<td class="expect">valid</td>`:                  2,
		`<span class="outcome good" title="expected invalid, got invalid">caught</span>`:                3, // two runs and the trend's latest
		`<span class="outcome bad" title="expected invalid, got valid">missed</span>`:                   1,
		`<span class="outcome bad" title="expected valid, got invalid">false alarm</span>`:              2, // the run and the bank trend's latest
		`<span class="badge invalid">INVALID</span>`:                                                    2, // register's run and its trend's latest: no expectation
		`<td class="rate">caught 2 of 3 (67%)</td>`:                                                     2,
		`<td class="rate">1 false alarm in 2</td>`:                                                      1,
		`<td class="why" title="linearizable: nonlinearizable: ` + goldenSummary:                        4,
		`<a href="bug-stale-read/20261120T040000Z/report.html">2026-11-20 04:00:00</a> (missed)`:        1,
		`<option value="bug-stale-read">`:                                                               1,
		`<input type="search" id="filter"`:                                                              1,
		`<span class="bug">stale reads: any node answers reads from local state</span>`:                 1, // in the trends
		`title="planted bug: stale reads: any node answers reads from local state">bug-stale-read</td>`: 3,
	}
	for s, n := range counts {
		if got := strings.Count(html, s); got != n {
			t.Errorf("index has %d of %s, want %d", got, s, n)
		}
	}
	if !strings.Contains(html, "<code>register/broken</code>") {
		t.Error("unreadable summary not reported")
	}
	for _, s := range []string{"partition, kill, pause", "register", "bank", "ok ops/s", "p99 (ms)", "10s", "kvnode"} {
		if !strings.Contains(html, s) {
			t.Errorf("index lacks %q", s)
		}
	}
}

func TestOutcome(t *testing.T) {
	for _, c := range []struct {
		expect      string
		v           checker.Verdict
		name, class string
	}{
		{expectInvalid, checker.Invalid, "caught", "good"},
		{expectInvalid, checker.Valid, "missed", "bad"},
		{expectValid, checker.Valid, "valid", "good"},
		{expectValid, checker.Invalid, "false alarm", "bad"},
		{expectInvalid, checker.Unknown, "unknown", "unknown"},
		{expectValid, checker.Unknown, "unknown", "unknown"},
		{"linearizable", checker.Valid, "unknown", "unknown"},
		{"", checker.Invalid, "", ""},
	} {
		o := outcomeOf(c.expect, c.v)
		if o.Name != c.name || o.Class != c.class || (c.expect != "" && o.Says == "") {
			t.Errorf("outcomeOf(%q, %v) = %+v, want %s (%s)", c.expect, c.v, o, c.name, c.class)
		}
	}
}

// TestDetectionRate counts over the newest runs only, and only the runs
// with the latest run's expectation.
func TestDetectionRate(t *testing.T) {
	run := func(expect string, v checker.Verdict) indexRun {
		return indexRun{Summary: Summary{Info: RunInfo{Expect: expect, Bug: "b"}, Valid: v}, Outcome: outcomeOf(expect, v)}
	}
	var runs []indexRun // newest first
	for i := range 12 {
		v := checker.Invalid
		if i == 3 || i == 11 {
			v = checker.Valid // missed
		}
		if i == 5 {
			v = checker.Unknown
		}
		r := run(expectInvalid, v)
		r.Time = fmt.Sprint(i)
		runs = append(runs, r)
	}
	runs = append(runs, run(expectValid, checker.Valid)) // an older configuration: not counted
	d := rate(runs)
	if d.Total != 12 || d.Hits != 9 || d.Unknown != 1 || d.Last10Total != 10 || d.Last10Hits != 8 || d.LastMiss == nil || d.LastMiss.Time != "3" {
		t.Errorf("rate = %+v", d)
	}
	if got, want := d.Text(), "caught 9 of 12 (75%), 1 undecided"; got != want {
		t.Errorf("Text() = %q, want %q", got, want)
	}
	safe := rate([]indexRun{run(expectValid, checker.Valid), run(expectValid, checker.Invalid), run(expectValid, checker.Invalid)})
	if got, want := safe.Text(), "2 false alarms in 3"; got != want {
		t.Errorf("Text() = %q, want %q", got, want)
	}
	if d := rate([]indexRun{run("", checker.Invalid)}); d.Text() != "" {
		t.Errorf("a run outside a suite has a rate: %q", d.Text())
	}
}

func TestWriteIndexEmpty(t *testing.T) {
	store := t.TempDir()
	if err := WriteIndex(store); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(store, "index.html"))
	if err != nil || !strings.Contains(string(b), "no runs") {
		t.Fatalf("empty index: %v %s", err, b)
	}
}

func TestServe(t *testing.T) {
	store := goldenStore(t)
	// The test's own listener: no port is closed and then taken again.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, store, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/index.html")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "faultline runs") {
		t.Errorf("GET index.html: %d %.200s", resp.StatusCode, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if err := Serve(context.Background(), store, "0.0.0.0:0"); err == nil {
		t.Error("Serve accepted a non-loopback address")
	}
}

// largeHistory is a 100,000-op (client invocations) golden history.
func largeHistory() []history.Op { return goldenHistory(100_000, 3) }

const maxReportBytes = 5 << 20

func TestLargeReportSize(t *testing.T) {
	if testing.Short() {
		t.Skip("large report in -short mode")
	}
	dir := t.TempDir()
	h := largeHistory()
	start := time.Now()
	if _, err := WriteRun(dir, goldenInfo("register-large", time.Now()), h, invalidResults(h)); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	fi, err := os.Stat(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("100,000-op report: %d bytes (%.2f MB), generated in %s", fi.Size(), float64(fi.Size())/(1<<20), took)
	if fi.Size() >= maxReportBytes {
		t.Errorf("report is %d bytes, want < %d", fi.Size(), maxReportBytes)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	if !strings.Contains(string(b), `class="downsampled"`) || !regexp.MustCompile(`downsampled: [0-9]{4} of 100000 ops shown: (all [0-9]+|the slowest of every [0-9]+) fail/info ops, the slowest of every [0-9]+ ok ops`).Match(b) {
		t.Errorf("large scatter not downsampled or not said so: %q", regexp.MustCompile(`downsampled: [^<]*`).Find(b))
	}
}
