package checker

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/faultline/faultline/history"
)

// ListAppendConfig configures the list-append checker.
type ListAppendConfig struct {
	// MaxReported bounds the anomalies of each type listed in the result
	// (default 10); all are counted in Details.
	MaxReported int
	// CycleSearchLimit bounds the start edges tried per strongly connected
	// component and anomaly class (default 32).
	CycleSearchLimit int
}

// ListAppend is an Elle-style checker for list-append transactions: f txn,
// Value a list of micro-ops [f, k, v] with f "append" (v the element) or
// "r" (v the list read). Appended elements must be unique per key.
//
// It infers each key's version order from the longest read of the key
// (every other read must be a prefix of it, or the order is incompatible),
// builds the dependency graph of committed transactions (ww, wr and rw
// edges between data dependencies, plus process and realtime order), finds
// strongly connected components and a short cycle in each, and classifies
// the cycles as G0, G1c, G-single or G2 (with -process or -realtime when
// the cycle needs those edges). It also reports G1a (aborted reads), G1b
// (intermediate reads), internal inconsistencies, duplicate elements,
// elements never appended and incompatible orders, and the consistency
// models the anomalies rule out.
//
// Ok transactions are committed; failed ones did not happen; an info
// transaction is in the graph only when some read observed one of its
// appends. An appended element that no read observed is ordered after
// every observed element of its key (lists only grow at the end).
type ListAppend struct{ cfg ListAppendConfig }

// NewListAppend returns the list-append checker.
func NewListAppend(cfg ListAppendConfig) *ListAppend {
	if cfg.MaxReported <= 0 {
		cfg.MaxReported = 10
	}
	if cfg.CycleSearchLimit <= 0 {
		cfg.CycleSearchLimit = 32
	}
	return &ListAppend{cfg: cfg}
}

// Name implements Checker.
func (l *ListAppend) Name() string { return "list-append" }

// Edge kinds of the dependency graph.
const (
	edgeWW uint8 = 1 << iota
	edgeWR
	edgeRW
	edgeProcess
	edgeRealtime
)

func edgeName(k uint8) string {
	switch k {
	case edgeWW:
		return "ww"
	case edgeWR:
		return "wr"
	case edgeRW:
		return "rw"
	case edgeProcess:
		return "process"
	case edgeRealtime:
		return "realtime"
	}
	return "?"
}

type laTxn struct {
	inv, comp  int32 // positions in ops; comp -1 when open
	proc       int32
	typ        history.Type
	mop0, mop1 int32 // range in la.mops
	inGraph    bool
}

type laMop struct {
	append  bool
	hasRead bool // a read whose result is known (ok txns)
	key     int32
	val     int64
	read    []any
}

type wkey struct {
	k int32
	v int64
}

type wval struct {
	txn, mop int32
	pos      int32 // position in the key's version order; -1 unobserved
}

type laKey struct {
	name       string
	order      []int64 // version order: the longest read
	orderMop   int32   // the mop that read it; -1 if none
	unobserved []int32 // committed txns whose append to the key no read saw
}

// laState is one run of the checker.
type laState struct {
	cfg     ListAppendConfig
	ops     []history.Op
	txns    []laTxn
	mops    []laMop
	keyIdx  map[string]int32
	keys    []laKey
	writers map[wkey]wval
	failed  map[wkey]int32 // (key, value) appended by a failed txn
	txnOf   []int32        // mop -> txn

	anoms  map[string][]Anomaly
	counts map[string]int

	// graph
	from, to []int32
	kind     []uint8
	adj      []int32 // CSR offsets, n+1
	adjTo    []int32
	adjKind  []uint8
}

// Check implements Checker.
func (l *ListAppend) Check(ctx context.Context, ops []history.Op) Result {
	start := time.Now()
	name := l.Name()
	s := &laState{cfg: l.cfg, ops: ops, keyIdx: map[string]int32{},
		anoms: map[string][]Anomaly{}, counts: map[string]int{}}
	if err := s.parse(); err != nil {
		return unknown(name, err)
	}
	if ctx.Err() != nil {
		return ctxUnknown(ctx, name)
	}
	s.internal()
	s.versionOrders()
	if ctx.Err() != nil {
		return ctxUnknown(ctx, name)
	}
	s.dataEdges()
	s.orderEdges()
	s.buildCSR()
	if ctx.Err() != nil {
		return ctxUnknown(ctx, name)
	}
	if err := s.cycles(ctx); err != nil {
		return ctxUnknown(ctx, name)
	}
	return s.result(name, time.Since(start))
}

func (s *laState) add(typ string, a Anomaly) {
	s.counts[typ]++
	if len(s.anoms[typ]) < s.cfg.MaxReported {
		a.Type = typ
		s.anoms[typ] = append(s.anoms[typ], a)
	}
}

func (s *laState) intern(k any) int32 {
	name := keyString(k)
	if i, ok := s.keyIdx[name]; ok {
		return i
	}
	i := int32(len(s.keys))
	s.keyIdx[name] = i
	s.keys = append(s.keys, laKey{name: name, orderMop: -1})
	return i
}

// parse pairs invocations with completions and decodes the micro-ops.
func (s *laState) parse() error {
	pending := map[int]int32{}
	nTxn := 0
	for _, o := range s.ops {
		if o.F == "txn" && o.Type == history.Invoke {
			nTxn++
		}
	}
	s.txns = make([]laTxn, 0, nTxn)
	s.mops = make([]laMop, 0, nTxn*4)
	s.txnOf = make([]int32, 0, nTxn*4)
	s.writers = make(map[wkey]wval, nTxn*2)
	for pos, o := range s.ops {
		if o.Process == history.NemesisProcess || o.F != "txn" {
			continue
		}
		if o.Type == history.Invoke {
			pending[o.Process] = int32(len(s.txns))
			s.txns = append(s.txns, laTxn{inv: int32(pos), comp: -1, proc: int32(o.Process), typ: history.Info})
			continue
		}
		ti, ok := pending[o.Process]
		if !ok {
			continue
		}
		delete(pending, o.Process)
		s.txns[ti].comp = int32(pos)
		s.txns[ti].typ = o.Type
	}
	for ti := range s.txns {
		t := &s.txns[ti]
		src := s.ops[t.inv]
		if t.typ == history.OK {
			src = s.ops[t.comp]
		}
		list, ok := history.List(src.Value)
		if !ok {
			return fmt.Errorf("list-append: txn #%d: value %s is not a list of micro-ops", src.Index, showValue(src.Value))
		}
		t.mop0 = int32(len(s.mops))
		for _, m := range list {
			mv, ok := history.List(m)
			if !ok || len(mv) != 3 {
				return fmt.Errorf("list-append: txn #%d: micro-op %s is not [f, k, v]", src.Index, showValue(m))
			}
			f, _ := mv[0].(string)
			f = strings.TrimPrefix(f, ":") // EDN keywords
			mop := laMop{key: s.intern(mv[1])}
			switch f {
			case "append":
				v, ok := history.Int(mv[2])
				if !ok {
					return fmt.Errorf("list-append: txn #%d: appended value %s is not an integer", src.Index, showValue(mv[2]))
				}
				mop.append, mop.val = true, v
				wk := wkey{mop.key, v}
				switch t.typ {
				case history.Fail:
					if s.failed == nil {
						s.failed = map[wkey]int32{}
					}
					s.failed[wk] = int32(ti)
				default:
					if _, dup := s.writers[wk]; !dup {
						s.writers[wk] = wval{txn: int32(ti), mop: int32(len(s.mops)), pos: -1}
					}
				}
			case "r":
				if t.typ == history.OK {
					if mv[2] != nil {
						r, ok := history.List(mv[2])
						if !ok {
							return fmt.Errorf("list-append: txn #%d: read value %s is not a list", src.Index, showValue(mv[2]))
						}
						mop.read = r
					}
					mop.hasRead = true
				}
			default:
				return fmt.Errorf("list-append: txn #%d: unknown micro-op %q (want r or append)", src.Index, f)
			}
			s.mops = append(s.mops, mop)
			s.txnOf = append(s.txnOf, int32(ti))
		}
		t.mop1 = int32(len(s.mops))
		t.inGraph = t.typ == history.OK
	}
	return nil
}

// name renders txn ti as "T3 (#12)"-style text given its local number.
func (s *laState) idx(ti int32) int64 {
	t := s.txns[ti]
	if t.comp >= 0 {
		return s.ops[t.comp].Index
	}
	return s.ops[t.inv].Index
}

func (s *laState) mopText(mi int32) string {
	m := s.mops[mi]
	if m.append {
		return fmt.Sprintf("append %s %d", s.keys[m.key].name, m.val)
	}
	if !m.hasRead {
		return fmt.Sprintf("r %s ?", s.keys[m.key].name)
	}
	return fmt.Sprintf("r %s %s", s.keys[m.key].name, readText(m.read))
}

func readText(r []any) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, x := range r {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(elemString(x))
	}
	b.WriteByte(']')
	return b.String()
}

func (s *laState) txnText(ti int32) string {
	t := s.txns[ti]
	var parts []string
	for mi := t.mop0; mi < t.mop1; mi++ {
		parts = append(parts, "["+s.mopText(mi)+"]")
	}
	return strings.Join(parts, " ")
}

// readInts returns element i of a read as an integer.
func elemInt(x any) (int64, bool) { return history.Int(x) }

// internal checks each committed txn against its own earlier micro-ops,
// and reads for duplicate elements are checked in versionOrders.
func (s *laState) internal() {
	type kstate struct {
		key      int32
		known    bool
		prior    []any
		appended []int64
	}
	var ks []kstate
	for ti := range s.txns {
		t := &s.txns[ti]
		if t.typ != history.OK || t.mop1-t.mop0 < 2 {
			continue
		}
		ks = ks[:0]
		for mi := t.mop0; mi < t.mop1; mi++ {
			m := &s.mops[mi]
			var st *kstate
			for i := range ks {
				if ks[i].key == m.key {
					st = &ks[i]
				}
			}
			if st == nil {
				ks = append(ks, kstate{key: m.key})
				st = &ks[len(ks)-1]
			}
			if m.append {
				st.appended = append(st.appended, m.val)
				continue
			}
			if !m.hasRead {
				continue
			}
			ok := true
			var want string
			if st.known {
				exp := len(st.prior) + len(st.appended)
				ok = len(m.read) == exp
				for i := 0; ok && i < len(st.prior); i++ {
					a, _ := elemInt(st.prior[i])
					b, _ := elemInt(m.read[i])
					ok = a == b
				}
				for i := 0; ok && i < len(st.appended); i++ {
					b, _ := elemInt(m.read[len(st.prior)+i])
					ok = b == st.appended[i]
				}
				want = fmt.Sprintf("%s followed by its own appends %v", readText(st.prior), st.appended)
			} else if len(st.appended) > 0 {
				ok = len(m.read) >= len(st.appended)
				off := len(m.read) - len(st.appended)
				for i := 0; ok && i < len(st.appended); i++ {
					b, _ := elemInt(m.read[off+i])
					ok = b == st.appended[i]
				}
				want = fmt.Sprintf("a list ending with its own appends %v", st.appended)
			}
			if !ok {
				id := s.idx(int32(ti))
				s.add("internal", Anomaly{Key: s.keys[m.key].name, Ops: []int64{id},
					Explanation: fmt.Sprintf("T1 (#%d) %s read %s = %s, but its own earlier micro-ops imply %s",
						id, s.txnText(int32(ti)), s.keys[m.key].name, readText(m.read), want)})
			}
			st.known, st.prior, st.appended = true, m.read, st.appended[:0:0]
		}
	}
}

// versionOrders picks each key's longest read as its version order and
// checks every read against it; it reports G1a, G1b, duplicates, unknown
// elements and incompatible orders, and decides which info txns happened.
func (s *laState) versionOrders() {
	for mi := range s.mops {
		m := &s.mops[mi]
		if !m.hasRead {
			continue
		}
		k := &s.keys[m.key]
		if k.orderMop < 0 || len(m.read) > len(s.mops[k.orderMop].read) {
			k.orderMop = int32(mi)
		}
	}
	// Resolve each order to integers and positions.
	for ki := range s.keys {
		k := &s.keys[ki]
		if k.orderMop < 0 {
			continue
		}
		r := s.mops[k.orderMop].read
		k.order = make([]int64, len(r))
		var seen map[int64]int
		for i, x := range r {
			v, ok := elemInt(x)
			if !ok {
				v = -1 << 62
			}
			k.order[i] = v
			w, ok := s.writers[wkey{int32(ki), v}]
			if !ok {
				continue
			}
			if w.pos >= 0 { // duplicate element in the longest read
				if seen == nil {
					seen = map[int64]int{}
				}
				seen[v]++
				continue
			}
			w.pos = int32(i)
			s.writers[wkey{int32(ki), v}] = w
			s.txns[w.txn].inGraph = true // observed: it happened
		}
		if len(seen) > 0 {
			s.reportDuplicate(k.orderMop, seen)
		}
	}
	// Check every read against its key's order.
	for mi := range s.mops {
		m := &s.mops[mi]
		if !m.hasRead {
			continue
		}
		k := &s.keys[m.key]
		prefix := len(m.read) <= len(k.order)
		for i := 0; prefix && i < len(m.read); i++ {
			v, ok := elemInt(m.read[i])
			prefix = ok && v == k.order[i]
		}
		if !prefix {
			s.incompatible(int32(mi))
		}
		s.checkElements(int32(mi), !prefix || int32(mi) == k.orderMop)
	}
	// Committed appends nobody observed come after the observed ones.
	for wk, w := range s.writers {
		if w.pos < 0 && s.txns[w.txn].inGraph {
			s.keys[wk.k].unobserved = append(s.keys[wk.k].unobserved, w.txn)
		}
	}
	for ki := range s.keys {
		u := s.keys[ki].unobserved
		sort.Slice(u, func(i, j int) bool { return u[i] < u[j] })
	}
}

func (s *laState) reportDuplicate(mi int32, dups map[int64]int) {
	ti := s.txnOf[mi]
	var vs []int64
	for v := range dups {
		vs = append(vs, v)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i] < vs[j] })
	k := s.keys[s.mops[mi].key].name
	s.add("duplicate", Anomaly{Key: k, Ops: []int64{s.idx(ti)},
		Explanation: fmt.Sprintf("T1 (#%d) read %s = %s, which holds %v more than once, though each was appended once",
			s.idx(ti), k, readText(s.mops[mi].read), vs)})
}

// checkElements checks a read's elements (all of them when full, else
// only its last one, the others having been checked through the order)
// for G1a, unknown elements, duplicates and G1b.
func (s *laState) checkElements(mi int32, full bool) {
	m := &s.mops[mi]
	ti := s.txnOf[mi]
	k := s.keys[m.key].name
	if len(m.read) == 0 {
		return
	}
	from := len(m.read) - 1
	if full {
		from = 0
	}
	var seen map[int64]bool
	var dups map[int64]int
	for i := from; i < len(m.read); i++ {
		v, ok := elemInt(m.read[i])
		if !ok {
			s.add("unexpected", Anomaly{Key: k, Ops: []int64{s.idx(ti)},
				Explanation: fmt.Sprintf("T1 (#%d) read %s = %s, whose element %s is not an integer any txn appended", s.idx(ti), k, readText(m.read), showValue(m.read[i]))})
			continue
		}
		wk := wkey{m.key, v}
		if _, ok := s.writers[wk]; !ok {
			if ft, failed := s.failed[wk]; failed {
				s.add("G1a", Anomaly{Key: k, Ops: []int64{s.idx(ft), s.idx(ti)},
					Explanation: fmt.Sprintf("T1 (#%d) read %s = %s, observing %d, which was only appended by T2 (#%d) %s, a transaction that failed (aborted read)",
						s.idx(ti), k, readText(m.read), v, s.idx(ft), s.txnText(ft))})
			} else {
				s.add("unexpected", Anomaly{Key: k, Ops: []int64{s.idx(ti)},
					Explanation: fmt.Sprintf("T1 (#%d) read %s = %s, observing %d, which no transaction ever appended to %s", s.idx(ti), k, readText(m.read), v, k)})
			}
		}
		if full && int32(mi) != s.keys[m.key].orderMop {
			if seen == nil {
				seen = make(map[int64]bool, len(m.read))
			}
			if seen[v] {
				if dups == nil {
					dups = map[int64]int{}
				}
				dups[v]++
			}
			seen[v] = true
		}
	}
	if dups != nil {
		s.reportDuplicate(mi, dups)
	}
	// G1b: the last element read is an intermediate append of its writer.
	v, ok := elemInt(m.read[len(m.read)-1])
	if !ok {
		return
	}
	w, ok := s.writers[wkey{m.key, v}]
	if !ok || w.txn == ti {
		return
	}
	wt := s.txns[w.txn]
	for mj := w.mop + 1; mj < wt.mop1; mj++ {
		if s.mops[mj].append && s.mops[mj].key == m.key {
			s.add("G1b", Anomaly{Key: k, Ops: []int64{s.idx(w.txn), s.idx(ti)},
				Explanation: fmt.Sprintf("T1 (#%d) read %s = %s, ending in %d, an intermediate state of T2 (#%d) %s, which appended %d after it in the same transaction (intermediate read)",
					s.idx(ti), k, readText(m.read), v, s.idx(w.txn), s.txnText(w.txn), s.mops[mj].val)})
			return
		}
	}
}

func (s *laState) incompatible(mi int32) {
	m := &s.mops[mi]
	k := &s.keys[m.key]
	ti, tj := s.txnOf[mi], s.txnOf[k.orderMop]
	s.add("incompatible-order", Anomaly{Key: k.name, Ops: []int64{s.idx(tj), s.idx(ti)},
		Explanation: fmt.Sprintf("T1 (#%d) read %s = %s and T2 (#%d) read %s = %s: neither is a prefix of the other, so no single order of appends explains both",
			s.idx(tj), k.name, readText(s.mops[k.orderMop].read), s.idx(ti), k.name, readText(m.read))})
}

func (s *laState) edge(a, b int32, k uint8) {
	if a == b {
		return
	}
	s.from = append(s.from, a)
	s.to = append(s.to, b)
	s.kind = append(s.kind, k)
}

// writerAt returns the txn that appended the element at position i of
// key ki's order, or -1.
func (s *laState) writerAt(ki int32, i int) int32 {
	w, ok := s.writers[wkey{ki, s.keys[ki].order[i]}]
	if !ok || w.pos != int32(i) {
		return -1
	}
	return w.txn
}

// dataEdges adds ww, wr and rw edges.
func (s *laState) dataEdges() {
	n := len(s.txns)
	s.from = make([]int32, 0, 4*n)
	s.to = make([]int32, 0, 4*n)
	s.kind = make([]uint8, 0, 4*n)
	for ki := range s.keys {
		k := &s.keys[ki]
		prev := int32(-1)
		for i := range k.order {
			w := s.writerAt(int32(ki), i)
			if w < 0 {
				continue
			}
			if prev >= 0 {
				s.edge(prev, w, edgeWW)
			}
			prev = w
		}
		if prev >= 0 {
			for _, u := range k.unobserved {
				s.edge(prev, u, edgeWW)
			}
		}
	}
	for mi := range s.mops {
		m := &s.mops[mi]
		if !m.hasRead {
			continue
		}
		ti := s.txnOf[mi]
		k := &s.keys[m.key]
		if len(m.read) > 0 {
			if v, ok := elemInt(m.read[len(m.read)-1]); ok {
				if w, ok := s.writers[wkey{m.key, v}]; ok && s.txns[w.txn].inGraph {
					s.edge(w.txn, ti, edgeWR)
				}
			}
		}
		if len(m.read) > len(k.order) {
			continue // incompatible: no position
		}
		if len(m.read) < len(k.order) {
			// It did not see the next version: it precedes its writer.
			// (Incompatible reads of the same length land here too,
			// harmlessly: they were reported.)
			for i := len(m.read); i < len(k.order); i++ {
				if w := s.writerAt(m.key, i); w >= 0 {
					if w != ti {
						s.edge(ti, w, edgeRW)
					}
					break
				}
			}
			continue
		}
		for _, u := range k.unobserved {
			s.edge(ti, u, edgeRW)
		}
	}
}

// orderEdges adds process and realtime edges between graph txns. Realtime
// edges are the transitive reduction Elle uses: each txn gets an edge
// from every txn on the frontier of completed txns when it starts.
func (s *laState) orderEdges() {
	last := map[int32]int32{}
	for ti := range s.txns {
		t := &s.txns[ti]
		if !t.inGraph {
			continue
		}
		if p, ok := last[t.proc]; ok {
			s.edge(p, int32(ti), edgeProcess)
		}
		last[t.proc] = int32(ti)
	}
	// Events by position in the history.
	at := make([]int32, len(s.ops))
	for i := range at {
		at[i] = -1
	}
	for ti := range s.txns {
		t := &s.txns[ti]
		if !t.inGraph {
			continue
		}
		at[t.inv] = int32(ti)
		if t.comp >= 0 && t.typ == history.OK {
			at[t.comp] = int32(ti)
		}
	}
	// predStart/predEnd: the frontier snapshot each txn took at its start.
	snap := make([]int32, 0, 64)
	snapAt := make(map[int32][2]int32)
	var frontier []int32
	for pos, ti := range at {
		if ti < 0 {
			continue
		}
		t := &s.txns[ti]
		if int32(pos) == t.inv {
			lo := int32(len(snap))
			for _, f := range frontier {
				s.edge(f, ti, edgeRealtime)
				snap = append(snap, f)
			}
			snapAt[ti] = [2]int32{lo, int32(len(snap))}
			continue
		}
		// completion: it supersedes its own predecessors on the frontier
		r := snapAt[ti]
		delete(snapAt, ti)
		if r[1] > r[0] {
			out := frontier[:0]
			for _, f := range frontier {
				drop := false
				for _, p := range snap[r[0]:r[1]] {
					if p == f {
						drop = true
						break
					}
				}
				if !drop {
					out = append(out, f)
				}
			}
			frontier = out
		}
		frontier = append(frontier, ti)
		if len(snapAt) == 0 {
			snap = snap[:0]
		}
	}
}

func (s *laState) buildCSR() {
	n := len(s.txns)
	s.adj = make([]int32, n+1)
	for _, a := range s.from {
		s.adj[a+1]++
	}
	for i := 1; i <= n; i++ {
		s.adj[i] += s.adj[i-1]
	}
	fill := make([]int32, n)
	copy(fill, s.adj[:n])
	s.adjTo = make([]int32, len(s.from))
	s.adjKind = make([]uint8, len(s.from))
	for e, a := range s.from {
		p := fill[a]
		fill[a]++
		s.adjTo[p] = s.to[e]
		s.adjKind[p] = s.kind[e]
	}
	s.from, s.to, s.kind = nil, nil, nil
}

// edgeKinds returns the union of kinds of all edges a->b.
func (s *laState) edgeKinds(a, b int32) uint8 {
	var k uint8
	for e := s.adj[a]; e < s.adj[a+1]; e++ {
		if s.adjTo[e] == b {
			k |= s.adjKind[e]
		}
	}
	return k
}

// sccs computes strongly connected components over edges with kind&mask,
// among nodes where active (nil: all). comp[v] is the component id, or -1
// for nodes in trivial components. It returns the nontrivial components.
func (s *laState) sccs(mask uint8, active []bool) (comp []int32, comps [][]int32) {
	n := len(s.txns)
	index := make([]int32, n)
	low := make([]int32, n)
	onStack := make([]bool, n)
	comp = make([]int32, n)
	for i := range index {
		index[i] = -1
		comp[i] = -1
	}
	var stack []int32
	type frame struct {
		v int32
		e int32
	}
	var call []frame
	next := int32(0)
	for root := int32(0); root < int32(n); root++ {
		if index[root] >= 0 || (active != nil && !active[root]) {
			continue
		}
		call = append(call[:0], frame{root, s.adj[root]})
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			v := f.v
			if f.e < s.adj[v+1] {
				e := f.e
				f.e++
				if s.adjKind[e]&mask == 0 {
					continue
				}
				w := s.adjTo[e]
				if active != nil && !active[w] {
					continue
				}
				if index[w] < 0 {
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					call = append(call, frame{w, s.adj[w]})
				} else if onStack[w] && index[w] < low[v] {
					low[v] = index[w]
				}
				continue
			}
			call = call[:len(call)-1]
			if len(call) > 0 {
				u := call[len(call)-1].v
				if low[v] < low[u] {
					low[u] = low[v]
				}
			}
			if low[v] == index[v] {
				var c []int32
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					c = append(c, w)
					if w == v {
						break
					}
				}
				if len(c) > 1 {
					id := int32(len(comps))
					for _, w := range c {
						comp[w] = id
					}
					comps = append(comps, c)
				}
			}
		}
	}
	return comp, comps
}

type cycleSpec struct {
	start   uint8 // kind of the edge the cycle is searched through
	allowed uint8 // kinds the rest of the cycle may use
	need    uint8 // kinds of which the cycle must use at least one
}

var cycleSpecs = func() []cycleSpec {
	data := []cycleSpec{
		{edgeWW, edgeWW, 0},
		{edgeWR, edgeWW | edgeWR, 0},
		{edgeRW, edgeWW | edgeWR, 0},
		{edgeRW, edgeWW | edgeWR | edgeRW, 0},
	}
	out := append([]cycleSpec(nil), data...)
	for _, x := range []struct{ add, need uint8 }{{edgeProcess, edgeProcess}, {edgeProcess | edgeRealtime, edgeRealtime}} {
		for _, d := range data {
			out = append(out, cycleSpec{d.start, d.allowed | x.add, x.need})
		}
	}
	return out
}()

// cycleEdge is one step of a found cycle.
type cycleEdge struct {
	from, to int32
	kind     uint8
}

// cycles finds and reports dependency cycles.
func (s *laState) cycles(ctx context.Context) error {
	all := edgeWW | edgeWR | edgeRW | edgeProcess | edgeRealtime
	comp, comps := s.sccs(all, nil)
	if len(comps) == 0 {
		return nil
	}
	active := make([]bool, len(s.txns))
	for v, c := range comp {
		active[v] = c >= 0
	}
	bfs := newBFS(len(s.txns))
	reported := map[string]bool{}
	sccCache := map[uint8][2]any{}
	for _, spec := range cycleSpecs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		mask := spec.allowed | spec.start
		var comp []int32
		var comps [][]int32
		if c, ok := sccCache[mask]; ok {
			comp, comps = c[0].([]int32), c[1].([][]int32)
		} else {
			comp, comps = s.sccs(mask, active)
			sccCache[mask] = [2]any{comp, comps}
		}
		for ci, members := range comps {
			var best []cycleEdge
			tries := 0
			for _, a := range members {
				for e := s.adj[a]; e < s.adj[a+1] && tries < s.cfg.CycleSearchLimit; e++ {
					b := s.adjTo[e]
					if s.adjKind[e]&spec.start == 0 || comp[b] != int32(ci) {
						continue
					}
					tries++
					c := bfs.find(s, a, b, spec, comp, int32(ci))
					if c != nil && (best == nil || len(c) < len(best)) {
						best = c
					}
				}
			}
			if best == nil {
				continue
			}
			typ := classify(best)
			key := typ + cycleKey(best)
			if reported[key] {
				continue
			}
			reported[key] = true
			s.add(typ, s.explainCycle(typ, best))
		}
	}
	return nil
}

func cycleKey(c []cycleEdge) string {
	nodes := make([]int, len(c))
	for i, e := range c {
		nodes[i] = int(e.from)
	}
	sort.Ints(nodes)
	return fmt.Sprint(nodes)
}

// classify names a cycle by its edges: G0 (ww only), G1c (ww and wr),
// G-single (one rw), G2 (several rw), with -process or -realtime when it
// uses those edges.
func classify(c []cycleEdge) string {
	rw, wr := 0, 0
	var suffix string
	for _, e := range c {
		switch e.kind {
		case edgeRW:
			rw++
		case edgeWR:
			wr++
		case edgeRealtime:
			suffix = "-realtime"
		case edgeProcess:
			if suffix == "" {
				suffix = "-process"
			}
		}
	}
	switch {
	case rw == 1:
		return "G-single" + suffix
	case rw > 1:
		return "G2" + suffix
	case wr > 0:
		return "G1c" + suffix
	}
	return "G0" + suffix
}

type bfsState struct {
	stamp []uint32
	prev  []int32 // previous state
	label []uint8 // kind of the edge into this state
	cur   uint32
	queue []int32
}

func newBFS(n int) *bfsState {
	return &bfsState{stamp: make([]uint32, 2*n), prev: make([]int32, 2*n), label: make([]uint8, 2*n)}
}

// labelPref picks the kind an edge is taken as, among kinds: the weakest
// dependency first, so that cycles are classified as leniently as the
// evidence allows.
func labelPref(kinds uint8) uint8 {
	for _, k := range []uint8{edgeWW, edgeWR, edgeProcess, edgeRealtime, edgeRW} {
		if kinds&k != 0 {
			return k
		}
	}
	return 0
}

// find searches the shortest path b -> a within component ci using
// spec.allowed edges (and, if spec.need is set, at least one need edge
// over the whole cycle), and returns the cycle a -> b -> ... -> a.
func (q *bfsState) find(s *laState, a, b int32, spec cycleSpec, comp []int32, ci int32) []cycleEdge {
	q.cur++
	if q.cur == 0 {
		clear(q.stamp)
		q.cur = 1
	}
	startKinds := s.edgeKinds(a, b) & spec.start
	startLabel := labelPref(startKinds)
	flag := int32(0)
	if spec.need != 0 && startKinds&spec.need != 0 {
		flag, startLabel = 1, labelPref(startKinds&spec.need)
	}
	st := b*2 + flag
	q.stamp[st] = q.cur
	q.prev[st] = -1
	q.queue = append(q.queue[:0], st)
	target := a*2 + 1
	if spec.need == 0 {
		target = a * 2
	}
	found := int32(-1)
	for h := 0; h < len(q.queue) && found < 0; h++ {
		x := q.queue[h]
		v, f := x/2, x%2
		for e := s.adj[v]; e < s.adj[v+1]; e++ {
			w := s.adjTo[e]
			if comp[w] != ci {
				continue
			}
			k := s.adjKind[e] & spec.allowed
			if k == 0 {
				continue
			}
			try := func(nf int32, lab uint8) {
				y := w*2 + nf
				if q.stamp[y] == q.cur {
					return
				}
				q.stamp[y] = q.cur
				q.prev[y] = x
				q.label[y] = lab
				q.queue = append(q.queue, y)
				if y == target {
					found = y
				}
			}
			if spec.need != 0 && k&spec.need != 0 {
				try(1, labelPref(k&spec.need))
			}
			if other := k &^ spec.need; other != 0 {
				try(f, labelPref(other))
			}
			if found >= 0 {
				break
			}
		}
	}
	if found < 0 {
		return nil
	}
	var rev []cycleEdge
	for y := found; q.prev[y] >= 0; y = q.prev[y] {
		rev = append(rev, cycleEdge{from: q.prev[y] / 2, to: y / 2, kind: q.label[y]})
	}
	out := []cycleEdge{{from: a, to: b, kind: startLabel}}
	for i := len(rev) - 1; i >= 0; i-- {
		out = append(out, rev[i])
	}
	return out
}

// explainCycle describes a cycle in words, edge by edge.
func (s *laState) explainCycle(typ string, c []cycleEdge) Anomaly {
	num := map[int32]int{}
	var ids []int64
	var b strings.Builder
	for _, e := range c {
		if _, ok := num[e.from]; !ok {
			num[e.from] = len(num) + 1
			ids = append(ids, s.idx(e.from))
		}
	}
	tn := func(t int32) string { return fmt.Sprintf("T%d (#%d)", num[t], s.idx(t)) }
	fmt.Fprintf(&b, "%s: a cycle of %d transactions. ", typ, len(num))
	for _, e := range c {
		fmt.Fprintf(&b, "%s = %s. ", tn(e.from), s.txnText(e.from))
	}
	var key string
	for i, e := range c {
		text, k := s.explainEdge(e, tn)
		if key == "" {
			key = k
		}
		if i == len(c)-1 {
			b.WriteString("However, ")
		}
		b.WriteString(text)
		if i < len(c)-1 {
			b.WriteString("; ")
		}
	}
	b.WriteString(": a cycle, so no order of these transactions agrees with the history.")
	return Anomaly{Explanation: b.String(), Ops: ids, Key: key}
}

// explainEdge justifies one edge from the history.
func (s *laState) explainEdge(e cycleEdge, tn func(int32) string) (string, string) {
	a, bt := e.from, e.to
	ta, tb := s.txns[a], s.txns[bt]
	switch e.kind {
	case edgeRealtime:
		return fmt.Sprintf("%s completed before %s began (invoked at #%d) (realtime)", tn(a), tn(bt), s.ops[tb.inv].Index), ""
	case edgeProcess:
		return fmt.Sprintf("%s and %s ran in that order on process %d (process)", tn(a), tn(bt), ta.proc), ""
	case edgeWW:
		for mi := ta.mop0; mi < ta.mop1; mi++ {
			m := s.mops[mi]
			if !m.append {
				continue
			}
			w := s.writers[wkey{m.key, m.val}]
			k := &s.keys[m.key]
			if w.pos >= 0 {
				for i := int(w.pos) + 1; i < len(k.order); i++ {
					if nw := s.writerAt(m.key, i); nw >= 0 {
						if nw == bt {
							return fmt.Sprintf("%s appended %d to %s and %s appended %d right after it (ww, version order of %s %s)",
								tn(a), m.val, k.name, tn(bt), k.order[i], k.name, readText(s.mops[k.orderMop].read)), k.name
						}
						break
					}
				}
			}
			for mj := tb.mop0; mj < tb.mop1; mj++ {
				n := s.mops[mj]
				if n.append && n.key == m.key && s.writers[wkey{n.key, n.val}].pos < 0 {
					return fmt.Sprintf("%s appended %d to %s, the last element any read of %s saw, and %s appended %d, which no read saw, so after it (ww)",
						tn(a), m.val, k.name, k.name, tn(bt), n.val), k.name
				}
			}
		}
	case edgeWR:
		for mj := tb.mop0; mj < tb.mop1; mj++ {
			n := s.mops[mj]
			if !n.hasRead || len(n.read) == 0 {
				continue
			}
			v, _ := elemInt(n.read[len(n.read)-1])
			if w, ok := s.writers[wkey{n.key, v}]; ok && w.txn == a {
				k := s.keys[n.key].name
				return fmt.Sprintf("%s read %s = %s, which ends with %d, appended by %s (wr)", tn(bt), k, readText(n.read), v, tn(a)), k
			}
		}
	case edgeRW:
		for mi := ta.mop0; mi < ta.mop1; mi++ {
			m := s.mops[mi]
			if !m.hasRead {
				continue
			}
			k := &s.keys[m.key]
			if len(m.read) < len(k.order) {
				for i := len(m.read); i < len(k.order); i++ {
					if w := s.writerAt(m.key, i); w >= 0 {
						if w == bt {
							return fmt.Sprintf("%s read %s = %s, without %d, which %s appended next (rw)", tn(a), k.name, readText(m.read), k.order[i], tn(bt)), k.name
						}
						break
					}
				}
			} else if len(m.read) == len(k.order) {
				for mj := tb.mop0; mj < tb.mop1; mj++ {
					n := s.mops[mj]
					if n.append && n.key == m.key && s.writers[wkey{n.key, n.val}].pos < 0 {
						return fmt.Sprintf("%s read %s = %s, without %d, which %s appended (committed, never read) (rw)", tn(a), k.name, readText(m.read), n.val, tn(bt)), k.name
					}
				}
			}
		}
	}
	return fmt.Sprintf("%s precedes %s (%s)", tn(a), tn(bt), edgeName(e.kind)), ""
}

// Consistency models, strongest last.
var consistencyModels = []string{"read-uncommitted", "read-committed", "repeatable-read", "snapshot-isolation", "serializable", "strict-serializable"}

// RuledOut returns the consistency models an anomaly type rules out, as
// Elle does: G0 rules out read uncommitted and everything stronger; G1a,
// G1b and G1c read committed and stronger; G-single repeatable read,
// snapshot isolation and stronger; G2 repeatable read and serializable.
// Anomalies that need process (realtime) edges rule out the strong-session
// (strong, realtime) variants and strict serializability only.
func RuledOut(typ string) []string {
	base, suffix := typ, ""
	for _, sfx := range []string{"-process", "-realtime"} {
		if strings.HasSuffix(typ, sfx) {
			base, suffix = strings.TrimSuffix(typ, sfx), sfx
		}
	}
	var models []string
	switch base {
	case "G0", "internal", "duplicate", "incompatible-order", "unexpected":
		models = consistencyModels
	case "G1a", "G1b", "G1c":
		models = consistencyModels[1:]
	case "G-single":
		models = consistencyModels[2:]
	case "G2":
		models = []string{"repeatable-read", "serializable", "strict-serializable"}
	default:
		return nil
	}
	if suffix == "" {
		return append([]string(nil), models...)
	}
	var out []string
	for _, m := range models {
		switch {
		case m == "strict-serializable":
		case suffix == "-process":
			out = append(out, "strong-session-"+m)
		case m == "serializable":
		default:
			out = append(out, "strong-"+m)
		}
	}
	return append(out, "strict-serializable")
}

func (s *laState) result(name string, took time.Duration) Result {
	nodes, okTxns := 0, 0
	for _, t := range s.txns {
		if t.inGraph {
			nodes++
		}
		if t.typ == history.OK {
			okTxns++
		}
	}
	res := Result{Checker: name, Valid: Valid, Details: map[string]any{
		"txns": len(s.txns), "ok_txns": okTxns, "graph_txns": nodes, "keys": len(s.keys),
		"edges": len(s.adjTo), "seconds": took.Seconds(), "anomaly_counts": s.counts,
	}}
	if okTxns == 0 {
		res.Valid = Unknown
		res.Explanation = "list-append: no ok transaction to check"
		res.Error = res.Explanation
		return res
	}
	if len(s.counts) == 0 {
		return res
	}
	types := make([]string, 0, len(s.anoms))
	for t := range s.anoms {
		types = append(types, t)
	}
	sort.Strings(types)
	ruled := map[string]bool{}
	var summary []string
	for _, t := range types {
		res.Anomalies = append(res.Anomalies, s.anoms[t]...)
		for _, m := range RuledOut(t) {
			ruled[m] = true
		}
		summary = append(summary, fmt.Sprintf("%d %s", s.counts[t], t))
	}
	order := append([]string(nil), consistencyModels...)
	for _, p := range []string{"strong-session-", "strong-"} {
		for _, m := range consistencyModels {
			order = append(order, p+m)
		}
	}
	for _, m := range order {
		if ruled[m] {
			res.RuledOut = append(res.RuledOut, m)
		}
	}
	res.Valid = Invalid
	res.Explanation = fmt.Sprintf("found %s; first: %s", strings.Join(summary, ", "), res.Anomalies[0].Explanation)
	if len(res.RuledOut) > 0 {
		res.Explanation += " Ruled out: " + strings.Join(res.RuledOut, ", ") + "."
	}
	return res
}
