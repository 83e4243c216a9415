package nemesis

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/history"
)

// TestKillAllAtOnce is issue 16: kill:all kills every node at once (the
// fake's Kill waits until every node's kill is in progress, so killing one
// by one fails), again and again; start brings them all back; with every
// node down, a leader-targeted fault fails at once and says why.
func TestKillAllAtOnce(t *testing.T) {
	f := newFake(t, 5)
	f.killBarrier = 5
	nem := newNem(t, f, "kill:all,partition,clock")
	rec := &memRecorder{}
	ctx := context.Background()
	all := []any{"n1", "n2", "n3", "n4", "n5"}
	for round := range 3 {
		f.set(func() { f.killing = 0 })
		c, err := Apply(ctx, nem, rec, history.Op{F: FKill, Value: TargetAll})
		if err != nil || !reflect.DeepEqual(c.Value.(map[string]any)["nodes"], all) {
			t.Fatalf("round %d: kill all: %v", round, c)
		}
		for _, n := range f.nodes {
			if s := f.State(n); s != StateKilled {
				t.Fatalf("round %d: %s is %s after kill all", round, n, s)
			}
		}
		c, err = Apply(ctx, nem, rec, history.Op{F: FStartPartition, Value: GrudgeLeader})
		if err == nil || !strings.Contains(c.Error, "every node is down") {
			t.Fatalf("round %d: leader partition with every node down: %v", round, c)
		}
		c, err = Apply(ctx, nem, rec, history.Op{F: FStopPartition})
		if err != nil || !reflect.DeepEqual(c.Value, map[string]any{"healed": []any{}, "down": all}) {
			t.Fatalf("round %d: stop-partition with every node down: %v", round, c)
		}
		c, err = Apply(ctx, nem, rec, history.Op{F: FResetClock})
		if err != nil || !reflect.DeepEqual(c.Value, map[string]any{"offsets_ms": map[string]any{}, "down": all}) {
			t.Fatalf("round %d: reset-clock with every node down: %v", round, c)
		}
		c, err = Apply(ctx, nem, rec, history.Op{F: FStart})
		if err != nil || !reflect.DeepEqual(c.Value, map[string]any{"nodes": all}) {
			t.Fatalf("round %d: start: %v", round, c)
		}
		if err := f.WaitHealthy(ctx); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	if got := Happened(rec.all()); len(got) != 3 || got[0] != (Fault{FaultKill, TargetAll}) {
		t.Fatalf("Happened = %v, want kill:all three times", got)
	}
}

// TestHealRestartsCrashedNode is issue 16: a node that died by itself (the
// runtime says it is down, its bookkeeping still says running) is
// restarted by the final heal, which records that it crashed.
func TestHealRestartsCrashedNode(t *testing.T) {
	f := &observedFake{fakeCluster: newFake(t, 3)}
	ctx := context.Background()
	if err := f.Kill(ctx, "n1"); err != nil { // killed by the nemesis
		t.Fatal(err)
	}
	f.set(func() { f.crashed["n3"] = true }) // died by itself
	if s := f.State("n3"); s != StateRunning {
		t.Fatalf("bookkeeping says %s", s)
	}
	rec := &memRecorder{}
	if err := HealAll(ctx, f, rec, nil, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	var start history.Op
	for _, op := range rec.all() {
		if op.F == FStart && op.Type == history.OK {
			start = op
		}
	}
	want := map[string]any{"nodes": []any{"n1", "n3"}, "crashed": []any{"n3"}}
	if !reflect.DeepEqual(start.Value, want) {
		t.Fatalf("heal start recorded %v, want %v", start, want)
	}
	for _, n := range f.nodes {
		if s, _ := f.ObservedState(ctx, n); s != StateRunning {
			t.Fatalf("%s is %s after heal", n, s)
		}
	}
	// The kill nemesis's own start op does the same.
	f.set(func() { f.crashed["n2"] = true })
	rec = &memRecorder{}
	c, err := Apply(ctx, NewKill(f, nil, nil), rec, history.Op{F: FStart})
	if err != nil || !reflect.DeepEqual(c.Value, map[string]any{"nodes": []any{"n2"}, "crashed": []any{"n2"}}) {
		t.Fatalf("start with a crashed node: %v", c)
	}
}
