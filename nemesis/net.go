package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/nemesis/netrule"
)

// NetctlPaths are where netctl may live inside a node container, tried in
// order: the node image installs it in /usr/local/bin; /netctl is the
// documented alternative.
var NetctlPaths = []string{"/usr/local/bin/netctl", "/netctl"}

// netctlPath caches the path that last worked (index into NetctlPaths).
var netctlPath atomic.Int32

// netctl runs netctl with args in node and fails on a non-zero exit. When
// the binary is not found (exit 126/127) it tries the next of NetctlPaths.
func netctl(ctx context.Context, cl Cluster, node string, args ...string) (string, error) {
	first := int(netctlPath.Load())
	var (
		code int
		out  string
		cmd  []string
	)
	for k := range NetctlPaths {
		i := (first + k) % len(NetctlPaths)
		cmd = append([]string{NetctlPaths[i]}, args...)
		var err error
		code, out, err = cl.Exec(ctx, node, cmd)
		if err != nil {
			return out, fmt.Errorf("nemesis: %s: %s: %w", node, strings.Join(cmd, " "), err)
		}
		if code != 126 && code != 127 {
			netctlPath.Store(int32(i))
			break
		}
	}
	if code != 0 {
		return out, fmt.Errorf("nemesis: %s: %s: exit %d: %s", node, strings.Join(cmd, " "), code, strings.TrimSpace(out))
	}
	return out, nil
}

// inboundRules returns the netctl rules, one per peer (rule makes it from
// the peer's address), that act on what a node receives from each of
// peers.
func inboundRules(cl Cluster, peers []string, rule func(peer netip.Addr) netrule.Rule) ([]netrule.Rule, error) {
	rules := make([]netrule.Rule, 0, len(peers))
	for _, p := range peers {
		a, err := nodeAddr(cl, p)
		if err != nil {
			return nil, err
		}
		rules = append(rules, rule(a))
	}
	return rules, nil
}

// nodeAddr is a node's address on the private network.
func nodeAddr(cl Cluster, node string) (netip.Addr, error) {
	ip := cl.IP(node)
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("nemesis: node %q has no usable IP (%q): %w", node, ip, err)
	}
	return a.Unmap(), nil
}

// dropRule is the rule that drops percent% (100: all) of what a node
// receives from a peer.
func dropRule(percent int) func(netip.Addr) netrule.Rule {
	if percent == 100 {
		return func(peer netip.Addr) netrule.Rule { return netrule.Drop(netrule.Inbound, peer) }
	}
	return func(peer netip.Addr) netrule.Rule { return netrule.Loss(netrule.Inbound, peer, percent) }
}

// listRules runs `netctl list` in node and parses what it prints.
func listRules(ctx context.Context, cl Cluster, node string) ([]netrule.Rule, error) {
	out, err := netctl(ctx, cl, node, "list")
	if err != nil {
		return nil, err
	}
	rules, err := netrule.ParseList(out)
	if err != nil {
		return rules, fmt.Errorf("nemesis: %s: netctl list: %w", node, err)
	}
	return rules, nil
}

// install runs netctl in node to add rules and confirms that netctl list
// then shows every one of them (other rules may be in place too, e.g. a
// partition and packet loss overlapping).
func install(ctx context.Context, cl Cluster, node string, rules []netrule.Rule) error {
	args, err := netrule.Args(rules...)
	if err != nil {
		return fmt.Errorf("nemesis: %s: %w", node, err)
	}
	if _, err := netctl(ctx, cl, node, args...); err != nil {
		return err
	}
	listed, err := listRules(ctx, cl, node)
	if err != nil {
		return err
	}
	if missing := netrule.Missing(rules, listed); len(missing) > 0 {
		return fmt.Errorf("nemesis: %s: netctl list does not show %s after netctl %s (it lists %s)",
			node, ruleList(missing), strings.Join(args, " "), ruleList(listed))
	}
	return nil
}

// ruleList renders rules for an error message.
func ruleList(rules []netrule.Rule) string {
	if len(rules) == 0 {
		return "no rule"
	}
	parts := make([]string, len(rules))
	for i, r := range rules {
		parts[i] = strconv.Quote(r.String())
	}
	return strings.Join(parts, ", ")
}

// onNodes runs f for every node concurrently, so a network fault takes
// effect on all nodes at (nearly) the same moment, and returns the nodes
// for which f succeeded, in the order given, with every error.
func onNodes(nodes []string, f func(node string) error) ([]string, error) {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, node := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(node)
		}()
	}
	wg.Wait()
	var ok []string
	for i, node := range nodes {
		if errs[i] == nil {
			ok = append(ok, node)
		}
	}
	return ok, errors.Join(errs...)
}

// applyGrudge installs, on every node g names, rule for each of the nodes
// it holds a grudge against (drop, lose or delay what it receives from
// them), all nodes concurrently, and confirms each node's rules with
// netctl list. Only
// running nodes can take rules: the others (killed, paused by another
// fault) are skipped and returned with their states. It returns the part
// of g confirmed in effect; a grudge that no running node takes is an
// error (a fault that changes nothing must not be recorded as ok).
func applyGrudge(ctx context.Context, cl Cluster, g Grudge, rule func(peer netip.Addr) netrule.Rule) (done Grudge, skipped map[string]any, err error) {
	if len(g) == 0 {
		return Grudge{}, nil, fmt.Errorf("nemesis: the grudge over %v cuts no link: nothing to apply", cl.Nodes())
	}
	states := nodeStates(ctx, cl)
	var targets []string
	skipped = map[string]any{}
	for _, node := range cl.Nodes() {
		switch {
		case len(g[node]) == 0:
		case isRunning(states[node]):
			targets = append(targets, node)
		default:
			skipped[node] = states[node]
		}
	}
	if len(targets) == 0 {
		return Grudge{}, skipped, fmt.Errorf("nemesis: no running node to take the grudge %v (%s)",
			g.Value(), describeStates(cl, states, isRunning))
	}
	ok, err := onNodes(targets, func(node string) error {
		rules, err := inboundRules(cl, g[node], rule)
		if err != nil {
			return err
		}
		return install(ctx, cl, node, rules)
	})
	done = Grudge{}
	for _, node := range ok {
		done[node] = g[node]
	}
	return done, skipped, err
}

// healNet runs `netctl heal --tag tag` (every rule when tag is "") on
// every node that is not down, concurrently, and confirms `netctl list`
// shows no rule tagged tag (no rule at all for ""): one fault's stop
// leaves the rules of another fault in effect alongside. A node that is
// down holds no rule (its rules died with it, see Cluster.Kill); a paused
// node cannot be healed (an error). It returns the nodes confirmed clean
// and the nodes skipped as down.
func healNet(ctx context.Context, cl Cluster, tag string) (healed, down []string, err error) {
	states := nodeStates(ctx, cl)
	down = where(cl, states, isDown)
	args := netrule.HealArgs(tag)
	healed, err = onNodes(where(cl, states, isUp), func(node string) error {
		if _, err := netctl(ctx, cl, node, args...); err != nil {
			return err
		}
		listed, err := listRules(ctx, cl, node)
		if err != nil {
			return err
		}
		left := slices.DeleteFunc(listed, func(r netrule.Rule) bool { return tag != "" && r.Tag != tag })
		if len(left) > 0 {
			return fmt.Errorf("nemesis: %s: rules remain after netctl %s: %s", node, strings.Join(args, " "), ruleList(left))
		}
		return nil
	})
	return healed, down, err
}

// healValue is the completion value of a network heal:
// {"healed": [...]} plus "down": [...] when nodes were skipped as down.
func healValue(healed, down []string) map[string]any {
	v := map[string]any{"healed": strs(healed)}
	if len(down) > 0 {
		v["down"] = strs(down)
	}
	return v
}

// netNemesis is the shared base of the partition, loss and delay
// nemeses: each installs netctl rules tagged with its kind (tag), and its
// stop removes them, and only them.
type netNemesis struct {
	cl     Cluster
	tag    string
	startF string
	stopF  string
	mu     sync.Mutex
	rng    *rand.Rand
	build  func(ctx context.Context, op history.Op) (Grudge, map[string]any, error)
	rule   func(op history.Op) func(peer netip.Addr) netrule.Rule
	// confirm, if set, checks from outside that the fault is in effect
	// (a delay: the round trip across a delayed link), adding what it
	// measured to the completion value.
	confirm   func(ctx context.Context, done Grudge, op history.Op, value map[string]any) error
	installed bool
}

func (n *netNemesis) Fs() []string { return []string{n.startF, n.stopF} }

func (n *netNemesis) Invoke(ctx context.Context, op history.Op) (history.Op, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch op.F {
	case n.startF:
		g, value, err := n.build(ctx, op)
		if err != nil {
			return complete(op, value, err)
		}
		n.installed = true
		rule := n.rule(op)
		done, skipped, err := applyGrudge(ctx, n.cl, g, func(peer netip.Addr) netrule.Rule { return rule(peer).Tagged(n.tag) })
		key := "grudge"
		if n.startF == FStartLoss {
			key = "from"
		}
		value[key] = done.Value()
		if len(skipped) > 0 {
			value["skipped"] = skipped
		}
		if err == nil && n.confirm != nil {
			err = n.confirm(ctx, done, op, value)
		}
		return complete(op, value, err)
	case n.stopF:
		healed, down, err := healNet(ctx, n.cl, n.tag)
		if err == nil {
			n.installed = false
		}
		return complete(op, healValue(healed, down), err)
	}
	return complete(op, op.Value, fmt.Errorf("nemesis: %s nemesis cannot do f %q", n.startF, op.F))
}

// Teardown removes this nemesis's netctl rules on every node if it may
// have installed any.
func (n *netNemesis) Teardown(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.installed {
		return nil
	}
	ctx, cancel := teardownCtx(ctx)
	defer cancel()
	if _, _, err := healNet(ctx, n.cl, n.tag); err != nil {
		return fmt.Errorf("nemesis: teardown %s: %w", n.startF, err)
	}
	n.installed = false
	return nil
}

// leaderFor returns the leader (waitLeader) when a fault's links are
// chosen around it (want), else "".
func leaderFor(ctx context.Context, cl Cluster, want bool, fault string) (string, error) {
	if !want {
		return "", nil
	}
	l, err := waitLeader(ctx, cl)
	if err != nil {
		return "", fmt.Errorf("nemesis: leader %s: %w", fault, err)
	}
	return l, nil
}

// NewPartition returns the nemesis for start-partition / stop-partition.
// A start-partition value is a grudge kind (string, default: a random one
// of grudges) or a map {"grudge": kind}; the completion value is
// {"kind": kind, "grudge": {node: [nodes it drops]}}, plus
// "skipped": {node: state} for nodes that were not running (they take no
// rules). stop-partition removes the partition's rules on every node that
// is not down (another fault's rules stay): {"healed": [...], "down": [...]}.
func NewPartition(cl Cluster, rng *rand.Rand, grudges []string) Nemesis {
	n := &netNemesis{cl: cl, tag: FaultPartition, startF: FStartPartition, stopF: FStopPartition, rng: rng,
		rule: func(history.Op) func(netip.Addr) netrule.Rule { return dropRule(100) }}
	n.build = func(ctx context.Context, op history.Op) (Grudge, map[string]any, error) {
		if g, ok, err := pinnedGrudge(cl, op); ok {
			return g, map[string]any{"kind": stringArg(op.Value, "kind", "")}, err
		}
		kind := stringArg(op.Value, "grudge", "")
		if kind == "" && len(grudges) > 0 {
			kind = grudges[n.rng.IntN(len(grudges))]
		}
		value := map[string]any{"kind": kind}
		leader, err := leaderFor(ctx, cl, kind == GrudgeLeader, "partition")
		if err != nil {
			return nil, value, err
		}
		g, err := NewGrudge(kind, n.rng, cl.Nodes(), leader)
		return g, value, err
	}
	return n
}

// NewLoss returns the nemesis for start-loss / stop-loss: random packet
// drop (nftables, via netctl loss) at a percentage on every link touching
// the target nodes. A start-loss value is a map {"percent": N, "target": t}
// (defaults: percent, target). The chosen nodes drop N% of what they receive
// from every other node, and the other nodes drop N% of what they receive
// from the chosen ones; the completion value is {"percent": N, "target": t,
// "nodes": [...], "from": {node: [nodes it loses packets from]}} (and
// "skipped" as for partitions). The chosen nodes are running ones. stop-loss
// removes the loss's rules as stop-partition does its own.
func NewLoss(cl Cluster, rng *rand.Rand, percent int, targets []string) Nemesis {
	n := &netNemesis{cl: cl, tag: FaultLoss, startF: FStartLoss, stopF: FStopLoss, rng: rng}
	pct := func(op history.Op) int { return int(intArg(op.Value, "percent", int64(percent))) }
	n.rule = func(op history.Op) func(netip.Addr) netrule.Rule { return dropRule(pct(op)) }
	n.build = func(ctx context.Context, op history.Op) (Grudge, map[string]any, error) {
		p := pct(op)
		def := TargetAll
		if len(targets) > 0 {
			def = targets[n.rng.IntN(len(targets))]
		}
		target := stringArg(op.Value, "target", def)
		value := map[string]any{"percent": int64(p), "target": target}
		if p <= 0 || p > 100 {
			return nil, value, fmt.Errorf("nemesis: loss percent %d out of range 1..100", p)
		}
		chosen, err := targetNodes(ctx, cl, n.rng, op, target, isRunning, nil)
		if err != nil {
			return nil, value, err
		}
		value["nodes"] = strs(chosen)
		g := Grudge{}
		for _, a := range cl.Nodes() {
			for _, b := range cl.Nodes() {
				if a != b && (slices.Contains(chosen, a) || slices.Contains(chosen, b)) {
					g[a] = append(g[a], b)
				}
			}
		}
		return g.normalize(), value, nil
	}
	return n
}
