package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
		{"unknown workload", []string{"run", "--workload", "nope", "--store", t.TempDir()}, 2,
			[]string{`"nope"`, "register", "bank", "list-append", "set"}},
		{"unknown flag", []string{"run", "--bogus-flag"}, 2, []string{"--bogus-flag"}},
		{"unknown nemesis", []string{"run", "--nemesis", "meteor", "--store", t.TempDir()}, 2,
			[]string{`"meteor"`, "partition", "kill"}},
		{"bad node count", []string{"run", "--nodes", "0", "--store", t.TempDir()}, 2, []string{"nodes"}},
		{"run takes no arguments", []string{"run", "extra"}, -1, []string{"extra"}},
		{"check missing file", []string{"check", "--model", "cas-register", filepath.Join(t.TempDir(), "missing.edn")}, -1,
			[]string{"missing.edn", "no such file"}},
		{"check unknown model", []string{"check", "--model", "queue", testdata("cas-register-valid.edn")}, -1,
			[]string{`"queue"`, "cas-register"}},
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
