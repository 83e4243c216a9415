package checker

import (
	"slices"
	"sort"
)

// The dependency graph of transactions and the graph algorithms the
// transactional checkers share: strongly connected components (Tarjan)
// and the search for a shortest cycle of a given shape (breadth-first, over
// the graph crossed with a little state).

// Edge kinds of a dependency graph, as bits so that the several kinds of
// the edges between two transactions fit in one byte.
const (
	edgeWW uint8 = 1 << iota
	edgeWR
	edgeRW
	edgeProcess
	edgeRealtime

	dataEdges  = edgeWW | edgeWR | edgeRW
	orderEdges = edgeProcess | edgeRealtime
	allEdges   = dataEdges | orderEdges
)

// edgeName is Elle's name for one edge kind.
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

// edgeList collects edges before they are frozen into a graph, in
// chunks: a list of tens of millions of edges is never copied to grow.
type edgeList struct {
	chunks [][]edge
	n      int
}

type edge struct {
	from, to int32
	kind     uint8
}

const edgeChunk = 1 << 16

func (l *edgeList) add(a, b int32, k uint8) {
	if a == b {
		return
	}
	if l.n%edgeChunk == 0 {
		l.chunks = append(l.chunks, make([]edge, 0, edgeChunk))
	}
	c := &l.chunks[len(l.chunks)-1]
	*c = append(*c, edge{a, b, k})
	l.n++
}

// each calls f for every edge, in the order added.
func (l *edgeList) each(f func(e edge)) {
	for _, c := range l.chunks {
		for _, e := range c {
			f(e)
		}
	}
}

// graph is a directed multigraph over vertices 0..n-1 in compressed sparse
// row form: the edges out of v are to[off[v]:off[v+1]], of kinds kind[...].
type graph struct {
	off  []int32
	to   []int32
	kind []uint8
}

// build freezes l into a graph over n vertices, keeping only edges of a
// kind in mask between vertices keep allows (nil: all), and empties l.
func (l *edgeList) build(n int, mask uint8, keep func(int32) bool) *graph {
	g := &graph{off: make([]int32, n+1)}
	ok := func(e edge) bool {
		return e.kind&mask != 0 && (keep == nil || (keep(e.from) && keep(e.to)))
	}
	m := 0
	l.each(func(e edge) {
		if ok(e) {
			g.off[e.from+1]++
			m++
		}
	})
	for i := 1; i <= n; i++ {
		g.off[i] += g.off[i-1]
	}
	fill := make([]int32, n)
	copy(fill, g.off[:n])
	g.to = make([]int32, m)
	g.kind = make([]uint8, m)
	l.each(func(e edge) {
		if !ok(e) {
			return
		}
		p := fill[e.from]
		fill[e.from]++
		g.to[p] = e.to
		g.kind[p] = e.kind
	})
	*l = edgeList{}
	g.merge()
	return g
}

// merge makes the edges a->b one edge of all their kinds, so that a search
// sees every way to take it at once.
func (g *graph) merge() {
	w := int32(0)
	for v := 0; v < g.n(); v++ {
		lo, hi := g.off[v], g.off[v+1]
		g.off[v] = w
		adj := adjacency{g.to[lo:hi], g.kind[lo:hi]}
		sort.Sort(adj)
		for i := lo; i < hi; i++ {
			if w > g.off[v] && g.to[w-1] == g.to[i] {
				g.kind[w-1] |= g.kind[i]
				continue
			}
			g.to[w], g.kind[w] = g.to[i], g.kind[i]
			w++
		}
	}
	g.off[g.n()] = w
	g.to, g.kind = g.to[:w:w], g.kind[:w:w]
}

// adjacency sorts one vertex's edges by target.
type adjacency struct {
	to   []int32
	kind []uint8
}

func (a adjacency) Len() int           { return len(a.to) }
func (a adjacency) Less(i, j int) bool { return a.to[i] < a.to[j] }
func (a adjacency) Swap(i, j int) {
	a.to[i], a.to[j] = a.to[j], a.to[i]
	a.kind[i], a.kind[j] = a.kind[j], a.kind[i]
}

func (g *graph) n() int { return len(g.off) - 1 }

// kinds returns the kinds of the edge a->b (0: none).
func (g *graph) kinds(a, b int32) uint8 {
	adj := g.to[g.off[a]:g.off[a+1]]
	if i, ok := slices.BinarySearch(adj, b); ok {
		return g.kind[g.off[a]+int32(i)]
	}
	return 0
}

// sccs computes the strongly connected components of the subgraph of
// edges with a kind in mask. comp[v] is v's component, or -1 when v is
// alone in its component; comps lists the components of two or more
// vertices.
func (g *graph) sccs(mask uint8) (comp []int32, comps [][]int32) {
	n := g.n()
	index := make([]int32, n)
	low := make([]int32, n)
	onStack := make([]bool, n)
	comp = make([]int32, n)
	for i := range index {
		index[i] = -1
		comp[i] = -1
	}
	var stack []int32
	type frame struct{ v, e int32 }
	var call []frame
	next := int32(0)
	for root := int32(0); root < int32(n); root++ {
		if index[root] >= 0 {
			continue
		}
		call = append(call[:0], frame{root, g.off[root]})
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			v := f.v
			if f.e < g.off[v+1] {
				e := f.e
				f.e++
				if g.kind[e]&mask == 0 {
					continue
				}
				w := g.to[e]
				if index[w] < 0 {
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					call = append(call, frame{w, g.off[w]})
				} else if onStack[w] && index[w] < low[v] {
					low[v] = index[w]
				}
				continue
			}
			call = call[:len(call)-1]
			if len(call) > 0 {
				if u := call[len(call)-1].v; low[v] < low[u] {
					low[u] = low[v]
				}
			}
			if low[v] != index[v] {
				continue
			}
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
				for _, w := range c {
					comp[w] = int32(len(comps))
				}
				comps = append(comps, c)
			}
		}
	}
	return comp, comps
}

// cycleShape says which cycles a search looks for: the first edge has a
// kind in start, the others kinds in allowed; at least one edge (the first
// included) has a kind in need, when need is set; no two consecutive edges
// (the last and the first included) have kinds in apart, when apart is
// set.
type cycleShape struct {
	start, allowed, need, apart uint8
}

// step is one edge of a found cycle, taken as one kind.
type step struct {
	from, to int32
	kind     uint8
}

// labelOrder is the order in which an edge of several kinds is taken as
// one: the weakest dependency first, so that cycles are named as leniently
// as the evidence allows.
var labelOrder = [...]uint8{edgeWW, edgeWR, edgeProcess, edgeRealtime, edgeRW}

// pick returns the first kind of kinds in labelOrder, or 0.
func pick(kinds uint8) uint8 {
	for _, k := range labelOrder {
		if kinds&k != 0 {
			return k
		}
	}
	return 0
}

// cycleSearch finds shortest cycles of a shape by breadth-first search
// over states (vertex, a need edge taken, last edge in apart). Its buffers
// are reused across searches.
type cycleSearch struct {
	g     *graph
	stamp []uint32
	prev  []int32
	label []uint8
	cur   uint32
	queue []int32
}

func newCycleSearch(g *graph) *cycleSearch {
	n := 4 * g.n()
	return &cycleSearch{g: g, stamp: make([]uint32, n), prev: make([]int32, n), label: make([]uint8, n)}
}

// find returns the shortest cycle of the given shape that starts with an
// edge a->b and stays within component ci of comp, or nil.
func (q *cycleSearch) find(a, b int32, sh cycleShape, comp []int32, ci int32) []step {
	g := q.g
	first := pick(g.kinds(a, b) & sh.start)
	if first == 0 {
		return nil
	}
	q.cur++
	if q.cur == 0 {
		clear(q.stamp)
		q.cur = 1
	}
	state := func(v int32, need, apart bool) int32 {
		s := v * 4
		if need {
			s |= 2
		}
		if apart {
			s |= 1
		}
		return s
	}
	firstApart := sh.apart&first != 0
	s0 := state(b, sh.need&first != 0 || sh.need == 0, firstApart)
	q.stamp[s0], q.prev[s0], q.label[s0] = q.cur, -1, first
	q.queue = append(q.queue[:0], s0)
	found := int32(-1)
	for h := 0; h < len(q.queue) && found < 0; h++ {
		x := q.queue[h]
		v, need, lastApart := x/4, x&2 != 0, x&1 != 0
		for e := g.off[v]; e < g.off[v+1] && found < 0; e++ {
			w := g.to[e]
			if comp[w] != ci {
				continue
			}
			kinds := g.kind[e] & sh.allowed
			if kinds == 0 {
				continue
			}
			// Try each distinct way to take the edge: as a need kind or
			// not, as an apart kind or not.
			for _, k := range [4]uint8{
				pick(kinds & sh.need &^ sh.apart), pick(kinds &^ sh.need &^ sh.apart),
				pick(kinds & sh.need & sh.apart), pick(kinds &^ sh.need & sh.apart),
			} {
				if k == 0 {
					continue
				}
				isApart := sh.apart&k != 0
				if isApart && lastApart {
					continue
				}
				y := state(w, need || sh.need&k != 0, isApart)
				if q.stamp[y] == q.cur {
					continue
				}
				if w == a { // back at the start: done, or a dead end
					if y&2 != 0 && !(isApart && firstApart) {
						q.stamp[y], q.prev[y], q.label[y] = q.cur, x, k
						found = y
						break
					}
					continue
				}
				q.stamp[y], q.prev[y], q.label[y] = q.cur, x, k
				q.queue = append(q.queue, y)
			}
		}
	}
	if found < 0 {
		return nil
	}
	var rev []step
	for y := found; q.prev[y] >= 0; y = q.prev[y] {
		rev = append(rev, step{from: q.prev[y] / 4, to: y / 4, kind: q.label[y]})
	}
	out := make([]step, 0, len(rev)+1)
	out = append(out, step{from: a, to: b, kind: first})
	for i := len(rev) - 1; i >= 0; i-- {
		out = append(out, rev[i])
	}
	return out
}

// simpleCycles splits a closed walk (a cycle that may pass a vertex more
// than once) into simple cycles.
func simpleCycles(walk []step) [][]step {
	var out [][]step
	var stack []step
	at := map[int32]int{} // vertex -> its step's place on the stack
	for _, st := range walk {
		if i, seen := at[st.from]; seen {
			out = append(out, append([]step(nil), stack[i:]...))
			for _, x := range stack[i:] {
				delete(at, x.from)
			}
			stack = stack[:i]
		}
		at[st.from] = len(stack)
		stack = append(stack, st)
	}
	return append(out, stack)
}

// classify names a cycle as Elle does: by its rw edges G-single (one),
// G2-item (several, two of them adjacent) or G-nonadjacent (several, none
// adjacent); without rw edges G1c (some wr) or G0; with -realtime when it
// takes a realtime edge, else -process when it takes a process edge.
func classify(c []step) string {
	var rw, wr, rt, proc int
	adjacent := false
	for i, e := range c {
		switch e.kind {
		case edgeRW:
			rw++
			if c[(i+1)%len(c)].kind == edgeRW {
				adjacent = true
			}
		case edgeWR:
			wr++
		case edgeRealtime:
			rt++
		case edgeProcess:
			proc++
		}
	}
	var name string
	switch {
	case rw == 1:
		name = "G-single"
	case rw > 1 && adjacent:
		name = "G2-item"
	case rw > 1:
		name = "G-nonadjacent"
	case wr > 0:
		name = "G1c"
	default:
		name = "G0"
	}
	switch {
	case rt > 0:
		return name + "-realtime"
	case proc > 0:
		return name + "-process"
	}
	return name
}
