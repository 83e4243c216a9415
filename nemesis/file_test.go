package nemesis

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/history"
)

// applyInOrder applies every step of sched to a fresh nemesis of cfg on
// cl, one after another in offset order (as the run's nemesis does), and
// returns the history, the ops of each step timed at its offset (a
// millisecond apart).
func applyInOrder(t *testing.T, cl Cluster, cfg Config, sched Schedule) []history.Op {
	t.Helper()
	nem, err := New(cl, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := &memRecorder{}
	var ops []history.Op
	for _, st := range sched {
		if _, err := Apply(context.Background(), nem, rec, st.Op); err != nil && st.Retry.F != "" {
			Apply(context.Background(), nem, rec, st.Retry)
		}
		all := rec.all()
		for i, op := range all[len(ops):] {
			op.Time = int64(st.Offset + time.Duration(i)*time.Millisecond)
			ops = append(ops, op)
		}
	}
	return ops
}

// TestReplaySameFaults: a schedule realised from a run (seeded draws of
// targets, grudges, deltas, a corruption's seed) replayed on a fresh
// cluster, by a nemesis with another seed, does the same faults on the
// same nodes at the same moments: the realised schedule of the replay is
// the schedule replayed. The file round-trips through JSON.
func TestReplaySameFaults(t *testing.T) {
	cfg := diskConfig(t, "partition,loss,kill,pause,clock,power,corrupt:bitflip+truncate")
	cfg.Seed, cfg.Interval, cfg.OpAllowance, cfg.Concurrent = 5, time.Second, 0, true
	limit := 40 * time.Second
	sched, err := NewSchedule(cfg, limit)
	if err != nil {
		t.Fatal(err)
	}
	ops := applyInOrder(t, diskFake{newFake(t, 5)}, cfg, sched)
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	orig := Realise(ops, 0, limit, limit, nodes)
	kinds := map[string]bool{}
	healed := 0
	for _, p := range orig.Faults {
		kinds[p.Kind] = true
		if p.Stop == nil {
			healed++
		}
	}
	if len(kinds) < 6 || len(orig.Faults) < 10 {
		t.Fatalf("the run did %d faults of kinds %v: too few to tell", len(orig.Faults), kinds)
	}
	if err := orig.Validate(limit, nodes); err != nil {
		t.Fatalf("the realised schedule does not validate: %v", err)
	}
	path := filepath.Join(t.TempDir(), "schedule.json")
	if err := orig.Write(path); err != nil {
		t.Fatal(err)
	}
	file, err := ReadScheduleFile(path)
	if err != nil {
		t.Fatal(err)
	}
	replayCfg := cfg
	replayCfg.Seed, replayCfg.Replay = 99, &file
	steps, err := NewSchedule(replayCfg, limit)
	if err != nil {
		t.Fatal(err)
	}
	again := Realise(applyInOrder(t, diskFake{newFake(t, 5)}, replayCfg, steps), 0, limit, limit, nodes)
	// Compare as JSON: the file's form (numbers decoded as float64 by
	// both sides).
	want, got := decoded(t, orig), decoded(t, again)
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("replay realised\n%s\nwant\n%s", mustJSON(t, again), mustJSON(t, orig))
	}
	if healed == 0 {
		t.Log("no fault was left to the final heal")
	}
}

func decoded(t *testing.T, s ScheduleFile) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(mustJSON(t, s)), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func mustJSON(t *testing.T, s ScheduleFile) string {
	t.Helper()
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestScheduleFileValidate: each way a schedule cannot be replayed is
// named.
func TestScheduleFileValidate(t *testing.T) {
	d := func(s string) Duration { x, _ := time.ParseDuration(s); return Duration(x) }
	dp := func(s string) *Duration { x := d(s); return &x }
	kill := Planned{Kind: FaultKill, F: FKill, Start: d("1s"), Stop: dp("5s"), Nodes: []string{"n1"}}
	nodes := []string{"n1", "n2", "n3"}
	for _, tc := range []struct {
		name   string
		faults []Planned
		want   string // "" valid
	}{
		{"valid", []Planned{kill, {Kind: FaultPause, F: FPause, Start: d("6s"), Nodes: []string{"n1"}}}, ""},
		{"past the limit", []Planned{{Kind: FaultKill, F: FKill, Start: d("9s"), Stop: dp("11s"), Nodes: []string{"n1"}}}, "before --time-limit"},
		{"starts past the limit", []Planned{{Kind: FaultKill, F: FKill, Start: d("12s"), Nodes: []string{"n1"}}}, "outside the main phase"},
		{"unknown node", []Planned{{Kind: FaultKill, F: FKill, Start: d("1s"), Nodes: []string{"n7"}}}, `node "n7"`},
		{"unknown kind", []Planned{{Kind: "flood", F: "flood", Start: d("1s"), Nodes: []string{"n1"}}}, "unknown kind"},
		{"same kind overlaps", []Planned{kill, {Kind: FaultKill, F: FKill, Start: d("2s"), Stop: dp("7s"), Nodes: []string{"n2"}}}, "would end both"},
		{"partition and loss stop apart", []Planned{{Kind: FaultPartition, F: FStartPartition, Start: d("1s"), Stop: dp("3s"), Nodes: nodes},
			{Kind: FaultLoss, F: FStartLoss, Start: d("2s"), Stop: dp("6s"), Nodes: nodes}}, ""},
		{"two partitions overlap", []Planned{{Kind: FaultPartition, F: FStartPartition, Start: d("1s"), Stop: dp("3s"), Nodes: nodes},
			{Kind: FaultPartition, F: FStartPartition, Start: d("2s"), Stop: dp("6s"), Nodes: nodes}}, "would end both"},
		{"pause a killed node", []Planned{kill, {Kind: FaultPause, F: FPause, Start: d("2s"), Stop: dp("3s"), Nodes: []string{"n1"}}}, "leaves it killed"},
		{"kill a paused node", []Planned{{Kind: FaultPause, F: FPause, Start: d("1s"), Stop: dp("4s"), Nodes: []string{"n1"}},
			{Kind: FaultKill, F: FKill, Start: d("2s"), Stop: dp("3s"), Nodes: []string{"n1"}}}, ""},
		{"power a node that left", []Planned{{Kind: FaultMembership, F: FLeave, Start: d("1s"), Stop: dp("5s"), Nodes: []string{"n3"}},
			{Kind: FaultPower, F: FPowerOff, Start: d("2s"), Stop: dp("3s"), Nodes: []string{"n3"}}}, "leaves it left"},
		// A replace joins the node again at once: it is a running member.
		{"power a node replaced", []Planned{{Kind: FaultMembership, F: FReplace, Start: d("1s"), Stop: dp("5s"), Nodes: []string{"n3"}},
			{Kind: FaultPower, F: FPowerOff, Start: d("2s"), Stop: dp("3s"), Nodes: []string{"n3"}}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ScheduleFile{Version: ScheduleFileVersion, Nodes: nodes, Faults: tc.faults}
			err := s.Validate(10*time.Second, nodes)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
}

// TestRealiseLateOps: an op that waited for another past the time limit
// stays replayable: a late stop is left to the final heal, a late start
// starts just before the limit.
func TestRealiseLateOps(t *testing.T) {
	s := time.Second
	op := func(at time.Duration, typ history.Type, f string, v any) history.Op {
		return history.Op{Time: int64(at), Type: typ, Process: history.NemesisProcess, F: f, Value: v}
	}
	killed := map[string]any{"target": "one", "nodes": []any{"n1"}}
	paused := map[string]any{"target": "one", "nodes": []any{"n2"}}
	ops := []history.Op{
		op(2*s, history.Invoke, FKill, "one"), op(3*s, history.OK, FKill, killed),
		op(11*s+s/2, history.Invoke, FPause, "one"), op(12*s, history.OK, FPause, paused),
		op(12*s+s/2, history.Invoke, FStart, nil), op(13*s, history.OK, FStart, map[string]any{"nodes": []any{"n1"}}),
		op(14*s, history.Invoke, FResume, "all"), op(15*s, history.OK, FResume, map[string]any{"nodes": []any{"n2"}}),
	}
	// The main phase began at 1 s, lasts 10 s; the heal began at 14 s.
	got := Realise(ops, s, 14*s, 10*s, []string{"n1", "n2", "n3"})
	if len(got.Faults) != 2 || got.Faults[0].Start.D() != s || got.Faults[0].Stop != nil ||
		got.Faults[1].Start.D() != 10*s-time.Millisecond || got.Faults[1].Stop != nil {
		t.Fatalf("realised %v", got.Faults)
	}
	if err := got.Validate(10*s, got.Nodes); err != nil {
		t.Fatal(err)
	}
}

// TestRealiseLostLeave: a leave whose answer was lost (info) happened when
// a later join found its node no member; without that evidence it did
// not. The schedule and the run's faults agree.
func TestRealiseLostLeave(t *testing.T) {
	s := time.Second
	op := func(at time.Duration, typ history.Type, f string, v any) history.Op {
		return history.Op{Time: int64(at), Type: typ, Process: history.NemesisProcess, F: f, Value: v}
	}
	for _, tc := range []struct {
		name     string
		f        string // the lost op: a leave or a replace
		noMember []any
		want     []string // nodes of the realised leave; nil: none
	}{
		{name: "join found it gone", f: FLeave, noMember: []any{"n3"}, want: []string{"n3"}},
		{name: "join found another gone", f: FLeave, noMember: []any{"n2"}},
		{name: "join found none gone", f: FLeave, noMember: []any{}},
		// A replace whose removal committed and whose join never came
		// left its node out: a leave happened.
		{name: "replace: join found it gone", f: FReplace, noMember: []any{"n3"}, want: []string{"n3"}},
		{name: "replace: join found none gone", f: FReplace, noMember: []any{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mode := MemberLeave
			if tc.f == FReplace {
				mode = MemberReplace
			}
			lost := map[string]any{"mode": mode, "node": "n3"}
			ops := []history.Op{
				op(2*s, history.Invoke, tc.f, map[string]any{"mode": mode}), op(8*s, history.Info, tc.f, lost),
				op(12*s, history.Invoke, FJoin, "all"),
				op(13*s, history.OK, FJoin, map[string]any{"joined": map[string]any{"n3": "n3.2"}, "no_member": tc.noMember, "nodes": []any{"n3"}}),
			}
			got := Realise(ops, s, 12*s, 10*s, []string{"n1", "n2", "n3"})
			happened := Happened(ops)
			if tc.want == nil {
				if len(got.Faults) != 0 || len(happened) != 0 {
					t.Fatalf("realised %v, happened %v: want none", got.Faults, happened)
				}
				return
			}
			if len(got.Faults) != 1 || got.Faults[0].Kind != FaultMembership || got.Faults[0].F != FLeave || got.Faults[0].Start.D() != s ||
				!slices.Equal(got.Faults[0].Nodes, tc.want) || got.Faults[0].Stop != nil || len(happened) != 1 || happened[0].Option != MemberLeave {
				t.Fatalf("realised %v, happened %v: want a leave of %v at 1s", got.Faults, happened, tc.want)
			}
			if ops[0].F != tc.f || ops[1].Type != history.Info || ops[1].F != tc.f || lost["nodes"] != nil || lost["mode"] != mode {
				t.Errorf("the history itself changed: %v", ops[1])
			}
			if err := got.Validate(10*s, got.Nodes); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRelabel: a replay whose leader is another node swaps that node and
// the recorded leader in every fault's nodes and value, keys included,
// and leaves everything else as recorded.
func TestRelabel(t *testing.T) {
	stop := Duration(9 * time.Second)
	s := ScheduleFile{Version: ScheduleFileVersion, TimeLimit: Duration(10 * time.Second), Nodes: []string{"n1", "n2", "n3"}, Leader: "n3",
		Faults: []Planned{
			{Kind: FaultPartition, Option: GrudgeOne, F: FStartPartition, Start: Duration(time.Second), Stop: &stop, Nodes: []string{"n1", "n2", "n3"},
				Value: map[string]any{"grudge": map[string]any{"n3": []any{"n1", "n2"}, "n1": []any{"n3"}, "n2": []any{"n3"}}, "kind": GrudgeOne}},
			{Kind: FaultClock, Option: "bump", F: FBumpClock, Start: Duration(2 * time.Second), Nodes: []string{"n2", "n3"},
				Value: map[string]any{"deltas_ms": map[string]any{"n2": 100.0, "n3": 200.0}, "target": "all"}},
			{Kind: FaultMembership, Option: MemberLeave, F: FLeave, Start: Duration(3 * time.Second), Nodes: []string{"n3"},
				Value: map[string]any{"mode": MemberLeave}},
			{Kind: FaultKill, Option: TargetOne, F: FKill, Start: Duration(4 * time.Second)},
		}}
	orig, _ := json.Marshal(s)
	for _, tc := range []struct {
		leader string
		want   ScheduleFile
	}{
		{leader: "n3", want: s},
		{leader: "n4", want: s}, // not a node of the schedule
		{leader: "n1", want: ScheduleFile{Version: ScheduleFileVersion, TimeLimit: s.TimeLimit, Nodes: s.Nodes, Leader: "n1",
			Faults: []Planned{
				{Kind: FaultPartition, Option: GrudgeOne, F: FStartPartition, Start: Duration(time.Second), Stop: &stop, Nodes: []string{"n1", "n2", "n3"},
					Value: map[string]any{"grudge": map[string]any{"n1": []any{"n2", "n3"}, "n3": []any{"n1"}, "n2": []any{"n1"}}, "kind": GrudgeOne}},
				{Kind: FaultClock, Option: "bump", F: FBumpClock, Start: Duration(2 * time.Second), Nodes: []string{"n1", "n2"},
					Value: map[string]any{"deltas_ms": map[string]any{"n2": 100.0, "n1": 200.0}, "target": "all"}},
				{Kind: FaultMembership, Option: MemberLeave, F: FLeave, Start: Duration(3 * time.Second), Nodes: []string{"n1"},
					Value: map[string]any{"mode": MemberLeave}},
				{Kind: FaultKill, Option: TargetOne, F: FKill, Start: Duration(4 * time.Second)},
			}}},
	} {
		got := s.Relabel(tc.leader)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("relabel to %s:\n got %+v\nwant %+v", tc.leader, got, tc.want)
		}
		if after, _ := json.Marshal(s); string(after) != string(orig) {
			t.Errorf("relabel to %s changed the schedule itself: %s", tc.leader, after)
		}
	}
	if got := (ScheduleFile{Nodes: s.Nodes, Faults: s.Faults}).Relabel("n1"); !reflect.DeepEqual(got.Faults, s.Faults) {
		t.Errorf("a schedule without a recorded leader was relabelled: %+v", got.Faults)
	}
}

// TestReplayKeepsRecordedTimes: a replayed fault's start and stop are due
// when the recorded run did them, however long the replay's ops take. A
// stop due a fixed wait after its start completed came later by the time
// a slow start took (a delay's probe: 5 s under load), and, steps running
// in order, held every fault after it back: a 60 s replay lost its power
// failure at 59.4 s past the main phase's end.
func TestReplayKeepsRecordedTimes(t *testing.T) {
	d := func(s string) Duration { x, _ := time.ParseDuration(s); return Duration(x) }
	stop := d("57.372s")
	sf := ScheduleFile{Version: 1, TimeLimit: d("1m"), Nodes: []string{"n1", "n2", "n3"}, Faults: []Planned{
		{Kind: FaultDelay, F: FStartDelay, Start: d("7.687s"), Stop: &stop, Nodes: []string{"n1", "n2", "n3"}},
		{Kind: FaultPower, F: FPowerOff, Start: d("59.447s"), Nodes: []string{"n1", "n2", "n3"}},
	}}
	start := time.Unix(1000, 0)
	want := map[string]time.Duration{FStartDelay: 7687 * time.Millisecond, FStopDelay: 57372 * time.Millisecond, FPowerOff: 59447 * time.Millisecond}
	laneDone := map[int]time.Time{}
	for _, st := range sf.Steps() {
		got := st.due(start, laneDone[st.Lane]).Sub(start)
		if got != want[st.Op.F] {
			t.Errorf("%s due at %v, want %v (recorded)", st.Op.F, got, want[st.Op.F])
		}
		laneDone[st.Lane] = start.Add(got + 5*time.Second) // each op takes 5 s
	}
}
