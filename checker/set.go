package checker

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/faultline/faultline/history"
)

// SetConfig configures the set checker.
type SetConfig struct {
	// Linearizable makes stale elements invalid (Jepsen's :linearizable?):
	// a read that began after an element was known to be present and
	// missed it, though later reads found it again. By default stale
	// elements are only counted.
	Linearizable bool
	// MaxReported bounds the anomalies of each type listed in full
	// (default DefaultMaxReported); all are counted.
	MaxReported int
}

// Set is Jepsen's set-full checker: f add (Value an element, each added
// once) and f read (Value every element present). For each element it
// follows what the reads saw, ordered by position in the history:
//
//   - known: its add completed ok, or a read completed that holds it;
//   - stable: the last read that began without it began before the last
//     read that holds it began;
//   - lost: known, and the last read holding it began before the last
//     read missing it began, which began after it was known;
//   - never-read: neither (no read began after it was known);
//   - stale: stable, though some read that began after it was known missed
//     it (invalid only when Linearizable).
//
// Read elements never added (unexpected), elements whose add failed yet
// a read holds (unexpected: the add definitely did not happen), and reads
// holding an element more than once (duplicated) are invalid too. With no
// stable element and nothing invalid the verdict is unknown, as Jepsen's.
type Set struct{ cfg SetConfig }

// NewSet returns the set checker.
func NewSet(cfg SetConfig) *Set { return &Set{cfg: cfg} }

// Name implements Checker.
func (s *Set) Name() string { return "set" }

// setRead is a read by position: its invocation (-1: none), completion.
type setRead struct {
	inv, comp int
	index     int64
	time      int64
}

// setElem is what the history says of one element.
type setElem struct {
	name        string
	add         history.Pair
	addType     history.Type
	hasAdd      bool
	known       int // position the element was known present; -1: never
	knownIndex  int64
	knownTime   int64
	lastPresent *setRead // the read holding it that began last
	lastAbsent  *setRead // the read missing it that began last
	firstRead   *setRead // the first read (by completion) holding it
}

// Check implements Checker.
func (s *Set) Check(ctx context.Context, ops []history.Op) Result {
	name := s.Name()
	clk := clockOf(ops)
	elems := map[string]*setElem{}
	var order []*setElem // elements by first add invocation
	get := func(e string) *setElem {
		x := elems[e]
		if x == nil {
			x = &setElem{name: e, known: -1}
			elems[e] = x
			order = append(order, x)
		}
		return x
	}
	// Pairs come in invocation order; events must come in history order.
	type event struct {
		pos int
		p   *history.Pair
	}
	pairs := clientPairs(ops)
	evs := make([]event, 0, 2*len(pairs))
	for i := range pairs {
		p := &pairs[i]
		if p.Invoke.F == "add" && p.InvokePos >= 0 {
			evs = append(evs, event{p.InvokePos, p})
		}
		if !p.Open {
			evs = append(evs, event{p.CompletePos, p})
		}
	}
	sort.Slice(evs, func(i, j int) bool { return evs[i].pos < evs[j].pos })
	f := newFound(s.cfg.MaxReported)
	reads := 0
	for i, ev := range evs {
		if i&0xffff == 0 && ctx.Err() != nil {
			return ctxUnknown(ctx, name)
		}
		p := ev.p
		switch p.Invoke.F {
		case "add":
			x := get(elemString(p.Invoke.Value))
			typ := p.Complete.Type
			if p.Open {
				typ = history.Info
			}
			if !x.hasAdd || (x.addType != history.OK && typ == history.OK) {
				x.add, x.hasAdd, x.addType = *p, true, typ
			}
			if ev.pos == p.CompletePos && p.Complete.Type == history.OK && (x.known < 0 || ev.pos < x.known) {
				x.known, x.knownIndex, x.knownTime = ev.pos, p.Complete.Index, p.Complete.Time
			}
		case "read":
			if p.Complete.Type != history.OK {
				continue
			}
			reads++
			l, ok := history.List(p.Complete.Value)
			if !ok && p.Complete.Value != nil {
				return unknown(name, fmt.Errorf("set: read #%d: value %s is not a list", p.Complete.Index, showValue(p.Complete.Value)))
			}
			r := &setRead{inv: p.InvokePos, comp: p.CompletePos, index: p.Complete.Index, time: p.Invoke.Time}
			names := make([]string, len(l))
			present := make(map[string]int, len(l))
			for i, v := range l {
				names[i] = elemString(v)
				present[names[i]]++
			}
			for _, e := range names {
				n := present[e]
				if n < 0 {
					continue // done
				}
				present[e] = -n
				x := get(e)
				if n > 1 {
					a := Anomaly{Key: e, Ops: []int64{r.index},
						Explanation: fmt.Sprintf("read #%d holds element %s %d times, though it was added once (applied twice?)", r.index, e, n),
						Summary:     fmt.Sprintf("element %s: read #%d%s holds it %d times", e, r.index, clk.at(r.time), n)}
					clk.stamp(&a, r.time)
					f.add("duplicated", a)
				}
				if x.firstRead == nil {
					x.firstRead = r
				}
				if x.known < 0 || r.comp < x.known {
					x.known, x.knownIndex, x.knownTime = r.comp, r.index, p.Complete.Time
				}
				if x.lastPresent == nil || x.lastPresent.inv < r.inv {
					x.lastPresent = r
				}
			}
			for _, x := range order {
				if present[x.name] == 0 && x.hasAdd && (x.lastAbsent == nil || x.lastAbsent.inv < r.inv) {
					x.lastAbsent = r
				}
			}
		}
	}
	return s.verdict(name, clk, f, order, reads)
}

// verdict sorts elements into Jepsen's outcomes and reports the bad ones.
func (s *Set) verdict(name string, clk clock, f *found, elems []*setElem, reads int) Result {
	sort.Slice(elems, func(i, j int) bool { return elemLess(elems[i].name, elems[j].name) })
	var lost, stale, neverRead, unexpected, recovered []string
	stable, acked := 0, 0
	for _, x := range elems {
		if x.hasAdd && x.addType == history.OK {
			acked++
		}
		switch {
		case !x.hasAdd || x.addType == history.Fail:
			if x.firstRead == nil {
				continue // a failed add, never read: fine
			}
			unexpected = append(unexpected, x.name)
			r := x.firstRead
			a := Anomaly{Key: x.name, Ops: []int64{r.index}}
			if x.hasAdd {
				a.Ops = append(a.Ops, x.add.Complete.Index)
				a.Explanation = fmt.Sprintf("read #%d holds element %s, whose add #%d failed: it definitely did not happen", r.index, x.name, x.add.Complete.Index)
				a.Summary = fmt.Sprintf("element %s: read #%d%s holds it, but its add #%d failed", x.name, r.index, clk.at(r.time), x.add.Complete.Index)
			} else {
				a.Explanation = fmt.Sprintf("read #%d holds element %s, which no op ever added", r.index, x.name)
				a.Summary = fmt.Sprintf("element %s: read #%d%s holds it, but nothing added it", x.name, r.index, clk.at(r.time))
			}
			clk.stamp(&a, r.time)
			f.add("unexpected", a)
			continue
		}
		if x.addType == history.Info && x.firstRead != nil {
			recovered = append(recovered, x.name)
		}
		isStable := x.lastPresent != nil && (x.lastAbsent == nil || x.lastAbsent.inv < x.lastPresent.inv)
		isLost := x.known >= 0 && x.lastAbsent != nil && (x.lastPresent == nil || x.lastPresent.inv < x.lastAbsent.inv) &&
			x.known < x.lastAbsent.inv
		switch {
		case isStable:
			stable++
			if x.lastAbsent != nil && x.lastAbsent.inv > x.known {
				stale = append(stale, x.name)
				if s.cfg.Linearizable {
					r := x.lastAbsent
					a := Anomaly{Key: x.name, Ops: []int64{x.knownIndex, r.index, x.lastPresent.index},
						Explanation: fmt.Sprintf("element %s was known present at #%d, yet read #%d, which began later, missed it; read #%d has it again (stale read)",
							x.name, x.knownIndex, r.index, x.lastPresent.index),
						Summary: fmt.Sprintf("element %s: known%s (#%d), missed by read #%d%s", x.name, clk.at(x.knownTime), x.knownIndex,
							r.index, clk.at(r.time))}
					clk.stamp(&a, x.knownTime)
					f.add("stale", a)
				}
			}
		case isLost:
			lost = append(lost, x.name)
			r := x.lastAbsent
			a := Anomaly{Key: x.name, Ops: []int64{x.knownIndex, r.index},
				Explanation: fmt.Sprintf("element %s was known present at #%d, but read #%d, which began after, and every later read miss it (lost)", x.name, x.knownIndex, r.index),
				Summary: fmt.Sprintf("element %s: known%s (#%d), missing from read #%d%s and after", x.name, clk.at(x.knownTime), x.knownIndex,
					r.index, clk.at(r.time))}
			if x.lastPresent != nil {
				a.Explanation += fmt.Sprintf("; it was last seen by read #%d", x.lastPresent.index)
			}
			clk.stamp(&a, x.knownTime)
			f.add("lost", a)
		default:
			neverRead = append(neverRead, x.name)
		}
	}
	res := Result{Checker: name, Valid: Valid, Details: map[string]any{
		"attempt_count": len(elems) - len(unexpected), "acknowledged_count": acked, "stable_count": stable,
		"lost_count": len(lost), "never_read_count": len(neverRead), "stale_count": len(stale),
		"unexpected_count": len(unexpected), "duplicated_count": f.counts["duplicated"],
		"recovered_count": len(recovered), "reads": reads,
	}}
	for k, v := range map[string][]string{"lost": lost, "stale": stale, "never_read": neverRead, "unexpected": unexpected, "recovered": recovered} {
		if len(v) > 0 {
			res.Details[k] = firstN(v, 100)
		}
	}
	switch {
	case len(f.counts) > 0:
		f.invalid(&res)
	case stable == 0:
		res.Valid = Unknown
		res.Explanation = fmt.Sprintf("set: no element is stable (%d reads, %d elements added): nothing can be said", reads, len(elems))
		res.Error = res.Explanation
	}
	return res
}

// firstN returns at most n elements of l, the last one saying how many
// more there are.
func firstN(l []string, n int) []string {
	if len(l) <= n {
		return l
	}
	return append(l[:n:n], fmt.Sprintf("... %d more", len(l)-n))
}

// elemLess orders elements numerically when they are numbers.
func elemLess(a, b string) bool {
	if len(a) != len(b) && isDigits(a) && isDigits(b) {
		return len(a) < len(b)
	}
	return a < b
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
