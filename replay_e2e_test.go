package faultline_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/runstore"
)

// TestReplaySchedule: a run writes the faults that happened as
// schedule.json; a run with --schedule of that file invokes the same
// faults in the same order, and those that take effect do the same
// (kind, op, nodes, grudge, deltas, ...), as its own schedule.json says,
// with the two leaders' names swapped when they differ.
func TestReplaySchedule(t *testing.T) {
	requireE2E(t)
	tc := e2eTest(t, "register")
	tc.Nemesis = nemesis.MustParseSpec("partition,kill,pause,clock,loss")
	tc.NemesisInterval, tc.NemesisConcurrent = 2*time.Second, true
	tc.TimeLimit = 20 * time.Second
	res := runE2E(t, tc, 4*time.Minute)
	orig, err := nemesis.ReadScheduleFile(runstore.Open(res.Dir).Path(runstore.ScheduleJSON))
	if err != nil {
		t.Fatal(err)
	}
	if len(orig.Faults) < 3 {
		t.Fatalf("the run did %d faults: too few to tell (%v)", len(orig.Faults), orig.Faults)
	}
	replay := tc
	replay.Nemesis, replay.Schedule = nemesis.None, runstore.Open(res.Dir).Path(runstore.ScheduleJSON)
	// Ops run one at a time, each when due and never before the previous
	// one completed: on a loaded machine a slow op (a restart of every
	// node) pushes the rest back, past a time limit the original's last
	// faults fitted in. The replay gets room for them.
	replay.TimeLimit = 2 * tc.TimeLimit
	again := runE2E(t, replay, 4*time.Minute)
	got, err := nemesis.ReadScheduleFile(runstore.Open(again.Dir).Path(runstore.ScheduleJSON))
	if err != nil {
		t.Fatal(err)
	}
	// The replay invoked every fault of the schedule, in order, and no
	// other.
	ops, err := history.ReadFile(runstore.Open(again.Dir).Path(runstore.HistoryJSONL))
	if err != nil {
		t.Fatal(err)
	}
	var invoked []string
	for _, op := range ops {
		if _, starts, ok := nemesis.KindOfOp(op.F); ok && starts && op.Type == history.Invoke && op.IsNemesis() {
			invoked = append(invoked, op.F)
		}
	}
	var want []string
	for _, p := range orig.Faults {
		want = append(want, p.F)
	}
	if !slices.Equal(invoked, want) {
		t.Errorf("the replay invoked %v, want %v", invoked, want)
	}
	// Both record their leader; the replay plays the original's with its
	// own leader in the recorded leader's part (the nodes swapped when
	// another node won the election).
	if orig.Leader == "" || got.Leader == "" {
		t.Fatalf("leaders recorded: original %q, replay %q; want both", orig.Leader, got.Leader)
	}
	orig = orig.Relabel(got.Leader)
	// What each fault did, without its times (the ops' own durations
	// differ from run to run): each one that took effect did what the
	// original did, on the same nodes. A fault may fail in the replay
	// for the cluster's own reasons (an admin endpoint that resets the
	// connection of a node just restarted): it is recorded as info, and
	// at most one may.
	what := func(p nemesis.Planned) string {
		p.Start, p.Stop = 0, nil
		delete(p.Value, "changes")
		b, _ := json.Marshal(p)
		var v any
		_ = json.Unmarshal(b, &v) // numbers as the file has them
		b, _ = json.Marshal(v)
		return string(b)
	}
	i := 0
	for _, g := range got.Faults {
		for i < len(orig.Faults) && what(orig.Faults[i]) != what(g) {
			i++
		}
		if i == len(orig.Faults) {
			t.Fatalf("the replay did %s, which the original did not (in this order): %v", g, orig.Faults)
		}
		i++
	}
	if len(got.Faults) < len(orig.Faults)-1 {
		t.Errorf("the replay did %d of the %d faults: %v", len(got.Faults), len(orig.Faults), got.Faults)
	}
}
