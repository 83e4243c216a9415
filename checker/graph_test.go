package checker

import (
	"fmt"
	"slices"
	"testing"
)

// graphOf builds a graph from "a>b:kind" edges over n vertices.
func graphOf(n int, edges ...[3]int) *graph {
	var l edgeList
	for _, e := range edges {
		l.add(int32(e[0]), int32(e[1]), uint8(e[2]))
	}
	return l.build(n, allEdges, nil)
}

func TestSCCs(t *testing.T) {
	ww, wr, rw, rt := int(edgeWW), int(edgeWR), int(edgeRW), int(edgeRealtime)
	// 0 <-> 1 by data edges; 2 -> 3 -> 4 -> 2 only through a realtime
	// edge; 5 alone.
	g := graphOf(6, [3]int{0, 1, ww}, [3]int{1, 0, wr}, [3]int{2, 3, rw}, [3]int{3, 4, ww}, [3]int{4, 2, rt}, [3]int{4, 5, ww})
	comp, comps := g.sccs(allEdges)
	if len(comps) != 2 || comp[0] != comp[1] || comp[2] != comp[3] || comp[3] != comp[4] || comp[5] != -1 {
		t.Fatalf("all edges: comp %v comps %v", comp, comps)
	}
	comp, comps = g.sccs(dataEdges)
	if len(comps) != 1 || comp[0] != comp[1] || comp[2] != -1 {
		t.Fatalf("data edges only: comp %v comps %v", comp, comps)
	}
	// A long chain closed into one cycle: no recursion depth limit.
	var es [][3]int
	const n = 200000
	for i := range n {
		es = append(es, [3]int{i, (i + 1) % n, ww})
	}
	if _, comps := graphOf(n, es...).sccs(allEdges); len(comps) != 1 || len(comps[0]) != n {
		t.Fatalf("ring of %d: %d components", n, len(comps))
	}
}

func TestFindCycle(t *testing.T) {
	ww, wr, rw, rt := int(edgeWW), int(edgeWR), int(edgeRW), int(edgeRealtime)
	single := cycleShape{start: edgeRW, allowed: edgeWW | edgeWR}
	cases := []struct {
		name  string
		n     int
		edges [][3]int
		shape cycleShape
		want  string // classify of the cycle found from edge 0->1, "" for none
	}{
		{"one rw", 3, [][3]int{{0, 1, rw}, {1, 2, wr}, {2, 0, ww}}, single, "G-single"},
		{"two rw are not G-single", 2, [][3]int{{0, 1, rw}, {1, 0, rw}}, single, ""},
		{"two adjacent rw", 2, [][3]int{{0, 1, rw}, {1, 0, rw}}, cycleShape{start: edgeRW, allowed: dataEdges}, "G2-item"},
		{"adjacent rw are not nonadjacent", 2, [][3]int{{0, 1, rw}, {1, 0, rw}},
			cycleShape{start: edgeRW, allowed: dataEdges, apart: edgeRW}, ""},
		{"nonadjacent rw", 4, [][3]int{{0, 1, rw}, {1, 2, wr}, {2, 3, rw}, {3, 0, wr}},
			cycleShape{start: edgeRW, allowed: dataEdges, apart: edgeRW}, "G-nonadjacent"},
		{"realtime needed and found", 3, [][3]int{{0, 1, rw}, {1, 2, rt}, {2, 0, ww}},
			cycleShape{start: edgeRW, allowed: edgeWW | edgeWR | orderEdges, need: edgeRealtime}, "G-single-realtime"},
		{"realtime needed, none", 2, [][3]int{{0, 1, rw}, {1, 0, ww}},
			cycleShape{start: edgeRW, allowed: edgeWW | edgeWR | orderEdges, need: edgeRealtime}, ""},
		// Two edges 1->0: taken as ww (weakest) when allowed.
		{"weakest label", 2, [][3]int{{0, 1, ww}, {1, 0, rw}, {1, 0, ww}}, cycleShape{start: edgeWW, allowed: dataEdges}, "G0"},
		{"shortest of two", 4, [][3]int{{0, 1, ww}, {1, 2, ww}, {2, 3, ww}, {3, 0, ww}, {1, 0, wr}},
			cycleShape{start: edgeWW, allowed: edgeWW | edgeWR}, "G1c"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := graphOf(c.n, c.edges...)
			comp, _ := g.sccs(allEdges)
			got := newCycleSearch(g).find(0, 1, c.shape, comp, comp[0])
			if c.want == "" {
				if got != nil {
					t.Fatalf("found %v", got)
				}
				return
			}
			if got == nil {
				t.Fatal("no cycle found")
			}
			if cl := classify(got); cl != c.want {
				t.Fatalf("found %v, a %s", got, cl)
			}
			for i, s := range got {
				if next := got[(i+1)%len(got)]; s.to != next.from || g.kinds(s.from, s.to)&s.kind == 0 {
					t.Fatalf("step %d %+v is not an edge leading to %+v", i, s, next)
				}
			}
		})
	}
}

func TestSimpleCycles(t *testing.T) {
	// A figure eight through 0: 0->1->0 and 0->2->3->0.
	walk := []step{{0, 1, edgeWW}, {1, 0, edgeWR}, {0, 2, edgeRW}, {2, 3, edgeWW}, {3, 0, edgeRealtime}}
	got := simpleCycles(walk)
	if len(got) != 2 || fmt.Sprint(got[0]) != fmt.Sprint(walk[:2]) || fmt.Sprint(got[1]) != fmt.Sprint(walk[2:]) {
		t.Fatalf("%v", got)
	}
	if got := simpleCycles(walk[:2]); len(got) != 1 || len(got[0]) != 2 {
		t.Fatalf("simple cycle split: %v", got)
	}
}

func TestClassify(t *testing.T) {
	s := func(kinds ...uint8) []step {
		var out []step
		for i, k := range kinds {
			out = append(out, step{int32(i), int32((i + 1) % len(kinds)), k})
		}
		return out
	}
	for _, c := range []struct {
		cyc  []step
		want string
	}{
		{s(edgeWW, edgeWW), "G0"},
		{s(edgeWW, edgeWR), "G1c"},
		{s(edgeWR, edgeRW), "G-single"},
		{s(edgeRW, edgeRW), "G2-item"},
		{s(edgeRW, edgeWR, edgeRW, edgeWR), "G-nonadjacent"},
		{s(edgeRW, edgeWR, edgeWR, edgeRW), "G2-item"}, // adjacent across the wrap
		{s(edgeWW, edgeProcess), "G0-process"},
		{s(edgeRW, edgeProcess, edgeRealtime), "G-single-realtime"},
	} {
		if got := classify(c.cyc); got != c.want {
			t.Errorf("%v: %s, want %s", c.cyc, got, c.want)
		}
	}
	if !slices.Equal(labelOrder[:], []uint8{edgeWW, edgeWR, edgeProcess, edgeRealtime, edgeRW}) {
		t.Error("label order changed: cycles would be named differently")
	}
}
