package nemesis

import (
	"bytes"
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/faultline/faultline/history"
)

func TestHappened(t *testing.T) {
	nem := func(typ history.Type, f string, v any) history.Op {
		return history.Op{Type: typ, Process: history.NemesisProcess, F: f, Value: v}
	}
	ok := func(f string, v any) history.Op { return nem(history.OK, f, v) }
	ops := []history.Op{
		nem(history.Invoke, FStartPartition, GrudgeLeader),
		ok(FStartPartition, map[string]any{"kind": GrudgeLeader, "grudge": map[string]any{"n1": []any{"n2", "n3"}}}),
		ok(FStopPartition, map[string]any{"healed": []any{"n1", "n2", "n3"}}),
		// Not confirmed: info, or ok with nothing affected.
		nem(history.Info, FStartPartition, map[string]any{"kind": GrudgeBridge, "grudge": map[string]any{"n1": []any{"n2"}}}),
		ok(FStartPartition, map[string]any{"kind": GrudgeHalves, "grudge": map[string]any{}}),
		nem(history.Info, FKill, map[string]any{"target": TargetAll, "nodes": []any{"n1"}}),
		ok(FKill, map[string]any{"target": TargetMinority, "nodes": []any{}}),
		ok(FKill, map[string]any{"target": TargetOne}),
		// A client op with a fault's name is not the nemesis.
		{Type: history.OK, Process: 3, F: FKill, Value: map[string]any{"target": TargetOne, "nodes": []any{"n1"}}},
		ok(FKill, map[string]any{"target": TargetAll, "nodes": []any{"n1", "n2", "n3"}}),
		ok(FStart, map[string]any{"nodes": []any{"n1", "n2", "n3"}}),
		ok(FPause, map[string]any{"target": TargetLeader, "nodes": []any{"n2"}}),
		ok(FStartLoss, map[string]any{"percent": int64(20), "target": TargetOne, "nodes": []any{"n3"},
			"from": map[string]any{"n1": []any{"n3"}}}),
		ok(FBumpClock, map[string]any{"target": TargetAll, "deltas_ms": map[string]any{"n1": int64(5)},
			"offsets_ms": map[string]any{"n1": int64(5)}}),
		nem(history.Info, FStrobeClock, map[string]any{"offsets_ms": map[string]any{}}),
		ok(FStrobeClock, map[string]any{"offsets_ms": map[string]any{"n2": int64(-3)}}),
		ok(FKill, map[string]any{"target": TargetAll, "nodes": []any{"n1", "n2", "n3"}}),
		ok(FResetClock, map[string]any{"offsets_ms": map[string]any{"n1": int64(0)}}),
	}
	want := []Fault{{FaultPartition, GrudgeLeader}, {FaultKill, TargetAll}, {FaultPause, TargetLeader},
		{FaultLoss, TargetOne}, {FaultClock, ClockBump}, {FaultClock, ClockStrobe}, {FaultKill, TargetAll}}
	if got := Happened(ops); !reflect.DeepEqual(got, want) {
		t.Fatalf("Happened =\n %v\nwant\n %v", got, want)
	}
	// Stored histories read back the same, as JSONL and as EDN.
	for i := range ops {
		ops[i].Index, ops[i].Time = int64(i), int64(i)
	}
	var j, e bytes.Buffer
	if err := history.WriteJSONL(&j, ops); err != nil {
		t.Fatal(err)
	}
	if err := history.WriteEDN(&e, ops); err != nil {
		t.Fatal(err)
	}
	fromJSONL, err := history.ReadJSONL(&j)
	if err != nil {
		t.Fatal(err)
	}
	fromEDN, err := history.ReadEDN(&e)
	if err != nil {
		t.Fatal(err)
	}
	for name, read := range map[string][]history.Op{"jsonl": fromJSONL, "edn": fromEDN} {
		if got := Happened(read); !reflect.DeepEqual(got, want) {
			t.Errorf("Happened(%s) = %v, want %v", name, got, want)
		}
	}

	required := []Fault{{FaultPartition, GrudgeLeader}, {FaultPartition, GrudgeBridge}, {Kind: FaultKill},
		{Kind: FaultPause}, {FaultClock, ClockStrobe}, {Kind: FaultLoss}}
	if m := Missing(required, want); !reflect.DeepEqual(m, []Fault{{FaultPartition, GrudgeBridge}}) {
		t.Errorf("Missing = %v, want [partition:bridge]", m)
	}
}

// TestHappenedAfterRun: a schedule as long as MinTimeLimit, run against
// the fake cluster, makes every required fault happen, as Happened reads
// the recorded history, whatever the seed: one at a time, and
// concurrently, where kill:all and pause:all would leave no running node
// for a fault that starts while they are in effect.
func TestHappenedAfterRun(t *testing.T) {
	for _, concurrent := range []bool{false, true} {
		for seed := uint64(1); seed <= 15; seed++ {
			f := newFake(t, 3)
			cfg := specConfig(t, "partition:leader+bridge,kill:all+one,pause:all+minority,clock,loss", 20*time.Millisecond, concurrent)
			cfg.Seed = seed
			_, _, rec := runSchedule(t, f, cfg, cfg.MinTimeLimit())
			happened := Happened(rec.all())
			if m := Missing(cfg.Required(), happened); len(m) > 0 {
				for _, op := range rec.all() {
					t.Log(op)
				}
				t.Fatalf("concurrent %v, seed %d: %v did not happen (happened: %v)", concurrent, seed, m, happened)
			}
			if err := HealAll(context.Background(), f, rec, cfg.Faults, 30*time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}
}
