package checker

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/faultline/faultline/history"
)

// BankConfig configures the bank checker.
type BankConfig struct {
	// Total is the sum of all balances, constant under transfers. Zero
	// infers it: the sum most reads agree on (Jepsen keeps it in the
	// test, not the history).
	Total int64
	// Accounts, if set, are the accounts every read must show exactly.
	Accounts []string
	// AllowNegative disables the negative-value check.
	AllowNegative bool
	// MaxReported bounds the anomalies of each type listed in full
	// (default DefaultMaxReported); all are counted.
	MaxReported int
}

// Bank is Jepsen's bank checker: every ok read (Value a map of account to
// balance) must show every account (unexpected-key, nil-balance), sum to
// the total (wrong-total) and hold no negative balance (negative-value).
type Bank struct{ cfg BankConfig }

// NewBank returns the bank checker.
func NewBank(cfg BankConfig) *Bank { return &Bank{cfg: cfg} }

// Name implements Checker.
func (b *Bank) Name() string { return "bank" }

// bankRead is one ok read: its balances by account, sorted.
type bankRead struct {
	op    history.Op
	time  int64 // when it began
	accts []string
	bal   map[string]int64
	nils  []string
	sum   int64
}

// Check implements Checker.
func (b *Bank) Check(ctx context.Context, ops []history.Op) Result {
	name := b.Name()
	clk := clock{timed: history.HasTimes(ops)}
	var reads []bankRead
	for i, p := range clientPairs(ops) {
		if i&0xffff == 0 && ctx.Err() != nil {
			return ctxUnknown(ctx, name)
		}
		o := p.Complete
		if o.Type != history.OK || p.Invoke.F != "read" {
			continue
		}
		m, ok := o.Value.(map[string]any)
		if !ok {
			return unknown(name, fmt.Errorf("bank: read #%d: value %s is not a map of balances", o.Index, showValue(o.Value)))
		}
		r := bankRead{op: o, time: p.Invoke.Time, bal: make(map[string]int64, len(m))}
		for a, v := range m {
			r.accts = append(r.accts, a)
			if v == nil {
				r.nils = append(r.nils, a)
				continue
			}
			n, ok := history.Int(v)
			if !ok {
				return unknown(name, fmt.Errorf("bank: read #%d: balance of %s is %s, not an integer", o.Index, a, showValue(v)))
			}
			r.bal[a] = n
			r.sum += n
		}
		sort.Strings(r.accts)
		sort.Strings(r.nils)
		reads = append(reads, r)
	}
	res := Result{Checker: name, Valid: Valid, Details: map[string]any{"reads": len(reads)}}
	if len(reads) == 0 {
		res.Valid = Unknown
		res.Explanation = "bank: no ok read to check"
		res.Error = res.Explanation
		return res
	}
	total, inferred := b.cfg.Total, false
	if total == 0 {
		total, inferred = commonTotal(reads), true
	}
	res.Details["total"], res.Details["total_inferred"] = total, inferred
	want := map[string]bool{}
	for _, a := range b.cfg.Accounts {
		want[a] = true
	}
	f := newFound(b.cfg.MaxReported)
	bad := 0
	for _, r := range reads {
		at := clk.at(r.time)
		var as []Anomaly
		var extra []string
		for _, a := range r.accts {
			if len(want) > 0 && !want[a] {
				extra = append(extra, a)
			}
		}
		var missing []string
		for _, a := range b.cfg.Accounts {
			if _, ok := r.bal[a]; !ok && !slices.Contains(r.nils, a) {
				missing = append(missing, a)
			}
		}
		if len(extra)+len(missing) > 0 {
			as = append(as, Anomaly{Type: "unexpected-key",
				Explanation: fmt.Sprintf("read #%d (process %d) saw accounts %v; unknown %v, missing %v", r.op.Index, r.op.Process, r.accts, extra, missing),
				Summary:     fmt.Sprintf("read #%d%s: unknown accounts %v, missing %v", r.op.Index, at, extra, missing)})
		}
		if len(r.nils) > 0 {
			as = append(as, Anomaly{Type: "nil-balance",
				Explanation: fmt.Sprintf("read #%d (process %d) saw no balance for %v", r.op.Index, r.op.Process, r.nils),
				Summary:     fmt.Sprintf("read #%d%s: no balance for %v", r.op.Index, at, r.nils)})
		}
		if r.sum != total {
			as = append(as, Anomaly{Type: "wrong-total",
				Explanation: fmt.Sprintf("read #%d (process %d) saw balances %s summing to %d, not %d (off by %+d)",
					r.op.Index, r.op.Process, showValue(r.op.Value), r.sum, total, r.sum-total),
				Summary: fmt.Sprintf("read #%d%s: balances sum to %d, not %d", r.op.Index, at, r.sum, total)})
		}
		var neg []string
		for _, a := range r.accts {
			if v, ok := r.bal[a]; ok && v < 0 {
				neg = append(neg, fmt.Sprintf("%s=%d", a, v))
			}
		}
		if len(neg) > 0 && !b.cfg.AllowNegative {
			as = append(as, Anomaly{Type: "negative-value",
				Explanation: fmt.Sprintf("read #%d (process %d) saw negative balances: %s", r.op.Index, r.op.Process, strings.Join(neg, ", ")),
				Summary:     fmt.Sprintf("read #%d%s: negative balances %s", r.op.Index, at, strings.Join(neg, ", "))})
		}
		if len(as) > 0 {
			bad++
		}
		for _, a := range as {
			a.Ops = []int64{r.op.Index}
			clk.stamp(&a, r.time)
			f.add(a.Type, a)
		}
	}
	res.Details["bad_reads"] = bad
	if bad > 0 {
		f.invalid(&res)
		res.Explanation = fmt.Sprintf("%d of %d reads are wrong: %s", bad, len(reads), res.Explanation)
		if inferred {
			res.Explanation += fmt.Sprintf(" (total %d inferred from the reads)", total)
		}
	}
	return res
}

// commonTotal returns the sum most reads show (the earliest on ties).
func commonTotal(reads []bankRead) int64 {
	n := map[int64]int{}
	best := reads[0].sum
	for _, r := range reads {
		n[r.sum]++
		if n[r.sum] > n[best] {
			best = r.sum
		}
	}
	return best
}
