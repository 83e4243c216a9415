package nemesis

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func nodeNames(n int) []string {
	var ns []string
	for i := 1; i <= n; i++ {
		ns = append(ns, fmt.Sprintf("n%d", i))
	}
	return ns
}

// components returns the connected groups of nodes under a symmetric grudge,
// checking along the way that g is symmetric.
func components(t *testing.T, g Grudge, nodes []string) [][]string {
	t.Helper()
	var out [][]string
	seen := map[string]bool{}
	for _, a := range nodes {
		for _, b := range nodes {
			if g.Sees(a, b) != g.Sees(b, a) {
				t.Fatalf("grudge not symmetric between %s and %s: %v", a, b, g)
			}
		}
		if seen[a] {
			continue
		}
		c := g.View(a, nodes)
		for _, b := range c {
			seen[b] = true
			if !reflect.DeepEqual(g.View(b, nodes), c) {
				t.Fatalf("%s and %s see each other but not the same view: %v", a, b, g)
			}
		}
		out = append(out, c)
	}
	return out
}

func sizes(cs [][]string) []int {
	var s []int
	for _, c := range cs {
		s = append(s, len(c))
	}
	slices.Sort(s)
	return s
}

// checkWellFormed: known node names only, no self-grudge, sorted lists.
func checkWellFormed(t *testing.T, g Grudge, nodes []string) {
	t.Helper()
	for n, l := range g {
		if !slices.Contains(nodes, n) {
			t.Fatalf("unknown node %q in %v", n, g)
		}
		if len(l) == 0 || !slices.IsSorted(l) || slices.Contains(l, n) {
			t.Fatalf("bad entry %s: %v in %v", n, l, g)
		}
		for _, o := range l {
			if !slices.Contains(nodes, o) {
				t.Fatalf("unknown node %q in %v", o, g)
			}
		}
	}
}

func TestGrudges(t *testing.T) {
	for n := 3; n <= 9; n++ {
		nodes := nodeNames(n)
		half := []int{n / 2, n - n/2}
		isolated := func(t *testing.T, g Grudge) string {
			cs := components(t, g, nodes)
			if got := sizes(cs); !reflect.DeepEqual(got, []int{1, n - 1}) {
				t.Fatalf("components %v, want one isolated node", cs)
			}
			for _, c := range cs {
				if len(c) == 1 {
					return c[0]
				}
			}
			return ""
		}
		for seed := uint64(0); seed < 25; seed++ {
			rng := func() *rand.Rand { return rand.New(rand.NewPCG(seed, 7)) }
			t.Run(fmt.Sprintf("n=%d/seed=%d", n, seed), func(t *testing.T) {
				for _, kind := range GrudgeKinds {
					g, err := NewGrudge(kind, rng(), nodes, "n2")
					if err != nil {
						t.Fatalf("%s: %v", kind, err)
					}
					checkWellFormed(t, g, nodes)
					again, _ := NewGrudge(kind, rng(), nodes, "n2")
					if !reflect.DeepEqual(g, again) {
						t.Fatalf("%s: not deterministic: %v vs %v", kind, g, again)
					}
				}

				g := Halves(nodes)
				cs := components(t, g, nodes)
				if !reflect.DeepEqual(sizes(cs), half) {
					t.Fatalf("halves %v: sizes %v, want %v", g, sizes(cs), half)
				}
				if !reflect.DeepEqual(cs[0], nodes[:n/2]) {
					t.Fatalf("halves: first component %v, want %v", cs[0], nodes[:n/2])
				}
				if got := sizes(components(t, RandomHalves(rng(), nodes), nodes)); !reflect.DeepEqual(got, half) {
					t.Fatalf("random-halves sizes %v, want %v", got, half)
				}

				isolated(t, One(rng(), nodes))
				if got := isolated(t, mustGrudge(t, GrudgeLeader, nodes, "n3")); got != "n3" {
					t.Fatalf("leader grudge isolates %s, want n3", got)
				}

				// majority-ring: every node sees exactly a majority, views distinct.
				g = MajorityRing(rng(), nodes)
				views := map[string]string{}
				for _, node := range nodes {
					v := g.View(node, nodes)
					if len(v) != Majority(n) || !slices.Contains(v, node) {
						t.Fatalf("majority-ring: %s sees %v, want a majority of %d", node, v, n)
					}
					key := strings.Join(v, ",")
					if other, dup := views[key]; dup {
						t.Fatalf("majority-ring: %s and %s share view %v: %v", node, other, v, g)
					}
					views[key] = node
				}

				// bridge: exactly one node sees everyone; the rest form two
				// sides that do not see each other but both see the bridge.
				g = Bridge(rng(), nodes)
				var bridges []string
				for _, node := range nodes {
					if len(g.View(node, nodes)) == n {
						bridges = append(bridges, node)
					}
				}
				if len(bridges) != 1 {
					t.Fatalf("bridge: nodes seeing both sides %v, want exactly one: %v", bridges, g)
				}
				b := bridges[0]
				rest := slices.DeleteFunc(slices.Clone(nodes), func(x string) bool { return x == b })
				sides := components(t, g, rest)
				wantSides := []int{n / 2, n - n/2 - 1}
				slices.Sort(wantSides)
				if len(sides) != 2 || !reflect.DeepEqual(sizes(sides), wantSides) {
					t.Fatalf("bridge: sides %v, want sizes %d and %d", sides, n/2, n-n/2-1)
				}
				for _, node := range rest {
					if !g.Sees(node, b) || !g.Sees(b, node) {
						t.Fatalf("bridge: %s and bridge %s are cut: %v", node, b, g)
					}
				}

				// one-way: one node drops everything inbound, nobody drops it.
				g, _ = NewGrudge(GrudgeOneWay, rng(), nodes, "")
				if len(g) != 1 {
					t.Fatalf("one-way: %d nodes drop packets, want 1: %v", len(g), g)
				}
				for deaf, l := range g {
					if len(l) != n-1 {
						t.Fatalf("one-way: %s drops %v, want all others", deaf, l)
					}
					for _, o := range nodes {
						if o != deaf && !g.Sees(o, deaf) {
							t.Fatalf("one-way: %s does not hear %s", o, deaf)
						}
					}
				}
			})
		}
	}
}

func mustGrudge(t *testing.T, kind string, nodes []string, leader string) Grudge {
	t.Helper()
	g, err := NewGrudge(kind, rand.New(rand.NewPCG(1, 2)), nodes, leader)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGrudgeErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		kind   string
		nodes  []string
		leader string
		want   string
	}{
		{"nope", nodeNames(3), "", "unknown grudge"},
		{GrudgeLeader, nodeNames(3), "n9", "not one of"},
		{GrudgeHalves, nodeNames(1), "", "at least 2"},
	} {
		if _, err := NewGrudge(tc.kind, rng, tc.nodes, tc.leader); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewGrudge(%q, %v, %q) = %v, want error containing %q", tc.kind, tc.nodes, tc.leader, err, tc.want)
		}
	}
}

func TestMajorityRingVariesWithSeed(t *testing.T) {
	nodes := nodeNames(5)
	seen := map[string]bool{}
	for seed := uint64(0); seed < 20; seed++ {
		seen[fmt.Sprint(MajorityRing(rand.New(rand.NewPCG(seed, 0)), nodes))] = true
	}
	if len(seen) < 2 {
		t.Fatalf("majority-ring gives the same grudge for every seed")
	}
}
