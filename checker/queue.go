package checker

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/faultline/faultline/history"
)

// QueueConfig configures the queue checker.
type QueueConfig struct {
	// MaxReported bounds the anomalies of each type listed in full
	// (default DefaultMaxReported); all are counted.
	MaxReported int
}

// QueueGone is what a drain of a queue that no longer exists fails with
// (workload.QueueGoneReason): the checker reads it as total loss.
const QueueGone = "queue gone"

// Queue is the checker of Jepsen's NATS queue test: f enqueue (Value a
// unique integer, published synchronously) and f drain (Value at
// completion every value the queue held, read through the completion's
// Node). Every ok drain is a final read; the values read are their union.
//
//   - lost: acknowledged (enqueue ok), read by no drain (invalid); each
//     writer (process) splits its lost values into a prefix (before its
//     first acknowledged value that was read), a middle and a postfix
//     (after its last one; a writer none of whose acknowledged values
//     was read loses them all as postfix);
//   - lost-on-node: acknowledged and read through some node, missing
//     from every drain through another node (a split brain; invalid);
//   - lost-in-read: acknowledged and read by some drain, missing from
//     another drain that read a later acknowledged value of the same
//     writer: that read skipped it, as Jepsen's lost middle is seen by
//     its one reader (a replica that lost the middle of the stream, which
//     a drain through any node may read; invalid);
//   - unexpected: read, but never enqueued or its enqueue failed
//     (invalid);
//   - recovered: read, though its enqueue was indeterminate (counted);
//   - duplicated: read more than once by one drain (counted, allowed:
//     JetStream publishes are at-least-once without message ids);
//   - total-loss: no drain completed because the queue itself no longer
//     exists: every acknowledged value is lost (invalid).
//
// With no completed drain, or no acknowledged value, nothing can be said:
// unknown, never valid.
type Queue struct{ cfg QueueConfig }

// NewQueue returns the queue checker.
func NewQueue(cfg QueueConfig) *Queue { return &Queue{cfg: cfg} }

// Name implements Checker.
func (q *Queue) Name() string { return "queue" }

// queueValue is what the history says of one enqueued value.
type queueValue struct {
	name    string
	typ     history.Type // the enqueue's outcome (Info when open)
	process int
	index   int64 // the enqueue's completion (or invocation) index
	time    int64
}

// Check implements Checker.
func (q *Queue) Check(ctx context.Context, ops []history.Op) Result {
	name := q.Name()
	clk := clockOf(ops)
	vals := map[string]*queueValue{}
	var order []*queueValue                // by invocation
	read := map[string]int{}               // value -> drains holding it
	byNode := map[string]map[string]bool{} // node -> values read through it
	var reads []queueRead                  // each ok drain
	firstRead := map[string]int64{}
	drains, gone := 0, []int64{}
	var duplicated int
	f := newFound(q.cfg.MaxReported)
	for i, p := range clientPairs(ops) {
		if i&0xffff == 0 && ctx.Err() != nil {
			return ctxUnknown(ctx, name)
		}
		switch p.Invoke.F {
		case "enqueue":
			if p.InvokePos < 0 {
				return unknown(name, fmt.Errorf("queue: enqueue #%d has no invocation", p.Complete.Index))
			}
			if _, ok := history.Int(p.Invoke.Value); !ok {
				return unknown(name, fmt.Errorf("queue: enqueue #%d: value %s is not an integer", p.Invoke.Index, showValue(p.Invoke.Value)))
			}
			v := &queueValue{name: elemString(p.Invoke.Value), typ: history.Info, process: p.Invoke.Process, index: p.Invoke.Index, time: p.Invoke.Time}
			if !p.Open {
				v.typ, v.index, v.time = p.Complete.Type, p.Complete.Index, p.Complete.Time
			}
			if _, dup := vals[v.name]; dup {
				return unknown(name, fmt.Errorf("queue: value %s enqueued twice (#%d): values must be unique", v.name, p.Invoke.Index))
			}
			vals[v.name] = v
			order = append(order, v)
		case "drain":
			if p.Open {
				continue
			}
			c := p.Complete
			if c.Type == history.Fail && strings.Contains(c.Error, QueueGone) {
				gone = append(gone, c.Index)
			}
			if c.Type != history.OK {
				continue
			}
			l, ok := history.List(c.Value)
			if !ok && c.Value != nil {
				return unknown(name, fmt.Errorf("queue: drain #%d: value %s is not a list", c.Index, showValue(c.Value)))
			}
			drains++
			node := c.Node
			if byNode[node] == nil {
				byNode[node] = map[string]bool{}
			}
			seen := make(map[string]int, len(l))
			reads = append(reads, queueRead{index: c.Index, node: node, values: seen})
			for _, x := range l {
				e := elemString(x)
				seen[e]++
				byNode[node][e] = true
				if _, ok := firstRead[e]; !ok {
					firstRead[e] = c.Index
				}
			}
			for e, n := range seen {
				read[e]++
				if n > 1 {
					duplicated++
				}
			}
		}
	}
	acked := 0
	for _, v := range order {
		if v.typ == history.OK {
			acked++
		}
	}
	details := map[string]any{"attempt_count": len(order), "acknowledged_count": acked, "drains": drains,
		"read_count": len(read), "duplicated_count": duplicated}
	res := Result{Checker: name, Valid: Valid, Details: details}
	if drains == 0 {
		if len(gone) > 0 {
			details["lost_count"] = acked
			a := Anomaly{Ops: gone,
				Explanation: fmt.Sprintf("the stream no longer exists at the end: total loss, all %d acknowledged messages lost (drain #%d found no queue)", acked, gone[0]),
				Summary:     fmt.Sprintf("stream gone at the end: total loss, %d acknowledged messages lost", acked)}
			f.add("total-loss", a)
			f.invalid(&res)
			return res
		}
		return unknownResult(res, "queue: no drain completed: nothing was read back, nothing can be said")
	}
	if acked == 0 {
		return unknownResult(res, fmt.Sprintf("queue: no enqueue was acknowledged (%d attempted): nothing can be said", len(order)))
	}
	q.lostInRead(clk, f, &res, order, read, reads)
	q.verdict(clk, f, &res, order, read, byNode, firstRead)
	return res
}

// queueRead is one ok drain: its completion, its node and the values it
// read.
type queueRead struct {
	index  int64
	node   string
	values map[string]int
}

// lostInRead finds, in each ok drain, the acknowledged values that some
// drain read but this one skipped: it read a later acknowledged value of
// the same writer (a writer publishes synchronously, so its acknowledged
// values are in the queue in its order). A drain that stopped short (a
// replica behind the others) misses a postfix only, which is no skip.
// Verdict turns what it finds invalid.
func (q *Queue) lostInRead(clk clock, f *found, res *Result, order []*queueValue, read map[string]int, reads []queueRead) {
	writers := map[int][]*queueValue{}
	for _, v := range order {
		if v.typ == history.OK {
			writers[v.process] = append(writers[v.process], v)
		}
	}
	skipped := map[string]bool{}
	var lostReads int
	for _, r := range reads {
		n := 0
		for _, p := range slices.Sorted(maps.Keys(writers)) {
			vs := writers[p]
			last := -1
			for i, v := range vs {
				if r.values[v.name] > 0 {
					last = i
				}
			}
			for _, v := range vs[:max(last, 0)] {
				if r.values[v.name] > 0 || read[v.name] == 0 {
					continue // read here, or lost everywhere (lost)
				}
				n++
				skipped[v.name] = true
				a := Anomaly{Key: v.name, Ops: []int64{v.index, r.index},
					Explanation: fmt.Sprintf("value %s was acknowledged (#%d) and read by another drain, but drain #%d through %s skipped it: it read process %d's later value %s (lost in that read, in the middle of the writer's values)",
						v.name, v.index, r.index, r.node, p, vs[last].name),
					Summary: fmt.Sprintf("value %s: acknowledged%s (#%d, process %d), skipped by drain #%d through %s", v.name, clk.at(v.time), v.index, p, r.index, r.node)}
				clk.stamp(&a, v.time)
				f.add("lost-in-read", a)
			}
		}
		if n > 0 {
			lostReads++
		}
	}
	res.Details["lost_in_read_count"] = len(skipped)
	if lostReads > 0 {
		res.Details["reads_with_loss"] = lostReads
	}
}

func unknownResult(res Result, why string) Result {
	res.Valid, res.Explanation, res.Error = Unknown, why, why
	return res
}

// verdict sorts the values into lost, unexpected, recovered and
// lost-on-node.
func (q *Queue) verdict(clk clock, f *found, res *Result, order []*queueValue, read map[string]int,
	byNode map[string]map[string]bool, firstRead map[string]int64) {
	enqueued := map[string]*queueValue{}
	writers := map[int][]*queueValue{} // acknowledged values by writer, in invocation order
	for _, v := range order {
		enqueued[v.name] = v
		if v.typ == history.OK {
			writers[v.process] = append(writers[v.process], v)
		}
	}
	var lost, recovered, unexpected []string
	// Lost, by writer: prefix, middle, postfix.
	where := map[string]string{}
	split := map[string]int{}
	for _, p := range slices.Sorted(maps.Keys(writers)) {
		vs := writers[p]
		first, last := -1, -1
		for i, v := range vs {
			if read[v.name] > 0 {
				if first < 0 {
					first = i
				}
				last = i
			}
		}
		for i, v := range vs {
			if read[v.name] > 0 {
				continue
			}
			pos := "middle"
			switch {
			case first < 0 || i > last:
				pos = "postfix"
			case i < first:
				pos = "prefix"
			}
			where[v.name] = pos
			split[pos]++
		}
	}
	for _, v := range order {
		switch {
		case v.typ == history.OK && read[v.name] == 0:
			lost = append(lost, v.name)
			a := Anomaly{Key: v.name, Ops: []int64{v.index},
				Explanation: fmt.Sprintf("value %s was acknowledged (#%d) but no drain read it (lost; in the %s of process %d's acknowledged values)", v.name, v.index, where[v.name], v.process),
				Summary:     fmt.Sprintf("value %s: acknowledged%s (#%d, process %d), read by no drain (lost-%s)", v.name, clk.at(v.time), v.index, v.process, where[v.name])}
			clk.stamp(&a, v.time)
			f.add("lost", a)
		case v.typ == history.Info && read[v.name] > 0:
			recovered = append(recovered, v.name)
		}
	}
	for _, e := range slices.SortedFunc(maps.Keys(read), elemCompare) {
		if v := enqueued[e]; v == nil || v.typ == history.Fail {
			unexpected = append(unexpected, e)
			a := Anomaly{Key: e, Ops: []int64{firstRead[e]}}
			if v == nil {
				a.Explanation = fmt.Sprintf("drain #%d read value %s, which nothing enqueued", firstRead[e], e)
			} else {
				a.Ops = append(a.Ops, v.index)
				a.Explanation = fmt.Sprintf("drain #%d read value %s, whose enqueue #%d failed: it definitely was not published", firstRead[e], e, v.index)
			}
			a.Summary = a.Explanation
			f.add("unexpected", a)
		}
	}
	// Lost on node: acknowledged, read through some node, missing from
	// every drain through another.
	lostOnNode := map[string]int{}
	nodes := slices.Sorted(maps.Keys(byNode))
	for _, node := range nodes {
		if node == "" {
			continue
		}
		for _, v := range order {
			if v.typ != history.OK || read[v.name] == 0 || byNode[node][v.name] {
				continue
			}
			lostOnNode[node]++
			a := Anomaly{Key: v.name, Ops: []int64{v.index},
				Explanation: fmt.Sprintf("value %s was acknowledged (#%d) and read through another node, but no drain through %s holds it (lost on node %s)", v.name, v.index, node, node),
				Summary:     fmt.Sprintf("value %s: acknowledged%s (#%d), missing when read through %s", v.name, clk.at(v.time), v.index, node)}
			clk.stamp(&a, v.time)
			f.add("lost-on-node", a)
		}
	}
	d := res.Details
	d["lost_count"], d["recovered_count"], d["unexpected_count"] = len(lost), len(recovered), len(unexpected)
	d["lost_prefix_count"], d["lost_middle_count"], d["lost_postfix_count"] = split["prefix"], split["middle"], split["postfix"]
	d["nodes_drained"] = nodes
	if len(lostOnNode) > 0 {
		d["lost_on_node"] = lostOnNode
	}
	for k, v := range map[string][]string{"lost": lost, "recovered": recovered, "unexpected": unexpected} {
		if len(v) > 0 {
			d[k] = firstN(v, 100)
		}
	}
	if len(f.counts) > 0 {
		f.invalid(res)
	}
}

// elemCompare orders elements as elemLess does.
func elemCompare(a, b string) int {
	switch {
	case elemLess(a, b):
		return -1
	case elemLess(b, a):
		return 1
	}
	return 0
}
