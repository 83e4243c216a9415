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

	"github.com/faultline/faultline/history"
)

// goldenStore writes four runs of two tests (and a "latest" symlink) under
// a new store directory and returns it.
func goldenStore(t testing.TB) string {
	t.Helper()
	store := t.TempDir()
	base := time.Date(2026, 11, 20, 1, 0, 0, 0, time.UTC)
	runs := []struct {
		test  string
		hours int
		valid bool
	}{{"register", 0, true}, {"register", 24, false}, {"bank", 2, true}, {"register", 12, true}}
	for i, r := range runs {
		start := base.Add(time.Duration(r.hours) * time.Hour)
		dir := filepath.Join(store, r.test, start.Format("20060102T150405Z"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		h := goldenHistory(300+100*i, uint64(i))
		res := validResults()
		if !r.valid {
			res = invalidResults(h)
		}
		info := goldenInfo(r.test, start)
		if err := WriteRun(dir, info, h, res); err != nil {
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
	if got := strings.Count(html, `<tr class="run" data-verdict="false">`); got != 1 {
		t.Errorf("%d invalid runs shown, want 1", got)
	}
	if got := strings.Count(html, `<tr class="trend">`); got != 2 {
		t.Errorf("%d trend rows, want 2 (bank, register)", got)
	}
	if got := strings.Count(html, `<svg class="spark`); got != 6 {
		t.Errorf("%d sparklines, want 6", got)
	}
	if got := strings.Count(html, "<rect "); got != 4 {
		t.Errorf("%d verdict bars, want 4", got)
	}
	if !strings.Contains(html, "<code>register/broken</code>") {
		t.Error("unreadable summary not reported")
	}
	for _, s := range []string{"partition, kill, pause", "register", "bank", "ok ops/s", "p99 (ms)", "10s"} {
		if !strings.Contains(html, s) {
			t.Errorf("index lacks %q", s)
		}
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, store, fmt.Sprintf(":%d", port)) }()
	var resp *http.Response
	for i := 0; i < 50; i++ {
		resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/index.html", port))
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "faultline runs") {
		t.Errorf("GET index.html: %d %.200s", resp.StatusCode, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
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
	if err := WriteRun(dir, goldenInfo("register-large", time.Now()), h, invalidResults(h)); err != nil {
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
