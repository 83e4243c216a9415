package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/faultline/faultline/history"
)

// PinKey is the key of a replayed start op's value that names exactly
// what the fault hits, instead of the target the nemesis would draw: the
// nodes of a kill, pause, power failure, corruption, loss or strobe (a
// list), or the grudge of a partition or delay (a map node -> nodes it
// drops or delays). Kind.replay writes it; the nemeses honour it.
const PinKey = "pin"

// targetNodes returns the nodes a start op pins (PinKey), each checked
// eligible, or else the nodes target picks (pickTargets).
func targetNodes(ctx context.Context, cl Cluster, rng *rand.Rand, op history.Op, target string, eligible func(string) bool, pool []string) ([]string, error) {
	m, _ := op.Value.(map[string]any)
	raw, ok := m[PinKey]
	if !ok {
		return pickTargets(ctx, cl, rng, target, eligible, pool)
	}
	l, ok := history.List(raw)
	if !ok || len(l) == 0 {
		return nil, fmt.Errorf("nemesis: %s: %s is %v, want a list of nodes", op.F, PinKey, raw)
	}
	states := nodeStates(ctx, cl)
	var nodes []string
	for _, x := range l {
		n, _ := x.(string)
		switch {
		case !slices.Contains(cl.Nodes(), n):
			return nil, fmt.Errorf("nemesis: %s: pinned node %v is not one of %v", op.F, x, cl.Nodes())
		case !eligible(states[n]):
			return nil, fmt.Errorf("nemesis: %s: pinned node %s is %s (%s)", op.F, n, states[n], describeStates(cl, states, eligible))
		}
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	return slices.Compact(nodes), nil
}

// pinnedGrudge returns the grudge a start op pins (PinKey), and whether it
// pins one.
func pinnedGrudge(cl Cluster, op history.Op) (Grudge, bool, error) {
	m, _ := op.Value.(map[string]any)
	raw, ok := m[PinKey]
	if !ok {
		return nil, false, nil
	}
	g, err := grudgeOf(raw)
	if err != nil {
		return nil, true, fmt.Errorf("nemesis: %s: %s: %w", op.F, PinKey, err)
	}
	for a, bs := range g {
		for _, n := range append([]string{a}, bs...) {
			if !slices.Contains(cl.Nodes(), n) {
				return nil, true, fmt.Errorf("nemesis: %s: pinned grudge names %q, not one of %v", op.F, n, cl.Nodes())
			}
		}
	}
	return g, true, nil
}

// grudgeOf reads a grudge from its history value (Grudge.Value).
func grudgeOf(raw any) (Grudge, error) {
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("grudge is %T, want a map node -> nodes", raw)
	}
	g := Grudge{}
	for a, v := range m {
		l, ok := history.List(v)
		if !ok {
			return nil, fmt.Errorf("grudge of %s is %T, want a list of nodes", a, v)
		}
		for _, x := range l {
			b, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("grudge of %s names %v, want a node", a, x)
			}
			g[a] = append(g[a], b)
		}
	}
	return g.normalize(), nil
}

// Pins: how each kind records what a fault hit from its ok completion,
// and builds the start op value that does it again (Kind.record,
// Kind.replay).

// recordKeys returns a recorder that keeps keys of the completion value
// and the nodes listed under "nodes".
func recordKeys(keys ...string) func(history.Op) (map[string]any, []string) {
	return func(c history.Op) (map[string]any, []string) {
		m, _ := c.Value.(map[string]any)
		return pick(m, keys...), listOf(m["nodes"])
	}
}

// replayNodes is the replay of kinds whose nodes are a list: the recorded
// value with the nodes pinned.
func replayNodes(v map[string]any, nodes []string) any {
	out := pick(v)
	out[PinKey] = strs(nodes)
	return out
}

// recordGrudge returns a recorder for kinds that cut links: the keys kept,
// the grudge under its own key, and the nodes it touches.
func recordGrudge(key string, keys ...string) func(history.Op) (map[string]any, []string) {
	return func(c history.Op) (map[string]any, []string) {
		m, _ := c.Value.(map[string]any)
		g, _ := grudgeOf(m[key])
		v := pick(m, keys...)
		v["grudge"] = g.Value()
		return v, grudgeNodes(g)
	}
}

// replayGrudge pins the recorded grudge, restricted to nodes (a link
// stays cut only when both its ends are kept).
func replayGrudge(v map[string]any, nodes []string) any {
	out := pick(v)
	delete(out, "grudge")
	g, _ := grudgeOf(v["grudge"])
	kept := Grudge{}
	for a, bs := range g {
		if !slices.Contains(nodes, a) {
			continue
		}
		for _, b := range bs {
			if slices.Contains(nodes, b) {
				kept[a] = append(kept[a], b)
			}
		}
	}
	out[PinKey] = kept.normalize().Value()
	return out
}

// grudgeNodes returns every node g names, sorted.
func grudgeNodes(g Grudge) []string {
	var out []string
	for a, bs := range g {
		out = append(out, a)
		out = append(out, bs...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// pick copies the keys of m (every key when none is given).
func pick(m map[string]any, keys ...string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if len(keys) == 0 || slices.Contains(keys, k) {
			out[k] = v
		}
	}
	return out
}

// listOf reads a list of strings from a history value.
func listOf(v any) []string {
	l, _ := history.List(v)
	var out []string
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
