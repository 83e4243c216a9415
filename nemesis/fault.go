package nemesis

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/history"
)

// Fault is one fault a schedule runs: a kind and its option, written
// "kind:option" as in --nemesis: "partition:leader", "kill:one",
// "loss:all", "clock:bump". The option is the grudge of a partition, the
// target of a kill, pause or loss, and the mode of a clock fault. In a
// requirement (Config.Required) an empty Option means any option.
type Fault struct {
	Kind   string
	Option string
}

// String returns "kind:option", or "kind" when Option is empty.
func (f Fault) String() string {
	if f.Option == "" {
		return f.Kind
	}
	return f.Kind + ":" + f.Option
}

// Satisfies reports whether f, a fault that happened, meets the
// requirement r: same kind, and r's option or any when r names none.
func (f Fault) Satisfies(r Fault) bool {
	return f.Kind == r.Kind && (r.Option == "" || r.Option == f.Option)
}

// Required returns the faults every schedule of c runs before it repeats
// any, in c.Faults order: for each enabled kind, one fault per option c
// names, or one fault of any option (Option "") when c leaves the kind to
// its defaults. MinTimeLimit is the time a schedule needs to run them all.
func (c Config) Required() []Fault {
	var out []Fault
	if c.Replay != nil {
		for _, p := range c.Replay.Faults {
			if !slices.Contains(out, p.Fault()) {
				out = append(out, p.Fault())
			}
		}
		return out
	}
	for _, kind := range c.Faults {
		opts, named := c.KindOptions(kind)
		if !named {
			out = append(out, Fault{Kind: kind})
			continue
		}
		for _, o := range opts {
			out = append(out, Fault{Kind: kind, Option: o})
		}
	}
	return out
}

// required returns how many required faults each kind has.
func (c Config) required() map[string]int {
	n := map[string]int{}
	for _, f := range c.Required() {
		n[f.Kind]++
	}
	return n
}

// MinTimeLimit returns the shortest main phase in which a schedule of c
// starts and stops every required fault and leaves the cluster one
// Interval to recover before the phase ends, allowing each op
// OpAllowance to complete (the interval counts from an op's completion).
//
// One at a time, N required faults take (2N+1) x Interval + 2N x
// OpAllowance: they start at Interval, and each op waits Interval after
// the previous one completed. Concurrently, each kind runs its own cycle,
// offset by its stagger, so the kind with the most required faults
// decides. 0 when no fault is enabled.
func (c Config) MinTimeLimit() time.Duration {
	if len(c.Faults) == 0 {
		return 0
	}
	need := func(n int) time.Duration {
		return time.Duration(2*n+1)*c.Interval + time.Duration(2*n)*c.OpAllowance
	}
	if !c.concurrent() {
		return need(len(c.Required()))
	}
	var most time.Duration
	for j, kind := range c.staggerOrder() {
		most = max(most, need(c.required()[kind])+c.stagger(j))
	}
	return most
}

// CheckTimeLimit reports, with what to change, when a main phase of limit
// is too short for a schedule of c to run every required fault
// (MinTimeLimit): a fault is never skipped silently.
func (c Config) CheckTimeLimit(limit time.Duration) error {
	if c.Replay != nil {
		return c.Replay.Validate(limit, c.Replay.Nodes)
	}
	need := c.MinTimeLimit()
	if limit >= need {
		return nil
	}
	req := c.Required()
	names := make([]string, len(req))
	for i, f := range req {
		names[i] = f.String()
	}
	how := "one at a time"
	if c.concurrent() {
		how = "each kind on its own staggered cycle"
	}
	return fmt.Errorf("nemesis: --time-limit %v is too short for %d faults (%s) at --nemesis-interval %v, %s: needs at least %v "+
		"(raise --time-limit, shorten --nemesis-interval, or name fewer faults)",
		limit, len(req), strings.Join(names, ", "), c.Interval, how, need)
}

// concurrent reports whether the schedule gives each kind its own cycle.
func (c Config) concurrent() bool { return c.Concurrent && len(c.Faults) > 1 }

// staggerOrder returns the kinds in the order of their stagger offsets in
// a concurrent schedule: first the kinds that keep nodes up, those with
// more required faults first (so the longest cycle starts earliest), ties
// in c.Faults order; then the kinds that take nodes down (Kind.Downs:
// pause, then kill). So in every cycle the other faults start while every
// node is up (a partition needs running nodes to take its rules, a clock
// bump an admin endpoint that answers), pause and kill land on top of
// them, and the restart comes before the next cycle's starts.
func (c Config) staggerOrder() []string {
	n := c.required()
	downs := func(kind string) int { k, _ := KindOf(kind); return k.Downs }
	kinds := slices.Clone(c.Faults)
	slices.SortStableFunc(kinds, func(a, b string) int {
		if d := downs(a) - downs(b); d != 0 {
			return d
		}
		return n[b] - n[a]
	})
	return kinds
}

// stagger is the offset of the j-th kind's cycle in a concurrent schedule.
func (c Config) stagger(j int) time.Duration {
	return time.Duration(j) * c.Interval / time.Duration(len(c.Faults))
}

// faultOf returns the fault a nemesis completion started, from its f and
// value: ok is false for ops that start no fault (stops, heals, client
// ops).
func faultOf(op history.Op) (f Fault, k Kind, ok bool) {
	k, starts, ok := KindOfOp(op.F)
	if !ok || !starts {
		return Fault{}, k, false
	}
	return Fault{Kind: k.Name, Option: k.option(op)}, k, true
}

// inEffect reports whether a completion's value shows its fault in effect
// on at least one node: its kind's effect key (the grudge of a partition,
// the loss links, the nodes of a kill or pause, the clock offsets) is not
// empty.
func inEffect(op history.Op, k Kind) bool {
	m, _ := op.Value.(map[string]any)
	switch v := m[k.effect].(type) {
	case map[string]any:
		return len(v) > 0
	case []any:
		return len(v) > 0
	}
	return false
}

// Happened returns the faults a history shows took effect, in the order
// their completions were recorded (a fault that ran twice is listed
// twice). A fault happened only when its nemesis completion is ok (the
// nemesis confirmed it in effect: rules listed, container state read back,
// clock offsets read) and its value names what it affected, or it is a
// leave whose answer was lost that a later join found done
// (confirmLeaves). Other info and fail completions, stops and the final
// heal never count. It reads histories as
// Run records them and as history reads them back (JSONL or EDN).
func Happened(ops []history.Op) []Fault {
	var out []Fault
	for _, op := range confirmLeaves(ops) {
		if !op.IsNemesis() || op.Type != history.OK {
			continue
		}
		if f, k, ok := faultOf(op); ok && f.Option != "" && inEffect(op, k) {
			out = append(out, f)
		}
	}
	return out
}

// Missing returns the requirements (Config.Required) that no fault of
// happened (Happened) satisfies, in the order given.
func Missing(required, happened []Fault) []Fault {
	var out []Fault
	for _, r := range required {
		if !slices.ContainsFunc(happened, func(f Fault) bool { return f.Satisfies(r) }) {
			out = append(out, r)
		}
	}
	return out
}
