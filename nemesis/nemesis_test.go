package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/nemesis/netrule"
)

func allConfig(t *testing.T, seed uint64) Config {
	t.Helper()
	cfg, err := DefaultConfig().WithSpec("partition,kill,pause,clock,loss")
	if err != nil {
		t.Fatal(err)
	}
	// Ops of the fake cluster take no time: steps are due at multiples of
	// the interval.
	cfg.Seed, cfg.OpAllowance = seed, 0
	return cfg
}

func TestScheduleDeterminism(t *testing.T) {
	a, err := NewSchedule(allConfig(t, 42), 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSchedule(allConfig(t, 42), 10*time.Minute)
	c, _ := NewSchedule(allConfig(t, 43), 10*time.Minute)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different schedules")
	}
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds gave the same schedule")
	}
	if len(a) != 118 { // offsets 5s..590s: no fault starts at 595s, it could not stop before 600s
		t.Fatalf("len %d, want 118", len(a))
	}
	stopOf := map[string]string{FStartPartition: FStopPartition, FStartLoss: FStopLoss, FKill: FStart,
		FPause: FResume, FBumpClock: FResetClock, FStrobeClock: FResetClock}
	for i, st := range a {
		if st.Offset != time.Duration(i+1)*5*time.Second {
			t.Fatalf("step %d at %v", i, st.Offset)
		}
		if st.Op.Type != history.Invoke || st.Op.Process != history.NemesisProcess {
			t.Fatalf("step %d: %+v is not a nemesis invoke", i, st.Op)
		}
		if i%2 == 1 && stopOf[a[i-1].Op.F] != st.Op.F {
			t.Fatalf("step %d: %s after %s, want its stop", i, st.Op.F, a[i-1].Op.F)
		}
	}
	// Every fault kind shows up in a long schedule.
	want := []string{FBumpClock, FKill, FPause, FResetClock, FResume, FStart, FStartLoss,
		FStartPartition, FStopLoss, FStopPartition, FStrobeClock}
	if got := a.Fs(); !reflect.DeepEqual(got, want) {
		t.Fatalf("fs %v, want %v", got, want)
	}

	if _, err := NewSchedule(allConfig(t, 42), 12*time.Second); err == nil ||
		!strings.Contains(err.Error(), "--time-limit 12s is too short for 5 faults") {
		t.Fatalf("12s schedule for 5 kinds: %v, want a too-short error", err)
	}
	none, _ := NewSchedule(DefaultConfig(), time.Minute)
	if len(none) != 0 {
		t.Fatalf("no faults gave %d steps", len(none))
	}
}

func TestConfigSpec(t *testing.T) {
	cfg, err := DefaultConfig().WithSpec("partition:majority-ring+bridge, kill:leader,loss:35+one,clock:bump")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Faults, []string{FaultPartition, FaultKill, FaultLoss, FaultClock}) ||
		!reflect.DeepEqual(cfg.Options[FaultPartition], []string{GrudgeMajorityRing, GrudgeBridge}) ||
		!reflect.DeepEqual(cfg.Options[FaultKill], []string{TargetLeader}) ||
		cfg.LossPercent != 35 || !reflect.DeepEqual(cfg.Options[FaultLoss], []string{TargetOne}) ||
		!reflect.DeepEqual(cfg.Options[FaultClock], []string{ClockBump}) {
		t.Fatalf("parsed %+v", cfg)
	}
	for _, bad := range []string{"partition,flood", "kill:everyone", "partition:nope", "loss:0", "kill,kill"} {
		if _, err := DefaultConfig().WithSpec(bad); err == nil {
			t.Errorf("spec %q accepted", bad)
		}
	}
	cfg = allConfig(t, 1)
	cfg.Interval = 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "interval") {
		t.Errorf("zero interval: %v", err)
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
}

// stubNemesis answers every op with OK and remembers what it saw.
type stubNemesis struct {
	fs       []string
	seen     []string
	tornDown bool
	err      error
}

func (s *stubNemesis) Invoke(_ context.Context, op history.Op) (history.Op, error) {
	s.seen = append(s.seen, op.F)
	return complete(op, "done by "+s.fs[0], s.err)
}
func (s *stubNemesis) Teardown(context.Context) error { s.tornDown = true; return s.err }
func (s *stubNemesis) Fs() []string                   { return s.fs }

func TestCompose(t *testing.T) {
	a := &stubNemesis{fs: []string{"a1", "a2"}}
	b := &stubNemesis{fs: []string{"b1"}, err: errBoom}
	c, err := Compose(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Fs(); !reflect.DeepEqual(got, []string{"a1", "a2", "b1"}) {
		t.Fatalf("Fs %v", got)
	}
	rec := &memRecorder{}
	ctx := context.Background()
	for _, f := range []string{"a2", "b1", "a1", "zz"} {
		Apply(ctx, c, rec, history.Op{F: f})
	}
	if !reflect.DeepEqual(a.seen, []string{"a2", "a1"}) || !reflect.DeepEqual(b.seen, []string{"b1"}) {
		t.Fatalf("dispatch: a saw %v, b saw %v", a.seen, b.seen)
	}
	ops := rec.all()
	if ops[3].Type != history.Info || !strings.Contains(ops[3].Error, "boom") ||
		ops[7].Type != history.Info || !strings.Contains(ops[7].Error, "no nemesis handles") {
		t.Fatalf("errors not recorded as info: %v / %v", ops[3], ops[7])
	}
	if err := c.Teardown(ctx); !errors.Is(err, errBoom) || !a.tornDown || !b.tornDown {
		t.Fatalf("teardown: %v, a %v, b %v", err, a.tornDown, b.tornDown)
	}
	if _, err := Compose(a, &stubNemesis{fs: []string{"a1"}}); err == nil {
		t.Fatal("duplicate f accepted")
	}
}

// pair returns the invoke and completion recorded for the i-th op.
func pair(t *testing.T, rec *memRecorder, i int) (history.Op, history.Op) {
	t.Helper()
	ops := rec.all()
	if len(ops) < 2*i+2 {
		t.Fatalf("only %d ops recorded", len(ops))
	}
	inv, c := ops[2*i], ops[2*i+1]
	if inv.Type != history.Invoke || inv.Process != history.NemesisProcess || c.Process != history.NemesisProcess ||
		c.F != inv.F || c.Index != inv.Index+1 {
		t.Fatalf("bad pair %v / %v", inv, c)
	}
	return inv, c
}

func newNem(t *testing.T, f *fakeCluster, spec string) Nemesis {
	t.Helper()
	cfg, err := DefaultConfig().WithSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPartitionRecorded(t *testing.T) {
	for _, kind := range GrudgeKinds {
		t.Run(kind, func(t *testing.T) {
			f := newFake(t, 5)
			f.leader = "n4"
			nem := newNem(t, f, "partition")
			rec := &memRecorder{}
			ctx := context.Background()
			if _, err := Apply(ctx, nem, rec, history.Op{F: FStartPartition, Value: kind}); err != nil {
				t.Fatal(err)
			}
			inv, c := pair(t, rec, 0)
			if inv.Value != kind || c.Type != history.OK {
				t.Fatalf("pair %v / %v", inv, c)
			}
			g := c.Value.(map[string]any)["grudge"].(map[string]any)
			if len(g) == 0 {
				t.Fatalf("empty grudge recorded: %v", c)
			}
			for _, node := range f.nodes {
				var want []string
				if l, ok := g[node]; ok {
					for _, x := range l.([]any) {
						want = append(want, x.(string))
					}
				}
				if got := f.dropsFrom(node); !slices.Equal(got, want) {
					t.Fatalf("%s drops %v, recorded %v", node, got, want)
				}
			}
			if kind == GrudgeLeader && len(g["n4"].([]any)) != 4 {
				t.Fatalf("leader grudge does not isolate n4: %v", g)
			}
			if _, err := Apply(ctx, nem, rec, history.Op{F: FStopPartition}); err != nil {
				t.Fatal(err)
			}
			_, c = pair(t, rec, 1)
			if c.Type != history.OK || len(c.Value.(map[string]any)["healed"].([]any)) != 5 {
				t.Fatalf("stop-partition: %v", c)
			}
			for _, node := range f.nodes {
				if r := f.dropsFrom(node); len(r) != 0 {
					t.Fatalf("%s still drops %v", node, r)
				}
			}
		})
	}
}

func TestLoss(t *testing.T) {
	f := newFake(t, 3)
	nem := newNem(t, f, "loss")
	rec := &memRecorder{}
	if _, err := Apply(context.Background(), nem, rec, history.Op{F: FStartLoss,
		Value: map[string]any{"percent": int64(30), "target": TargetOne}}); err != nil {
		t.Fatal(err)
	}
	_, c := pair(t, rec, 0)
	v := c.Value.(map[string]any)
	chosen := v["nodes"].([]any)[0].(string)
	if c.Type != history.OK || v["percent"] != int64(30) || len(v["nodes"].([]any)) != 1 {
		t.Fatalf("start-loss: %v", c)
	}
	for _, node := range f.nodes {
		f.mu.Lock()
		rules := slices.Clone(f.rules[node])
		f.mu.Unlock()
		want := 1
		if node == chosen {
			want = 2
		}
		if len(rules) != want || rules[0].Percent != 30 || rules[0].Dir != netrule.Inbound {
			t.Fatalf("%s rules %v (chosen %s)", node, rules, chosen)
		}
	}
	if err := nem.Teardown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, node := range f.nodes {
		if r := f.dropsFrom(node); len(r) != 0 {
			t.Fatalf("teardown left rules on %s: %v", node, r)
		}
	}
}

// TestOverlappingNetFaults: a partition and a loss in effect together;
// the partition's stop removes its own rules and leaves the loss's, so
// the loss is not cut short by another fault's heal.
func TestOverlappingNetFaults(t *testing.T) {
	f := newFake(t, 3)
	nem := newNem(t, f, "partition,loss")
	rec := &memRecorder{}
	for _, op := range []history.Op{
		{F: FStartPartition, Value: GrudgeMajorityRing},
		{F: FStartLoss, Value: map[string]any{"percent": int64(30), "target": TargetAll}},
		{F: FStopPartition},
	} {
		if c, err := Apply(context.Background(), nem, rec, op); err != nil || c.Type != history.OK {
			t.Fatalf("%s: %v, %v", op.F, c, err)
		}
	}
	for _, node := range f.nodes {
		f.mu.Lock()
		rules := slices.Clone(f.rules[node])
		f.mu.Unlock()
		if len(rules) != 2 {
			t.Errorf("%s after stop-partition: rules %v, want the loss's 2", node, rules)
		}
		for _, r := range rules {
			if r.Tag != FaultLoss || r.Percent != 30 {
				t.Errorf("%s after stop-partition: rule %v, want only the loss's", node, r)
			}
		}
	}
	if c, err := Apply(context.Background(), nem, rec, history.Op{F: FStopLoss}); err != nil || c.Type != history.OK {
		t.Fatalf("stop-loss: %v, %v", c, err)
	}
	for _, node := range f.nodes {
		if r := f.dropsFrom(node); len(r) != 0 {
			t.Errorf("stop-loss left rules on %s: %v", node, r)
		}
	}
}

func TestProcessFaults(t *testing.T) {
	for _, tc := range []struct {
		spec, startF, stopF, target, faulted string
		want                                 int
	}{
		{"kill", FKill, FStart, TargetOne, StateKilled, 1},
		{"kill", FKill, FStart, TargetMinority, StateKilled, 2},
		{"kill", FKill, FStart, TargetMajority, StateKilled, 3},
		{"kill", FKill, FStart, TargetAll, StateKilled, 5},
		{"kill", FKill, FStart, TargetLeader, StateKilled, 1},
		{"pause", FPause, FResume, TargetMinority, StatePaused, 2},
		{"pause", FPause, FResume, TargetLeader, StatePaused, 1},
	} {
		t.Run(tc.spec+"-"+tc.target, func(t *testing.T) {
			f := newFake(t, 5)
			f.leader = "n3"
			nem := newNem(t, f, tc.spec)
			rec := &memRecorder{}
			ctx := context.Background()
			if _, err := Apply(ctx, nem, rec, history.Op{F: tc.startF, Value: tc.target}); err != nil {
				t.Fatal(err)
			}
			inv, c := pair(t, rec, 0)
			nodes := c.Value.(map[string]any)["nodes"].([]any)
			if inv.Value != tc.target || c.Type != history.OK || len(nodes) != tc.want {
				t.Fatalf("pair %v / %v", inv, c)
			}
			if tc.target == TargetLeader && nodes[0] != "n3" {
				t.Fatalf("leader target hit %v", nodes)
			}
			for _, n := range nodes {
				if s := f.State(n.(string)); s != tc.faulted {
					t.Fatalf("%s is %s", n, s)
				}
			}
			if _, err := Apply(ctx, nem, rec, history.Op{F: tc.stopF}); err != nil {
				t.Fatal(err)
			}
			_, c = pair(t, rec, 1)
			if c.Type != history.OK || !reflect.DeepEqual(c.Value.(map[string]any)["nodes"], nodes) {
				t.Fatalf("%s: %v, want nodes %v", tc.stopF, c, nodes)
			}
			if err := f.WaitHealthy(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestClock(t *testing.T) {
	f := newFake(t, 3)
	nem := newNem(t, f, "clock")
	rec := &memRecorder{}
	ctx := context.Background()
	if _, err := Apply(ctx, nem, rec, history.Op{F: FBumpClock,
		Value: map[string]any{"deltas_ms": map[string]any{"n1": int64(-3000), "n3": int64(1500)}}}); err != nil {
		t.Fatal(err)
	}
	_, c := pair(t, rec, 0)
	want := map[string]any{"n1": int64(-3000), "n3": int64(1500)}
	if c.Type != history.OK || !reflect.DeepEqual(c.Value.(map[string]any)["offsets_ms"], want) {
		t.Fatalf("bump: %v", c)
	}
	if _, err := Apply(ctx, nem, rec, history.Op{F: FBumpClock,
		Value: map[string]any{"target": TargetAll, "max_ms": int64(100)}}); err != nil {
		t.Fatal(err)
	}
	_, c = pair(t, rec, 1)
	deltas := c.Value.(map[string]any)["deltas_ms"].(map[string]any)
	for _, n := range f.nodes {
		d, _ := history.Int(deltas[n])
		if d == 0 || d < -100 || d > 100 {
			t.Fatalf("bump all: delta %v for %s", deltas[n], n)
		}
	}
	if _, err := Apply(ctx, nem, rec, history.Op{F: FStrobeClock,
		Value: map[string]any{"target": TargetOne, "delta_ms": int64(200), "period_ms": int64(10), "duration_ms": int64(1000)}}); err != nil {
		t.Fatal(err)
	}
	if _, c = pair(t, rec, 2); c.Type != history.OK {
		t.Fatalf("strobe: %v", c)
	}
	if _, err := Apply(ctx, nem, rec, history.Op{F: FResetClock}); err != nil {
		t.Fatal(err)
	}
	_, c = pair(t, rec, 3)
	if c.Type != history.OK || len(c.Value.(map[string]any)["offsets_ms"].(map[string]any)) != 3 {
		t.Fatalf("reset: %v", c)
	}
	for n, o := range f.offsets {
		if o != 0 {
			t.Fatalf("%s offset %d after reset", n, o)
		}
	}
}

// TestUnappliedFaultsAreInfo: a fault that cannot be applied or confirmed
// is recorded as info with the error.
func TestUnappliedFaultsAreInfo(t *testing.T) {
	defer func(d time.Duration) { stateTimeout = d }(stateTimeout)
	stateTimeout = 200 * time.Millisecond
	for _, tc := range []struct {
		name  string
		spec  string
		op    history.Op
		setup func(f *fakeCluster)
		want  string
	}{
		{"exec fails", "partition", history.Op{F: FStartPartition, Value: GrudgeHalves},
			func(f *fakeCluster) { f.execErr["n2"] = errBoom }, "boom"},
		{"no leader", "partition", history.Op{F: FStartPartition, Value: GrudgeLeader},
			func(f *fakeCluster) { f.leaderErr = errBoom }, "find leader"},
		{"unknown grudge", "partition", history.Op{F: FStartPartition, Value: "zigzag"},
			func(*fakeCluster) {}, "unknown grudge"},
		{"kill not confirmed", "kill", history.Op{F: FKill, Value: TargetAll},
			func(f *fakeCluster) { f.stuck["n1"] = true }, `n1: state is "running"`},
		{"kill leader unknown", "kill", history.Op{F: FKill, Value: TargetLeader},
			func(f *fakeCluster) { f.leaderErr = errBoom }, "find leader"},
		{"pause not confirmed", "pause", history.Op{F: FPause, Value: TargetAll},
			func(f *fakeCluster) { f.stuck["n2"] = true }, `pause n2: state is "running"`},
		{"too few running for a majority", "pause", history.Op{F: FPause, Value: TargetMajority},
			func(f *fakeCluster) { f.state["n2"], f.state["n3"] = StateKilled, StatePaused },
			"target majority needs 2 node(s), 1 of 3 are eligible (n2 is killed, n3 is paused)"},
		{"pause all with a member killed", "pause", history.Op{F: FPause, Value: TargetAll},
			func(f *fakeCluster) { f.state["n2"] = StateKilled },
			"target all needs 3 node(s), 2 of 3 are eligible (n2 is killed)"},
		{"kill all with a member killed", "kill", history.Op{F: FKill, Value: TargetAll},
			func(f *fakeCluster) { f.state["n3"] = StateKilled },
			"target all needs 3 node(s), 2 of 3 are eligible (n3 is killed)"},
		{"clock on killed node", "clock", history.Op{F: FBumpClock, Value: map[string]any{"deltas_ms": map[string]any{"n3": int64(100)}}},
			func(f *fakeCluster) { f.state["n3"] = StateKilled }, "503"},
		{"every node down: no leader to ask", "partition", history.Op{F: FStartPartition, Value: GrudgeLeader},
			func(f *fakeCluster) {
				f.state["n1"], f.state["n2"], f.state["n3"] = StateKilled, StateKilled, StateKilled
			},
			"no leader: every node is down (n1 is killed, n2 is killed, n3 is killed)"},
		{"majority paused: no leader to wait for", "kill", history.Op{F: FKill, Value: TargetLeader},
			func(f *fakeCluster) { f.state["n1"], f.state["n2"] = StatePaused, StatePaused },
			"no leader: 1 of 3 nodes are running, not a majority (n1 is paused, n2 is paused)"},
		{"partition with every node down", "partition", history.Op{F: FStartPartition, Value: GrudgeHalves},
			func(f *fakeCluster) {
				f.state["n1"], f.state["n2"], f.state["n3"] = StateKilled, StateKilled, StateKilled
			},
			"no running node to take the grudge"},
		{"loss that cuts no link", "loss", history.Op{F: FStartLoss, Value: map[string]any{"target": TargetAll}},
			func(f *fakeCluster) { f.nodes = f.nodes[:1] }, "cuts no link"},
		{"minority of one node", "kill", history.Op{F: FKill, Value: TargetMinority},
			func(f *fakeCluster) { f.nodes = f.nodes[:1] }, "target minority of 1 nodes is no node"},
		{"loss percent", "loss", history.Op{F: FStartLoss, Value: map[string]any{"percent": int64(0)}},
			func(*fakeCluster) {}, "out of range"},
		{"heal on paused node", "partition", history.Op{F: FStopPartition},
			func(f *fakeCluster) { f.state["n1"] = StatePaused }, "n1 is paused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, 3)
			f.set(func() { tc.setup(f) })
			rec := &memRecorder{}
			_, err := Apply(context.Background(), newNem(t, f, tc.spec), rec, tc.op)
			_, c := pair(t, rec, 0)
			if err == nil || c.Type != history.Info || !strings.Contains(c.Error, tc.want) {
				t.Fatalf("err %v, completion %v; want info containing %q", err, c, tc.want)
			}
		})
	}
}

// TestTargetAllIsEveryMember: all hits every node that has not left the
// cluster, paused ones too for a kill.
func TestTargetAllIsEveryMember(t *testing.T) {
	f := newFake(t, 4)
	f.set(func() { f.state["n2"], f.state["n4"] = StateLeft, StatePaused })
	rec := &memRecorder{}
	if _, err := Apply(context.Background(), newNem(t, f, "kill"), rec, history.Op{F: FKill, Value: TargetAll}); err != nil {
		t.Fatal(err)
	}
	_, c := pair(t, rec, 0)
	if got := c.Value.(map[string]any)["nodes"]; !reflect.DeepEqual(got, []any{"n1", "n3", "n4"}) {
		t.Fatalf("kill all hit %v, want [n1 n3 n4]", got)
	}
}

// runSchedule runs cfg's schedule for limit against f and returns it, the
// nemesis and the recorded history.
func runSchedule(t *testing.T, f Cluster, cfg Config, limit time.Duration) (Schedule, Nemesis, *memRecorder) {
	t.Helper()
	sched, err := NewSchedule(cfg, limit)
	if err != nil {
		t.Fatal(err)
	}
	nem, err := New(f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := &memRecorder{}
	if err := Run(context.Background(), sched, nem, rec); err != nil {
		t.Fatal(err)
	}
	return sched, nem, rec
}

func TestRunSchedule(t *testing.T) {
	f := newFake(t, 3)
	cfg := allConfig(t, 7)
	cfg.Interval = 5 * time.Millisecond
	sched, nem, rec := runSchedule(t, f, cfg, 200*time.Millisecond)
	ops := rec.all()
	if len(ops) != 2*len(sched) {
		t.Fatalf("%d ops for %d steps", len(ops), len(sched))
	}
	for i, st := range sched {
		inv, c := pair(t, rec, i)
		if inv.F != st.Op.F || !reflect.DeepEqual(inv.Value, st.Op.Value) {
			t.Fatalf("step %d: recorded %v, scheduled %v", i, inv, st.Op)
		}
		if c.Type != history.OK && !strings.Contains(c.Error, "leader") {
			t.Fatalf("step %d: %v", i, c)
		}
	}
	if err := nem.Teardown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := HealAll(context.Background(), f, rec, cfg.Faults, 30*time.Second); err != nil {
		t.Fatal(err)
	}

	// A cancelled context ends Run early, and Run says which faults it
	// did not start.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec = &memRecorder{}
	err := Run(ctx, sched, nem, rec)
	if !errors.Is(err, ErrSkipped) || len(rec.all()) != 0 ||
		!strings.Contains(err.Error(), fmt.Sprintf("before %d faults: %s at 5ms", (len(sched)+1)/2, sched[0].Fault)) {
		t.Fatalf("cancelled run: %v, %d ops", err, len(rec.all()))
	}
	// Only stops left: nothing was skipped.
	if err := Run(ctx, sched[1:2], nem, rec); err != nil {
		t.Fatalf("cancelled run of a stop: %v", err)
	}
}

func TestHealAll(t *testing.T) {
	f := newFake(t, 5)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 1))
	if _, _, err := applyGrudge(ctx, f, Halves(f.nodes), dropRule(100)); err != nil {
		t.Fatal(err)
	}
	f.set(func() {
		f.offsets["n1"] = -4000
		f.rules["n4"] = append(f.rules["n4"], netrule.Loss(netrule.Inbound, netip.MustParseAddr(f.IP("n1")), 20))
	})
	_ = NewKill(f, rng, nil)
	if err := f.Kill(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	if err := f.Pause(ctx, "n3"); err != nil {
		t.Fatal(err)
	}
	rec := &memRecorder{}
	if err := HealAll(ctx, f, rec, []string{FaultPartition, FaultLoss, FaultKill, FaultPause, FaultClock}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	var fs []string
	for i := range len(rec.all()) / 2 {
		inv, c := pair(t, rec, i)
		if c.Type != history.OK {
			t.Fatalf("heal step %v", c)
		}
		fs = append(fs, inv.F)
		switch inv.F {
		case FResume:
			if !reflect.DeepEqual(c.Value, map[string]any{"nodes": []any{"n3"}}) {
				t.Fatalf("resume %v", c)
			}
		case FStart:
			if !reflect.DeepEqual(c.Value, map[string]any{"nodes": []any{"n2"}}) {
				t.Fatalf("start %v", c)
			}
		}
	}
	if !reflect.DeepEqual(fs, []string{FResume, FStart, FStopPartition, FStopLoss, FResetClock}) {
		t.Fatalf("heal ops %v", fs)
	}
	for _, n := range f.nodes {
		if len(f.dropsFrom(n)) != 0 || f.offsets[n] != 0 || f.State(n) != StateRunning {
			t.Fatalf("%s not healed", n)
		}
	}

	// A cluster that never recovers: a clear, bounded error.
	f.set(func() { f.unhealthy = errors.New("no leader") })
	start := time.Now()
	err := HealAll(ctx, f, &memRecorder{}, nil, 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "cluster did not recover within 300ms after heal: n1 is running") ||
		!strings.Contains(err.Error(), "no leader") {
		t.Fatalf("err %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("heal took %v", time.Since(start))
	}
}

func TestTeardownAfterCancel(t *testing.T) {
	f := newFake(t, 3)
	nem := newNem(t, f, "partition,kill,pause,clock")
	ctx := context.Background()
	rec := &memRecorder{}
	for _, op := range []history.Op{{F: FStartPartition, Value: GrudgeOne}, {F: FKill, Value: TargetOne},
		{F: FBumpClock, Value: map[string]any{"target": TargetAll}}} {
		if _, err := Apply(ctx, nem, rec, op); err != nil && op.F != FBumpClock {
			t.Fatal(err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	// Teardown order is the reverse of composition: clock, pause, kill
	// (restarts), partition (heals).
	if err := nem.Teardown(cctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range f.nodes {
		if len(f.dropsFrom(n)) != 0 || f.State(n) != StateRunning {
			t.Fatalf("%s: rules %v, state %s", n, f.dropsFrom(n), f.State(n))
		}
	}
}

// observedFake is a fakeCluster whose runtime reports its own container
// states (StateObserver), which may disagree with the bookkeeping.
type observedFake struct {
	*fakeCluster
	observed map[string]string
}

func (o *observedFake) ObservedState(_ context.Context, n string) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.observed[n]; ok {
		return s, nil
	}
	if o.crashed[n] {
		return StateKilled, nil
	}
	return o.state[n], nil
}

func TestKillConfirmedByObservedState(t *testing.T) {
	defer func(d time.Duration) { stateTimeout = d }(stateTimeout)
	stateTimeout = 200 * time.Millisecond
	f := &observedFake{fakeCluster: newFake(t, 3), observed: map[string]string{"n2": StateRunning}}
	nem := NewKill(f, rand.New(rand.NewPCG(1, 1)), nil)
	rec := &memRecorder{}
	_, err := Apply(context.Background(), nem, rec, history.Op{F: FKill, Value: TargetAll})
	_, c := pair(t, rec, 0)
	if err == nil || c.Type != history.Info || !strings.Contains(c.Error, `n2: state is "killed" (observed "running")`) ||
		!reflect.DeepEqual(c.Value.(map[string]any)["nodes"], []any{"n1", "n3"}) {
		t.Fatalf("kill with a container still running: %v", c)
	}
}

// noClock is a cluster of a system without a clock hook (e.g. etcd): its
// admin address is empty.
type noClock struct{ *fakeCluster }

func (noClock) HasClockHook() bool      { return false }
func (noClock) AdminAddr(string) string { return "" }

func TestHealAllWithoutClockHook(t *testing.T) {
	f := noClock{newFake(t, 3)}
	rec := &memRecorder{}
	if err := HealAll(context.Background(), f, rec, []string{FaultPartition, FaultLoss, FaultDelay, FaultKill, FaultPause, FaultClock}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	var fs []string
	for i := range len(rec.all()) / 2 {
		inv, c := pair(t, rec, i)
		if c.Type != history.OK {
			t.Fatalf("heal step %v", c)
		}
		fs = append(fs, inv.F)
	}
	if !reflect.DeepEqual(fs, []string{FResume, FStart, FStopPartition, FStopLoss, FStopDelay}) {
		t.Fatalf("heal ops %v: want no clock reset on a cluster without a clock hook", fs)
	}
}

func TestTeardownAfterHealAll(t *testing.T) {
	f := newFake(t, 3)
	nem := newNem(t, f, "partition,pause,kill")
	ctx := context.Background()
	rec := &memRecorder{}
	for _, op := range []history.Op{{F: FStartPartition, Value: GrudgeBridge}, {F: FPause, Value: TargetOne}} {
		if _, err := Apply(ctx, nem, rec, op); err != nil {
			t.Fatal(err)
		}
	}
	if err := HealAll(ctx, f, rec, []string{FaultPartition, FaultPause, FaultKill}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	// Nothing is left to undo: teardown must not try to resume a running node.
	if err := nem.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestNetRulesConfirmedTyped: a network fault is confirmed by parsing
// netctl list into typed rules and comparing them with the rules asked
// for: the same address written another way still confirms, a rule netctl
// installed differently (other direction, other percentage) does not.
func TestNetRulesConfirmedTyped(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spec   string
		op     history.Op
		ipv6   bool
		mangle func(netrule.Rule) netrule.Rule
		want   string // "" for ok, else part of the completion's error
	}{
		{"ipv6 long-hand", "partition", history.Op{F: FStartPartition, Value: GrudgeHalves}, true, nil, ""},
		{"ipv6 loss", "loss", history.Op{F: FStartLoss, Value: map[string]any{"percent": int64(30), "target": TargetAll}}, true, nil, ""},
		{"one-way instead of inbound", "partition", history.Op{F: FStartPartition, Value: GrudgeOne}, false,
			func(r netrule.Rule) netrule.Rule { r.Dir = netrule.Outbound; return r },
			`netctl list does not show "drop from 10.0.0.`},
		{"other percentage", "loss", history.Op{F: FStartLoss, Value: map[string]any{"percent": int64(30), "target": TargetOne}}, false,
			func(r netrule.Rule) netrule.Rule { r.Percent = 3; return r },
			`(it lists "loss 3% from 10.0.0.`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, 3)
			f.ipv6, f.mangle = tc.ipv6, tc.mangle
			rec := &memRecorder{}
			_, err := Apply(context.Background(), newNem(t, f, tc.spec), rec, tc.op)
			_, c := pair(t, rec, 0)
			if tc.want == "" {
				if err != nil || c.Type != history.OK {
					t.Fatalf("completion %v, err %v; want ok", c, err)
				}
				return
			}
			if err == nil || c.Type != history.Info || !strings.Contains(c.Error, tc.want) {
				t.Fatalf("completion %v; want info containing %q", c, tc.want)
			}
		})
	}
	// A line netctl list cannot parse (a rule someone else put in its
	// table) fails the heal's confirmation with the line named.
	f := newFake(t, 3)
	nem := newNem(t, f, "partition")
	rec := &memRecorder{}
	f.set(func() { f.listExtra = "input: rule handle 7 (not created by netctl)\n" })
	_, err := Apply(context.Background(), nem, rec, history.Op{F: FStopPartition})
	if err == nil || !strings.Contains(err.Error(), `line 1: netrule: rule "input: rule handle 7`) {
		t.Fatalf("heal with a foreign rule listed: %v", err)
	}
}
