package nemesis

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// A Grudge says, for each node, the nodes whose packets it drops:
// g["n1"] = ["n3"] means n1 drops everything that comes from n3. Nodes that
// drop nothing may be absent or map to an empty list. A grudge is applied by
// running `netctl drop --from <their IPs>` in each node.
type Grudge map[string][]string

// Grudge kinds, the names used in Config and in start-partition values.
const (
	GrudgeHalves       = "halves"
	GrudgeRandomHalves = "random-halves"
	GrudgeOne          = "one"
	GrudgeMajorityRing = "majority-ring"
	GrudgeBridge       = "bridge"
	GrudgeLeader       = "leader"
	GrudgeOneWay       = "one-way"
)

// GrudgeKinds lists every grudge kind.
var GrudgeKinds = []string{GrudgeHalves, GrudgeRandomHalves, GrudgeOne,
	GrudgeMajorityRing, GrudgeBridge, GrudgeLeader, GrudgeOneWay}

// Majority returns the size of a majority of n nodes.
func Majority(n int) int { return n/2 + 1 }

// Complete returns the grudge that isolates the components from each other:
// every node drops packets from every node outside its own component.
// Nodes in no component are left alone.
func Complete(components ...[]string) Grudge {
	g := Grudge{}
	for i, c := range components {
		for _, n := range c {
			var drop []string
			for j, other := range components {
				if j != i {
					drop = append(drop, other...)
				}
			}
			g[n] = append(g[n], drop...)
		}
	}
	return g.normalize()
}

// Halves cuts nodes in two in their given order: the first floor(n/2)
// nodes (the minority) against the rest.
func Halves(nodes []string) Grudge {
	k := len(nodes) / 2
	return Complete(slices.Clone(nodes[:k]), slices.Clone(nodes[k:]))
}

// RandomHalves is Halves over a random permutation of nodes.
func RandomHalves(rng *rand.Rand, nodes []string) Grudge {
	return Halves(shuffled(rng, nodes))
}

// Isolate cuts node off from every other node, both ways.
func Isolate(node string, nodes []string) Grudge {
	rest := slices.DeleteFunc(slices.Clone(nodes), func(n string) bool { return n == node })
	return Complete([]string{node}, rest)
}

// One isolates one random node.
func One(rng *rand.Rand, nodes []string) Grudge {
	return Isolate(nodes[rng.IntN(len(nodes))], nodes)
}

// MajorityRing arranges the nodes in a random ring and lets each node see
// exactly the majority window of the ring around it (itself included), as
// Jepsen's majorities-ring: every node sees a majority, and as every window
// is a different set of consecutive ring positions no two nodes have the
// same view (for n >= 3). The grudge is not symmetric: a may drop b while b
// hears a.
func MajorityRing(rng *rand.Rand, nodes []string) Grudge {
	ring := shuffled(rng, nodes)
	n := len(ring)
	m := Majority(n)
	before := (m - 1) / 2 // window positions before the node; the rest after
	g := Grudge{}
	for i, node := range ring {
		sees := map[string]bool{}
		for k := 0; k < m; k++ {
			sees[ring[((i-before+k)%n+n)%n]] = true
		}
		for _, other := range ring {
			if !sees[other] {
				g[node] = append(g[node], other)
			}
		}
	}
	return g.normalize()
}

// Bridge cuts the nodes (in random order) into two halves that cannot talk
// to each other, except one node of the larger half, the bridge, which
// keeps full connectivity with both sides.
func Bridge(rng *rand.Rand, nodes []string) Grudge {
	ns := shuffled(rng, nodes)
	k := len(ns) / 2 // ns[k] is the bridge: in no component, dropped by none
	return Complete(slices.Clone(ns[:k]), slices.Clone(ns[k+1:]))
}

// OneWay makes node deaf but not mute: it drops every inbound packet from
// the other nodes, while they drop nothing from it, so it can send but not
// receive.
func OneWay(node string, nodes []string) Grudge {
	g := Grudge{}
	for _, n := range nodes {
		if n != node {
			g[node] = append(g[node], n)
		}
	}
	return g.normalize()
}

// NewGrudge builds a grudge of the given kind over nodes. rng draws random
// choices; leader is the node GrudgeLeader isolates (ignored otherwise).
// GrudgeOneWay makes a random node deaf.
func NewGrudge(kind string, rng *rand.Rand, nodes []string, leader string) (Grudge, error) {
	if len(nodes) < 2 {
		return nil, fmt.Errorf("nemesis: grudge %q needs at least 2 nodes, have %d", kind, len(nodes))
	}
	switch kind {
	case GrudgeHalves:
		return Halves(nodes), nil
	case GrudgeRandomHalves:
		return RandomHalves(rng, nodes), nil
	case GrudgeOne:
		return One(rng, nodes), nil
	case GrudgeMajorityRing:
		return MajorityRing(rng, nodes), nil
	case GrudgeBridge:
		return Bridge(rng, nodes), nil
	case GrudgeLeader:
		if !slices.Contains(nodes, leader) {
			return nil, fmt.Errorf("nemesis: leader grudge: leader %q is not one of %v", leader, nodes)
		}
		return Isolate(leader, nodes), nil
	case GrudgeOneWay:
		return OneWay(nodes[rng.IntN(len(nodes))], nodes), nil
	}
	return nil, fmt.Errorf("nemesis: unknown grudge %q (want one of %v)", kind, GrudgeKinds)
}

// Sees reports whether node receives packets from other under g.
func (g Grudge) Sees(node, other string) bool {
	return node == other || !slices.Contains(g[node], other)
}

// View returns the nodes node receives from (itself included), sorted.
func (g Grudge) View(node string, nodes []string) []string {
	var v []string
	for _, o := range nodes {
		if g.Sees(node, o) {
			v = append(v, o)
		}
	}
	slices.Sort(v)
	return v
}

// normalize sorts and deduplicates every list and drops empty entries.
func (g Grudge) normalize() Grudge {
	for n, l := range g {
		l = slices.DeleteFunc(l, func(o string) bool { return o == n })
		slices.Sort(l)
		l = slices.Compact(l)
		if len(l) == 0 {
			delete(g, n)
			continue
		}
		g[n] = l
	}
	return g
}

// Value renders g as a history value: map[string]any of []any of strings.
func (g Grudge) Value() map[string]any {
	out := make(map[string]any, len(g))
	for n, l := range g {
		out[n] = strs(l)
	}
	return out
}

func shuffled(rng *rand.Rand, nodes []string) []string {
	ns := slices.Clone(nodes)
	rng.Shuffle(len(ns), func(i, j int) { ns[i], ns[j] = ns[j], ns[i] })
	return ns
}

// strs converts a string list to the []any shape history values use.
func strs(l []string) []any {
	out := make([]any, len(l))
	for i, s := range l {
		out[i] = s
	}
	return out
}
