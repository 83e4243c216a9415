package shrink

import (
	"fmt"
	"slices"
	"time"

	"github.com/faultline/faultline/nemesis"
)

// reduction is one candidate smaller than the best so far, and what
// changed, in words.
type reduction struct {
	change string
	cand   Candidate
}

// reductions lists, biggest first, every single reduction of c: keep a
// chunk of faults alone or drop it (halves, then quarters, ... down to
// each fault alone), shorten the time limit, drop one node of a fault,
// halve a fault's duration (one the final heal stops gets a stop of its
// own), move a fault earlier by half its start, halve the workers. The
// time limit comes before the nodes: it makes every later candidate's
// reruns cheaper, and a node dropped from a 60 s run costs K reruns of
// 60 s.
func reductions(cfg Config, c Candidate) []reduction {
	var out []reduction
	faults := c.Schedule.Faults
	with := func(change string, edit func(*Candidate)) {
		n := c
		// Edits replace a fault's Nodes and Stop, never change them in
		// place: the best keeps its own.
		n.Schedule.Faults = slices.Clone(faults)
		edit(&n)
		out = append(out, reduction{change: change, cand: n})
	}
	// Chunks of faults of n/2, n/4, ..., 1, as ddmin's: at each size,
	// each chunk alone (its subsets; with two chunks each is the other's
	// complement, so only from three on), then each chunk dropped (its
	// complements). A fault that fires the bug alone is found in at most
	// n candidates even when every combination of it with other faults
	// ends in a harness error (a cluster that never recovers).
	for size := len(faults) / 2; ; size /= 2 {
		size = max(size, 1)
		for lo := 0; (len(faults)+size-1)/size > 2 && lo < len(faults); lo += size {
			hi := min(lo+size, len(faults))
			change := fmt.Sprintf("keep only fault %d (%s)", lo+1, faults[lo])
			if hi-lo > 1 {
				change = fmt.Sprintf("keep only faults %d-%d", lo+1, hi)
			}
			with(change, func(n *Candidate) { n.Schedule.Faults = slices.Clone(faults[lo:hi]) })
		}
		for lo := 0; lo < len(faults); lo += size {
			hi := min(lo+size, len(faults))
			change := fmt.Sprintf("drop fault %d (%s)", lo+1, faults[lo])
			if hi-lo > 1 {
				change = fmt.Sprintf("drop faults %d-%d", lo+1, hi)
			}
			with(change, func(n *Candidate) { n.Schedule.Faults = slices.Delete(n.Schedule.Faults, lo, hi) })
		}
		if size == 1 {
			break
		}
	}
	// The time limit: down to just after the last start or stop, at most
	// by half, and by a tenth at least (a second off 40 s costs K runs
	// and saves little).
	last := time.Duration(0)
	for _, f := range faults {
		last = max(last, f.Start.D())
		if f.Stop != nil {
			last = max(last, f.Stop.D())
		}
	}
	limit := max(c.TimeLimit/2, last+cfg.MinStep, cfg.MinTimeLimit).Round(cfg.MinStep)
	if limit > last && c.TimeLimit-limit >= c.TimeLimit/10 {
		with(fmt.Sprintf("time limit %v -> %v", c.TimeLimit, limit), func(n *Candidate) { n.TimeLimit = limit })
	}
	for i, f := range faults {
		least := 1
		if k, _ := nemesis.KindOf(f.Kind); !k.PerNode {
			least = 2 // a link has two ends
		}
		if len(f.Nodes) <= least {
			continue
		}
		for j, node := range f.Nodes {
			with(fmt.Sprintf("fault %d (%s): drop node %s", i+1, f, node), func(n *Candidate) {
				n.Schedule.Faults[i].Nodes = slices.Delete(slices.Clone(f.Nodes), j, j+1)
			})
		}
	}
	for i, f := range faults {
		end := f.End(c.TimeLimit)
		half := ((end - f.Start.D()) / 2).Round(cfg.MinStep / 10)
		if half < cfg.MinStep/2 {
			continue
		}
		stop := nemesis.Duration(f.Start.D() + half)
		with(fmt.Sprintf("fault %d (%s): stop at %v", i+1, f, stop.D()), func(n *Candidate) { n.Schedule.Faults[i].Stop = &stop })
	}
	for i, f := range faults {
		by := (f.Start.D() / 2).Round(cfg.MinStep / 10)
		if by < cfg.MinStep {
			continue
		}
		with(fmt.Sprintf("fault %d (%s): start %v earlier", i+1, f, by), func(n *Candidate) {
			p := &n.Schedule.Faults[i]
			p.Start = nemesis.Duration(p.Start.D() - by)
			if p.Stop != nil {
				stop := nemesis.Duration(p.Stop.D() - by)
				p.Stop = &stop
			}
		})
	}
	if c.Workers > 1 {
		w := c.Workers / 2
		with(fmt.Sprintf("workers %d -> %d", c.Workers, w), func(n *Candidate) { n.Workers = w })
	}
	return out
}
