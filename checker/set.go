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
	// StaleIsError makes stale reads (a read that misses an element whose
	// add was acknowledged before the read began, though a later read has
	// it) invalid, as a linearizable set requires. By default they are
	// only counted.
	StaleIsError bool
}

// Set checks a set workload: f add (Value element) and f read (Value list
// of elements). The final read is the last ok read. Acknowledged adds that
// completed before the final read began and are missing from it are lost;
// elements read that were never added are unexpected; info adds that are
// present are recovered (fine).
type Set struct{ cfg SetConfig }

// NewSet returns the set checker.
func NewSet(cfg SetConfig) *Set { return &Set{cfg: cfg} }

// Name implements Checker.
func (s *Set) Name() string { return "set" }

type addInfo struct {
	invoke, complete int64 // times
	typ              history.Type
	id               int64
}

// Check implements Checker.
func (s *Set) Check(ctx context.Context, ops []history.Op) Result {
	name := s.Name()
	pairs := clientPairs(ops)
	adds := map[string]*addInfo{}
	type read struct {
		p     history.Pair
		elems map[string]bool
	}
	// Every add is of a unique element, so an element a read holds twice
	// was applied twice (a retried add without deduplication).
	type dup struct {
		elem  string
		n     int
		index int64
	}
	var dups []dup
	var reads []read
	for i, p := range pairs {
		if i&0xffff == 0 && ctx.Err() != nil {
			return ctxUnknown(ctx, name)
		}
		switch p.Invoke.F {
		case "add":
			e := elemString(p.Invoke.Value)
			a := &addInfo{invoke: p.Invoke.Time, complete: p.Complete.Time, typ: p.Complete.Type, id: opID(p)}
			if old, ok := adds[e]; ok && old.typ == history.OK {
				continue // keep the acknowledged add
			}
			adds[e] = a
		case "read":
			if p.Complete.Type != history.OK {
				continue
			}
			l, ok := history.List(p.Complete.Value)
			if !ok && p.Complete.Value != nil {
				return unknown(name, fmt.Errorf("set: read #%d: value %s is not a list", p.Complete.Index, showValue(p.Complete.Value)))
			}
			m := make(map[string]bool, len(l))
			var counts map[string]int
			for _, x := range l {
				e := elemString(x)
				if m[e] {
					if counts == nil {
						counts = map[string]int{}
					}
					counts[e]++
				}
				m[e] = true
			}
			for e, n := range counts {
				dups = append(dups, dup{e, n + 1, p.Complete.Index})
			}
			reads = append(reads, read{p, m})
		}
	}
	res := Result{Checker: name, Valid: Valid}
	if len(reads) == 0 {
		res.Valid = Unknown
		res.Explanation = "set: no ok read, so nothing can be said about the adds"
		res.Error = res.Explanation
		res.Details = map[string]any{"attempted": len(adds)}
		return res
	}
	sort.Slice(reads, func(i, j int) bool { return reads[i].p.Complete.Index < reads[j].p.Complete.Index })
	final := reads[len(reads)-1]
	finalID := final.p.Complete.Index

	var lost, recovered, concurrentMissing, unexpected []string
	acked, okPresent := 0, 0
	for e, a := range adds {
		in := final.elems[e]
		switch a.typ {
		case history.OK:
			acked++
			if in {
				okPresent++
			} else if a.complete < final.p.Invoke.Time {
				lost = append(lost, e)
			} else {
				concurrentMissing = append(concurrentMissing, e)
			}
		case history.Info:
			if in {
				recovered = append(recovered, e)
			}
		}
	}
	unexpectedSeen := map[string]int64{}
	staleN := 0
	var staleEx []string
	var staleOps []int64
	for _, r := range reads {
		for e := range r.elems {
			if _, ok := adds[e]; !ok {
				if _, dup := unexpectedSeen[e]; !dup {
					unexpectedSeen[e] = r.p.Complete.Index
					unexpected = append(unexpected, e)
				}
			}
		}
		if r.p.Complete.Index == finalID {
			continue
		}
		for e, a := range adds {
			if a.typ == history.OK && a.complete < r.p.Invoke.Time && !r.elems[e] && final.elems[e] {
				staleN++
				if len(staleEx) < 10 {
					staleEx = append(staleEx, fmt.Sprintf("read #%d missed %s although its add #%d was acknowledged before the read began", r.p.Complete.Index, e, a.id))
					staleOps = append(staleOps, r.p.Complete.Index, a.id)
				}
			}
		}
	}
	sortElems(lost)
	sortElems(recovered)
	sortElems(unexpected)
	sortElems(concurrentMissing)
	res.Details = map[string]any{
		"attempted": len(adds), "acknowledged": acked, "ok_present": okPresent,
		"lost_count": len(lost), "recovered_count": len(recovered),
		"unexpected_count": len(unexpected), "stale_count": staleN,
		"concurrent_missing_count": len(concurrentMissing),
		"final_read":               finalID,
		"reads":                    len(reads),
	}
	if len(lost) > 0 {
		res.Details["lost"] = lost
	}
	if len(recovered) > 0 {
		res.Details["recovered"] = recovered
	}
	if len(unexpected) > 0 {
		res.Details["unexpected"] = unexpected
	}
	var expl []string
	if len(lost) > 0 {
		var ids []int64
		var ex []string
		for i, e := range lost {
			ids = append(ids, adds[e].id)
			if i < 10 {
				ex = append(ex, fmt.Sprintf("%s (add #%d)", e, adds[e].id))
			}
		}
		ids = append(ids, finalID)
		msg := fmt.Sprintf("%d acknowledged adds are missing from the final read #%d: %s", len(lost), finalID, strings.Join(ex, ", "))
		res.Anomalies = append(res.Anomalies, Anomaly{Type: "lost", Explanation: msg, Ops: ids})
		expl = append(expl, msg)
	}
	if len(unexpected) > 0 {
		var ids []int64
		var ex []string
		for i, e := range unexpected {
			ids = append(ids, unexpectedSeen[e])
			if i < 10 {
				ex = append(ex, fmt.Sprintf("%s (read #%d)", e, unexpectedSeen[e]))
			}
		}
		msg := fmt.Sprintf("%d elements were read that no op ever added: %s", len(unexpected), strings.Join(ex, ", "))
		res.Anomalies = append(res.Anomalies, Anomaly{Type: "unexpected", Explanation: msg, Ops: ids})
		expl = append(expl, msg)
	}
	if len(dups) > 0 {
		sort.Slice(dups, func(i, j int) bool {
			if dups[i].index != dups[j].index {
				return dups[i].index < dups[j].index
			}
			return dups[i].elem < dups[j].elem
		})
		var ids []int64
		var ex []string
		for i, d := range dups {
			if i < 10 {
				ex = append(ex, fmt.Sprintf("%s %d times in read #%d (add #%d)", d.elem, d.n, d.index, adds[d.elem].idOr(-1)))
			}
			if len(ids) == 0 || ids[len(ids)-1] != d.index {
				ids = append(ids, d.index)
			}
		}
		res.Details["duplicated_count"] = len(dups)
		msg := fmt.Sprintf("%d elements appear more than once in a read, though each was added by a single op (applied twice): %s",
			len(dups), strings.Join(ex, ", "))
		res.Anomalies = append(res.Anomalies, Anomaly{Type: "duplicate", Explanation: msg, Ops: ids})
		expl = append(expl, msg)
	}
	if staleN > 0 && s.cfg.StaleIsError {
		msg := fmt.Sprintf("%d stale reads: %s", staleN, strings.Join(staleEx, "; "))
		res.Anomalies = append(res.Anomalies, Anomaly{Type: "stale", Explanation: msg, Ops: staleOps})
		expl = append(expl, msg)
	}
	if len(res.Anomalies) > 0 {
		res.Valid = Invalid
		res.Explanation = strings.Join(expl, "; ")
	}
	return res
}

// idOr returns the add's op index, or def when there was no add.
func (a *addInfo) idOr(def int64) int64 {
	if a == nil {
		return def
	}
	return a.id
}

// sortElems sorts element names numerically when they are numbers.
func sortElems(es []string) {
	sort.Slice(es, func(i, j int) bool {
		if len(es[i]) != len(es[j]) && isDigits(es[i]) && isDigits(es[j]) {
			return len(es[i]) < len(es[j])
		}
		return es[i] < es[j]
	})
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
