package checker

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/faultline/faultline/history"
)

// ListAppend is Elle's list-append checker: f txn (or no f), Value a list
// of micro-ops [append k v] (v an integer, unique per key) and [r k list].
//
// It infers each key's version order from its reads: every read of a key
// must be a prefix of its longest read, which is the order (a read that is
// not is an incompatible-order anomaly). Committed appends no read
// observed come after every observed one. It then builds the dependency
// graph (ww, wr and rw edges, process and realtime order) and searches it
// for the cycles the consistency model forbids, named as Elle names them
// (G0, G1c, G-single, G-nonadjacent, G2-item, with -process or -realtime).
// It also reports G1a (aborted reads), G1b (intermediate reads), internal
// and future reads, dirty updates, duplicate elements and garbage reads
// (elements no transaction appended).
//
// Ok transactions committed; failed ones did not happen; an info (or never
// completed) transaction is in the graph only when a read observed one of
// its appends. It checks a history as it streams by: a read is kept as
// its length into its key's order, not as the list read.
type ListAppend struct{ cfg TxnConfig }

// NewListAppend returns the list-append checker.
func NewListAppend(cfg ListAppendConfig) *ListAppend { return &ListAppend{cfg: cfg} }

// Name implements Checker.
func (l *ListAppend) Name() string { return "list-append" }

// Check implements Checker.
func (l *ListAppend) Check(ctx context.Context, ops []history.Op) Result {
	return checkStream(ctx, l, ops)
}

// Stream implements Streamer.
func (l *ListAppend) Stream() Stream {
	s := &laState{failed: map[wkey]int32{}}
	s.core = newTxnCore(l.Name(), l.cfg, s)
	return s.core
}

// laMop is one micro-op: an append of val (n is then its position in the
// key's order once inferred, -1: not observed), or a read of the first n
// elements of its key's order (n -1: the result is unknown), or, when exc
// >= 0, of the list exceptions[exc] (a read incompatible with the order).
type laMop struct {
	key    int32
	append bool
	n      int32
	exc    int32
	val    int64
}

type wkey struct {
	k int32
	v int64
}

type laKey struct {
	name       string
	order      []int64 // the version order: the longest read compatible with the first
	orderMop   int32   // a read of the whole order; -1 if none
	dupAt      int32   // first position of order holding an element seen before; -1
	writer     []int32 // the append mop at each position of order; -1: none
	unobserved []int32 // txns in the graph whose append no read observed
}

// garbage stands for a read element that is not an integer: nothing
// appended it.
const garbage = -1 << 63

type laState struct {
	core       *txnCore
	mops       []laMop
	txnOf      []int32
	keys       []laKey
	keyIDs     interner
	writers    []map[int64]int32 // per key: value -> the mop that appended it, in a txn that did not fail
	failed     map[wkey]int32    // (key, value) appended by a failed txn
	exceptions [][]int64
	scratch    [][]int64 // reads of the txn being parsed, in reads
	reads      []int64
}

func (s *laState) intern(k any) int32 {
	ki := s.keyIDs.id(k)
	if int(ki) == len(s.keys) {
		s.keys = append(s.keys, laKey{name: s.keyIDs.names[ki], orderMop: -1, dupAt: -1})
		s.writers = append(s.writers, nil)
	}
	return ki
}

// microOps calls f with each micro-op [f k v] of a txn value, f without
// a leading colon, and stops at f's first error.
func microOps(value any, f func(fn string, mv []any) error) error {
	list, ok := history.List(value)
	if !ok {
		return fmt.Errorf("value %s is not a list of micro-ops", showValue(value))
	}
	for _, m := range list {
		mv, ok := history.List(m)
		if !ok || len(mv) != 3 {
			return fmt.Errorf("micro-op %s is not [f k v]", showValue(m))
		}
		fn, _ := mv[0].(string)
		if err := f(strings.TrimPrefix(fn, ":"), mv); err != nil {
			return err
		}
	}
	return nil
}

func (s *laState) parse(c *txnCore, ti int32, value any, typ history.Type) (int32, int32, error) {
	m0 := int32(len(s.mops))
	s.scratch, s.reads = s.scratch[:0], s.reads[:0]
	err := microOps(value, func(fn string, mv []any) error {
		mop := laMop{key: s.intern(mv[1]), n: -1, exc: -1}
		var read []int64
		switch fn {
		case "append":
			v, err := history.IntOf(mv[2])
			if err != nil {
				return fmt.Errorf("appended value %w (list-append takes 64-bit integers)", err)
			}
			mop.append, mop.val = true, v
			wk := wkey{mop.key, v}
			if typ == history.Fail {
				s.failed[wk] = ti
				break
			}
			ws := s.writers[mop.key]
			if ws == nil {
				ws = map[int64]int32{}
				s.writers[mop.key] = ws
			}
			n := len(ws)
			if ws[v] = int32(len(s.mops)); len(ws) == n {
				return fmt.Errorf("%d is appended to key %s twice: list-append needs unique appends", v, s.keys[mop.key].name)
			}
		case "r":
			if typ != history.OK {
				break
			}
			l, ok := history.List(mv[2])
			if !ok && mv[2] != nil {
				return fmt.Errorf("read value %s is not a list", showValue(mv[2]))
			}
			// The reads of one txn share a buffer, reused by the next.
			at := len(s.reads)
			for _, x := range l {
				if v, ok := history.Int(x); ok && v != garbage {
					s.reads = append(s.reads, v)
				} else {
					s.reads = append(s.reads, garbage)
				}
			}
			read = s.reads[at:len(s.reads):len(s.reads)]
			s.order(&mop, int32(len(s.mops)), read)
		default:
			return fmt.Errorf("unknown micro-op %q (want r or append)", fn)
		}
		s.scratch = append(s.scratch, read)
		s.mops = grow(s.mops, mop)
		s.txnOf = grow(s.txnOf, ti)
		return nil
	})
	return m0, int32(len(s.mops)), err
}

// order places a committed read against its key's order: a prefix of it
// (the order may grow to the read) keeps only its length; any other read
// is an exception, incompatible with the order.
func (s *laState) order(mop *laMop, mi int32, read []int64) {
	k := &s.keys[mop.key]
	o := k.order
	if len(read) <= len(o) {
		if slices.Equal(read, o[:len(read)]) {
			mop.n = int32(len(read))
			if len(read) == len(o) && k.orderMop < 0 {
				k.orderMop = mi
			}
			return
		}
	} else if slices.Equal(o, read[:len(o)]) {
		k.order = append(k.order, read[len(o):]...)
		k.orderMop = mi
		mop.n = int32(len(read))
		return
	}
	mop.exc = int32(len(s.exceptions))
	s.exceptions = append(s.exceptions, slices.Clone(read))
}

// elems returns what mop mi read.
func (s *laState) elems(mi int32) []int64 {
	m := &s.mops[mi]
	if m.exc >= 0 {
		return s.exceptions[m.exc]
	}
	if m.n < 0 {
		return nil
	}
	return s.keys[m.key].order[:m.n]
}

// own checks a committed txn against its own micro-ops: a read must show
// the txn's earlier read of the key followed by its own appends since
// (internal), and must not show an element the txn appends later
// (future-read).
func (s *laState) own(c *txnCore, ti int32) {
	m0, m1 := c.txns[ti].mop0, c.txns[ti].mop1
	if m1-m0 < 2 {
		return
	}
	type kstate struct {
		key      int32
		known    bool
		prior    []int64
		appended []int64
	}
	st := make([]kstate, 0, m1-m0)
	for mi := m0; mi < m1; mi++ {
		m := &s.mops[mi]
		var k *kstate
		for i := range st {
			if st[i].key == m.key {
				k = &st[i]
			}
		}
		if k == nil {
			st = append(st, kstate{key: m.key})
			k = &st[len(st)-1]
		}
		if m.append {
			k.appended = append(k.appended, m.val)
			continue
		}
		read := s.scratch[mi-m0]
		for mj := mi + 1; mj < m1; mj++ {
			if n := s.mops[mj]; n.append && n.key == m.key && slices.Contains(read, n.val) {
				if c.anomaly("future-read") {
					key := s.keys[m.key].name
					c.keep("future-read", Anomaly{Key: key,
						Explanation: fmt.Sprintf("%s %s read %s = %s, which holds %d, an element the same transaction appends later",
							c.label(ti), s.txnText(ti), key, listText(read), n.val),
						Summary: fmt.Sprintf("key %s: #%d read %d%s before appending it itself", key, c.idx(ti), n.val,
							c.clock.at(c.txns[ti].time))}, ti)
				}
				break
			}
		}
		var want []int64
		ok := true
		if k.known {
			want = append(slices.Clone(k.prior), k.appended...)
			ok = slices.Equal(read, want)
		} else if len(k.appended) > 0 {
			ok = len(read) >= len(k.appended) && slices.Equal(read[len(read)-len(k.appended):], k.appended)
		}
		if !ok && c.anomaly("internal") {
			key := s.keys[m.key].name
			expect := fmt.Sprintf("a list ending with its own appends %s", listText(k.appended))
			if k.known {
				expect = listText(want)
			}
			c.keep("internal", Anomaly{Key: key,
				Explanation: fmt.Sprintf("%s %s read %s = %s, but its own earlier micro-ops imply %s",
					c.label(ti), s.txnText(ti), key, listText(read), expect),
				Summary: fmt.Sprintf("key %s: #%d read %s%s, though its own earlier micro-ops imply %s", key, c.idx(ti),
					listText(read), c.clock.at(c.txns[ti].time), expect)}, ti)
		}
		k.known, k.prior, k.appended = true, read, nil
	}
}

// listText renders a list read compactly, eliding the middle of a long one.
func listText(r []int64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, x := range r {
		if len(r) > 12 && i == 3 {
			fmt.Fprintf(&b, " ... (%d more)", len(r)-8)
		}
		if len(r) > 12 && i >= 3 && i < len(r)-5 {
			continue
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		if x == garbage {
			b.WriteString("?")
		} else {
			fmt.Fprint(&b, x)
		}
	}
	b.WriteByte(']')
	return b.String()
}

func (s *laState) mopText(mi int32) string {
	m := s.mops[mi]
	if m.append {
		return fmt.Sprintf("append %s %d", s.keys[m.key].name, m.val)
	}
	if m.n < 0 && m.exc < 0 {
		return fmt.Sprintf("r %s ?", s.keys[m.key].name)
	}
	return fmt.Sprintf("r %s %s", s.keys[m.key].name, listText(s.elems(mi)))
}

func (s *laState) txnText(ti int32) string {
	t := s.core.txns[ti]
	var parts []string
	for mi := t.mop0; mi < t.mop1; mi++ {
		parts = append(parts, "["+s.mopText(mi)+"]")
	}
	return strings.Join(parts, " ")
}

// writerAt returns the txn whose append is at position i of key ki's
// order, or -1.
func (s *laState) writerAt(ki int32, i int) int32 {
	if w := s.keys[ki].writer[i]; w >= 0 {
		return s.txnOf[w]
	}
	return -1
}

// writer returns the txn that appended v to key ki, if one did and did
// not fail.
func (s *laState) writer(ki int32, v int64) (int32, bool) {
	mi, ok := s.writers[ki][v]
	if !ok {
		return -1, false
	}
	return s.txnOf[mi], true
}

// infer places every observed append in its key's order and derives the
// anomalies and data dependencies.
func (s *laState) infer(c *txnCore) {
	for mi := range s.mops {
		if m := &s.mops[mi]; m.append {
			m.n = -1
		}
	}
	for ki := range s.keys {
		k := &s.keys[ki]
		k.writer = make([]int32, len(k.order))
		for i, v := range k.order {
			k.writer[i] = -1
			mi, ok := s.writers[ki][v]
			if !ok {
				continue
			}
			if m := &s.mops[mi]; m.n >= 0 {
				if k.dupAt < 0 {
					k.dupAt = int32(i)
				}
			} else {
				m.n = int32(i)
				k.writer[i] = mi
				c.txns[s.txnOf[mi]].inGraph = true // observed: it happened
			}
		}
	}
	for mi := range s.mops {
		m := &s.mops[mi]
		if m.exc < 0 {
			continue
		}
		for _, v := range s.exceptions[m.exc] {
			if w, ok := s.writer(m.key, v); ok {
				c.txns[w].inGraph = true
			}
		}
	}
	// Committed appends nobody observed come after every observed one.
	for mi := range s.mops {
		m := &s.mops[mi]
		if t := s.txnOf[mi]; m.append && m.n < 0 && c.txns[t].inGraph && c.txns[t].typ != history.Fail {
			s.keys[m.key].unobserved = append(s.keys[m.key].unobserved, t)
		}
	}
	s.elementAnomalies(c)
	s.readEdges(c)
	s.writeEdges(c)
}

// elementAnomalies reports elements read that no committed or info txn
// appended (G1a when a failed one did, else garbage-read), dirty updates
// and incompatible orders.
func (s *laState) elementAnomalies(c *txnCore) {
	check := func(ki int32, elems []int64, reader int32, known []int32) {
		k := &s.keys[ki]
		for i, v := range elems {
			wk := wkey{ki, v}
			if known != nil && known[i] >= 0 {
				continue
			}
			if _, ok := s.writers[ki][v]; ok {
				continue
			}
			rt := s.txnOf[reader]
			if ft, failed := s.failed[wk]; failed {
				if c.anomaly("G1a") {
					c.keep("G1a", Anomaly{Key: k.name,
						Explanation: fmt.Sprintf("%s read %s = %s, observing %d, which only %s %s appended, a transaction that failed (aborted read)",
							c.label(rt), k.name, listText(elems), v, c.label(ft), s.txnText(ft)),
						Summary: fmt.Sprintf("key %s: #%d read %d%s, appended only by #%d, which failed", k.name, c.idx(rt), v,
							c.clock.at(c.txns[rt].time), c.idx(ft))}, rt, ft)
				}
				continue
			}
			if c.anomaly("garbage-read") {
				what := fmt.Sprint(v)
				if v == garbage {
					what = "an element that is not an integer"
				}
				c.keep("garbage-read", Anomaly{Key: k.name,
					Explanation: fmt.Sprintf("%s read %s = %s, observing %s, which no transaction ever appended to %s",
						c.label(rt), k.name, listText(elems), what, k.name),
					Summary: fmt.Sprintf("key %s: #%d read %s%s, which nothing appended", k.name, c.idx(rt), what,
						c.clock.at(c.txns[rt].time))}, rt)
			}
		}
	}
	for ki := range s.keys {
		k := &s.keys[ki]
		if k.orderMop >= 0 {
			check(int32(ki), k.order, k.orderMop, k.writer)
			s.dirtyUpdates(c, int32(ki))
		}
	}
	for mi := range s.mops {
		m := &s.mops[mi]
		if m.exc < 0 {
			continue
		}
		e := s.exceptions[m.exc]
		check(m.key, e, int32(mi), nil)
		k := &s.keys[m.key]
		if c.anomaly("incompatible-order") {
			a, b := s.txnOf[k.orderMop], s.txnOf[mi]
			c.keep("incompatible-order", Anomaly{Key: k.name,
				Explanation: fmt.Sprintf("%s read %s = %s and %s read %s = %s: neither is a prefix of the other, so no single order of appends explains both",
					c.label(a), k.name, listText(k.order), c.label(b), k.name, listText(e)),
				Summary: fmt.Sprintf("key %s: #%d read %s and #%d read %s%s; no order of appends gives both", k.name,
					c.idx(a), listText(k.order), c.idx(b), listText(e), c.clock.at(c.txns[b].time))}, a, b)
		}
	}
}

// dirtyUpdates walks key ki's order as Elle does: an append by a failed
// txn followed by one by a committed txn promoted aborted state.
func (s *laState) dirtyUpdates(c *txnCore, ki int32) {
	k := &s.keys[ki]
	prev, prevAt := history.OK, -1 // the initial state is committed
	for i, v := range k.order {
		typ := history.Type(0)
		if w := k.writer[i]; w >= 0 {
			typ = c.txns[s.txnOf[w]].typ
		} else if w, ok := s.writer(ki, v); ok {
			typ = c.txns[w].typ
		} else if _, ok := s.failed[wkey{ki, v}]; ok {
			typ = history.Fail
		} else {
			continue // garbage: reported elsewhere
		}
		switch {
		case prev == history.Fail && typ == history.OK:
			if c.anomaly("dirty-update") {
				ft, _ := s.failed[wkey{ki, k.order[prevAt]}]
				ot, _ := s.writer(ki, v)
				c.keep("dirty-update", Anomaly{Key: k.name,
					Explanation: fmt.Sprintf("key %s's version order %s has %d, appended by %s, which failed, before %d, appended by %s, which committed: a committed write built on aborted state",
						k.name, listText(k.order), k.order[prevAt], c.label(ft), v, c.label(ot)),
					Summary: fmt.Sprintf("key %s: committed #%d appended %d after %d of failed #%d", k.name, c.idx(ot), v,
						k.order[prevAt], c.idx(ft))}, ft, ot)
			}
			prev, prevAt = typ, i
		case typ == history.Info:
		default:
			prev, prevAt = typ, i
		}
	}
}

// readEdges adds wr and rw edges and reports duplicate elements and
// intermediate reads.
func (s *laState) readEdges(c *txnCore) {
	for mi := range s.mops {
		m := &s.mops[mi]
		if m.append || (m.n < 0 && m.exc < 0) {
			continue
		}
		ti := s.txnOf[mi]
		k := &s.keys[m.key]
		read := s.elems(int32(mi))
		s.duplicates(c, int32(mi), read)
		if len(read) > 0 {
			last := read[len(read)-1]
			wm, ok := int32(-1), false
			if m.exc < 0 {
				wm = k.writer[m.n-1]
				ok = wm >= 0
			}
			if !ok {
				wm, ok = s.writers[m.key][last]
			}
			if ok && s.txnOf[wm] != ti {
				if w := s.txnOf[wm]; c.txns[w].inGraph {
					c.edges.add(w, ti, edgeWR)
				}
				s.intermediate(c, int32(mi), wm, read)
			}
		}
		if m.exc >= 0 {
			continue // no place in the order: no rw edge
		}
		if int(m.n) < len(k.order) {
			// It did not see the next version: it precedes its writer.
			for i := int(m.n); i < len(k.order); i++ {
				if w := s.writerAt(m.key, i); w >= 0 {
					c.edges.add(ti, w, edgeRW)
					break
				}
			}
			continue
		}
		for _, u := range k.unobserved {
			c.edges.add(ti, u, edgeRW)
		}
	}
}

// duplicates reports a read that holds an element twice.
func (s *laState) duplicates(c *txnCore, mi int32, read []int64) {
	m := &s.mops[mi]
	k := &s.keys[m.key]
	if m.exc < 0 && (k.dupAt < 0 || m.n <= k.dupAt) {
		return
	}
	seen := make(map[int64]bool, len(read))
	var dups []int64
	for _, v := range read {
		if seen[v] && !slices.Contains(dups, v) {
			dups = append(dups, v)
		}
		seen[v] = true
	}
	if len(dups) == 0 || !c.anomaly("duplicate-elements") {
		return
	}
	ti := s.txnOf[mi]
	c.keep("duplicate-elements", Anomaly{Key: k.name,
		Explanation: fmt.Sprintf("%s read %s = %s, which holds %v more than once, though each was appended once",
			c.label(ti), k.name, listText(read), dups),
		Summary: fmt.Sprintf("key %s: #%d read %v twice%s, though each was appended once", k.name, c.idx(ti), dups,
			c.clock.at(c.txns[ti].time))}, ti)
}

// intermediate reports a read ending in an append its writer followed
// with another append to the same key (G1b).
func (s *laState) intermediate(c *txnCore, mi int32, wm int32, read []int64) {
	w := s.txnOf[wm]
	wt := c.txns[w]
	m := &s.mops[mi]
	for mj := wm + 1; mj < wt.mop1; mj++ {
		n := s.mops[mj]
		if !n.append || n.key != m.key {
			continue
		}
		if c.anomaly("G1b") {
			ti, k := s.txnOf[mi], s.keys[m.key].name
			v := read[len(read)-1]
			c.keep("G1b", Anomaly{Key: k,
				Explanation: fmt.Sprintf("%s read %s = %s, ending in %d, an intermediate state of %s %s, which appended %d after it in the same transaction (intermediate read)",
					c.label(ti), k, listText(read), v, c.label(w), s.txnText(w), n.val),
				Summary: fmt.Sprintf("key %s: #%d read up to %d%s, but #%d appended %d right after it in the same txn", k,
					c.idx(ti), v, c.clock.at(c.txns[ti].time), c.idx(w), n.val)}, ti, w)
		}
		return
	}
}

// writeEdges adds ww edges: along each key's order, then from its last
// observed append to the appends nobody observed.
func (s *laState) writeEdges(c *txnCore) {
	for ki := range s.keys {
		k := &s.keys[ki]
		prev := int32(-1)
		for i := range k.order {
			w := s.writerAt(int32(ki), i)
			if w < 0 {
				continue
			}
			if prev >= 0 {
				c.edges.add(prev, w, edgeWW)
			}
			prev = w
		}
		if prev >= 0 {
			for _, u := range k.unobserved {
				c.edges.add(prev, u, edgeWW)
			}
		}
	}
}

// explain justifies a data edge from the reads and appends.
func (s *laState) explain(e step, name, short func(int32) string) (why, sh, key string) {
	c := s.core
	a, b := c.txns[e.from], c.txns[e.to]
	switch e.kind {
	case edgeWW:
		for mi := a.mop0; mi < a.mop1; mi++ {
			m := s.mops[mi]
			if !m.append {
				continue
			}
			k := &s.keys[m.key]
			if m.n >= 0 {
				for i := int(m.n) + 1; i < len(k.order); i++ {
					if nw := s.writerAt(m.key, i); nw >= 0 {
						if nw == e.to {
							return fmt.Sprintf("%s appended %d to %s and %s appended %d right after it (ww, version order of %s: %s)",
									name(e.from), m.val, k.name, name(e.to), k.order[i], k.name, listText(k.order)),
								fmt.Sprintf("%s appended %d to %s after %s's %d", short(e.to), k.order[i], k.name, short(e.from), m.val), k.name
						}
						break
					}
				}
			}
			for mj := b.mop0; mj < b.mop1; mj++ {
				n := s.mops[mj]
				if n.append && n.key == m.key && n.n < 0 {
					return fmt.Sprintf("%s appended %d to %s, the last element any read of %s saw, and %s appended %d, which no read saw, so after it (ww)",
							name(e.from), m.val, k.name, k.name, name(e.to), n.val),
						fmt.Sprintf("%s appended %d to %s after %s's %d", short(e.to), n.val, k.name, short(e.from), m.val), k.name
				}
			}
		}
	case edgeWR:
		for mj := b.mop0; mj < b.mop1; mj++ {
			n := s.mops[mj]
			read := s.elems(mj)
			if n.append || len(read) == 0 {
				continue
			}
			v := read[len(read)-1]
			if w, ok := s.writer(n.key, v); ok && w == e.from {
				k := s.keys[n.key].name
				return fmt.Sprintf("%s read %s = %s, which ends with %d, appended by %s (wr)", name(e.to), k, listText(read), v, name(e.from)),
					fmt.Sprintf("%s read %s's append of %d to %s", short(e.to), short(e.from), v, k), k
			}
		}
	case edgeRW:
		for mi := a.mop0; mi < a.mop1; mi++ {
			m := s.mops[mi]
			if m.append || m.n < 0 || m.exc >= 0 {
				continue
			}
			k := &s.keys[m.key]
			read := s.elems(mi)
			if int(m.n) < len(k.order) {
				for i := int(m.n); i < len(k.order); i++ {
					if w := s.writerAt(m.key, i); w >= 0 {
						if w == e.to {
							return fmt.Sprintf("%s read %s = %s, without %d, which %s appended next (rw)", name(e.from), k.name, listText(read), k.order[i], name(e.to)),
								fmt.Sprintf("%s read %s without %s's append of %d", short(e.from), k.name, short(e.to), k.order[i]), k.name
						}
						break
					}
				}
				continue
			}
			for mj := b.mop0; mj < b.mop1; mj++ {
				n := s.mops[mj]
				if n.append && n.key == m.key && n.n < 0 {
					return fmt.Sprintf("%s read %s = %s, without %d, which %s appended (committed, never read) (rw)", name(e.from), k.name, listText(read), n.val, name(e.to)),
						fmt.Sprintf("%s read %s without %s's append of %d", short(e.from), k.name, short(e.to), n.val), k.name
				}
			}
		}
	}
	return "", "", ""
}
