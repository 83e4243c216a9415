package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
)

// TestCheckModels runs `faultline check` on a history of each kind, as a
// user of Jepsen's tools would: the verdict, its exit code, and the
// anomaly named by its Elle or Jepsen name.
func TestCheckModels(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		out  []string // on stdout
	}{
		{"time-less register", []string{"--model", "register", "register-timeless.edn"}, 1,
			[]string{"valid? false", "nonlinearizable", "read 1 (#5), but the register held 2"}},
		{"Jepsen's JSON form", []string{"--model", "cas-register", "register.json"}, 0, []string{"valid? true"}},
		{"Elle's README example", []string{"--model", "list-append", "list-append-elle.edn"}, 1,
			[]string{"G1c (1):", "ruled out: read-committed"}},
		{"Elle's README example, read uncommitted", []string{"--model", "list-append", "--consistency-model", "read-uncommitted",
			"list-append-elle.edn"}, 0, []string{"valid? true", "consistency model read-uncommitted"}},
		{"write skew, serializable", []string{"--model", "rw-register", "--consistency-model", "serializable",
			"rw-register-write-skew.edn"}, 1, []string{"G2-item (1):"}},
		{"write skew, snapshot isolation", []string{"--model", "rw-register", "--consistency-model", "snapshot-isolation",
			"rw-register-write-skew.edn"}, 0, []string{"valid? true"}},
		{"set: a failed add read", []string{"--model", "set", "set-failed-add.edn"}, 1,
			[]string{"unexpected (1):", "its add #1 failed"}},
		{"bank, total inferred", []string{"--model", "bank", "bank.edn"}, 0, []string{"valid? true"}},
		{"bank, wrong total", []string{"--model", "bank", "--bank-total", "90", "bank.edn"}, 1, []string{"wrong-total (2):"}},
		{"counter", []string{"--model", "counter", "counter.edn"}, 1, []string{"out-of-bounds (1):", "between 5 and 5"}},
		{"mutex", []string{"--model", "mutex", "mutex.edn"}, 1, []string{"acquired the lock (#3) while it was held"}},
		{"unknown past the time limit", []string{"--model", "register", "--timeout", "1ns", "register-timeless.edn"}, 2,
			[]string{"valid? unknown"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"check", "--out", t.TempDir()}, tc.args...)
			args[len(args)-1] = testdata(args[len(args)-1])
			code, stdout, stderr := cli(t, t.TempDir(), args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			for _, s := range tc.out {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
		})
	}
}

// TestCheckJSON checks --json prints a result machines can read, with the
// fields reports draw from.
func TestCheckJSON(t *testing.T) {
	code, stdout, stderr := cli(t, t.TempDir(), "check", "--model", "list-append", "--json", testdata("list-append-elle.edn"))
	if code != 1 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	var r checker.Result
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if r.Valid != checker.Invalid || len(r.Anomalies) != 1 {
		t.Fatalf("%+v", r)
	}
	a := r.Anomalies[0]
	if a.Type != "G1c" || a.Summary == "" || len(a.Cycle) != 2 || a.Cycle[0].Kind == "" || a.HasTime {
		t.Errorf("anomaly %+v", a)
	}
}

// TestCheckUsage checks mistakes exit 254 and say what is wrong, and that
// --help lists every model in a line.
func TestCheckUsage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		contains []string // on stderr
	}{
		{"unknown model", []string{"--model", "queue", testdata("bank.edn")}, []string{`"queue"`, "list-append", "rw-register"}},
		{"unknown consistency model", []string{"--model", "list-append", "--consistency-model", "causal", testdata("list-append-elle.edn")},
			[]string{`"causal"`, "snapshot-isolation"}},
		{"missing file", []string{"--model", "bank", filepath.Join(t.TempDir(), "missing.edn")}, []string{"missing.edn", "no such file"}},
		{"unknown extension", []string{"--model", "bank", filepath.Join(t.TempDir(), "h.txt")}, []string{".edn", ".json"}},
		{"malformed history", []string{"--model", "register", testdata("malformed.edn")}, []string{"line 2"}},
		{"no file", []string{"--model", "bank"}, []string{"arg"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := cli(t, t.TempDir(), append([]string{"check"}, tc.args...)...)
			if code != 254 {
				t.Errorf("exit %d, want 254\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			for _, s := range tc.contains {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
		})
	}
	code, stdout, _ := cli(t, t.TempDir(), "check", "--help")
	if code != 0 {
		t.Fatalf("check --help: exit %d", code)
	}
	for _, m := range checker.Models() {
		found := false
		for _, l := range strings.Split(stdout, "\n") {
			found = found || strings.HasPrefix(strings.TrimSpace(l), m.Name+" ") && strings.Contains(l, m.Summary)
		}
		if !found {
			t.Errorf("check --help does not list %s in a line:\n%s", m.Name, stdout)
		}
	}
}

// TestCheckProgress checks a long check says how far it has got on
// stderr, and nothing on stdout but the verdict.
func TestCheckProgress(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.edn")
	ops := checker.GenerateListAppendHistory(checker.ListAppendGenConfig{Seed: 1, Txns: 30000})
	if err := history.WriteFile(path, ops); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := cli(t, t.TempDir(), "check", "--model", "list-append", "--progress", "1ms", path)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "faultline check: reading history.edn: ") {
		t.Errorf("no progress on stderr:\n%s", stderr)
	}
	if strings.Contains(stdout, "faultline check:") {
		t.Errorf("progress on stdout:\n%s", stdout)
	}
}
