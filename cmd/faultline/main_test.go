package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// bin is the faultline binary built once for this test binary by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "faultline-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "faultline")
	// One retry: a build cache shared with concurrent builds has been
	// seen to fail an import once.
	var out []byte
	for range 2 {
		build := exec.Command("go", "build", "-o", bin, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err = build.CombinedOutput(); err == nil {
			break
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build faultline: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cli runs the faultline binary in dir with args and returns its exit
// code, stdout and stderr. It fails t if the binary cannot be run at all
// or does not exit within a minute.
func cli(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatalf("start faultline %v: %v", args, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("faultline %v did not exit within a minute\nstdout:\n%s\nstderr:\n%s", args, out.String(), errb.String())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		code = 0
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("faultline %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

// TestHelpDocumentsExitCodes: a user reads the exit codes in --help.
func TestHelpDocumentsExitCodes(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"run", "--help"}, {"analyze", "--help"}} {
		code, stdout, _ := cli(t, t.TempDir(), args...)
		if code != 0 {
			t.Errorf("faultline %v: exit %d", args, code)
		}
		for _, want := range []string{"0    valid", "1    invalid", "2    unknown", "254  bad arguments", "255  harness error"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("faultline %v does not document %q:\n%s", args, want, stdout)
			}
		}
	}
}

func testdata(name string) string {
	p, err := filepath.Abs(filepath.Join("..", "..", "testdata", "check", name))
	if err != nil {
		panic(err)
	}
	return p
}

// TestCLIErrors covers the command line's answers to mistakes: they must
// exit with the documented code and say what is wrong in words, without
// starting anything.
func TestCLIErrors(t *testing.T) {
	notRun := t.TempDir()
	if err := os.WriteFile(filepath.Join(notRun, "history.jsonl"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		code     int      // exact exit code; -1: any non-zero
		contains []string // substrings of stderr
	}{
		{"unknown workload", []string{"run", "--workload", "nope", "--store", t.TempDir()}, 254,
			[]string{`"nope"`, "register", "bank", "list-append", "set"}},
		{"unknown flag", []string{"run", "--bogus-flag"}, 254, []string{"--bogus-flag"}},
		{"unknown flag of analyze", []string{"analyze", "--bogus-flag", "x"}, 254, []string{"--bogus-flag"}},
		{"unknown flag of list", []string{"list", "--bogus-flag"}, 254, []string{"--bogus-flag"}},
		{"bad duration", []string{"run", "--time-limit", "soon"}, 254, []string{"soon"}},
		{"unknown nemesis", []string{"run", "--nemesis", "meteor", "--store", t.TempDir()}, 254,
			[]string{`"meteor"`, "partition", "kill"}},
		{"bad node count", []string{"run", "--nodes", "0", "--store", t.TempDir()}, 254, []string{"nodes"}},
		{"run takes no arguments", []string{"run", "extra"}, 254, []string{"extra"}},
		{"unknown unsafe mode", []string{"run", "--unsafe", "meteor", "--store", t.TempDir()}, 254, []string{`"meteor"`, "no-dedup"}},
		{"bad expectation", []string{"run", "--expect", "maybe"}, 254, []string{`"maybe"`, "valid"}},
		{"schedule with nemesis", []string{"run", "--schedule", filepath.Join("..", "..", "testdata", "schedule", "kill-late.json"), "--nemesis", "kill",
			"--store", t.TempDir()}, 254, []string{"--schedule and --nemesis kill cannot be given together"}},
		{"shrink a directory that is not a run", []string{"shrink", notRun}, 254, []string{"shrink", "test.json"}},
		{"shrink takes a directory", []string{"shrink"}, 254, []string{"arg"}},
		{"check missing file", []string{"check", "--model", "cas-register", filepath.Join(t.TempDir(), "missing.edn")}, -1,
			[]string{"missing.edn", "no such file"}},
		{"check unknown model", []string{"check", "--model", "stack", testdata("cas-register-valid.edn")}, -1,
			[]string{`"stack"`, "cas-register"}},
		{"check without a file", []string{"check", "--model", "cas-register"}, -1, []string{"arg"}},
		{"analyze a directory that is not a run", []string{"analyze", notRun}, -1,
			[]string{"test.json", "not found", "run directory"}},
		{"analyze a missing directory", []string{"analyze", filepath.Join(t.TempDir(), "gone")}, -1,
			[]string{"run directory"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wd := t.TempDir()
			code, stdout, stderr := cli(t, wd, tc.args...)
			if tc.code >= 0 && code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			if tc.code < 0 && code == 0 {
				t.Errorf("exit code 0, want non-zero\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
			}
			for _, s := range tc.contains {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr does not mention %q:\n%s", s, stderr)
				}
			}
			if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic:") {
				t.Errorf("faultline panicked:\n%s", stderr)
			}
			// A mistake must not create a run in the default store.
			if _, err := os.Stat(filepath.Join(wd, "store")); err == nil {
				t.Errorf("a store directory appeared in the working directory")
			}
		})
	}
}

// TestCLICheck checks hand-written Jepsen EDN histories of a single
// cas-register (with :nemesis ops, one op per line and vector-wrapped
// without :index): linearizable ones exit 0, non-linearizable ones exit 1,
// name the offending read and write the visualisation of the failing key.
func TestCLICheck(t *testing.T) {
	tests := []struct {
		file    string
		code    int
		valid   string // "valid? X" on stdout
		explain []string
	}{
		{"cas-register-valid.edn", 0, "true", nil},
		{"cas-register-valid-vector.edn", 0, "true", nil},
		{"cas-register-stale-read.edn", 1, "false", []string{"not linearizable", "read() -> 1", "#7"}},
		{"cas-register-stale-read-vector.edn", 1, "false", []string{"not linearizable", "read() -> 1", "#7"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "vis")
			code, stdout, stderr := cli(t, t.TempDir(), "check", "--model", "cas-register", "--out", out, testdata(tc.file))
			if code != tc.code {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			if want := "valid? " + tc.valid; !strings.Contains(stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, stdout)
			}
			for _, s := range tc.explain {
				if !strings.Contains(stdout, s) {
					t.Errorf("explanation lacks %q:\n%s", s, stdout)
				}
			}
			vis, _ := filepath.Glob(filepath.Join(out, "*.html"))
			if tc.code == 0 {
				if len(vis) != 0 {
					t.Errorf("a valid history produced visualisations %v", vis)
				}
				return
			}
			if len(vis) != 1 {
				t.Fatalf("want one visualisation in %s, got %v\nstdout:\n%s", out, vis, stdout)
			}
			if !strings.Contains(stdout, "visualisation: "+vis[0]) {
				t.Errorf("stdout does not point at %s:\n%s", vis[0], stdout)
			}
			b, err := os.ReadFile(vis[0])
			if err != nil {
				t.Fatal(err)
			}
			if len(b) < 200 || !bytes.Contains(bytes.ToLower(b), []byte("<html")) {
				t.Errorf("visualisation %s is not an HTML page (%d bytes)", vis[0], len(b))
			}
		})
	}
}

// TestCLIList lists an empty store and one with a run that was never
// checked (the harness died): it must say so and point at analyze.
func TestCLIList(t *testing.T) {
	store := t.TempDir()
	code, stdout, stderr := cli(t, t.TempDir(), "list", "--store", store)
	if code != 0 {
		t.Fatalf("list on an empty store: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "START") {
		t.Errorf("list prints no header:\n%s", stdout)
	}
	run := filepath.Join(store, "register", "20260101T000000.000Z")
	if err := os.MkdirAll(run, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(run, "test.json"), []byte(`{"workload":"register","nemesis":"kill","seed":42,"nodes":3}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = cli(t, t.TempDir(), "list", "--store", store)
	if code != 0 {
		t.Fatalf("list: exit %d\n%s", code, stderr)
	}
	for _, s := range []string{"register-kill", "42", "unchecked", "analyze", run} {
		if !strings.Contains(stdout, s) {
			t.Errorf("list output lacks %q:\n%s", s, stdout)
		}
	}
}

// copyRun copies the stored run testdata/runs/<name> into
// store/<test>/<stamp>/ and returns that directory.
func copyRun(t *testing.T, store, name, test, stamp string) string {
	t.Helper()
	src := filepath.Join("..", "..", "testdata", "runs", name)
	dst := filepath.Join(store, test, stamp)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"test.json", "history.jsonl"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestCLIAnalyze re-checks stored runs whose harness died before checking
// (one with a torn last line): analyze writes results.json, history.edn
// and the report, exits with the verdict, follows the latest link, and
// list and report see the result.
func TestCLIAnalyze(t *testing.T) {
	tests := []struct {
		run, test string
		latest    bool // analyze store/latest rather than the directory
		code      int
		invalid   []string // checkers that must say false
		artifact  string   // file the failing checker must write
		stdout    []string
	}{
		{"register-valid", "register-kill", false, 0, nil, "",
			[]string{"linearizable", "valid? true", "history: read 18 ops", "dropped 1"}},
		{"register-stale-read", "register-partition", true, 1, []string{"linearizable"}, "linearizability-1.html",
			[]string{"valid? false", "not linearizable", "read() -> 5"}},
	}
	for _, tc := range tests {
		t.Run(tc.run, func(t *testing.T) {
			wd := t.TempDir()
			const stamp = "20260101T000000.000Z"
			dir := copyRun(t, filepath.Join(wd, "store"), tc.run, tc.test, stamp)
			arg := dir
			if tc.latest {
				if err := os.Symlink(filepath.Join(tc.test, stamp), filepath.Join(wd, "store", "latest")); err != nil {
					t.Fatal(err)
				}
				arg = filepath.Join("store", "latest")
			}
			code, stdout, stderr := cli(t, wd, "analyze", arg)
			if code != tc.code {
				t.Fatalf("analyze: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			for _, f := range []string{"results.json", "history.edn", "report.html", "summary.json"} {
				if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
					t.Errorf("after analyze: %s: %v", f, err)
				}
			}
			if !strings.Contains(stdout, "report: ") || !strings.Contains(stdout, "report.html") {
				t.Errorf("analyze does not point at the report:\n%s", stdout)
			}
			// A torn last line is dropped, and the report says so at the top.
			page, _ := os.ReadFile(filepath.Join(dir, "report.html"))
			if torn := strings.Contains(stdout, "dropped 1"); torn != strings.Contains(string(page), `id="history-read"`) {
				t.Errorf("the report says how the history was read: %v, the command: %v", !torn, torn)
			}
			var results struct {
				Valid    bool `json:"valid"`
				Checkers []struct {
					Checker   string   `json:"checker"`
					Valid     any      `json:"valid"`
					Artifacts []string `json:"artifacts"`
				} `json:"checkers"`
			}
			b, err := os.ReadFile(filepath.Join(dir, "results.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &results); err != nil {
				t.Fatalf("results.json: %v\n%s", err, b)
			}
			if results.Valid != (tc.code == 0) || len(results.Checkers) < 2 {
				t.Errorf("results.json: valid %v with %d checkers, want %v", results.Valid, len(results.Checkers), tc.code == 0)
			}
			for _, c := range results.Checkers {
				wantInvalid := slices.Contains(tc.invalid, c.Checker)
				if (c.Valid == false) != wantInvalid {
					t.Errorf("checker %s: valid %v, want invalid %v", c.Checker, c.Valid, wantInvalid)
				}
				if wantInvalid && tc.artifact != "" && !slices.Contains(c.Artifacts, tc.artifact) {
					t.Errorf("checker %s artifacts %v, want %s", c.Checker, c.Artifacts, tc.artifact)
				}
			}
			if tc.artifact != "" {
				if _, err := os.Stat(filepath.Join(dir, tc.artifact)); err != nil {
					t.Errorf("visualisation not written: %v", err)
				}
			}

			// list shows the verdict; report regenerates the page.
			code, stdout, stderr = cli(t, wd, "list", "--store", "store")
			verdict := "true"
			if tc.code == 1 {
				verdict = "false"
			}
			if code != 0 || !strings.Contains(stdout, tc.test) || !strings.Contains(stdout, verdict) || strings.Contains(stdout, "unchecked") {
				t.Errorf("list: exit %d, want the run with verdict %s:\n%s%s", code, verdict, stdout, stderr)
			}
			if err := os.Remove(filepath.Join(dir, "report.html")); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr = cli(t, wd, "report", dir)
			if code != 0 {
				t.Fatalf("report: exit %d\n%s%s", code, stdout, stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, "report.html")); err != nil {
				t.Errorf("report did not rewrite report.html: %v", err)
			}
		})
	}
}

// TestCLIAnalyzeKeepsCheckTimeout: analyze checks a stored run with the
// run's own check timeout unless --check-timeout says otherwise (it used
// to replace it with the flag's default, 2 minutes, always).
func TestCLIAnalyzeKeepsCheckTimeout(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "7m0s"},
		{[]string{"--check-timeout", "90s"}, "1m30s"},
	} {
		wd := t.TempDir()
		dir := copyRun(t, filepath.Join(wd, "store"), "register-valid", "register-kill", "20260101T000000.000Z")
		p := filepath.Join(dir, "test.json")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.Replace(b, []byte(`"check_timeout": 120000000000`), []byte(`"check_timeout": 420000000000`), 1)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if code, stdout, stderr := cli(t, wd, append(append([]string{"analyze"}, tc.args...), dir)...); code != 0 {
			t.Fatalf("analyze %v: exit %d\n%s%s", tc.args, code, stdout, stderr)
		}
		var sum struct {
			Info struct {
				Config map[string]any `json:"config"`
			} `json:"info"`
		}
		readJSONFile(t, filepath.Join(dir, "summary.json"), &sum)
		if got := sum.Info.Config["check_timeout"]; got != tc.want {
			t.Errorf("analyze %v: the report's check_timeout is %v, want %s", tc.args, got, tc.want)
		}
	}
}

func readJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestFindingsStayInvalid re-checks the histories of the findings the
// README reports (testdata/findings: the real runs, kept): each must
// still come back invalid.
func TestFindingsStayInvalid(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "findings", "*"))
	if len(dirs) == 0 {
		t.Fatal("no findings kept under testdata/findings")
	}
	for _, src := range dirs {
		t.Run(filepath.Base(src), func(t *testing.T) {
			wd := t.TempDir()
			dir := filepath.Join(wd, "store", filepath.Base(src), "20260101T000000.000Z")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(src, "test.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "test.json"), b, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(filepath.Join(src, "history.jsonl.gz"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			zr, err := gzip.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			h, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "history.jsonl"), h, 0o644); err != nil {
				t.Fatal(err)
			}
			if code, stdout, stderr := cli(t, wd, "analyze", dir); code != 1 || !strings.Contains(stdout, "lost") {
				t.Errorf("analyze: exit %d, want 1 with lost elements\n%s%s", code, stdout, stderr)
			}
		})
	}
}
