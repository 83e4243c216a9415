package checker

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	ops := GenerateRegisterHistory(RegisterGenConfig{Seed: 1, Ops: 20000, Keys: 1, Processes: 30, InfoRate: 0.3})
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
