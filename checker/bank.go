package checker

import (
	"context"
	"fmt"
	"maps"
	"math/big"
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
	// Empty infers them: the accounts of the first ok read and every
	// account a transfer names.
	Accounts []string
	// AllowNegative disables the negative-value check.
	AllowNegative bool
	// MaxReported bounds the anomalies of each type listed in full
	// (default DefaultMaxReported); all are counted.
	MaxReported int
}

// Bank is Jepsen's bank checker: every ok read (Value a map of account to
// balance) must show exactly the accounts (unexpected-key for an account
// that should not be there, missing-key for one that is not: a read that
// drops an account holding 0 sums right and is wrong all the same), a
// balance for each (nil-balance), sum to the total (wrong-total) and hold
// no negative balance (negative-value). Balances and sums are exact, at
// any size: a sum never wraps.
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
	bal   map[string]*big.Int
	nils  []string
	sum   *big.Int
}

// Check implements Checker.
func (b *Bank) Check(ctx context.Context, ops []history.Op) Result {
	name := b.Name()
	clk := clockOf(ops)
	var reads []bankRead
	transferred := map[string]bool{} // accounts transfers name
	for i, p := range clientPairs(ops) {
		if i&0xffff == 0 && ctx.Err() != nil {
			return ctxUnknown(ctx, name)
		}
		if p.Invoke.F == "transfer" && len(b.cfg.Accounts) == 0 {
			t, ok := p.Invoke.Value.(map[string]any)
			from, fok := t["from"]
			to, tok := t["to"]
			if !ok || !fok || !tok {
				return unknown(name, fmt.Errorf("bank: transfer #%d: value %s is not {:from a, :to b, :amount n}, so the accounts cannot be inferred; give them (--bank-accounts)", p.Invoke.Index, showValue(p.Invoke.Value)))
			}
			transferred[keyString(from)], transferred[keyString(to)] = true, true
		}
		o := p.Complete
		if o.Type != history.OK || p.Invoke.F != "read" {
			continue
		}
		m, ok := o.Value.(map[string]any)
		if !ok {
			return unknown(name, fmt.Errorf("bank: read #%d: value %s is not a map of balances", o.Index, showValue(o.Value)))
		}
		r := bankRead{op: o, time: p.Invoke.Time, bal: make(map[string]*big.Int, len(m)), sum: new(big.Int)}
		for a, v := range m {
			r.accts = append(r.accts, a)
			if v == nil {
				r.nils = append(r.nils, a)
				continue
			}
			n, err := exactInt(v)
			if err != nil {
				return unknown(name, fmt.Errorf("bank: read #%d: balance of %s: %w", o.Index, a, err))
			}
			r.bal[a] = n
			r.sum.Add(r.sum, n)
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
	total, inferred := big.NewInt(b.cfg.Total), false
	if b.cfg.Total == 0 {
		total, inferred = commonTotal(reads), true
	}
	res.Details["total"], res.Details["total_inferred"] = jsonInt(total), inferred
	accounts, accountsInferred := b.cfg.Accounts, false
	if len(accounts) == 0 {
		set := maps.Clone(transferred)
		for _, a := range reads[0].accts {
			set[a] = true
		}
		accounts, accountsInferred = slices.Sorted(maps.Keys(set)), true
	}
	res.Details["accounts"], res.Details["accounts_inferred"] = accounts, accountsInferred
	want := map[string]bool{}
	for _, a := range accounts {
		want[a] = true
	}
	f := newFound(b.cfg.MaxReported)
	bad := 0
	for _, r := range reads {
		at := clk.at(r.time)
		var as []Anomaly
		var extra, missing []string
		for _, a := range r.accts {
			if !want[a] {
				extra = append(extra, a)
			}
		}
		for _, a := range accounts {
			if !slices.Contains(r.accts, a) {
				missing = append(missing, a)
			}
		}
		from := "the accounts given"
		if accountsInferred {
			from = "the accounts of the first read and the transfers"
		}
		if len(extra) > 0 {
			as = append(as, Anomaly{Type: "unexpected-key",
				Explanation: fmt.Sprintf("read #%d (process %d) saw accounts %v, of which %v are not among %s %v", r.op.Index, r.op.Process, r.accts, extra, from, accounts),
				Summary:     fmt.Sprintf("read #%d%s: unexpected accounts %v", r.op.Index, at, extra)})
		}
		if len(missing) > 0 {
			as = append(as, Anomaly{Type: "missing-key",
				Explanation: fmt.Sprintf("read #%d (process %d) saw accounts %v, without %v of %s %v", r.op.Index, r.op.Process, r.accts, missing, from, accounts),
				Summary:     fmt.Sprintf("read #%d%s: accounts %v missing", r.op.Index, at, missing)})
		}
		if len(r.nils) > 0 {
			as = append(as, Anomaly{Type: "nil-balance",
				Explanation: fmt.Sprintf("read #%d (process %d) saw no balance for %v", r.op.Index, r.op.Process, r.nils),
				Summary:     fmt.Sprintf("read #%d%s: no balance for %v", r.op.Index, at, r.nils)})
		}
		if r.sum.Cmp(total) != 0 {
			off := new(big.Int).Sub(r.sum, total)
			as = append(as, Anomaly{Type: "wrong-total",
				Explanation: fmt.Sprintf("read #%d (process %d) saw balances %s summing to %s, not %s (off by %s%s)",
					r.op.Index, r.op.Process, showValue(r.op.Value), r.sum, total, plus(off), off),
				Summary: fmt.Sprintf("read #%d%s: balances sum to %s, not %s", r.op.Index, at, r.sum, total)})
		}
		var neg []string
		for _, a := range r.accts {
			if v, ok := r.bal[a]; ok && v.Sign() < 0 {
				neg = append(neg, fmt.Sprintf("%s=%s", a, v))
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
			res.Explanation += fmt.Sprintf(" (total %s inferred from the reads)", total)
		}
	}
	return res
}

// commonTotal returns the sum most reads show (the earliest on ties).
func commonTotal(reads []bankRead) *big.Int {
	n := map[string]int{}
	best := reads[0].sum
	for _, r := range reads {
		k := r.sum.String()
		n[k]++
		if n[k] > n[best.String()] {
			best = r.sum
		}
	}
	return best
}

// plus is "+" for a positive number, as %+d would print it.
func plus(n *big.Int) string {
	if n.Sign() > 0 {
		return "+"
	}
	return ""
}
