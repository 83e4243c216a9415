package checker

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/checker/checkertest"
	"github.com/faultline/faultline/history"
)

func TestStats(t *testing.T) {
	r := NewStats().Check(context.Background(), golden(t, "set-valid"))
	if r.Valid != Valid {
		t.Fatalf("%+v", r)
	}
	if c := r.Details["by_f"].(map[string]any)["add"].(FCounts); c != (FCounts{Count: 4, OK: 2, Fail: 1, Info: 1}) {
		t.Fatalf("add counts %+v", c)
	}
	none := []history.Op{
		{Index: 0, Type: history.Invoke, Process: 0, F: "read"},
		{Index: 1, Type: history.Fail, Process: 0, F: "read"},
		{Index: 2, Type: history.Invoke, Process: 1, F: "write"},
		{Index: 3, Type: history.Invoke, Process: -1, F: "kill"},
		{Index: 4, Type: history.OK, Process: -1, F: "kill"},
	}
	r = NewStats().Check(context.Background(), none)
	if r.Valid != Invalid || r.Explanation == "" || len(r.Anomalies) != 1 {
		t.Fatalf("%+v", r)
	}
	checkAnomaly(t, r.Anomalies[0], false)
	if r.Details["total"].(FCounts).Info != 1 {
		t.Fatalf("open invoke not counted as info: %+v", r.Details)
	}
}

type fakeChecker struct {
	name string
	f    func(ctx context.Context) Result
}

func (f fakeChecker) Name() string                                     { return f.name }
func (f fakeChecker) Check(ctx context.Context, _ []history.Op) Result { return f.f(ctx) }

func TestRun(t *testing.T) {
	old := GracePeriod
	GracePeriod = 50 * time.Millisecond
	defer func() { GracePeriod = old }()
	checkers := []Checker{
		fakeChecker{"ok", func(context.Context) Result { return Result{Valid: Valid} }},
		fakeChecker{"panics", func(context.Context) Result { panic("boom") }},
		WithTimeLimit(fakeChecker{"hangs", func(context.Context) Result { select {} }}, 50*time.Millisecond),
		WithTimeLimit(fakeChecker{"polite", func(ctx context.Context) Result {
			<-ctx.Done()
			return Result{Valid: Unknown, Explanation: "stopped", Error: ctx.Err().Error()}
		}}, 50*time.Millisecond),
	}
	rs := Run(context.Background(), checkers, nil)
	if rs.Valid != Unknown || len(rs.Checkers) != 4 {
		t.Fatalf("%+v", rs)
	}
	want := []Verdict{Valid, Unknown, Unknown, Unknown}
	for i, r := range rs.Checkers {
		if r.Valid != want[i] || r.Checker != checkers[i].Name() {
			t.Errorf("%d: %+v", i, r)
		}
		if r.Valid == Unknown && (r.Error == "" || r.Explanation == "") {
			t.Errorf("%d: unknown without error: %+v", i, r)
		}
	}
	if !strings.Contains(rs.Checkers[1].Error, "boom") || rs.Checkers[3].Explanation != "stopped" {
		t.Errorf("%+v", rs.Checkers)
	}
	rs = Run(context.Background(), append(checkers, fakeChecker{"bad", func(context.Context) Result {
		return Result{Valid: Invalid, Explanation: "x"}
	}}), nil)
	if rs.Valid != Invalid {
		t.Fatalf("%+v", rs.Valid)
	}
}

func TestCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	lin, _ := NewLinearizable(LinearizableConfig{})
	checkers := []Checker{lin, NewListAppend(ListAppendConfig{}), NewSet(SetConfig{}), NewBank(BankConfig{}), NewStats()}
	ops := checkertest.GenerateListAppendHistory(checkertest.ListAppendGenConfig{Seed: 1, Txns: 100})
	reg := checkertest.GenerateRegisterHistory(checkertest.RegisterGenConfig{Seed: 1, Ops: 100})
	for _, c := range checkers {
		in := ops
		if c == Checker(lin) {
			in = reg
		}
		if r := c.Check(ctx, in); r.Valid != Unknown || r.Error == "" {
			t.Errorf("%s under a cancelled context: %+v", c.Name(), r)
		}
	}
}

func TestRunResultsJSON(t *testing.T) {
	lin, _ := NewLinearizable(LinearizableConfig{Model: "register"})
	ops := golden(t, "register-timeless")
	rs := Run(context.Background(), []Checker{lin, NewStats(), NewLatency(), NewAvailability(AvailabilityConfig{})}, ops)
	if rs.Valid != Invalid || len(rs.Checkers) != 4 {
		t.Fatalf("%+v", rs)
	}
	b, err := rs.MarshalIndent()
	if err != nil {
		t.Fatal(err)
	}
	var back Results
	if err := json.Unmarshal(b, &back); err != nil || back.Valid != Invalid || back.Checkers[0].Checker != "linearizable" {
		t.Fatalf("round trip: %v %+v", err, back)
	}
}
