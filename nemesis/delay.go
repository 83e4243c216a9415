package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/nemesis/netrule"
)

// Delay options: which links a delay slows, chosen as a partition chooses
// the links it cuts.
const (
	DelayAll    = "all"     // every link, both ways
	DelayOne    = "one"     // every link of one random node
	DelayLeader = "leader"  // every link of the leader
	DelayOneWay = "one-way" // one node's inbound links only
)

// DelayOptions lists the delay options.
var DelayOptions = []string{DelayAll, DelayOne, DelayLeader, DelayOneWay}

// DelayConfig configures the delay nemesis: how long each packet is held,
// a mean and a jitter (uniform in mean ± jitter, drawn by netctl's delayer
// from a seed the nemesis gives it).
type DelayConfig struct {
	Mean, Jitter time.Duration
}

// validate checks that netctl can apply the delay.
func (d DelayConfig) validate() error {
	return netrule.Delay{Mean: d.Mean, Jitter: d.Jitter, Seed: 1}.Validate()
}

// parseDelayWord takes a spec word "100ms" into c: the first sets the mean,
// the second the jitter.
func parseDelayWord(c *Config, w string) bool {
	ms, ok := strings.CutSuffix(w, "ms")
	n, err := strconv.Atoi(ms)
	if !ok || err != nil || n < 0 {
		return false
	}
	if !c.delaySet {
		c.Delay.Mean, c.Delay.Jitter, c.delaySet = time.Duration(n)*time.Millisecond, 0, true
		return true
	}
	c.Delay.Jitter = time.Duration(n) * time.Millisecond
	return true
}

// delayGrudge is who delays what it receives from whom: every node from
// every other (all), or the grudge of a partition of the same shape.
func delayGrudge(kind string, rng *rand.Rand, nodes []string, leader string) (Grudge, error) {
	switch kind {
	case DelayAll:
		g := Grudge{}
		for _, a := range nodes {
			for _, b := range nodes {
				if a != b {
					g[a] = append(g[a], b)
				}
			}
		}
		return g, nil
	case DelayOne:
		return NewGrudge(GrudgeOne, rng, nodes, leader)
	case DelayLeader:
		return NewGrudge(GrudgeLeader, rng, nodes, leader)
	case DelayOneWay:
		return NewGrudge(GrudgeOneWay, rng, nodes, leader)
	}
	return nil, fmt.Errorf("nemesis: unknown delay option %q (want one of %v)", kind, DelayOptions)
}

// rttPort is the port the round-trip probe connects to: nothing listens on
// it, so the peer answers the SYN with a RST, which a delayed link holds
// like any packet.
const rttPort = 9

// NewDelay returns the nemesis for start-delay / stop-delay: packets on the
// chosen links are held for the delay (netctl delay: an nftables queue rule
// and a delayer in each node), then released. A start-delay value is an
// option (string, default a random one of opts) or a map {"kind": option,
// "mean_ms", "jitter_ms"}; the completion value is {"kind", "mean_ms",
// "jitter_ms", "seed", "grudge": {node: [nodes whose packets it delays]},
// "rtt_ms": the round trip measured across one delayed link, "probe":
// "a->b", "added_ms": what the delay adds to that round trip (twice the
// mean when both ends hold the link's packets)}. The fault is in effect
// only when the round trip shows most of what it adds. stop-delay removes the delay's rules on every
// node, which releases every packet they held.
func NewDelay(cl Cluster, rng *rand.Rand, cfg DelayConfig, opts []string) Nemesis {
	n := &netNemesis{cl: cl, tag: FaultDelay, startF: FStartDelay, stopF: FStopDelay, rng: rng}
	delayOf := func(op history.Op) (mean, jitter time.Duration) {
		return time.Duration(intArg(op.Value, "mean_ms", cfg.Mean.Milliseconds())) * time.Millisecond,
			time.Duration(intArg(op.Value, "jitter_ms", cfg.Jitter.Milliseconds())) * time.Millisecond
	}
	var seed uint64
	n.rule = func(op history.Op) func(netip.Addr) netrule.Rule {
		mean, jitter := delayOf(op)
		return func(peer netip.Addr) netrule.Rule { return netrule.Delayed(netrule.Inbound, peer, mean, jitter, seed) }
	}
	n.build = func(ctx context.Context, op history.Op) (Grudge, map[string]any, error) {
		kind := stringArg(op.Value, "kind", "")
		if kind == "" && len(opts) > 0 {
			kind = opts[n.rng.IntN(len(opts))]
		}
		mean, jitter := delayOf(op)
		seed = uint64(intArg(op.Value, "seed", int64(n.rng.Uint64N(1<<32))))
		value := map[string]any{"kind": kind, "mean_ms": mean.Milliseconds(), "jitter_ms": jitter.Milliseconds(), "seed": int64(seed)}
		if g, ok, err := pinnedGrudge(cl, op); ok {
			return g, value, err
		}
		leader, err := leaderFor(ctx, cl, kind == DelayLeader, "delay")
		if err != nil {
			return nil, value, err
		}
		g, err := delayGrudge(kind, n.rng, cl.Nodes(), leader)
		return g, value, err
	}
	n.confirm = func(ctx context.Context, done Grudge, op history.Op, value map[string]any) error {
		mean, _ := delayOf(op)
		rtt, from, to, cut, err := probeDelayed(ctx, cl, done, mean)
		if err != nil {
			value["probe"] = from + "->" + to
			return err
		}
		if len(cut) > 0 {
			// In effect (its rules read back), not measurable now.
			value["probe_cut"] = cut
			return nil
		}
		value["probe"] = from + "->" + to
		// A link delayed at both ends holds the probe's SYN and its answer.
		added := mean
		if slices.Contains(done[to], from) {
			added = 2 * mean
		}
		value["rtt_ms"] = float64(rtt.Median.Microseconds()) / 1000
		value["added_ms"] = added.Milliseconds()
		// The delayer holds a packet mean ± jitter; the median of a few
		// connects stays well above most of what it adds.
		if rtt.Median < added*7/10 {
			return fmt.Errorf("nemesis: delay not in effect: the round trip %s->%s is %v, want at least %v (70%% of the %v it adds)",
				from, to, rtt.Median, added*7/10, added)
		}
		return nil
	}
	return n
}

// probeDelayed measures, with netctl rtt, the round trip from a node of
// done that delays what it receives to one of those peers: the peer's
// answers cross the delayed link. A link that another fault cuts answers
// nothing; the next one is tried, a few at most. When every link tried
// was cut by another fault's drop or loss rule (a partition or packet loss
// in effect alongside), cut lists them and err is nil: the delay's rules
// are in place (install read them back), but no link can show it now.
func probeDelayed(ctx context.Context, cl Cluster, done Grudge, mean time.Duration) (rtt netrule.RTT, from, to string, cut []string, err error) {
	const tries = 3
	n := 0
	for _, f := range cl.Nodes() {
		for _, t := range slices.Sorted(slices.Values(done[f])) {
			if n++; n > tries {
				return rtt, from, to, cut, nil // every link tried was cut
			}
			from, to = f, t
			if rtt, err = probe(ctx, cl, f, t, mean); err == nil {
				return rtt, from, to, nil, nil
			}
			if !cutElsewhere(ctx, cl, f, t) {
				return rtt, from, to, nil, err
			}
			cut = append(cut, f+"->"+t)
		}
	}
	if n == 0 {
		return rtt, "", "", nil, fmt.Errorf("nemesis: no delayed link to probe")
	}
	return rtt, from, to, cut, nil
}

// cutElsewhere reports whether a drop or loss rule in a or b (another
// fault's) stands between them, so that a round trip may get no answer.
func cutElsewhere(ctx context.Context, cl Cluster, a, b string) bool {
	for _, end := range [][2]string{{a, b}, {b, a}} {
		peer, err := nodeAddr(cl, end[1])
		if err != nil {
			return false
		}
		rules, err := listRules(ctx, cl, end[0])
		if err != nil {
			return false
		}
		for _, r := range rules {
			if r.Percent > 0 && (!r.Peer.IsValid() || r.Peer == peer) {
				return true
			}
		}
	}
	return false
}

// probe runs netctl rtt in from to to.
func probe(ctx context.Context, cl Cluster, from, to string, mean time.Duration) (netrule.RTT, error) {
	a, err := nodeAddr(cl, to)
	if err != nil {
		return netrule.RTT{}, err
	}
	p := netrule.Probe{To: netip.AddrPortFrom(a, rttPort), Count: 3, Timeout: (2*mean + time.Second).Round(time.Millisecond)}
	args, err := p.Args()
	if err != nil {
		return netrule.RTT{}, err
	}
	out, err := netctl(ctx, cl, from, args...)
	if err != nil {
		return netrule.RTT{}, err
	}
	rtt, err := netrule.ParseRTT(strings.TrimSpace(out))
	if err != nil {
		return rtt, fmt.Errorf("nemesis: %s: netctl rtt: %w", from, err)
	}
	return rtt, nil
}
