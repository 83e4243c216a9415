package checker

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/faultline/faultline/history"
)

// LongForkConfig configures the long-fork checker.
type LongForkConfig struct {
	// GroupSize is how many keys every read must read (Jepsen's group
	// size n); a read of another number is refused. 0 takes reads of any
	// size.
	GroupSize int
	// MaxReported bounds the forks listed in full (default
	// DefaultMaxReported); all are counted.
	MaxReported int
}

// LongFork is Jepsen's long-fork checker (jepsen.tests.long-fork): writes
// are transactions of one write, [[:w k v]], each key written once; reads
// are transactions of reads only, [[:r k v] ...], of a group of keys. Two
// ok reads of the same keys must be ordered: one must have seen every
// write the other saw. A pair where each saw a write the other did not
// saw two writes in opposite orders: a long fork, which snapshot isolation
// forbids (parallel snapshot isolation allows it).
//
// As Jepsen's, it cannot decide (unknown) when a key is written twice or
// two reads saw different values of one key, and reads are grouped by the
// set of keys they read; reads of different sets are not compared. Any
// op that is neither such a write nor such a read is refused. Ops may be
// f txn, read, write or have no f.
type LongFork struct{ cfg LongForkConfig }

// NewLongFork returns the long-fork checker.
func NewLongFork(cfg LongForkConfig) *LongFork { return &LongFork{cfg: cfg} }

// Name implements Checker.
func (l *LongFork) Name() string { return "long-fork" }

// lfRead is a distinct state some ok reads saw: their first op, the
// values by key (sorted by key; "" is nil), and how many reads saw it.
type lfRead struct {
	op    history.Op
	time  int64
	keys  []string
	vals  []string
	count int
}

// Check implements Checker.
func (l *LongFork) Check(ctx context.Context, ops []history.Op) Result {
	name := l.Name()
	clk := clockOf(ops)
	written := map[string]int64{} // key -> the invocation writing it
	groups := map[string][]*lfRead{}
	var order []string // groups by first read
	seen := map[string]*lfRead{}
	reads, early, late := 0, 0, 0
	for _, p := range clientPairs(ops) {
		inv, comp := p.Invoke, p.Complete
		var mops [][3]any
		var reading, writing bool
		value := inv.Value
		if !p.Open && comp.Type == history.OK {
			value = comp.Value
		}
		err := microOps(value, func(fn string, mv []any) error {
			switch fn {
			case "r":
				reading = true
			case "w":
				writing = true
			default:
				return fmt.Errorf("micro-op %s is neither [:r k v] nor [:w k v]", showValue(mv))
			}
			mops = append(mops, [3]any{fn, mv[1], mv[2]})
			return nil
		})
		if err == nil && reading == writing {
			err = fmt.Errorf("value %s is neither one write nor reads only", showValue(value))
		}
		if err == nil && writing && len(mops) != 1 {
			err = fmt.Errorf("write %s writes more than one key: long-fork writes one key per transaction", showValue(value))
		}
		if err != nil {
			return unknown(name, fmt.Errorf("long-fork: op #%d: %w", comp.Index, err))
		}
		if writing {
			k := keyString(mops[0][1])
			if first, dup := written[k]; dup {
				r := unknown(name, fmt.Errorf("long-fork: key %s is written twice (#%d and #%d): the checker assumes each key is written once (Jepsen: :multiple-writes)", k, first, inv.Index))
				r.Details = map[string]any{"multiple_writes": k}
				return r
			}
			written[k] = inv.Index
			continue
		}
		if p.Open || comp.Type != history.OK {
			continue
		}
		reads++
		if reads&0xffff == 0 && ctx.Err() != nil {
			return ctxUnknown(ctx, name)
		}
		r := &lfRead{op: comp, time: inv.Time, count: 1}
		sort.Slice(mops, func(i, j int) bool { return keyString(mops[i][1]) < keyString(mops[j][1]) })
		nils := 0
		for _, m := range mops {
			k := keyString(m[1])
			if len(r.keys) > 0 && r.keys[len(r.keys)-1] == k {
				return unknown(name, fmt.Errorf("long-fork: read #%d reads key %s twice", comp.Index, k))
			}
			v := ""
			if m[2] != nil {
				v = "=" + showValue(m[2])
			} else {
				nils++
			}
			r.keys, r.vals = append(r.keys, k), append(r.vals, v)
		}
		if l.cfg.GroupSize > 0 && len(r.keys) != l.cfg.GroupSize {
			return unknown(name, fmt.Errorf("long-fork: read #%d reads %d keys %v, but every read should read exactly %d (--group-size)", comp.Index, len(r.keys), r.keys, l.cfg.GroupSize))
		}
		switch nils {
		case len(r.keys):
			early++
		case 0:
			late++
		}
		group := strings.Join(r.keys, "\x00")
		state := group + "\x01" + strings.Join(r.vals, "\x00")
		if s, ok := seen[state]; ok {
			s.count++
			continue
		}
		seen[state] = r
		if _, ok := groups[group]; !ok {
			order = append(order, group)
		}
		groups[group] = append(groups[group], r)
	}
	res := Result{Checker: name, Valid: Valid, Details: map[string]any{
		"reads": reads, "early_reads": early, "late_reads": late, "writes": len(written), "groups": len(groups)}}
	if reads == 0 {
		res.Valid = Unknown
		res.Explanation = "long-fork: no ok read to check"
		res.Error = res.Explanation
		return res
	}
	f := newFound(l.cfg.MaxReported)
	for _, g := range order {
		rs := groups[g]
		for i, a := range rs {
			if ctx.Err() != nil {
				return ctxUnknown(ctx, name)
			}
			for _, b := range rs[i+1:] {
				aOnly, bOnly, err := compareReads(a, b)
				if err != nil {
					return unknown(name, fmt.Errorf("long-fork: %w", err))
				}
				if aOnly < 0 || bOnly < 0 {
					continue
				}
				first, second := a, b
				if b.op.Index < a.op.Index {
					first, second, aOnly, bOnly = b, a, bOnly, aOnly
				}
				x, y := first.keys[aOnly], first.keys[bOnly]
				an := Anomaly{Key: x, Ops: []int64{first.op.Index, second.op.Index},
					Explanation: fmt.Sprintf("read #%d saw %s and read #%d saw %s: each saw a write the other missed (#%d saw key %s written, #%d did not; #%d saw key %s written, #%d did not), so they saw the writes of keys %s and %s in opposite orders: a long fork, which snapshot isolation forbids",
						first.op.Index, stateText(first), second.op.Index, stateText(second),
						first.op.Index, x, second.op.Index, second.op.Index, y, first.op.Index, x, y),
					Summary: fmt.Sprintf("reads #%d%s and #%d saw the writes of keys %s and %s in opposite orders", first.op.Index,
						clk.at(min(first.time, second.time)), second.op.Index, x, y)}
				clk.stamp(&an, min(first.time, second.time))
				f.add("long-fork", an)
			}
		}
	}
	if len(f.counts) > 0 {
		f.invalid(&res)
		res.Details["forks"] = f.counts["long-fork"]
	}
	return res
}

// compareReads compares two states of the same keys as Jepsen's
// read-compare does: aOnly is a key a saw written and b did not, bOnly
// one b saw and a did not (-1: none). Both set is a long fork. Two
// different values of one key are an error: each key is written once.
func compareReads(a, b *lfRead) (aOnly, bOnly int, err error) {
	aOnly, bOnly = -1, -1
	for i, va := range a.vals {
		vb := b.vals[i]
		switch {
		case va == vb:
		case vb == "":
			if aOnly < 0 {
				aOnly = i
			}
		case va == "":
			if bOnly < 0 {
				bOnly = i
			}
		default:
			return -1, -1, fmt.Errorf("reads #%d and #%d saw key %s as %s and %s: the checker assumes each key is written once (Jepsen: illegal history)",
				a.op.Index, b.op.Index, a.keys[i], va[1:], vb[1:])
		}
	}
	return aOnly, bOnly, nil
}

// stateText renders a read's state as EDN: "{x 1, y nil}".
func stateText(r *lfRead) string {
	parts := make([]string, len(r.keys))
	for i, k := range r.keys {
		v := r.vals[i]
		if v == "" {
			v = "=nil"
		}
		parts[i] = k + " " + v[1:]
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
