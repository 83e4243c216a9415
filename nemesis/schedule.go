package nemesis

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/faultline/faultline/history"
)

// Step is one scheduled nemesis op: at Offset after the schedule starts,
// invoke Op (Type Invoke, Process NemesisProcess).
type Step struct {
	Offset time.Duration
	Op     history.Op
}

// Schedule is a list of steps in offset order.
type Schedule []Step

// stopF maps each fault kind to its start and stop fs.
var kindFs = map[string][2]string{
	FaultPartition: {FStartPartition, FStopPartition},
	FaultLoss:      {FStartLoss, FStopLoss},
	FaultKill:      {FKill, FStart},
	FaultPause:     {FPause, FResume},
	FaultClock:     {"", FResetClock}, // start is bump-clock or strobe-clock
}

// NewSchedule returns the seeded schedule of cfg for a run of length
// limit: at Interval a random enabled fault starts, at 2*Interval it stops,
// at 3*Interval the next starts, and so on while the offset is below limit.
// One fault is in effect at a time; a fault still in effect at the end is
// stopped by HealAll. Every random choice (the kind, the grudge, the
// target, the mode) is drawn from cfg.Seed and written into the op value,
// so the same Config gives the same (offset, op) sequence. The nodes a
// target picks are drawn at invoke time by the nemesis (also seeded).
func NewSchedule(cfg Config, limit time.Duration) (Schedule, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Faults) == 0 {
		return nil, nil
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x7363686564)) // "sched"
	pick := func(l []string) string { return l[rng.IntN(len(l))] }
	// start builds the invoke that starts a fault of kind and returns the
	// f of the op that stops it.
	start := func(kind string) (history.Op, string) {
		op := history.Op{Type: history.Invoke, Process: history.NemesisProcess}
		fs := kindFs[kind]
		op.F = fs[0]
		switch kind {
		case FaultPartition:
			op.Value = pick(cfg.Grudges)
		case FaultLoss:
			op.Value = map[string]any{"percent": int64(cfg.LossPercent), "target": pick(cfg.LossTargets)}
		case FaultKill:
			op.Value = pick(cfg.KillTargets)
		case FaultPause:
			op.Value = pick(cfg.PauseTargets)
		case FaultClock:
			target := pick(cfg.Clock.Targets)
			if pick(cfg.Clock.Modes) == ClockBump {
				op.F = FBumpClock
				op.Value = map[string]any{"target": target, "max_ms": cfg.Clock.MaxBumpMs}
			} else {
				op.F = FStrobeClock
				op.Value = map[string]any{"target": target, "delta_ms": cfg.Clock.StrobeDeltaMs,
					"period_ms": cfg.Clock.StrobePeriodMs, "duration_ms": cfg.Clock.StrobeDurationMs}
			}
		}
		return op, fs[1]
	}
	stopOp := func(f string) history.Op {
		return history.Op{Type: history.Invoke, Process: history.NemesisProcess, F: f}
	}
	var s Schedule
	if cfg.Concurrent && len(cfg.Faults) > 1 {
		// Each kind cycles on its own (start, Interval later stop, Interval
		// later start, ...), the kinds staggered by Interval/K, so faults
		// of different kinds overlap as in Jepsen's composed nemeses.
		k := time.Duration(len(cfg.Faults))
		for j, kind := range cfg.Faults {
			stop := ""
			for t := cfg.Interval + time.Duration(j)*cfg.Interval/k; t < limit; t += cfg.Interval {
				var op history.Op
				if stop != "" {
					op, stop = stopOp(stop), ""
				} else {
					op, stop = start(kind)
				}
				s = append(s, Step{Offset: t, Op: op})
			}
		}
		slices.SortStableFunc(s, func(a, b Step) int { return cmp.Compare(a.Offset, b.Offset) })
		return s, nil
	}
	var stop string
	for i := 1; time.Duration(i)*cfg.Interval < limit; i++ {
		var op history.Op
		if stop != "" {
			op, stop = stopOp(stop), ""
		} else {
			op, stop = start(pick(cfg.Faults))
		}
		s = append(s, Step{Offset: time.Duration(i) * cfg.Interval, Op: op})
	}
	return s, nil
}

// Fs returns the distinct fs of the schedule, sorted.
func (s Schedule) Fs() []string {
	var fs []string
	for _, st := range s {
		if !slices.Contains(fs, st.Op.F) {
			fs = append(fs, st.Op.F)
		}
	}
	slices.Sort(fs)
	return fs
}

// Run is the nemesis worker: it sleeps until each step's offset (counted
// from the call), records the invoke, performs it with nem and records the
// completion (ok, or info with the error). ctx ends the schedule between
// steps; an op in progress is finished first. A fault that fails does not stop
// the schedule. Run returns nil when the schedule ends or ctx is done (the
// normal end of a run); it returns an error only for bad arguments. Faults
// still in effect are left for HealAll / Teardown.
func Run(ctx context.Context, sched Schedule, nem Nemesis, rec Recorder) error {
	if nem == nil || rec == nil {
		return fmt.Errorf("nemesis: run: nil nemesis or recorder")
	}
	start := time.Now()
	for _, st := range sched {
		if !sleepUntil(ctx, start.Add(st.Offset)) {
			return nil
		}
		// Once invoked, a fault runs to completion (bounded by OpTimeout)
		// even if ctx ends meanwhile: a kill cut off mid-call may have
		// happened without being recorded, and the final heal would then
		// not know to restart the node.
		Apply(context.WithoutCancel(ctx), nem, rec, st.Op)
	}
	return nil
}

// OpTimeout bounds one nemesis op (all its docker calls, state waits and
// admin requests); an op that takes longer completes as info.
const OpTimeout = 2 * time.Minute

// Apply records op's invoke (as the nemesis process), performs it with nem
// (bounded by OpTimeout) and records its completion; it returns the
// recorded completion and the fault's error.
func Apply(ctx context.Context, nem Nemesis, rec Recorder, op history.Op) (history.Op, error) {
	op.Type, op.Process = history.Invoke, history.NemesisProcess
	inv := rec.Record(op)
	ictx, cancel := context.WithTimeout(ctx, OpTimeout)
	defer cancel()
	c, err := nem.Invoke(ictx, inv)
	c.Type, c.Process, c.F = completionType(err), history.NemesisProcess, inv.F
	if err != nil && c.Error == "" {
		c.Error = err.Error()
	}
	c.Index, c.Time = 0, 0
	return rec.Record(c), err
}

func completionType(err error) history.Type {
	if err != nil {
		return history.Info
	}
	return history.OK
}

// sleepUntil waits until t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
