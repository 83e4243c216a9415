package faultline_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/runstore"
)

// TestReplaySchedule: a run writes the faults that happened as
// schedule.json; a run with --schedule of that file does the same faults
// (kind, op, nodes, grudge, deltas, ...) in the same order, and writes
// them again.
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
	again := runE2E(t, replay, 4*time.Minute)
	got, err := nemesis.ReadScheduleFile(runstore.Open(again.Dir).Path(runstore.ScheduleJSON))
	if err != nil {
		t.Fatal(err)
	}
	// What each fault did, without its times (the ops' own durations
	// differ from run to run).
	what := func(s nemesis.ScheduleFile) any {
		for i := range s.Faults {
			s.Faults[i].Start, s.Faults[i].Stop = 0, nil
			delete(s.Faults[i].Value, "changes")
		}
		b, _ := json.Marshal(s.Faults)
		var v any
		_ = json.Unmarshal(b, &v)
		return v
	}
	if w, g := what(orig), what(got); !reflect.DeepEqual(w, g) {
		t.Errorf("the replay did\n%v\nwant\n%v", g, w)
	}
}
