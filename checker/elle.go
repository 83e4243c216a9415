package checker

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/faultline/faultline/history"
)

// The machinery the transactional checkers (list-append, rw-register)
// share, after Elle: pairing transactions as the history streams by,
// process and realtime order, the dependency graph, the search for
// dependency cycles, their names and explanations, and the verdict under a
// consistency model. Each checker adds what is its own (a txnKind): how
// micro-ops are read, how version orders are inferred, which data
// dependencies follow, how each is explained.

// TxnConfig configures the transactional checkers.
type TxnConfig struct {
	// ConsistencyModel is the model the history must satisfy, one of
	// ConsistencyModels (default strict-serializable). Anomalies the model
	// allows are counted in Details["allowed_anomalies"] but do not make
	// the history invalid.
	ConsistencyModel string
	// MaxReported bounds the anomalies of each type listed in full
	// (default DefaultMaxReported); all are counted.
	MaxReported int
	// CycleSearchLimit bounds the starting edges the first pass of the
	// cycle search tries per large strongly connected component and cycle
	// shape (default 32); small components are searched through. When the
	// first pass finds nothing, a second makes sure there is nothing to
	// find, so that a valid verdict is never a guess (see cycles).
	CycleSearchLimit int
	// Progress, if set, follows the check.
	Progress *Progress
}

// ListAppendConfig configures the list-append checker.
type ListAppendConfig = TxnConfig

// RWRegisterConfig configures the rw-register checker.
type RWRegisterConfig = TxnConfig

func (c TxnConfig) withDefaults() TxnConfig {
	if c.ConsistencyModel == "" {
		c.ConsistencyModel = DefaultConsistencyModel
	}
	if c.MaxReported <= 0 {
		c.MaxReported = DefaultMaxReported
	}
	if c.CycleSearchLimit <= 0 {
		c.CycleSearchLimit = 32
	}
	return c
}

// txn is one transaction of the history.
type txn struct {
	invPos  int32 // position of the invocation; -1: none (it may have begun any time)
	compPos int32 // position of the completion; -1: it never completed
	proc    int32 // history.NoProcess: in no process order
	typ     history.Type
	inGraph bool  // committed, or observed by a committed read
	mop0    int32 // its micro-ops, in the checker's own table
	mop1    int32
	index   int64 // history index of its completion (of its invocation when it never completed)
	time    int64 // when it began (completed, when there is no invocation)
}

// pendingTxn is an invocation waiting for its completion.
type pendingTxn struct {
	pos   int32
	proc  int32
	index int64
	time  int64
	value any
	preds []int32 // committed txns complete when it began (the frontier)
}

// txnKind is what a transactional checker adds to txnCore.
type txnKind interface {
	// parse reads the micro-ops of txn ti into the checker's table; value
	// is the completion's for ok txns and the invocation's otherwise.
	parse(c *txnCore, ti int32, value any, typ history.Type) (mop0, mop1 int32, err error)
	// own checks committed txn ti against its own micro-ops, right after
	// parse.
	own(c *txnCore, ti int32)
	// infer, once the history is read, marks the info txns that were
	// observed as in the graph, adds data edges and reports anomalies.
	infer(c *txnCore)
	// txnText renders txn ti's micro-ops: "[append x 1] [r y [1 2]]".
	txnText(ti int32) string
	// explain justifies a data edge from the history: in a sentence
	// naming txns by name (why), in a few words naming them by short (sh),
	// and the key.
	explain(e step, name, short func(int32) string) (why, sh, key string)
}

// txnCore is one transactional check in progress.
type txnCore struct {
	name  string
	cfg   TxnConfig
	kind  txnKind
	start time.Time
	txns  []txn
	edges edgeList
	open  history.Pairer[pendingTxn]
	cursor
	front  []int32         // committed txns no later committed txn follows in realtime
	lastOK map[int32]int32 // process -> its last committed txn
	found  *found
	forbid map[string]bool // memo of Forbids for the model
	// allowed counts anomalies the consistency model allows.
	allowed map[string]int
	other   int // client ops that are not transactions
	badErr  error
	g       *graph
	// labels number the txns the result names, T1, T2, ..., in the order
	// they are first named, so that a txn has one name in every anomaly.
	labels map[int32]int
}

func newTxnCore(name string, cfg TxnConfig, kind txnKind) *txnCore {
	cfg = cfg.withDefaults()
	c := &txnCore{name: name, cfg: cfg, kind: kind, start: time.Now(), lastOK: map[int32]int32{},
		found: newFound(cfg.MaxReported), forbid: map[string]bool{}, allowed: map[string]int{}, labels: map[int32]int{}}
	c.badErr = validConsistencyModel(cfg.ConsistencyModel)
	return c
}

// isTxn reports whether a client op is a transaction: f txn, or no f at
// all (Elle's histories).
func isTxn(op history.Op) bool { return op.F == "txn" || op.F == "" }

// Add implements Stream.
func (c *txnCore) Add(op history.Op) error {
	p, client := c.next(op)
	if !client {
		return nil
	}
	pos := int32(p)
	if !isTxn(op) {
		c.other++
		return nil
	}
	if c.open.Opens(op) {
		p := pendingTxn{pos: pos, proc: int32(op.Process), index: op.Index, time: op.Time, value: op.Value,
			preds: slices.Clone(c.front)}
		if prev, had := c.open.Open(op.Process, p); had {
			return c.addTxn(prev, -1, prev.index, history.Info, prev.value)
		}
		return nil
	}
	inv, ok := c.open.Close(op.Process)
	if !ok {
		inv = pendingTxn{pos: -1, proc: int32(op.Process), index: op.Index, time: op.Time}
	}
	value := op.Value
	if op.Type != history.OK && inv.pos >= 0 {
		value = inv.value // what was attempted
	}
	return c.addTxn(inv, pos, op.Index, op.Type, value)
}

// addTxn records a transaction and its process and realtime order.
func (c *txnCore) addTxn(inv pendingTxn, compPos int32, index int64, typ history.Type, value any) error {
	ti := int32(len(c.txns))
	if compPos < 0 {
		index = inv.index
	}
	m0, m1, err := c.kind.parse(c, ti, value, typ)
	if err != nil {
		return fmt.Errorf("%s: txn #%d: %w", c.name, index, err)
	}
	c.txns = grow(c.txns, txn{invPos: inv.pos, compPos: compPos, proc: inv.proc, typ: typ,
		inGraph: typ == history.OK, mop0: m0, mop1: m1, index: index, time: inv.time})
	if typ == history.OK {
		c.kind.own(c, ti)
	}
	for _, p := range inv.preds {
		c.edges.add(p, ti, edgeRealtime)
	}
	if typ == history.OK && compPos >= 0 {
		// It follows its predecessors; later txns follow it.
		c.front = slices.DeleteFunc(c.front, func(f int32) bool { return slices.Contains(inv.preds, f) })
		c.front = append(c.front, ti)
	}
	if inv.proc != history.NoProcess {
		// Process order starts only at committed txns: after an info txn
		// an imported history may keep the process, though the txn may
		// not have happened yet.
		if last, ok := c.lastOK[inv.proc]; ok {
			c.edges.add(last, ti, edgeProcess)
		}
		if typ == history.OK {
			c.lastOK[inv.proc] = ti
		}
	}
	return nil
}

// idx is the history index naming txn ti.
func (c *txnCore) idx(ti int32) int64 { return c.txns[ti].index }

// short is txn ti's label in this result: T1 for the first txn an
// anomaly names, T2 for the next, and the same label whenever it is named
// again.
func (c *txnCore) short(ti int32) string {
	n, ok := c.labels[ti]
	if !ok {
		n = len(c.labels) + 1
		c.labels[ti] = n
	}
	return fmt.Sprintf("T%d", n)
}

// label is short with the txn's history index: "T1 (#12)".
func (c *txnCore) label(ti int32) string { return fmt.Sprintf("%s (#%d)", c.short(ti), c.idx(ti)) }

// anomaly counts an anomaly of type typ and reports whether its detail is
// wanted: the model forbids it and fewer than MaxReported were kept. The
// caller then builds it and gives it to keep.
func (c *txnCore) anomaly(typ string) bool {
	if !c.anomalyForbidden(typ) {
		c.allowed[typ]++
		return false
	}
	c.found.counts[typ]++
	return !c.found.full(typ)
}

// keep records the detail of an anomaly counted by anomaly; ts are the
// txns involved, the first of which names its time.
func (c *txnCore) keep(typ string, a Anomaly, ts ...int32) {
	if len(a.Ops) == 0 {
		for _, t := range ts {
			a.Ops = append(a.Ops, c.idx(t))
		}
	}
	if len(ts) > 0 {
		t0 := c.txns[ts[0]].time
		for _, t := range ts[1:] {
			t0 = min(t0, c.txns[t].time)
		}
		c.clock.stamp(&a, t0)
	}
	a.Type = typ
	a.Summary = clip(a.Summary)
	c.found.kept[typ] = append(c.found.kept[typ], a)
}

// Result implements Stream.
func (c *txnCore) Result(ctx context.Context) Result {
	if c.badErr != nil {
		return unknown(c.name, c.badErr)
	}
	// Invocations that never completed may have happened.
	pending := c.open.Pending()
	sort.Slice(pending, func(i, j int) bool { return pending[i].pos < pending[j].pos })
	for _, p := range pending {
		if err := c.addTxn(p, -1, p.index, history.Info, p.value); err != nil {
			return unknown(c.name, err)
		}
	}
	if ctx.Err() != nil {
		return ctxUnknown(ctx, c.name)
	}
	c.cfg.Progress.Phase("inferring version orders", 0)
	c.kind.infer(c)
	if ctx.Err() != nil {
		return ctxUnknown(ctx, c.name)
	}
	c.cfg.Progress.Phase("building the dependency graph", 0)
	mask := uint8(dataEdges)
	for _, s := range cycleShapes {
		if c.anomalyForbidden(s.name + "-process") {
			mask |= edgeProcess
		}
		if c.anomalyForbidden(s.name + "-realtime") {
			mask |= orderEdges
		}
	}
	c.g = c.edges.build(len(c.txns), mask, func(v int32) bool { return c.txns[v].inGraph })
	complete := c.cycles(ctx, mask)
	return c.result(complete)
}

// anomalyForbidden reports whether the consistency model forbids typ.
func (c *txnCore) anomalyForbidden(typ string) bool {
	if f, ok := c.forbid[typ]; ok {
		return f
	}
	f := Forbids(c.cfg.ConsistencyModel, typ)
	c.forbid[typ] = f
	return f
}

// cycleShapes are the cycles searched for, as Elle's cycle anomaly specs,
// most severe first; each also has -process and -realtime variants.
var cycleShapes = []struct {
	name  string
	shape cycleShape
}{
	{"G0", cycleShape{start: edgeWW, allowed: edgeWW}},
	{"G1c", cycleShape{start: edgeWR, allowed: edgeWW | edgeWR}},
	{"G-single", cycleShape{start: edgeRW, allowed: edgeWW | edgeWR}},
	{"G-nonadjacent", cycleShape{start: edgeRW, allowed: dataEdges, apart: edgeRW}},
	{"G2-item", cycleShape{start: edgeRW, allowed: dataEdges}},
}

// cycles searches the graph for the cycles the model forbids and reports
// them; false when ctx ended the search before the verdict was decided.
//
// A first pass tries every start edge of small components and a few
// (CycleSearchLimit) of large ones, per cycle shape, which finds the
// cycles of a broken history quickly.
// If it finds none, a second pass makes sure there is none: in a component
// of a subgraph every cycle of which the model forbids (every cycle of ww
// and wr edges breaks read committed, of any edges strict
// serializability), any cycle through any edge will do; otherwise (say,
// G-single under snapshot isolation, where G2-item is allowed) every start
// edge is tried.
func (c *txnCore) cycles(ctx context.Context, mask uint8) bool {
	if _, comps := c.g.sccs(mask); len(comps) == 0 {
		return true
	}
	c.cfg.Progress.Phase("searching cycles", 0)
	q := newCycleSearch(c.g)
	type components struct {
		comp  []int32
		comps [][]int32
	}
	sccsOf := map[uint8]components{} // by edge mask
	reported := map[string]bool{}
	report := func(walk []step) {
		for _, cyc := range simpleCycles(walk) {
			t := classify(cyc)
			key := t + cycleKey(cyc)
			if len(cyc) < 2 || reported[key] {
				continue
			}
			reported[key] = true
			if c.anomaly(t) {
				a, ts := c.explainCycle(t, cyc)
				c.keep(t, a, ts...)
			}
		}
	}
	for _, exhaustive := range []bool{false, true} {
		for _, sh := range c.forbiddenShapes() {
			m := sh.start | sh.allowed
			cc, ok := sccsOf[m]
			if !ok {
				cc.comp, cc.comps = c.g.sccs(m)
				sccsOf[m] = cc
			}
			for ci, members := range cc.comps {
				if ctx.Err() != nil {
					return len(c.found.counts) > 0
				}
				switch {
				case !exhaustive && len(members) <= smallComponent:
					report(c.shortest(ctx, q, sh, cc.comp, int32(ci), members, -1))
				case !exhaustive:
					report(c.shortest(ctx, q, sh, cc.comp, int32(ci), members, c.cfg.CycleSearchLimit))
				case c.allForbidden(m):
					report(c.shortest(ctx, q, cycleShape{start: m, allowed: m}, cc.comp, int32(ci), members, 1))
				default:
					report(c.shortest(ctx, q, sh, cc.comp, int32(ci), members, -1))
				}
				if exhaustive && len(c.found.counts) > 0 {
					return true
				}
			}
		}
		if len(c.found.counts) > 0 {
			return true
		}
	}
	return ctx.Err() == nil
}

// smallComponent is the size of a component whose every start edge the
// first pass tries: there the shortest cycle of each shape is found, and
// so the most precise name.
const smallComponent = 2000

// forbiddenShapes returns the shapes of the cycles the model forbids, most
// severe first: Elle's cycle anomaly specs with their -process and
// -realtime variants.
func (c *txnCore) forbiddenShapes() []cycleShape {
	var out []cycleShape
	for _, variant := range []string{"", "-process", "-realtime"} {
		for _, cs := range cycleShapes {
			if !c.anomalyForbidden(cs.name + variant) {
				continue
			}
			sh := cs.shape
			switch variant {
			case "-process":
				sh.allowed |= edgeProcess
				sh.need = edgeProcess
			case "-realtime":
				sh.allowed |= orderEdges
				sh.need = edgeRealtime
			}
			out = append(out, sh)
		}
	}
	return out
}

// allForbidden reports whether the model forbids every cycle of edges of
// the kinds in mask.
func (c *txnCore) allForbidden(mask uint8) bool {
	for _, cs := range cycleShapes {
		if cs.shape.start&mask == 0 {
			continue // no such cycle takes only these edges
		}
		variants := []string{""}
		if mask&edgeProcess != 0 {
			variants = append(variants, "-process")
		}
		if mask&edgeRealtime != 0 {
			variants = append(variants, "-realtime")
		}
		for _, v := range variants {
			if !c.anomalyForbidden(cs.name + v) {
				return false
			}
		}
	}
	return true
}

// shortest looks in component ci for the shortest cycle of shape sh: a
// cycle of two txns through any start edge if there is one (the most
// common and telling: a stale read, a write skew), else the shortest
// through up to tries start edges (all, when tries < 0), as long as ctx
// lasts.
func (c *txnCore) shortest(ctx context.Context, q *cycleSearch, sh cycleShape, comp []int32, ci int32, members []int32, tries int) (best []step) {
	g := c.g
	starts := func(f func(a, b int32) bool) {
		for _, a := range members {
			for e := g.off[a]; e < g.off[a+1]; e++ {
				if b := g.to[e]; g.kind[e]&sh.start != 0 && comp[b] == ci && !f(a, b) {
					return
				}
			}
		}
	}
	starts(func(a, b int32) bool {
		best = twoCycle(g, a, b, sh)
		return best == nil
	})
	if best != nil {
		return best
	}
	n := 0
	starts(func(a, b int32) bool {
		if n == tries || (n&0x3f == 0 && ctx.Err() != nil) {
			return false
		}
		n++
		if cyc := q.find(a, b, sh, comp, ci); cyc != nil && (best == nil || len(cyc) < len(best)) {
			best = cyc
		}
		return true
	})
	return best
}

// twoCycle returns the cycle a->b->a of shape sh, if the edges make one.
func twoCycle(g *graph, a, b int32, sh cycleShape) []step {
	there, back := pick(g.kinds(a, b)&sh.start), g.kinds(b, a)&sh.allowed
	if there == 0 || back == 0 {
		return nil
	}
	for _, k := range [4]uint8{pick(back & sh.need &^ sh.apart), pick(back &^ sh.need &^ sh.apart),
		pick(back & sh.need & sh.apart), pick(back &^ sh.need & sh.apart)} {
		if k == 0 || (sh.need != 0 && (there|k)&sh.need == 0) || (sh.apart&there != 0 && sh.apart&k != 0) {
			continue
		}
		return []step{{a, b, there}, {b, a, k}}
	}
	return nil
}

// cycleKey identifies a cycle by its set of transactions.
func cycleKey(c []step) string {
	nodes := make([]int, len(c))
	for i, e := range c {
		nodes[i] = int(e.from)
	}
	sort.Ints(nodes)
	return fmt.Sprint(nodes)
}

// explainCycle describes a cycle in words, edge by edge, and returns the
// anomaly and its txns.
func (c *txnCore) explainCycle(typ string, cyc []step) (Anomaly, []int32) {
	// Start from the txn that came first in the history.
	first := 0
	for i, e := range cyc {
		if c.idx(e.from) < c.idx(cyc[first].from) {
			first = i
		}
	}
	cyc = append(slices.Clone(cyc[first:]), cyc[:first]...)
	var ts []int32
	for _, e := range cyc {
		if !slices.Contains(ts, e.from) {
			ts = append(ts, e.from)
		}
	}
	name, short := c.label, c.short
	var b strings.Builder
	fmt.Fprintf(&b, "%s: a cycle of %d transactions. ", typ, len(ts))
	for _, t := range ts {
		fmt.Fprintf(&b, "%s = %s. ", name(t), c.kind.txnText(t))
	}
	a := Anomaly{}
	var shorts, keys []string
	for i, e := range cyc {
		why, sh, key := c.explainEdge(e, name, short)
		if i == len(cyc)-1 {
			b.WriteString("However, ")
		}
		b.WriteString(why)
		if i < len(cyc)-1 {
			b.WriteString("; ")
		}
		// A run of order edges says one thing: T3 began after T1 ended.
		if run := orderRun(cyc, i); run > 0 {
			if run == 1 {
				shorts = append(shorts, sh)
			} else {
				end := cyc[i+run-1]
				shorts = append(shorts, fmt.Sprintf("%s began after %s completed", short(end.to), short(e.from)))
			}
		} else if e.kind&orderEdges == 0 {
			shorts = append(shorts, sh)
		}
		if key != "" && !slices.Contains(keys, key) {
			keys = append(keys, key)
		}
		a.Cycle = append(a.Cycle, CycleEdge{From: c.idx(e.from), To: c.idx(e.to), Kind: edgeName(e.kind), Key: key, Why: why})
	}
	b.WriteString(": a cycle, so no order of these transactions agrees with the history.")
	a.Explanation = b.String()
	if len(keys) > 0 {
		a.Key = keys[0]
	}
	early := ts[0]
	for _, t := range ts {
		if c.txns[t].time < c.txns[early].time {
			early = t
		}
	}
	var who []string
	for _, t := range ts {
		who = append(who, fmt.Sprintf("%s #%d", short(t), c.idx(t)))
	}
	a.Summary = fmt.Sprintf("%s%s: %s", strings.Join(who, ", "), c.clock.at(c.txns[early].time), strings.Join(shorts, "; "))
	return a, ts
}

// orderRun returns how many order edges (process, realtime) run from step
// i of a cycle, when step i begins such a run (0 otherwise); runs stop at
// the end of the cycle.
func orderRun(cyc []step, i int) int {
	if cyc[i].kind&orderEdges == 0 || (i > 0 && cyc[i-1].kind&orderEdges != 0) {
		return 0
	}
	n := 0
	for i+n < len(cyc) && cyc[i+n].kind&orderEdges != 0 {
		n++
	}
	return n
}

// explainEdge justifies one edge; process and realtime edges are the same
// for every checker.
func (c *txnCore) explainEdge(e step, name, short func(int32) string) (why, sh, key string) {
	switch e.kind {
	case edgeRealtime:
		b := c.txns[e.to]
		return fmt.Sprintf("%s completed before %s began (realtime)", name(e.from), name(e.to)),
			fmt.Sprintf("%s began%s after %s completed", short(e.to), c.clock.at(b.time), short(e.from)), ""
	case edgeProcess:
		p := c.txns[e.from].proc
		return fmt.Sprintf("%s and %s ran in that order on process %d (process)", name(e.from), name(e.to), p),
			fmt.Sprintf("%s ran after %s on process %d", short(e.to), short(e.from), p), ""
	}
	why, sh, key = c.kind.explain(e, name, short)
	if why == "" {
		why = fmt.Sprintf("%s precedes %s (%s)", name(e.from), name(e.to), edgeName(e.kind))
		sh = fmt.Sprintf("%s -%s-> %s", short(e.from), edgeName(e.kind), short(e.to))
	}
	return why, sh, key
}

// result assembles the verdict.
func (c *txnCore) result(complete bool) Result {
	nodes, ok := 0, 0
	for _, t := range c.txns {
		if t.inGraph {
			nodes++
		}
		if t.typ == history.OK {
			ok++
		}
	}
	r := Result{Checker: c.name, Valid: Valid, Details: map[string]any{
		"consistency_model": c.cfg.ConsistencyModel, "txns": len(c.txns), "ok_txns": ok, "graph_txns": nodes,
		"edges": len(c.g.to), "seconds": time.Since(c.start).Seconds(),
	}}
	if len(c.allowed) > 0 {
		r.Details["allowed_anomalies"] = c.allowed
	}
	types := c.found.types()
	for t := range c.allowed {
		types = append(types, t)
	}
	r.RuledOut = RuledOut(types...)
	switch {
	case len(c.found.counts) > 0:
		c.found.invalid(&r)
		r.Explanation += fmt.Sprintf(" (forbidden under %s)", c.cfg.ConsistencyModel)
		if len(r.RuledOut) > 0 {
			r.Explanation += " Ruled out: " + strings.Join(r.RuledOut, ", ") + "."
		}
	case ok == 0:
		r.Valid = Unknown
		r.Explanation = fmt.Sprintf("%s: no committed transaction to check", c.name)
		if c.other > 0 {
			r.Explanation += fmt.Sprintf(" (%d client ops are not transactions: want f txn, or no f)", c.other)
		}
		r.Error = r.Explanation
	case !complete:
		r.Valid = Unknown
		r.Explanation = fmt.Sprintf("%s: the cycle search ran out of time before it could rule out every cycle %s forbids", c.name, c.cfg.ConsistencyModel)
		r.Error = r.Explanation
	}
	return r
}
