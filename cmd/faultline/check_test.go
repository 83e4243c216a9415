package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/checker/checkertest"
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
		{"unknown model", []string{"--model", "stack", testdata("bank.edn")}, []string{`"stack"`, "list-append", "rw-register"}},
		{"unknown consistency model", []string{"--model", "list-append", "--consistency-model", "causal", testdata("list-append-elle.edn")},
			[]string{`"causal"`, "snapshot-isolation"}},
		{"missing file", []string{"--model", "bank", filepath.Join(t.TempDir(), "missing.edn")}, []string{"missing.edn", "no such file"}},
		{"unknown extension", []string{"--model", "bank", filepath.Join(t.TempDir(), "h.txt")}, []string{".edn", ".json"}},
		{"malformed history", []string{"--model", "register", testdata("malformed.edn")}, []string{"line 2"}},
		{"Knossos' nil outside its models", []string{"--model", "kv", "--nil-means-unknown", testdata("register-timeless.edn")},
			[]string{"not the kv model's", "cas-register"}},
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
	for _, s := range []string{"--nil-means-unknown", `Knossos reads nil as "value unknown"`, "--bank-accounts", "--group-size", "cut off in its last line"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("check --help does not say %q:\n%s", s, stdout)
		}
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
	ops := checkertest.GenerateListAppendHistory(checkertest.ListAppendGenConfig{Seed: 1, Txns: 30000})
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

// TestCheckEvidence holds `faultline check` to reading a history as
// evidence, class by class: each history that must be refused (or must
// not pass) has a close one that must still pass. Histories are in
// testdata/check/evidence.
func TestCheckEvidence(t *testing.T) {
	ev := func(name string) string { return testdata(filepath.Join("evidence", name)) }
	tests := []struct {
		class, name string
		args        []string
		code        int
		out         []string // on stdout
		lacks       []string // not on stdout
		errs        []string // on stderr
		check       func(t *testing.T, stdout string)
	}{
		// 1. A history cut off in its last line is refused; whole, it is
		// checked. (Dropped, the torn stale read left the history valid.)
		{"torn", "EDN cut off", []string{ev("torn-stale-read.edn")}, 254, nil, nil, []string{"line 9 is cut off", "read 5 ops before it"}, nil},
		{"torn", "EDN whole", []string{ev("stale-read.edn")}, 1, []string{"read 6 ops"}, nil, nil, nil},
		{"torn", "JSON lines cut off", []string{ev("torn-stale-read.json")}, 254, nil, nil, []string{"line 6 is cut off"}, nil},
		{"torn", "JSON lines whole", []string{ev("stale-read.json")}, 1, nil, nil, nil, nil},
		{"torn", "our JSONL cut off", []string{ev("torn-stale-read.jsonl")}, 254, nil, nil, []string{"cut off", "faultline analyze"}, nil},
		{"torn", "our JSONL whole", []string{ev("stale-read.jsonl")}, 1, nil, nil, nil, nil},
		// 2. A completion without an invocation, in a register history.
		{"lone completion", "refused", []string{ev("lone-completion.edn")}, 254, nil, nil,
			[]string{"completed an operation without a prior invocation", "line 8"}, nil},
		{"lone completion", "with its invocation", []string{ev("stale-read.edn")}, 1, []string{"read 1 (#5)"}, nil, nil, nil},
		{"lone completion", "Elle's completions only", []string{"--model", "list-append", testdata("list-append-elle.edn")}, 1, []string{"G1c"}, nil, nil, nil},
		// 3. A process invoking while its op is pending.
		{"process running", "refused", []string{ev("process-running.edn")}, 254, nil, nil, []string{"process already running"}, nil},
		{"process running", "after an info", []string{ev("process-reused-after-info.edn")}, 0, nil, nil, nil, nil},
		// 5. Numbers stay exact, or are refused in words; sums never wrap.
		{"numbers", "JSON integers beyond int64", []string{ev("big-integers.json")}, 2,
			[]string{"9223372036854775808 is an integer beyond the 64-bit range"}, nil, nil, nil},
		{"numbers", "JSON integers within int64", []string{ev("int64-integers.json")}, 0, nil, nil, nil, nil},
		{"numbers", "EDN doubles beyond int64", []string{ev("big-doubles.edn")}, 2,
			[]string{"1e+19 is a floating-point number beyond the 64-bit integer range"}, nil, nil, nil},
		{"numbers", "EDN integer beyond int64 says what it is", []string{ev("bigint.edn")}, 2,
			[]string{"10000000000000000000 is an integer beyond the 64-bit range"}, []string{"not an integer"}, nil, nil},
		{"numbers", "counter adds beyond int64", []string{"--model", "counter", ev("counter-overflow.edn")}, 2,
			[]string{"beyond the 64-bit range"}, nil, nil, nil},
		{"numbers", "counter read beyond int64", []string{"--model", "counter", ev("counter-big-read.edn")}, 1,
			[]string{"read 18446744073709551617 (#3), but the counter was between 1 and 1"}, nil, nil, nil},
		{"numbers", "counter near the top of int64", []string{"--model", "counter", ev("counter-near-max.edn")}, 0, nil, nil, nil, nil},
		{"numbers", "bank sum beyond int64", []string{"--model", "bank", ev("bank-overflow.edn")}, 1,
			[]string{"sum to 18446744073709551616, not 0"}, nil, nil, nil},
		{"numbers", "bank balances near the top of int64", []string{"--model", "bank", ev("bank-large.edn")}, 0, nil, nil, nil, nil},
		// 6. Bank accounts: a read that drops an account holding 0.
		{"bank accounts", "inferred", []string{"--model", "bank", ev("bank-dropped-account.edn")}, 1, []string{"missing-key (1):", "read #5: accounts [2] missing"}, nil, nil, nil},
		{"bank accounts", "given", []string{"--model", "bank", "--bank-accounts", "0,1,2", ev("bank-dropped-account.edn")}, 1, []string{"missing-key (1):"}, nil, nil, nil},
		{"bank accounts", "given, one unexpected", []string{"--model", "bank", "--bank-accounts", "0,1", ev("bank-dropped-account.edn")}, 1,
			[]string{"unexpected-key (1):", "read #1: unexpected accounts [2]"}, []string{"missing-key"}, nil, nil},
		{"bank accounts", "every read whole", []string{"--model", "bank", testdata("bank.edn")}, 0, nil, nil, nil, nil},
		// 7. Explanations.
		{"explanations", ":time against the file", []string{ev("time-backwards.edn")}, 1,
			[]string{"warning: :time runs against the order of the file at 1 op", "read nil (#3), but the register held 1 after write(1) by #1 completed"},
			[]string{" ms"}, nil, nil},
		{"explanations", ":time with the file", []string{ev("time-forwards.edn")}, 1,
			[]string{"read nil at 15 ms (#3), but the register held 1 after write(1) by #1 completed at 10 ms"}, []string{"warning"}, nil, nil},
		{"explanations", "an info write never completed", []string{ev("info-write.edn")}, 1,
			[]string{"set by write(1) #1 (whose outcome is unknown: info at 1 ms)"}, []string{"#1 completed", "completed at"}, nil, nil},
		{"explanations", "one label per transaction", []string{"--model", "list-append", ev("labels.edn")}, 1,
			[]string{"G1a (1):", "G1c (1):"}, nil, nil, sameLabels},
		{"explanations", "a directory is called one", []string{ev("")}, 254, nil, nil, []string{"is a directory"}, nil},
		// 8. Transactions without :process pair in order.
		{"no process", "alternating", []string{"--model", "list-append", ev("no-process.edn")}, 0, []string{"read 6 ops"}, nil, nil, nil},
		{"no process", "two invocations in a row", []string{"--model", "list-append", ev("no-process-unpaired.edn")}, 254, nil, nil, []string{"cannot be paired"}, nil},
		// 9. long-fork, elle-cli's example.
		{"long-fork", "a long fork", []string{"--model", "long-fork", ev("long-fork.edn")}, 1,
			[]string{"long-fork (1):", "reads #1 and #3 saw the writes of keys 1 and 2 in opposite orders"}, nil, nil, nil},
		{"long-fork", "group size", []string{"--model", "long-fork", "--group-size", "3", ev("long-fork.edn")}, 1, nil, nil, nil, nil},
		{"long-fork", "no fork", []string{"--model", "long-fork", ev("long-fork-valid.edn")}, 0, nil, nil, nil, nil},
		// 10. Knossos' reading of nil, behind a flag.
		{"nil", "nil is the initial value", []string{ev("nil-read.edn")}, 1, []string{"read nil (#3)"}, nil, nil, nil},
		{"nil", "Knossos: nil is unknown", []string{"--nil-means-unknown", ev("nil-read.edn")}, 0, nil, nil, nil, nil},
	}
	// 4. An empty history, or one of comments or nemesis ops only, is
	// unknown under every model; one client op among them is checked.
	for _, m := range checker.Models() {
		for _, f := range []string{"empty.edn", "comments-only.edn", "nemesis-only.edn"} {
			tests = append(tests, struct {
				class, name string
				args        []string
				code        int
				out, lacks  []string
				errs        []string
				check       func(t *testing.T, stdout string)
			}{"empty", m.Name + "/" + f, []string{"--model", m.Name, ev(f)}, 2, []string{"valid? unknown"}, nil, nil, nil})
		}
	}
	tests = append(tests, struct {
		class, name string
		args        []string
		code        int
		out, lacks  []string
		errs        []string
		check       func(t *testing.T, stdout string)
	}{"empty", "one client op among nemesis ops", []string{ev("nemesis-and-one-op.edn")}, 0, []string{"read 4 ops (2 nemesis)"}, nil, nil, nil})
	for _, tc := range tests {
		t.Run(tc.class+"/"+tc.name, func(t *testing.T) {
			args := append([]string{"check", "--out", t.TempDir()}, tc.args...)
			code, stdout, stderr := cli(t, t.TempDir(), args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			for _, s := range tc.out {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			for _, s := range tc.lacks {
				if strings.Contains(stdout, s) {
					t.Errorf("stdout holds %q:\n%s", s, stdout)
				}
			}
			for _, s := range tc.errs {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
			if tc.check != nil {
				tc.check(t, stdout)
			}
		})
	}
}

// sameLabels checks a result names each transaction one way: every
// "T<n> (#<index>)" pairs one label with one index.
func sameLabels(t *testing.T, stdout string) {
	t.Helper()
	byLabel, byIndex := map[string]string{}, map[string]string{}
	ms := regexp.MustCompile(`(T\d+) \(#(\d+)\)`).FindAllStringSubmatch(stdout, -1)
	if len(ms) < 4 {
		t.Fatalf("only %d labelled transactions:\n%s", len(ms), stdout)
	}
	for _, m := range ms {
		label, index := m[1], m[2]
		if i, ok := byLabel[label]; ok && i != index {
			t.Errorf("%s names #%s and #%s:\n%s", label, i, index, stdout)
		}
		if l, ok := byIndex[index]; ok && l != label {
			t.Errorf("#%s is named %s and %s:\n%s", index, l, label, stdout)
		}
		byLabel[label], byIndex[index] = index, label
	}
}

// TestCheckInputJSON: --json says how many ops were read, and a refused
// history says what was read and why it was refused.
func TestCheckInputJSON(t *testing.T) {
	for _, tc := range []struct {
		file          string
		code          int
		read, refused int64
		why           string
	}{
		{"stale-read.edn", 1, 6, 0, ""},
		{"torn-stale-read.edn", 254, 5, 1, "is cut off"},
		{"lone-completion.edn", 254, 4, 1, "without a prior invocation"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			code, stdout, stderr := cli(t, t.TempDir(), "check", "--json", "--out", t.TempDir(), testdata(filepath.Join("evidence", tc.file)))
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, stdout, stderr)
			}
			var r checker.Result
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, stdout)
			}
			in := r.Input
			if in == nil || in.Read != tc.read || in.Refused != tc.refused || in.Dropped != 0 {
				t.Fatalf("input %+v", in)
			}
			if tc.why != "" && (len(in.Why) != 1 || !strings.Contains(in.Why[0], tc.why) || r.Valid != checker.Unknown) {
				t.Errorf("a refusal without its reason: %+v", r)
			}
		})
	}
}
