package checker

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/faultline/faultline/history"
)

// BankConfig configures the bank checker.
type BankConfig struct {
	// Total is the sum of all balances, constant under transfers.
	Total int64
	// Accounts, if set, are the accounts every read must show exactly.
	Accounts []string
	// AllowNegative disables the negative-balance check.
	AllowNegative bool
}

// Bank checks a bank workload: every ok read (Value map account->balance)
// sums to the configured total and shows no negative balance.
type Bank struct{ cfg BankConfig }

// NewBank returns the bank checker.
func NewBank(cfg BankConfig) *Bank { return &Bank{cfg: cfg} }

// Name implements Checker.
func (b *Bank) Name() string { return "bank" }

// Check implements Checker.
func (b *Bank) Check(ctx context.Context, ops []history.Op) Result {
	name := b.Name()
	want := map[string]bool{}
	for _, a := range b.cfg.Accounts {
		want[a] = true
	}
	res := Result{Checker: name, Valid: Valid}
	reads, badReads := 0, 0
	counts := map[string]int{}
	for i, o := range ops {
		if i&0xffff == 0 && ctx.Err() != nil {
			return ctxUnknown(ctx, name)
		}
		if o.Process == history.NemesisProcess || o.Type != history.OK || o.F != "read" {
			continue
		}
		reads++
		m, ok := o.Value.(map[string]any)
		if !ok {
			return unknown(name, fmt.Errorf("bank: read #%d: value %s is not a map of balances", o.Index, showValue(o.Value)))
		}
		accts := make([]string, 0, len(m))
		for a := range m {
			accts = append(accts, a)
		}
		sort.Strings(accts)
		var sum int64
		var neg []string
		bad := false
		for _, a := range accts {
			v, ok := history.Int(m[a])
			if !ok {
				if m[a] == nil {
					continue // account absent
				}
				return unknown(name, fmt.Errorf("bank: read #%d: balance of %s is %s, not an integer", o.Index, a, showValue(m[a])))
			}
			sum += v
			if v < 0 {
				neg = append(neg, fmt.Sprintf("%s=%d", a, v))
			}
		}
		if sum != b.cfg.Total {
			bad = true
			counts["wrong-total"]++
			res.Anomalies = append(res.Anomalies, Anomaly{Type: "wrong-total", Ops: []int64{o.Index},
				Explanation: fmt.Sprintf("read #%d (process %d) saw balances %s summing to %d, not %d (off by %+d)",
					o.Index, o.Process, showValue(o.Value), sum, b.cfg.Total, sum-b.cfg.Total)})
		}
		if len(neg) > 0 && !b.cfg.AllowNegative {
			bad = true
			counts["negative-balance"]++
			res.Anomalies = append(res.Anomalies, Anomaly{Type: "negative-balance", Ops: []int64{o.Index},
				Explanation: fmt.Sprintf("read #%d (process %d) saw negative balances: %s", o.Index, o.Process, strings.Join(neg, ", "))})
		}
		if len(want) > 0 {
			var missing, extra []string
			for _, a := range b.cfg.Accounts {
				if _, ok := m[a]; !ok {
					missing = append(missing, a)
				}
			}
			for _, a := range accts {
				if !want[a] {
					extra = append(extra, a)
				}
			}
			if len(missing)+len(extra) > 0 {
				bad = true
				counts["unexpected-accounts"]++
				res.Anomalies = append(res.Anomalies, Anomaly{Type: "unexpected-accounts", Ops: []int64{o.Index},
					Explanation: fmt.Sprintf("read #%d saw accounts %v; missing %v, unknown %v", o.Index, accts, missing, extra)})
			}
		}
		if bad {
			badReads++
		}
	}
	res.Details = map[string]any{"reads": reads, "bad_reads": badReads, "total": b.cfg.Total, "anomaly_counts": counts}
	if reads == 0 {
		res.Valid = Unknown
		res.Explanation = "bank: no ok read to check"
		res.Error = res.Explanation
		return res
	}
	if badReads > 0 {
		res.Valid = Invalid
		var ex []string
		for i, a := range res.Anomalies {
			if i == 5 {
				ex = append(ex, fmt.Sprintf("... %d more", len(res.Anomalies)-5))
				break
			}
			ex = append(ex, a.Explanation)
		}
		res.Explanation = fmt.Sprintf("%d of %d reads are wrong: %s", badReads, reads, strings.Join(ex, "; "))
		if len(res.Anomalies) > 1000 {
			res.Anomalies = res.Anomalies[:1000]
		}
	}
	return res
}
