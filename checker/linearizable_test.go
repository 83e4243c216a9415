package checker

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/checker/checkertest"
	"github.com/faultline/faultline/history"
)

func TestLinearizableVisualisation(t *testing.T) {
	dir := t.TempDir()
	l, err := NewLinearizable(LinearizableConfig{Model: "register", OutDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	r := l.Check(context.Background(), golden(t, "register-timeless"))
	if r.Valid != Invalid || len(r.Artifacts) != 1 {
		t.Fatalf("%s, artifacts %v: %s", r.Valid, r.Artifacts, r.Explanation)
	}
	b, err := os.ReadFile(filepath.Join(dir, r.Artifacts[0]))
	if err != nil || !strings.Contains(string(b), "<html") {
		t.Fatalf("visualisation: %v", err)
	}
	a := r.Anomalies[0]
	// The telling op first: the read of 1, after the write of 2.
	if a.Ops[0] != 5 || a.Ops[1] != 3 || !strings.Contains(a.Summary, "read 1 (#5)") || a.HasTime {
		t.Errorf("anomaly %+v", a)
	}
}

func TestLinearizableBadInput(t *testing.T) {
	if _, err := NewLinearizable(LinearizableConfig{Model: "queue"}); err == nil || !strings.Contains(err.Error(), "cas-register") {
		t.Fatalf("unknown model: %v", err)
	}
	l, _ := NewLinearizable(LinearizableConfig{Model: "register"})
	r := l.Check(context.Background(), golden(t, "cas-register-bad-cas"))
	if r.Valid != Unknown || !strings.Contains(r.Error, "cas") {
		t.Fatalf("cas in the register model: %+v", r)
	}
}

// TestLinearizableTimeout checks that the time limit fires and gives
// unknown: one key, 30 processes, a third of the writes info (each may
// take effect any time after it began, which porcupine cannot decide in
// 200 ms).
func TestLinearizableTimeout(t *testing.T) {
	ops := checkertest.GenerateRegisterHistory(checkertest.RegisterGenConfig{Seed: 1, Ops: 20000, Keys: 1, Processes: 30, InfoRate: 0.3})
	l, _ := NewLinearizable(LinearizableConfig{Model: "cas-register", TimeLimit: 200 * time.Millisecond})
	start := time.Now()
	r := l.Check(context.Background(), ops)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v after a 200 ms limit", d)
	}
	if r.Valid != Unknown || r.Error == "" || !strings.Contains(r.Explanation, "could not be checked") {
		t.Fatalf("verdict %s after %v, want unknown: %s", r.Valid, time.Since(start), r.Explanation)
	}
}

// TestLinearizableVisualisesEveryFailingKeyUpToTheCap: one file per
// failing key, at most MaxVisualized, and the cap said in Details.
func TestLinearizableVisualisesEveryFailingKeyUpToTheCap(t *testing.T) {
	var ops []history.Op
	add := func(typ history.Type, f string, v any) {
		ops = append(ops, history.Op{Index: int64(len(ops)), Time: int64(len(ops)), Type: typ, Process: 0, F: f, Value: v})
	}
	keys := MaxVisualized + 2
	for k := range keys {
		for _, step := range []struct {
			f string
			v int64
		}{{"write", 1}, {"write", 2}, {"read", 1}} {
			add(history.Invoke, step.f, []any{int64(k), step.v})
			add(history.OK, step.f, []any{int64(k), step.v})
		}
	}
	dir := t.TempDir()
	l, err := NewLinearizable(LinearizableConfig{Model: "cas-register", OutDir: dir, MaxExplained: keys})
	if err != nil {
		t.Fatal(err)
	}
	r := l.Check(context.Background(), ops)
	if r.Valid != Invalid || len(r.Anomalies) != keys {
		t.Fatalf("%s with %d anomalies, want invalid with %d: %s", r.Valid, len(r.Anomalies), keys, r.Explanation)
	}
	if len(r.Artifacts) != MaxVisualized || r.Details["max_visualized"] != MaxVisualized {
		t.Errorf("%d visualisations (cap %v), want %d", len(r.Artifacts), r.Details["max_visualized"], MaxVisualized)
	}
}
