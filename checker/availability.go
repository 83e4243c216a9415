package checker

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/nemesis"
)

// Window is a span of time during which a fault was in effect, from the
// completion of the nemesis op that started it to the completion of the
// one that ended it (or the end of the history).
type Window struct {
	Kind  string        `json:"kind"`
	Start time.Duration `json:"start"`
	End   time.Duration `json:"end"`
	// Open is true when no nemesis op ended the fault.
	Open bool `json:"open,omitempty"`
}

// FaultWindows returns the fault windows of a history, sorted by start.
// A nemesis op that failed is ignored.
func FaultWindows(ops []history.Op) []Window {
	var end int64
	for _, o := range ops {
		end = max(end, o.Time)
	}
	open := map[string]int{} // kind -> index into out
	var out []Window
	for _, o := range ops {
		if o.Process != history.NemesisProcess || o.Type == history.Invoke || o.Type == history.Fail {
			continue
		}
		k, starts, ok := nemesis.KindOfOp(o.F)
		if !ok {
			continue
		}
		i, isOpen := open[k.Name]
		if starts {
			if !isOpen {
				open[k.Name] = len(out)
				out = append(out, Window{Kind: k.Name, Start: time.Duration(o.Time), Open: true})
			}
			continue
		}
		if isOpen {
			out[i].End, out[i].Open = time.Duration(o.Time), false
			delete(open, k.Name)
		}
	}
	for _, i := range open {
		out[i].End = time.Duration(end)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}

// AvailabilityConfig configures the availability checker.
type AvailabilityConfig struct {
	// Concurrency is the number of client workers; process p belongs to
	// worker p mod Concurrency (Jepsen's numbering after info ops). Zero
	// treats every process as its own worker.
	Concurrency int
}

// Availability measures the share of ok ops during fault windows, outside
// them and after the final heal (the last nemesis completion), and the
// time from the final heal to each worker's first ok op. It is Valid
// unless ops were attempted after the final heal and none succeeded.
type Availability struct{ cfg AvailabilityConfig }

// NewAvailability returns the availability checker.
func NewAvailability(cfg AvailabilityConfig) *Availability { return &Availability{cfg: cfg} }

// Name implements Checker.
func (a *Availability) Name() string { return "availability" }

type share struct {
	OK, Total int
}

func (s share) MarshalJSON() ([]byte, error) {
	r := "null"
	if s.Total > 0 {
		r = fmt.Sprintf("%.4f", float64(s.OK)/float64(s.Total))
	}
	return fmt.Appendf(nil, `{"ok":%d,"total":%d,"ok_share":%s}`, s.OK, s.Total, r), nil
}

// Check implements Checker.
func (a *Availability) Check(ctx context.Context, ops []history.Op) Result {
	name := a.Name()
	windows := FaultWindows(ops)
	heal := int64(-1)
	for _, o := range ops {
		if o.Process == history.NemesisProcess && o.Type != history.Invoke {
			heal = max(heal, o.Time)
		}
	}
	inFault := func(t int64) bool {
		for _, w := range windows {
			if int64(w.Start) <= t && t <= int64(w.End) {
				return true
			}
		}
		return false
	}
	var during, outside, after share
	type rec struct {
		firstOK   int64
		attempted int
	}
	workers := map[int]*rec{}
	var afterOps []int64 // the first ops attempted after the final heal
	for i, p := range clientPairs(ops) {
		if i&0xffff == 0 && ctx.Err() != nil {
			return ctxUnknown(ctx, name)
		}
		c := p.Complete
		ok := c.Type == history.OK
		t := c.Time
		if p.Open {
			t = p.Invoke.Time
		}
		var s *share
		switch {
		case heal >= 0 && p.Invoke.Time >= heal:
			s = &after
			w := p.Invoke.Process
			if a.cfg.Concurrency > 0 {
				w %= a.cfg.Concurrency
			}
			r := workers[w]
			if r == nil {
				r = &rec{firstOK: -1}
				workers[w] = r
			}
			r.attempted++
			if len(afterOps) < DefaultMaxReported {
				afterOps = append(afterOps, p.Invoke.Index)
			}
			if ok && (r.firstOK < 0 || c.Time < r.firstOK) {
				r.firstOK = c.Time
			}
		case inFault(t):
			s = &during
		default:
			s = &outside
		}
		s.Total++
		if ok {
			s.OK++
		}
	}
	recovery := map[string]any{}
	var worst time.Duration
	var never []int
	ids := make([]int, 0, len(workers))
	for w := range workers {
		ids = append(ids, w)
	}
	sort.Ints(ids)
	for _, w := range ids {
		r := workers[w]
		if r.firstOK < 0 {
			never = append(never, w)
			recovery[fmt.Sprint(w)] = nil
			continue
		}
		d := time.Duration(r.firstOK - heal)
		worst = max(worst, d)
		recovery[fmt.Sprint(w)] = d.Seconds() * 1000
	}
	res := Result{Checker: name, Valid: Valid, Details: map[string]any{
		"during_faults": during, "outside_faults": outside, "after_heal": after,
		"fault_windows": windows, "recovery_ms_by_worker": recovery,
	}}
	if heal >= 0 {
		res.Details["final_heal_seconds"] = float64(heal) / 1e9
	}
	if len(workers) > 0 && len(never) < len(workers) {
		res.Details["max_recovery_ms"] = worst.Seconds() * 1000
	}
	if len(never) > 0 {
		res.Details["never_recovered_workers"] = never
	}
	if after.Total > 0 && after.OK == 0 {
		res.Valid = Invalid
		res.Explanation = fmt.Sprintf("the cluster never recovered: none of the %d ops attempted after the final heal (t=%.3fs) succeeded",
			after.Total, float64(heal)/1e9)
		a := Anomaly{Type: "unavailable-after-heal", Explanation: res.Explanation, Ops: afterOps,
			Summary: fmt.Sprintf("none of the %d ops attempted after the final heal%s succeeded", after.Total, clock{history.HasTimes(ops)}.at(heal))}
		clock{history.HasTimes(ops)}.stamp(&a, heal)
		res.Anomalies = []Anomaly{a}
	}
	return res
}
