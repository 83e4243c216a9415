package shrink

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline"
	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/runstore"
)

// storedRun writes a failing run's test.json, schedule.json and
// results.json into a fresh directory.
func storedRun(t *testing.T, s nemesis.ScheduleFile, results checker.Results) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "set-kill", "20261206T000000.000Z")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tc := faultline.DefaultTest()
	tc.Workload, tc.Nemesis, tc.TimeLimit, tc.Store = "set", nemesis.MustParseSpec("kill,pause"), time.Minute, filepath.Dir(filepath.Dir(dir))
	for name, v := range map[string]any{runstore.TestJSON: tc, runstore.ResultsJSON: results} {
		if err := runstore.WriteJSON(filepath.Join(dir, name), v); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Write(filepath.Join(dir, runstore.ScheduleJSON)); err != nil {
		t.Fatal(err)
	}
	return dir
}

func lost() checker.Results {
	return checker.Compose([]checker.Result{{Checker: "set", Valid: checker.Invalid, Anomalies: []checker.Anomaly{{Type: "lost"}}},
		{Checker: "stats", Valid: checker.Valid}})
}

// TestShrinkStoredRun: a stored failing run is shrunk with runs of the
// original test replaying each candidate's schedule file, and the
// minimal schedule, its rerun command, the log and the reproduction rate
// are written next to the original.
func TestShrinkStoredRun(t *testing.T) {
	start, _ := twenty()
	dir := storedRun(t, start.Schedule, lost())
	latest := filepath.Join(t.TempDir(), "latest")
	if err := os.Symlink(dir, latest); err != nil {
		t.Fatal(err)
	}
	o, err := Open(latest)
	if err != nil {
		t.Fatal(err)
	}
	if real, _ := filepath.EvalSymlinks(dir); o.Dir != real {
		t.Errorf("opened %s through a link, want the run it names, %s", o.Dir, real)
	}
	dir = o.Dir
	if len(o.Target) != 1 || o.Target[0] != (Class{"set", "lost"}) || o.Start.Workers != 6 || o.Start.TimeLimit != time.Minute {
		t.Fatalf("opened %v, target %v", o.Start, o.Target)
	}
	// The bug fires when the replayed schedule kills n4.
	run := func(_ context.Context, tc faultline.Test) (faultline.Result, error) {
		if !tc.Nemesis.IsNone() || tc.Workload != "set" || tc.Seed != o.Test.Seed {
			t.Errorf("replay test %+v: want the original's, without --nemesis", tc)
		}
		s, err := nemesis.ReadScheduleFile(tc.Schedule)
		if err != nil {
			return faultline.Result{}, err
		}
		for _, p := range s.Faults {
			if p.Kind == "kill" && strings.Contains(strings.Join(p.Nodes, ","), "n4") {
				return faultline.Result{Checkers: lost()}, nil
			}
		}
		return faultline.Result{Checkers: checker.Compose([]checker.Result{{Checker: "set", Valid: checker.Valid}})}, nil
	}
	cfg := DefaultConfig()
	cfg.Target = o.Target
	res, err := Search(context.Background(), cfg, o.Start, o.Runner(run), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Reproduce, cfg.Parallel = 4, 2
	res = Stabilise(context.Background(), cfg, res, o.Runner(run), nil)
	sum, err := o.Finish(res)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Faults) != 1 || !strings.HasPrefix(sum.Faults[0], "kill:minority [n4]") || sum.Reproduced != 4 || sum.Reproductions != 4 {
		t.Fatalf("summary: faults %v, reproduced %d of %d", sum.Faults, sum.Reproduced, sum.Reproductions)
	}
	if !strings.Contains(sum.Rerun, "--schedule="+sum.Schedule) || !strings.Contains(sum.Rerun, "--nemesis=none") {
		t.Errorf("rerun %q does not replay %s", sum.Rerun, sum.Schedule)
	}
	minimal, err := nemesis.ReadScheduleFile(filepath.Join(dir, Dir, "schedule.json"))
	if err != nil || len(minimal.Faults) != 1 || minimal.TimeLimit.D() != res.Best.TimeLimit {
		t.Fatalf("minimal schedule %v, %v", minimal, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, Dir, "shrink.log"))
	if err != nil || strings.Count(string(b), "\n") != len(res.Steps)+len(res.Measures) {
		t.Errorf("shrink.log: %d lines for %d steps and %d measurements (%v)", strings.Count(string(b), "\n"), len(res.Steps), len(res.Measures), err)
	}
	var linked Summary
	if err := runstore.ReadJSON(filepath.Join(dir, runstore.ShrinkJSON), &linked); err != nil || linked.Original != o.Dir {
		t.Errorf("the original's shrink.json: %+v, %v", linked, err)
	}
}

// TestOpenRefuses: a valid run, one without a schedule, or one whose
// schedule cannot be replayed cannot be shrunk, and the error says why.
func TestOpenRefuses(t *testing.T) {
	start, _ := twenty()
	valid := checker.Compose([]checker.Result{{Checker: "set", Valid: checker.Valid}})
	if _, err := Open(storedRun(t, start.Schedule, valid)); err == nil || !strings.Contains(err.Error(), "no anomaly to reproduce") {
		t.Errorf("a valid run: %v", err)
	}
	dir := storedRun(t, start.Schedule, lost())
	_ = os.Remove(filepath.Join(dir, runstore.ScheduleJSON))
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "run it again") {
		t.Errorf("a run without schedule.json: %v", err)
	}
	bad := start.Schedule
	bad.Faults = slices.Clone(bad.Faults)
	bad.Faults[3].Nodes = []string{"n7"}
	if _, err := Open(storedRun(t, bad, lost())); err == nil || !strings.Contains(err.Error(), "cannot be replayed") {
		t.Errorf("a run whose schedule cannot be replayed: %v", err)
	}
}

// TestRerunMissingAFaultIsAnError: a rerun in which a fault of the
// candidate's schedule did not happen did not run the candidate: it is a
// harness error, not a pass that would reject the candidate.
func TestRerunMissingAFaultIsAnError(t *testing.T) {
	start, _ := twenty()
	o, err := Open(storedRun(t, start.Schedule, lost()))
	if err != nil {
		t.Fatal(err)
	}
	power := nemesis.Fault{Kind: nemesis.FaultPower, Option: nemesis.TargetAll}
	for _, tc := range []struct {
		name    string
		missing []nemesis.Fault
		wantErr bool
	}{
		{"every fault happened", nil, false},
		{"the power failure did not", []nemesis.Fault{power}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := func(context.Context, faultline.Test) (faultline.Result, error) {
				return faultline.Result{Checkers: checker.Compose([]checker.Result{{Checker: "set", Valid: checker.Valid}}),
					MissingFaults: tc.missing}, nil
			}
			_, err := o.Runner(run)(context.Background(), o.Start)
			if (err != nil) != tc.wantErr || tc.wantErr && !strings.Contains(err.Error(), "power:all") {
				t.Fatalf("err %v, want an error naming power:all: %v", err, tc.wantErr)
			}
		})
	}
}
