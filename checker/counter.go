package checker

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/faultline/faultline/history"
)

// CounterConfig configures the counter checker.
type CounterConfig struct {
	// MaxReported bounds the anomalies listed in full (default
	// DefaultMaxReported); all are counted.
	MaxReported int
}

// Counter is Jepsen's counter checker: a counter starts at 0; f add
// (Value n) adds n, f read (Value v) reads it. Each ok read must lie
// between bounds, by position in the history: the lower bound counts every
// add that completed ok before the read began, plus every negative add
// that may have happened before it completed (invoked before, not
// failed); the upper bound the same with the positive ones. (Jepsen's
// checker takes adds to be positive; with those the bounds are the same.)
// A read outside its bounds is an out-of-bounds anomaly. Sums are exact:
// adds that sum beyond the 64-bit range make the verdict unknown, never
// a wrapped bound; a read beyond it is out of bounds.
type Counter struct{ cfg CounterConfig }

// NewCounter returns the counter checker.
func NewCounter(cfg CounterConfig) *Counter { return &Counter{cfg: cfg} }

// Name implements Checker.
func (c *Counter) Name() string { return "counter" }

// Check implements Checker.
func (c *Counter) Check(ctx context.Context, ops []history.Op) Result {
	name := c.Name()
	clk := clockOf(ops)
	type add struct {
		inv, done int // positions: invocation (-1: none), ok completion (-1: not ok)
		n         int64
		index     int64
	}
	var adds []add
	var reads []history.Pair
	for _, p := range clientPairs(ops) {
		switch p.Invoke.F {
		case "add":
			if !p.Open && p.Complete.Type == history.Fail {
				continue // it did not happen
			}
			n, err := history.IntOf(p.Invoke.Value)
			if err != nil {
				return unknown(name, fmt.Errorf("counter: add #%d: %w (a counter's adds are 64-bit integers)", p.Invoke.Index, err))
			}
			a := add{inv: p.InvokePos, done: -1, n: n, index: p.Invoke.Index}
			if !p.Open && p.Complete.Type == history.OK {
				a.done = p.CompletePos
			}
			adds = append(adds, a)
		case "read":
			if !p.Open && p.Complete.Type == history.OK && p.Complete.Value != nil {
				if _, err := exactInt(p.Complete.Value); err != nil {
					return unknown(name, fmt.Errorf("counter: read #%d: %w", p.Complete.Index, err))
				}
				reads = append(reads, p)
			}
		}
	}
	if ctx.Err() != nil {
		return ctxUnknown(ctx, name)
	}
	// lower = pos(done before the read began) + neg(invoked before it
	// completed); upper = neg(done before it began) + pos(invoked before
	// it completed).
	var done, invoked []event
	for _, a := range adds {
		invoked = append(invoked, event{a.inv, a.n, a.index})
		if a.done >= 0 {
			done = append(done, event{a.done, a.n, a.index})
		}
	}
	doneSums, err := prefixSums(done)
	if err != nil {
		return unknown(name, fmt.Errorf("counter: %w", err))
	}
	invSums, err := prefixSums(invoked)
	if err != nil {
		return unknown(name, fmt.Errorf("counter: %w", err))
	}
	f := newFound(c.cfg.MaxReported)
	for _, r := range reads {
		// Both bounds are sums of a non-negative and a non-positive
		// int64: they cannot overflow.
		dPos, dNeg := doneSums.before(r.InvokePos)
		iPos, iNeg := invSums.before(r.CompletePos)
		lo, hi := dPos+iNeg, dNeg+iPos
		v, _ := exactInt(r.Complete.Value)
		if v.IsInt64() && lo <= v.Int64() && v.Int64() <= hi {
			continue
		}
		at := clk.at(r.Invoke.Time)
		a := Anomaly{Ops: []int64{r.Complete.Index},
			Explanation: fmt.Sprintf("read #%d (process %d) saw %s, but the adds that could have happened put the counter between %d and %d",
				r.Complete.Index, r.Invoke.Process, v, lo, hi),
			Summary: fmt.Sprintf("read %s%s (#%d), but the counter was between %d and %d", v, at, r.Complete.Index, lo, hi)}
		clk.stamp(&a, r.Invoke.Time)
		f.add("out-of-bounds", a)
	}
	res := Result{Checker: name, Valid: Valid, Details: map[string]any{"reads": len(reads), "adds": len(adds)}}
	switch {
	case len(f.counts) > 0:
		f.invalid(&res)
	case len(reads) == 0:
		res.Valid = Unknown
		res.Explanation = "counter: no ok read to check"
		res.Error = res.Explanation
	}
	return res
}

// event is an amount at a position in the history, added by op index.
type event struct {
	at    int
	n     int64
	index int64
}

// sums answers "how much was added, positive and negative, before
// position p" from cumulative sums over positions.
type sums struct {
	at       []int
	pos, neg []int64 // cumulative, over events at at[:i+1]
}

// prefixSums sums evs by position; an error when a sum leaves the 64-bit
// range (never a wrapped sum).
func prefixSums(evs []event) (sums, error) {
	sort.Slice(evs, func(i, j int) bool { return evs[i].at < evs[j].at })
	s := sums{at: make([]int, len(evs)), pos: make([]int64, len(evs)), neg: make([]int64, len(evs))}
	var p, n int64
	for i, e := range evs {
		if e.n > 0 {
			if p > math.MaxInt64-e.n {
				return sums{}, fmt.Errorf("the positive adds up to #%d sum beyond the 64-bit range: no bound can be computed exactly", e.index)
			}
			p += e.n
		} else {
			if n < math.MinInt64-e.n {
				return sums{}, fmt.Errorf("the negative adds up to #%d sum beyond the 64-bit range: no bound can be computed exactly", e.index)
			}
			n += e.n
		}
		s.at[i], s.pos[i], s.neg[i] = e.at, p, n
	}
	return s, nil
}

// before returns the positive and negative sums of events before p.
func (s sums) before(p int) (pos, neg int64) {
	i := sort.SearchInts(s.at, p) // events at positions < p
	if i == 0 {
		return 0, 0
	}
	return s.pos[i-1], s.neg[i-1]
}
