package checker

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLinearizableGolden(t *testing.T) {
	cases := []struct {
		file, model string
		want        Verdict
		ops         []int64 // ops that must be named
	}{
		{"register-valid", "register", Valid, nil},
		{"register-stale-read", "register", Invalid, []int64{5}},
		{"register-read-failed-write", "register", Invalid, []int64{5}},
		{"register-stale-read", "cas-register", Invalid, []int64{5}},
		{"cas-register-valid-info", "cas-register", Valid, nil},
		{"cas-register-lost-cas", "cas-register", Invalid, []int64{5}},
		{"cas-register-bad-cas", "cas-register", Invalid, []int64{3}},
		{"kv-valid", "kv", Valid, nil},
		{"kv-read-deleted", "kv", Invalid, []int64{5}},
	}
	for _, c := range cases {
		t.Run(c.file+"/"+c.model, func(t *testing.T) {
			dir := t.TempDir()
			l, err := NewLinearizable(LinearizableConfig{Model: c.model, OutDir: dir, TimeLimit: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			r := l.Check(context.Background(), loadJSONL(t, testdata(c.file+".jsonl")))
			if r.Valid != c.want {
				t.Fatalf("verdict %s, want %s: %s %s", r.Valid, c.want, r.Explanation, r.Error)
			}
			if c.want != Invalid {
				return
			}
			if r.Explanation == "" || len(r.Anomalies) == 0 || r.Anomalies[0].Type != "nonlinearizable" {
				t.Fatalf("invalid without anomaly: %+v", r)
			}
			for _, id := range c.ops {
				found := false
				for _, o := range r.Anomalies[0].Ops {
					found = found || o == id
				}
				if !found {
					t.Errorf("op #%d not named: %v; %s", id, r.Anomalies[0].Ops, r.Explanation)
				}
			}
			if len(r.Artifacts) != 1 {
				t.Fatalf("artifacts %v", r.Artifacts)
			}
			b, err := os.ReadFile(filepath.Join(dir, r.Artifacts[0]))
			if err != nil || !strings.Contains(string(b), "<html") {
				t.Fatalf("visualisation: %v", err)
			}
			t.Log(r.Explanation)
		})
	}
}

func TestLinearizableBadInput(t *testing.T) {
	if _, err := NewLinearizable(LinearizableConfig{Model: "queue"}); err == nil {
		t.Fatal("unknown model accepted")
	}
	l, _ := NewLinearizable(LinearizableConfig{Model: "register"})
	r := l.Check(context.Background(), loadJSONL(t, testdata("cas-register-valid-info.jsonl")))
	if r.Valid != Unknown || r.Error == "" {
		t.Fatalf("cas in register model: %+v", r)
	}
}

// porcupineVerdicts are porcupine's own verdicts for its etcd test logs
// (porcupine_test.go), copied to testdata/porcupine.
var porcupineVerdicts = map[string]bool{
	"etcd_000": false, "etcd_001": false, "etcd_002": true, "etcd_003": false,
	"etcd_005": true, "etcd_006": false, "etcd_098": true, "etcd_100": true,
}

func TestPorcupineJepsenLogs(t *testing.T) {
	files, _ := filepath.Glob(testdata("porcupine", "etcd_*.log"))
	if len(files) == 0 {
		t.Fatal("no porcupine test data")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".log")
		want, ok := porcupineVerdicts[name]
		if !ok {
			continue
		}
		t.Run(name, func(t *testing.T) {
			l, _ := NewLinearizable(LinearizableConfig{Model: "cas-register", OutDir: t.TempDir(), TimeLimit: 20 * time.Second})
			r := l.Check(context.Background(), loadJepsenLog(t, f))
			wantV := Invalid
			if want {
				wantV = Valid
			}
			if r.Valid != wantV {
				t.Fatalf("verdict %s, porcupine says %s: %s", r.Valid, wantV, r.Explanation)
			}
		})
	}
}

func TestLinearizableTimeout(t *testing.T) {
	ops := GenerateRegisterHistory(RegisterGenConfig{Seed: 1, Ops: 20000, Keys: 1, Processes: 30, InfoRate: 0.3})
	l, _ := NewLinearizable(LinearizableConfig{Model: "cas-register", TimeLimit: 200 * time.Millisecond})
	start := time.Now()
	r := l.Check(context.Background(), ops)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	if r.Valid == Invalid {
		t.Fatalf("generated history invalid: %s", r.Explanation)
	}
	t.Logf("%s after %v: %s", r.Valid, time.Since(start), r.Explanation)
}
