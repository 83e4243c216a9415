package checker

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/faultline/faultline/history"
)

// RWRegister is Elle's rw-register checker: f txn (or no f), Value a list
// of micro-ops [r k v] and [w k v] over registers, every value written to
// a key unique (nil is every key's initial value).
//
// Registers keep no history, so version orders are inferred as Elle does:
// every value follows the initial nil; within a committed txn a value
// written follows the value the txn read first (writes follow reads); and,
// under strict serializability (every key then being linearizable and
// sequential), a value a txn left or read follows the values of the key
// that txns finished before it began, or ran before it on its process,
// left or read. From the version orders follow ww, wr and rw dependencies;
// the dependency graph is searched for the cycles the consistency model
// forbids, as in ListAppend. It also reports internal inconsistencies
// (a read that disagrees with the txn's own earlier read or write), G1a
// (aborted reads), G1b (intermediate reads), garbage reads (values nobody
// wrote), lost updates (two committed txns read the same version of a key
// and both wrote it) and cyclic version orders.
type RWRegister struct{ cfg TxnConfig }

// NewRWRegister returns the rw-register checker.
func NewRWRegister(cfg RWRegisterConfig) *RWRegister { return &RWRegister{cfg: cfg} }

// Name implements Checker.
func (r *RWRegister) Name() string { return "rw-register" }

// Check implements Checker.
func (r *RWRegister) Check(ctx context.Context, ops []history.Op) Result {
	return checkStream(ctx, r, ops)
}

// Stream implements Streamer.
func (r *RWRegister) Stream() Stream {
	s := &rwState{writers: map[rwKey]rwWriter{}, failed: map[rwKey]int32{}, readers: map[rwKey][]int32{}}
	s.core = newTxnCore(r.Name(), r.cfg, s)
	return s.core
}

// rwMop is one micro-op: a write of val, or a read of val (known only in
// committed txns).
type rwMop struct {
	key   int32
	val   int32 // value id; 0 is nil
	write bool
	known bool
}

// rwKey is a value of a key.
type rwKey struct{ k, v int32 }

type rwWriter struct {
	txn, mop int32
	final    bool // the txn's last write of the key: a version others may see
}

// Why a version follows another.
const (
	vInit     uint8 = iota // every value follows the initial nil
	vWFR                   // a committed txn read the first, then wrote the second
	vProcess               // txns on one process touched them in that order
	vRealtime              // a txn that touched the first finished before one that touched the second began
)

// vEdge says version b of a key follows version a, and why; by is the txn
// that shows it (the later txn, for process and realtime order).
type vEdge struct {
	a, b int32
	why  uint8
	by   int32
	from int32 // the earlier txn, for process and realtime order
}

type rwState struct {
	core    *txnCore
	mops    []rwMop
	txnOf   []int32
	keyIDs  interner
	valIDs  interner
	writers map[rwKey]rwWriter // every non-failed write
	failed  map[rwKey]int32
	readers map[rwKey][]int32 // committed txns that read the version first
	vedges  [][]vEdge         // per key
	cyclic  []bool            // per key: its version order is cyclic
}

func (s *rwState) intern(k any) int32 {
	ki := s.keyIDs.id(k)
	for int(ki) >= len(s.vedges) {
		s.vedges = append(s.vedges, nil)
	}
	return ki
}

// value numbers a value: 0 is nil.
func (s *rwState) value(v any) int32 {
	if v == nil {
		return 0
	}
	return s.valIDs.id(v) + 1
}

func (s *rwState) val(v int32) string {
	if v == 0 {
		return "nil"
	}
	return s.valIDs.names[v-1]
}

func (s *rwState) parse(c *txnCore, ti int32, value any, typ history.Type) (int32, int32, error) {
	m0 := int32(len(s.mops))
	err := microOps(value, func(fn string, mv []any) error {
		mop := rwMop{key: s.intern(mv[1])}
		switch fn {
		case "w", "write":
			if mv[2] == nil {
				return fmt.Errorf("micro-op %s writes nil: rw-register needs unique non-nil writes", showValue(mv))
			}
			mop.write, mop.val, mop.known = true, s.value(mv[2]), true
			wk := rwKey{mop.key, mop.val}
			if typ == history.Fail {
				s.failed[wk] = ti
				break
			}
			if w, dup := s.writers[wk]; dup {
				return fmt.Errorf("%s is written to key %s twice (also by txn #%d): rw-register needs unique writes",
					s.val(mop.val), s.keyIDs.names[mop.key], c.idx(w.txn))
			}
			s.writers[wk] = rwWriter{txn: ti, mop: int32(len(s.mops)), final: true}
			// An earlier write of the key in this txn is intermediate.
			for mj := len(s.mops) - 1; mj >= int(m0); mj-- {
				if p := s.mops[mj]; p.write && p.key == mop.key {
					w := s.writers[rwKey{p.key, p.val}]
					w.final = false
					s.writers[rwKey{p.key, p.val}] = w
					break
				}
			}
		case "r", "read":
			if typ == history.OK {
				mop.val, mop.known = s.value(mv[2]), true
			}
		default:
			return fmt.Errorf("unknown micro-op %q (want r or w)", fn)
		}
		s.mops = append(s.mops, mop)
		s.txnOf = append(s.txnOf, ti)
		return nil
	})
	return m0, int32(len(s.mops)), err
}

// keyMop is a key and a micro-op of it.
type keyMop struct{ k, mi int32 }

// extReads returns a txn's first read of each key before any write of it
// (what it saw of others), in txn order.
func (s *rwState) extReads(ti int32) []keyMop {
	t := s.core.txns[ti]
	var out []keyMop
	var met []int32
	for mi := t.mop0; mi < t.mop1; mi++ {
		m := s.mops[mi]
		if slices.Contains(met, m.key) {
			continue
		}
		met = append(met, m.key)
		if !m.write && m.known {
			out = append(out, keyMop{m.key, mi})
		}
	}
	return out
}

// extWrites returns a txn's last write of each key, in txn order.
func (s *rwState) extWrites(ti int32) []keyMop {
	t := s.core.txns[ti]
	var out []keyMop
	for mi := t.mop1 - 1; mi >= t.mop0; mi-- {
		if m := s.mops[mi]; m.write && !slices.ContainsFunc(out, func(x keyMop) bool { return x.k == m.key }) {
			out = append(out, keyMop{m.key, mi})
		}
	}
	slices.Reverse(out)
	return out
}

// mopOf returns the mop of key k in kms, or -1.
func mopOf(kms []keyMop, k int32) int32 {
	for _, x := range kms {
		if x.k == k {
			return x.mi
		}
	}
	return -1
}

// own checks a committed txn's reads against its own earlier reads and
// writes of the same key (internal).
func (s *rwState) own(c *txnCore, ti int32) {
	t := c.txns[ti]
	last := map[int32]rwMop{}
	for mi := t.mop0; mi < t.mop1; mi++ {
		m := s.mops[mi]
		p, seen := last[m.key]
		last[m.key] = m
		if m.write || !seen || p.val == m.val {
			continue
		}
		if c.anomaly("internal") {
			k := s.keyIDs.names[m.key]
			what := "read"
			if p.write {
				what = "wrote"
			}
			c.keep("internal", Anomaly{Key: k,
				Explanation: fmt.Sprintf("%s %s %s %s = %s, then read %s = %s", c.label(ti), s.txnText(ti), what, k, s.val(p.val), k, s.val(m.val)),
				Summary: fmt.Sprintf("key %s: #%d %s %s then read %s%s", k, c.idx(ti), what, s.val(p.val), s.val(m.val),
					c.clock.at(t.time))}, ti)
		}
	}
}

func (s *rwState) txnText(ti int32) string {
	t := s.core.txns[ti]
	var parts []string
	for mi := t.mop0; mi < t.mop1; mi++ {
		m := s.mops[mi]
		switch {
		case m.write:
			parts = append(parts, fmt.Sprintf("[w %s %s]", s.keyIDs.names[m.key], s.val(m.val)))
		case m.known:
			parts = append(parts, fmt.Sprintf("[r %s %s]", s.keyIDs.names[m.key], s.val(m.val)))
		default:
			parts = append(parts, fmt.Sprintf("[r %s ?]", s.keyIDs.names[m.key]))
		}
	}
	return strings.Join(parts, " ")
}

// inGraphWriter returns the txn whose final write is version v of key k,
// when it is in the graph, or -1.
func (s *rwState) inGraphWriter(k, v int32) int32 {
	w, ok := s.writers[rwKey{k, v}]
	if !ok || !w.final || !s.core.txns[w.txn].inGraph {
		return -1
	}
	return w.txn
}

func (s *rwState) infer(c *txnCore) {
	// Reads: what each committed txn saw of others.
	lost := map[rwKey][]int32{}
	for ti := range c.txns {
		if c.txns[ti].typ != history.OK {
			continue
		}
		writes := s.extWrites(int32(ti))
		for _, r := range s.extReads(int32(ti)) {
			k, v := r.k, s.mops[r.mi].val
			rk := rwKey{k, v}
			s.readers[rk] = append(s.readers[rk], int32(ti))
			if mopOf(writes, k) >= 0 {
				lost[rk] = append(lost[rk], int32(ti))
			}
			if v == 0 {
				continue
			}
			w, ok := s.writers[rk]
			switch {
			case ok && w.txn == int32(ti):
			case ok:
				c.txns[w.txn].inGraph = true // observed: it happened
				if !w.final {
					s.report(c, "G1b", int32(ti), w.txn, k, v)
				}
			default:
				if ft, failed := s.failed[rk]; failed {
					s.report(c, "G1a", int32(ti), ft, k, v)
				} else {
					s.report(c, "garbage-read", int32(ti), -1, k, v)
				}
			}
		}
	}
	s.lostUpdates(c, lost)
	s.versionOrders(c)
	s.edges(c)
}

// report records a read anomaly of txn ti reading k = v, written by txn w.
func (s *rwState) report(c *txnCore, typ string, ti, w, k, v int32) {
	if !c.anomaly(typ) {
		return
	}
	key, val := s.keyIDs.names[k], s.val(v)
	at := c.clock.at(c.txns[ti].time)
	a := Anomaly{Key: key}
	ts := []int32{ti}
	switch typ {
	case "G1a":
		a.Explanation = fmt.Sprintf("%s %s read %s = %s, which only %s %s wrote, a transaction that failed (aborted read)",
			c.label(ti), s.txnText(ti), key, val, c.label(w), s.txnText(w))
		a.Summary = fmt.Sprintf("key %s: #%d read %s%s, written only by #%d, which failed", key, c.idx(ti), val, at, c.idx(w))
		ts = append(ts, w)
	case "G1b":
		a.Explanation = fmt.Sprintf("%s %s read %s = %s, an intermediate value of %s %s, which wrote %s again later (intermediate read)",
			c.label(ti), s.txnText(ti), key, val, c.label(w), s.txnText(w), key)
		a.Summary = fmt.Sprintf("key %s: #%d read %s%s, which #%d overwrote within its own txn", key, c.idx(ti), val, at, c.idx(w))
		ts = append(ts, w)
	default:
		a.Explanation = fmt.Sprintf("%s %s read %s = %s, which no transaction wrote", c.label(ti), s.txnText(ti), key, val)
		a.Summary = fmt.Sprintf("key %s: #%d read %s%s, which nothing wrote", key, c.idx(ti), val, at)
	}
	c.keep(typ, a, ts...)
}

// lostUpdates reports committed txns that read the same version of a key
// and both wrote the key: one overwrote the other's update unseen.
func (s *rwState) lostUpdates(c *txnCore, by map[rwKey][]int32) {
	keys := make([]rwKey, 0, len(by))
	for rk, ts := range by {
		if len(ts) > 1 {
			keys = append(keys, rk)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].k < keys[j].k || keys[i].k == keys[j].k && keys[i].v < keys[j].v })
	for _, rk := range keys {
		ts := by[rk]
		if !c.anomaly("lost-update") {
			continue
		}
		key, val := s.keyIDs.names[rk.k], s.val(rk.v)
		var names []string
		for _, t := range ts {
			names = append(names, fmt.Sprintf("%s %s", c.label(t), s.txnText(t)))
		}
		c.keep("lost-update", Anomaly{Key: key,
			Explanation: fmt.Sprintf("%d committed transactions read %s = %s and then wrote %s: %s; all but one of their updates was lost",
				len(ts), key, val, key, strings.Join(names, "; ")),
			Summary: fmt.Sprintf("key %s: %d txns read %s and each wrote a new value, first #%d%s", key, len(ts), val,
				c.idx(ts[0]), c.clock.at(c.txns[ts[0]].time))}, ts...)
	}
}

// touch is how a committed txn met a key: the version it saw first and
// the version it left.
type touch struct{ first, last int32 }

// touches returns, per key, how committed txn ti met it.
func (s *rwState) touches(ti int32) map[int32]touch {
	t := s.core.txns[ti]
	out := map[int32]touch{}
	for mi := t.mop0; mi < t.mop1; mi++ {
		m := s.mops[mi]
		if !m.known {
			continue
		}
		tc, seen := out[m.key]
		if !seen {
			tc.first = m.val
		}
		tc.last = m.val
		out[m.key] = tc
	}
	return out
}

// versionOrders infers each key's version order: initial nil, writes
// follow reads, and under strict serializability process and realtime
// order of the txns that touched the key.
func (s *rwState) versionOrders(c *txnCore) {
	link := func(k, a, b int32, why uint8, by, from int32) {
		// Nothing follows back to the initial nil: a read of nil after a
		// write is a stale read, which the dependency graph shows.
		if a != b && b != 0 {
			s.vedges[k] = append(s.vedges[k], vEdge{a: a, b: b, why: why, by: by, from: from})
		}
	}
	seen := make([]map[int32]int32, len(s.keyIDs.names)) // key -> value -> a txn that wrote or read it
	note := func(k, v, t int32) {
		if seen[k] == nil {
			seen[k] = map[int32]int32{}
		}
		if u, ok := seen[k][v]; !ok || t < u {
			seen[k][v] = t
		}
	}
	for wk, w := range s.writers {
		if w.final {
			note(wk.k, wk.v, w.txn)
		}
	}
	for rk, rs := range s.readers {
		note(rk.k, rk.v, rs[0])
	}
	strict := c.cfg.ConsistencyModel == "strict-serializable"
	for ti := range c.txns {
		if c.txns[ti].typ != history.OK {
			continue
		}
		writes := s.extWrites(int32(ti))
		for _, r := range s.extReads(int32(ti)) {
			if wi := mopOf(writes, r.k); wi >= 0 && s.mops[r.mi].val != 0 {
				link(r.k, s.mops[r.mi].val, s.mops[wi].val, vWFR, int32(ti), -1)
			}
		}
	}
	if strict {
		s.orderVersions(c, link)
	}
	// Every value follows nil, unless something else it follows does.
	for k, vs := range seen {
		hasPred := map[int32]bool{}
		for _, e := range s.vedges[k] {
			if e.a != 0 {
				hasPred[e.b] = true
			}
		}
		ids := make([]int32, 0, len(vs))
		for v := range vs {
			ids = append(ids, v)
		}
		slices.Sort(ids)
		for _, v := range ids {
			if v != 0 && !hasPred[v] {
				link(int32(k), 0, v, vInit, vs[v], -1)
			}
		}
	}
	s.cyclic = make([]bool, len(s.keyIDs.names))
	for k := range s.keyIDs.names {
		s.checkCyclic(c, int32(k))
	}
}

// orderVersions links versions by the process and realtime order of the
// committed txns that touched each key.
func (s *rwState) orderVersions(c *txnCore, link func(k, a, b int32, why uint8, by, from int32)) {
	type event struct {
		pos   int32
		ti    int32
		begin bool
	}
	var evs []event
	lastOn := map[int32]map[int32]int32{} // process -> key -> last txn
	tc := make(map[int32]map[int32]touch)
	for ti := range c.txns {
		t := c.txns[ti]
		if t.typ != history.OK {
			continue
		}
		tc[int32(ti)] = s.touches(int32(ti))
		if t.invPos >= 0 {
			evs = append(evs, event{t.invPos, int32(ti), true})
		}
		evs = append(evs, event{t.compPos, int32(ti), false})
		if t.proc == history.NoProcess {
			continue
		}
		if lastOn[t.proc] == nil {
			lastOn[t.proc] = map[int32]int32{}
		}
		for k, x := range tc[int32(ti)] {
			if p, ok := lastOn[t.proc][k]; ok {
				link(k, tc[p][k].last, x.first, vProcess, int32(ti), p)
			}
			lastOn[t.proc][k] = int32(ti)
		}
	}
	sort.Slice(evs, func(i, j int) bool { return evs[i].pos < evs[j].pos })
	front := map[int32][]int32{} // key -> txns done, followed by no later one
	snap := map[int32]map[int32][]int32{}
	for _, e := range evs {
		touched := tc[e.ti]
		if e.begin {
			m := map[int32][]int32{}
			for k, x := range touched {
				for _, f := range front[k] {
					link(k, tc[f][k].last, x.first, vRealtime, e.ti, f)
				}
				m[k] = slices.Clone(front[k])
			}
			snap[e.ti] = m
			continue
		}
		for k := range touched {
			preds := snap[e.ti][k]
			front[k] = slices.DeleteFunc(front[k], func(f int32) bool { return slices.Contains(preds, f) })
			front[k] = append(front[k], e.ti)
		}
		delete(snap, e.ti)
	}
}

// checkCyclic reports a key whose inferred version order has a cycle.
func (s *rwState) checkCyclic(c *txnCore, k int32) {
	adj := map[int32][]int32{}
	for _, e := range s.vedges[k] {
		adj[e.a] = append(adj[e.a], e.b)
	}
	state := map[int32]uint8{} // 1 on the stack, 2 done
	var cyc []int32
	var visit func(v int32, path []int32) bool
	visit = func(v int32, path []int32) bool {
		state[v] = 1
		path = append(path, v)
		for _, w := range adj[v] {
			switch state[w] {
			case 1:
				i := slices.Index(path, w)
				cyc = append(slices.Clone(path[i:]), w)
				return true
			case 0:
				if visit(w, path) {
					return true
				}
			}
		}
		state[v] = 2
		return false
	}
	vs := make([]int32, 0, len(adj))
	for v := range adj {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	for _, v := range vs {
		if state[v] == 0 && visit(v, nil) {
			break
		}
	}
	if cyc == nil {
		return
	}
	s.cyclic[k] = true
	if !c.anomaly("cyclic-versions") {
		return
	}
	key := s.keyIDs.names[k]
	var names, whys []string
	var ts []int32
	for i, v := range cyc {
		names = append(names, s.val(v))
		if i == len(cyc)-1 {
			break
		}
		for _, e := range s.vedges[k] {
			if e.a == v && e.b == cyc[i+1] {
				whys = append(whys, s.versionWhy(c, k, e))
				ts = append(ts, e.by)
				break
			}
		}
	}
	c.keep("cyclic-versions", Anomaly{Key: key,
		Explanation: fmt.Sprintf("the versions of %s form a cycle %s: %s", key, strings.Join(names, " < "), strings.Join(whys, "; ")),
		Summary:     fmt.Sprintf("key %s: inferred version order is cyclic: %s", key, strings.Join(names, " < "))}, ts...)
}

// versionWhy says why version e.b of key k follows e.a.
func (s *rwState) versionWhy(c *txnCore, k int32, e vEdge) string {
	a, b := s.val(e.a), s.val(e.b)
	switch e.why {
	case vInit:
		return fmt.Sprintf("%s follows the initial nil", b)
	case vWFR:
		return fmt.Sprintf("%s < %s because #%d read %s then wrote %s", a, b, c.idx(e.by), a, b)
	case vProcess:
		return fmt.Sprintf("%s < %s because #%d met %s = %s before #%d met %s = %s on the same process", a, b,
			c.idx(e.from), s.keyIDs.names[k], a, c.idx(e.by), s.keyIDs.names[k], b)
	}
	return fmt.Sprintf("%s < %s because #%d, which met %s = %s, finished before #%d, which met %s = %s, began", a, b,
		c.idx(e.from), s.keyIDs.names[k], a, c.idx(e.by), s.keyIDs.names[k], b)
}

// edges adds ww, wr and rw dependencies from the version orders.
func (s *rwState) edges(c *txnCore) {
	read := make([]rwKey, 0, len(s.readers))
	for rk := range s.readers {
		read = append(read, rk)
	}
	sort.Slice(read, func(i, j int) bool { return read[i].k < read[j].k || read[i].k == read[j].k && read[i].v < read[j].v })
	for _, rk := range read {
		if w := s.inGraphWriter(rk.k, rk.v); rk.v != 0 && w >= 0 {
			for _, r := range s.readers[rk] {
				c.edges.add(w, r, edgeWR)
			}
		}
	}
	for k, es := range s.vedges {
		if s.cyclic[k] {
			continue
		}
		for _, e := range es {
			wb := s.inGraphWriter(int32(k), e.b)
			if wb < 0 {
				continue
			}
			if wa := s.inGraphWriter(int32(k), e.a); wa >= 0 {
				c.edges.add(wa, wb, edgeWW)
			}
			for _, r := range s.readers[rwKey{int32(k), e.a}] {
				c.edges.add(r, wb, edgeRW)
			}
		}
	}
}

// versionEdge finds why version b of key k follows a.
func (s *rwState) versionEdge(k, a, b int32) (vEdge, bool) {
	for _, e := range s.vedges[k] {
		if e.a == a && e.b == b {
			return e, true
		}
	}
	return vEdge{}, false
}

// explain justifies a data edge from the reads, writes and version order.
func (s *rwState) explain(e step, name, short func(int32) string) (why, sh, key string) {
	switch e.kind {
	case edgeWR:
		for _, r := range s.extReads(e.to) {
			v := s.mops[r.mi].val
			if v != 0 && s.inGraphWriter(r.k, v) == e.from {
				key = s.keyIDs.names[r.k]
				return fmt.Sprintf("%s read %s = %s, written by %s (wr)", name(e.to), key, s.val(v), name(e.from)),
					fmt.Sprintf("%s read %s's %s = %s", short(e.to), short(e.from), key, s.val(v)), key
			}
		}
	case edgeWW, edgeRW:
		before := s.extWrites(e.from)
		if e.kind == edgeRW {
			before = s.extReads(e.from)
		}
		after := s.extWrites(e.to)
		for _, x := range before {
			mj := mopOf(after, x.k)
			if mj < 0 {
				continue
			}
			va, vb := s.mops[x.mi].val, s.mops[mj].val
			ve, ok := s.versionEdge(x.k, va, vb)
			if !ok {
				continue
			}
			key = s.keyIDs.names[x.k]
			a, b := s.val(va), s.val(vb)
			if e.kind == edgeWW {
				return fmt.Sprintf("%s wrote %s = %s and %s wrote %s = %s, a later version (%s) (ww)", name(e.from), key, a, name(e.to), key, b, s.versionWhy(s.core, x.k, ve)),
					fmt.Sprintf("%s overwrote %s's %s = %s with %s", short(e.to), short(e.from), key, a, b), key
			}
			return fmt.Sprintf("%s read %s = %s, and %s wrote %s = %s, a later version (%s) (rw)", name(e.from), key, a, name(e.to), key, b, s.versionWhy(s.core, x.k, ve)),
				fmt.Sprintf("%s read %s = %s, not %s's later %s", short(e.from), key, a, short(e.to), b), key
		}
	}
	return "", "", ""
}
