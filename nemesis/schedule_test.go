package nemesis

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/history"
)

func specConfig(t *testing.T, spec string, interval time.Duration, concurrent bool) Config {
	t.Helper()
	cfg, err := DefaultConfig().WithSpec(spec)
	if err != nil {
		t.Fatalf("spec %q: %v", spec, err)
	}
	cfg.Interval, cfg.Concurrent = interval, concurrent
	return cfg
}

// starts returns the faults a schedule starts, in order.
func starts(s Schedule) []Fault {
	var out []Fault
	for _, st := range s {
		if st.Fault != (Fault{}) {
			out = append(out, st.Fault)
		}
	}
	return out
}

func TestRequired(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want string
	}{
		{"partition,kill,pause,clock", "partition kill pause clock"},
		{"partition:leader+bridge,kill", "partition:leader partition:bridge kill"},
		{"clock:bump+all,loss:30", "clock:bump loss"},
		{"clock:all", "clock"},
		{"loss:30+all+one,kill:all", "loss:all loss:one kill:all"},
		{"none", ""},
	} {
		var got []string
		for _, f := range specConfig(t, tc.spec, time.Second, false).Required() {
			got = append(got, f.String())
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%s: Required() = %v, want %s", tc.spec, got, tc.want)
		}
	}
}

func TestMinTimeLimit(t *testing.T) {
	for _, tc := range []struct {
		spec       string
		interval   time.Duration
		concurrent bool
		want       time.Duration
	}{
		// 4 faults one at a time: 8 ops, each 3s after the previous one
		// completed (500ms allowed for each), then 3s to recover.
		{"partition,kill,pause,clock", 3 * time.Second, false, 31 * time.Second},
		{"partition:leader+bridge,kill", 3 * time.Second, false, 24 * time.Second},
		{"kill", 5 * time.Second, false, 16 * time.Second},
		{"none", 5 * time.Second, false, 0},
		// Concurrent: partition has 2 required faults and goes first
		// (5 intervals, 4 allowances); kill and clock one each (3
		// intervals, 2 allowances) staggered by 1s and 2s.
		{"kill,partition:leader+bridge,clock", 3 * time.Second, true, 17 * time.Second},
		// All kinds at one required fault: the last stagger decides.
		{"partition,kill,pause,clock", 4 * time.Second, true, 16 * time.Second},
		// One kind only: concurrency changes nothing.
		{"kill:one+all", 2 * time.Second, true, 12 * time.Second},
	} {
		cfg := specConfig(t, tc.spec, tc.interval, tc.concurrent)
		if got := cfg.MinTimeLimit(); got != tc.want {
			t.Errorf("%s (concurrent %v): MinTimeLimit() = %v, want %v", tc.spec, tc.concurrent, got, tc.want)
		}
		if err := cfg.CheckTimeLimit(tc.want); err != nil {
			t.Errorf("%s: CheckTimeLimit(%v): %v", tc.spec, tc.want, err)
		}
		if tc.want == 0 {
			continue
		}
		err := cfg.CheckTimeLimit(tc.want - time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), "needs at least "+tc.want.String()) {
			t.Errorf("%s: CheckTimeLimit just below: %v", tc.spec, err)
		}
		if _, err := NewSchedule(cfg, tc.want-time.Millisecond); err == nil {
			t.Errorf("%s: NewSchedule accepted a time limit below %v", tc.spec, tc.want)
		}
	}
	err := specConfig(t, "partition,kill,pause,clock", 3*time.Second, false).CheckTimeLimit(12 * time.Second)
	want := "nemesis: --time-limit 12s is too short for 4 faults (partition, kill, pause, clock) at --nemesis-interval 3s, one at a time: needs at least 31s"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("CheckTimeLimit(12s) = %v\nwant it to start with %q", err, want)
	}
}

// TestEveryNamedFaultRuns is issue 15: for every seed, a schedule exactly
// MinTimeLimit long starts every required fault, kinds first, and (given
// more time) runs every (kind, option) pair once before any repeats.
func TestEveryNamedFaultRuns(t *testing.T) {
	specs := []string{
		"partition,kill,pause,clock",
		"partition,kill",
		"partition:leader+bridge,kill",
		"partition,kill,pause",
		"loss,kill,clock",
		"clock:bump+strobe",
		"all",
		"kill:all",
	}
	for _, spec := range specs {
		for _, concurrent := range []bool{false, true} {
			cfg := specConfig(t, spec, 3*time.Second, concurrent)
			req := cfg.Required()
			for seed := uint64(1); seed <= 200; seed++ {
				cfg.Seed = seed
				s, err := NewSchedule(cfg, cfg.MinTimeLimit())
				if err != nil {
					t.Fatalf("%s seed %d: %v", spec, seed, err)
				}
				got := starts(s)
				if m := Missing(req, got); len(m) > 0 {
					t.Fatalf("%s (concurrent %v) seed %d: %v never start in %v", spec, concurrent, seed, m, got)
				}
				if concurrent {
					continue
				}
				if len(got) != len(req) {
					t.Fatalf("%s seed %d: %d faults in the minimal schedule, want %d", spec, seed, len(got), len(req))
				}
				var kinds []string
				for _, f := range got[:len(cfg.Faults)] {
					kinds = append(kinds, f.Kind)
				}
				slices.Sort(kinds)
				if want := slices.Sorted(slices.Values(cfg.Faults)); !slices.Equal(kinds, want) {
					t.Fatalf("%s seed %d: first faults %v are not one of each kind", spec, seed, got)
				}
			}
		}
	}
}

// TestRotationCoversOptions: a long schedule runs every (kind, option)
// pair before it repeats any, one at a time and, per kind, concurrently.
func TestRotationCoversOptions(t *testing.T) {
	for _, spec := range []string{"partition,kill,pause,clock,loss", "partition:leader+bridge,kill", "clock,loss:40"} {
		for _, concurrent := range []bool{false, true} {
			cfg := specConfig(t, spec, time.Second, concurrent)
			cfg.Seed = 5
			s, err := NewSchedule(cfg, 10*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			got := starts(s)
			// The cycles to check: the whole schedule one at a time, each
			// kind's own sequence concurrently.
			seqs := map[string][]Fault{"": got}
			total := 0
			for _, kind := range cfg.Faults {
				opts, _ := cfg.KindOptions(kind)
				total += len(opts)
				if concurrent {
					seqs[kind] = slices.DeleteFunc(slices.Clone(got), func(f Fault) bool { return f.Kind != kind })
				}
			}
			if concurrent {
				delete(seqs, "")
			}
			for name, seq := range seqs {
				cycle := total
				if name != "" {
					opts, _ := cfg.KindOptions(name)
					cycle = len(opts)
				}
				if len(seq) < 2*cycle {
					t.Fatalf("%s %q: only %d faults, want at least two cycles of %d", spec, name, len(seq), cycle)
				}
				for c := 0; c+cycle <= len(seq); c += cycle {
					seen := map[Fault]bool{}
					for _, f := range seq[c : c+cycle] {
						if seen[f] {
							t.Fatalf("%s (concurrent %v) %q: %s repeats within cycle %d: %v", spec, concurrent, name, f, c/cycle, seq[c:c+cycle])
						}
						seen[f] = true
					}
				}
			}
			// Clock targets rotate too: each before any repeats.
			var targets []string
			for _, st := range s {
				if st.Fault.Kind == FaultClock {
					targets = append(targets, stringArg(st.Op.Value, "target", ""))
				}
			}
			for c := 0; c+3 <= len(targets); c += 3 {
				if w := slices.Sorted(slices.Values(targets[c : c+3])); !reflect.DeepEqual(w, []string{TargetAll, TargetMinority, TargetOne}) {
					t.Fatalf("%s: clock targets %v in cycle %d", spec, targets[c:c+3], c/3)
				}
			}
		}
	}
}

// TestScheduleStopsWhatItStarts: every fault a schedule starts is stopped
// by the schedule, before the time limit.
func TestScheduleStopsWhatItStarts(t *testing.T) {
	for _, concurrent := range []bool{false, true} {
		cfg := specConfig(t, "all", 3*time.Second, concurrent)
		for _, limit := range []time.Duration{cfg.MinTimeLimit(), cfg.MinTimeLimit() + 1500*time.Millisecond, 100 * time.Second} {
			s, err := NewSchedule(cfg, limit)
			if err != nil {
				t.Fatal(err)
			}
			on := map[string]bool{}
			for _, st := range s {
				if st.Offset >= limit {
					t.Fatalf("step at %v, limit %v", st.Offset, limit)
				}
				if st.Fault != (Fault{}) {
					on[st.Fault.Kind] = true
				} else {
					if k, starts, ok := KindOfOp(st.Op.F); ok && !starts {
						on[k.Name] = false
					}
				}
			}
			for k, v := range on {
				if v {
					t.Fatalf("concurrent %v, limit %v: %s still in effect at the end", concurrent, limit, k)
				}
			}
		}
	}
}

// leaderless is a nemesis whose leader-targeted faults fail, as when no
// leader can be agreed while other faults are in effect.
type leaderless struct{ invoked []history.Op }

func (l *leaderless) Invoke(_ context.Context, op history.Op) (history.Op, error) {
	l.invoked = append(l.invoked, op)
	if op.Value == TargetLeader {
		return history.Op{Value: map[string]any{"target": TargetLeader}}, errors.New("no leader agreed")
	}
	return history.Op{Value: map[string]any{"target": op.Value, "nodes": []any{"n1"}}}, nil
}
func (l *leaderless) Teardown(context.Context) error { return nil }
func (l *leaderless) Fs() []string                   { return []string{FKill, FStart} }

// TestRetryKeepsTheNamedFault: a start that does not take effect is tried
// again at once, on "one" node when the spec left the targets to the
// defaults, so the kind still happens; a named leader target stays.
func TestRetryKeepsTheNamedFault(t *testing.T) {
	for _, tc := range []struct {
		spec  string
		retry any
	}{{"kill", TargetOne}, {"kill:leader", TargetLeader}} {
		cfg, err := DefaultConfig().WithSpec(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Interval, cfg.OpAllowance = 10*time.Millisecond, 0
		sched, err := NewSchedule(cfg, 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		var leaderStep Step
		for _, st := range sched {
			if st.Op.Value == TargetLeader {
				leaderStep = st
				break
			}
		}
		if leaderStep.Op.F == "" {
			t.Fatalf("%s: no kill of the leader in %v", tc.spec, sched.Fs())
		}
		if leaderStep.Retry.F != FKill || leaderStep.Retry.Value != tc.retry {
			t.Fatalf("%s: retry %+v, want a kill of %v", tc.spec, leaderStep.Retry, tc.retry)
		}
		nem, rec := &leaderless{}, &memRecorder{}
		if err := Run(context.Background(), Schedule{leaderStep}, nem, rec); err != nil {
			t.Fatal(err)
		}
		if len(nem.invoked) != 2 || nem.invoked[1].Value != tc.retry {
			t.Fatalf("%s: invoked %v, want the leader kill then its retry", tc.spec, nem.invoked)
		}
		happened := Happened(rec.all())
		if want := tc.retry == TargetOne; (len(happened) == 1) != want {
			t.Errorf("%s: happened %v", tc.spec, happened)
		}
	}
}

// slowNemesis takes d over every op and notes, in the order they ran,
// each op's f and when it began and ended.
type slowNemesis struct {
	d   time.Duration
	mu  sync.Mutex
	ran []ranOp
}

type ranOp struct {
	f          string
	began, end time.Time
}

func (n *slowNemesis) Invoke(_ context.Context, op history.Op) (history.Op, error) {
	r := ranOp{f: op.F, began: time.Now()}
	time.Sleep(n.d) // the op itself, not synchronisation
	r.end = time.Now()
	n.mu.Lock()
	n.ran = append(n.ran, r)
	n.mu.Unlock()
	return history.Op{Type: history.OK, F: op.F, Value: op.Value}, nil
}
func (n *slowNemesis) Teardown(context.Context) error { return nil }
func (n *slowNemesis) Fs() []string                   { return KindNames() }

// TestIntervalCountsFromCompletion: each op waits the interval after the
// previous op of its lane completed, as Jepsen's nemesis does, so an op
// slower than the interval does not shorten the time a fault is in
// effect; ops of different lanes never run at the same moment.
func TestIntervalCountsFromCompletion(t *testing.T) {
	for _, concurrent := range []bool{false, true} {
		cfg := specConfig(t, "kill,partition", 20*time.Millisecond, concurrent)
		cfg.OpAllowance = 0
		sched, err := NewSchedule(cfg, 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		nem := &slowNemesis{d: 30 * time.Millisecond}
		if err := Run(context.Background(), sched, nem, &memRecorder{}); err != nil {
			t.Fatal(err)
		}
		if len(nem.ran) != len(sched) {
			t.Fatalf("concurrent %v: %d ops for %d steps", concurrent, len(nem.ran), len(sched))
		}
		lane := func(f string) string {
			if !concurrent {
				return ""
			}
			k, _, _ := KindOfOp(f)
			return k.Name
		}
		last := map[string]time.Time{}
		for i, r := range nem.ran {
			if prev, ok := last[lane(r.f)]; ok && r.began.Sub(prev) < cfg.Interval {
				t.Errorf("concurrent %v: op %d (%s) began %v after its lane's previous op ended, want >= %v",
					concurrent, i, r.f, r.began.Sub(prev), cfg.Interval)
			}
			last[lane(r.f)] = r.end
			if i > 0 && r.began.Before(nem.ran[i-1].end) {
				t.Errorf("concurrent %v: op %d began before op %d ended", concurrent, i, i-1)
			}
		}
	}
}

// downBlocks is a nemesis whose power failure cannot happen while a node
// is killed (no node it could hit is running), as on a 3-node cluster
// with the other nodes killed, paused or gone.
type downBlocks struct {
	killed  bool
	invoked []string
}

func (d *downBlocks) Invoke(_ context.Context, op history.Op) (history.Op, error) {
	d.invoked = append(d.invoked, op.F)
	switch op.F {
	case FKill:
		d.killed = true
	case FStart:
		d.killed = false
	case FPowerOff:
		if d.killed {
			return history.Op{Value: op.Value}, fmt.Errorf("no node is eligible: n1 is killed")
		}
	}
	return history.Op{Value: map[string]any{"target": op.Value, "nodes": []any{"n1"}}}, nil
}
func (d *downBlocks) Teardown(context.Context) error { return nil }
func (d *downBlocks) Fs() []string                   { return []string{FKill, FStart, FPowerOff, FPowerOn} }

// TestStartWaitsForANode: a start of one lane that found no node it could
// hit is tried again after another lane's op changed the cluster, until
// its own lane's next step (its stop) ends its chance.
func TestStartWaitsForANode(t *testing.T) {
	op := func(f string, v any) history.Op {
		return history.Op{Type: history.Invoke, Process: history.NemesisProcess, F: f, Value: v}
	}
	kill := Step{Lane: 0, Op: op(FKill, TargetOne), Retry: op(FKill, TargetOne), Fault: Fault{Kind: FaultKill, Option: TargetOne}}
	restart := Step{Lane: 0, Op: op(FStart, nil), Wait: time.Millisecond}
	power := Step{Lane: 1, Op: op(FPowerOff, TargetOne), Retry: op(FPowerOff, TargetOne), Fault: Fault{Kind: FaultPower, Option: TargetOne}, Wait: time.Millisecond}
	powerOn := Step{Lane: 1, Op: op(FPowerOn, nil), Wait: time.Millisecond}
	for _, tc := range []struct {
		name  string
		sched Schedule
		want  []string
		power bool // the power failure happened
	}{
		{name: "the kill's stop lets it happen", sched: Schedule{kill, power, restart, powerOn},
			want: []string{FKill, FPowerOff, FPowerOff, FStart, FPowerOff, FPowerOn}, power: true},
		{name: "its own stop comes first", sched: Schedule{kill, power, powerOn, restart},
			want: []string{FKill, FPowerOff, FPowerOff, FPowerOn, FStart}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nem, rec := &downBlocks{}, &memRecorder{}
			if err := Run(context.Background(), tc.sched, nem, rec); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(nem.invoked, tc.want) {
				t.Errorf("invoked %v, want %v", nem.invoked, tc.want)
			}
			happened := Happened(rec.all())
			if got := slices.ContainsFunc(happened, func(f Fault) bool { return f.Kind == FaultPower }); got != tc.power {
				t.Errorf("happened %v: power failure %v, want %v", happened, got, tc.power)
			}
		})
	}
}

// TestLeaderWaitLeavesTheRetryTime: a leader-targeted start near the end
// of the main phase that finds no leader does not wait past the time its
// retry on one node needs: the retry still starts within the main phase.
// (It waited LeaderWait, 5 s, and the fault never happened.)
func TestLeaderWaitLeavesTheRetryTime(t *testing.T) {
	f := newFake(t, 3)
	f.set(func() { f.leaderErr = errBoom })
	op := func(v any) history.Op {
		return history.Op{Type: history.Invoke, Process: history.NemesisProcess, F: FKill, Value: v}
	}
	st := Step{Op: op(TargetLeader), Retry: op(TargetOne), Fault: Fault{Kind: FaultKill, Option: TargetLeader}}
	ctx, cancel := context.WithTimeout(context.Background(), retryRoom/2)
	defer cancel()
	rec := &memRecorder{}
	if err := Run(ctx, Schedule{st}, newNem(t, f, "kill"), rec); err != nil {
		t.Fatal(err)
	}
	if got := Happened(rec.all()); len(got) != 1 || got[0].Kind != FaultKill {
		t.Fatalf("happened %v, want the kill on one node (history %v)", got, rec.all())
	}
}
