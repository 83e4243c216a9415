package nemesis

import (
	"context"
	"fmt"
	"image/color"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/faultline/faultline/history"
)

// Kind is one fault kind: everything the harness knows about it, listed
// once in Kinds. The spec grammar, the schedule, Happened, the final heal,
// the availability checker, the reports' fault lanes and colours and the
// --help text all read it, so a new kind is one entry here plus its
// Nemesis.
type Kind struct {
	// Name is the kind in --nemesis, test.json and reports.
	Name string
	// Doc says in a line what it does and which options it takes.
	Doc string
	// Starts are the fs of the ops that start a fault of this kind (one
	// per mode where the modes differ in what they do: bump-clock,
	// strobe-clock); Stop is the f that ends it.
	Starts []string
	Stop   string
	// Options are what the schedule rotates through when the spec names
	// none (the grudges of a partition, the targets of a kill, the modes
	// of a clock fault); any one of them satisfies the kind. Allowed are
	// the options a spec may name (nil: Options).
	Options []string
	Allowed []string
	// PerNode says the fault hits nodes (kill, pause, clock): reports draw
	// a lane per node. False: it cuts links, drawn as one lane.
	PerNode bool
	// Color is the kind's colour in the reports' plots.
	Color color.RGBA
	// Needs are what a fault of this kind needs from the system under
	// test and its runtime; a run that cannot give them is refused up
	// front, naming the kind.
	Needs []Need
	// Downs says the fault takes nodes down (kill, pause): a concurrent
	// schedule staggers such kinds last (Downs 2 after 1), so every other
	// fault starts while the nodes are up, and the final heal brings them
	// back first (the lower first).
	Downs int

	// parse takes a spec word that is not one of Allowed (a loss
	// percentage, a clock target) into c; false: not a word of this kind.
	parse func(c *Config, word string) bool
	// validate checks the kind's parameters in c.
	validate func(c Config) error
	// new builds the kind's nemesis; opts are the options it rotates
	// through when an invoke names none.
	new func(cl Cluster, rng *rand.Rand, c Config, opts []string) Nemesis
	// value is the start op of a fault with option o; f is the start f
	// (Starts[0] unless the option picks another), draw rotates a
	// secondary list (clock targets).
	value func(c Config, o string, draw func([]string) string) (f string, v any)
	// option reads the fault's option back from a completion.
	option func(op history.Op) string
	// effect is the completion value's key that lists what the fault
	// affected: the fault happened only when it is not empty.
	effect string
	// heal is the final heal's step for the kind, recorded as its Stop.
	heal func(ctx context.Context, h *healer) (any, error)
	// record reads, from a fault's ok completion, what a replay needs
	// (the grudge, the loss percentage, the clock deltas, the corruption's
	// mode and seed, ...) and the nodes it hit: the schedule file's entry.
	record func(c history.Op) (value map[string]any, nodes []string)
	// replay is the start op value that does the recorded fault again on
	// nodes (all of them, or fewer when a shrink dropped some), pinned
	// (PinKey) so that the nemesis draws nothing.
	replay func(value map[string]any, nodes []string) any
	// leaves is the state a fault of the kind leaves its nodes in (killed,
	// paused, left), but for its start ops in keeps, which leave them
	// running (a replace joins the node again within the op); eligible
	// the states a node it hits may be in: a replayed schedule that hits
	// a node in another state is refused.
	leaves   string
	keeps    []string
	eligible func(state string) bool
}

// Need is something a fault kind needs from the system under test or the
// runtime that hosts it.
type Need string

// Needs.
const (
	// NeedClockHook: the system's admin endpoint moves its clock
	// (/fault/clock, as kvnode's).
	NeedClockHook Need = "clock hook"
	// NeedDisk: the nodes' data is on faultfs, the power-failure
	// filesystem (the run asks its runtime for it).
	NeedDisk Need = "power-failure disk"
	// NeedDiskFiles: the system names its durable files
	// (sut.Info.DiskFiles), which the corrupt fault changes.
	NeedDiskFiles Need = "list of durable files"
	// NeedMembership: the system removes and adds members through its
	// own API (sut.Info.Membership, sut.Membership), and the runtime
	// gives a node a fresh identity (MemberCluster).
	NeedMembership Need = "API to change its members"
)

// Fault kind names, for code that names a kind (scenarios, tests).
const (
	FaultPartition = "partition"
	FaultLoss      = "loss"
	FaultDelay     = "delay"
	FaultPower     = "power"
	FaultCorrupt   = "corrupt"
	FaultKill      = "kill"
	FaultPause     = "pause"
	FaultClock     = "clock"
)

// Clock modes: the clock fault's options.
const (
	ClockBump   = "bump"
	ClockStrobe = "strobe"
)

// Kinds is every fault kind, in canonical order.
var Kinds = []Kind{
	{
		Name: FaultPartition, Doc: "cut the network by a grudge: " + strings.Join(GrudgeKinds, ", "),
		Starts: []string{FStartPartition}, Stop: FStopPartition, Options: GrudgeKinds,
		Color: color.RGBA{0x94, 0x67, 0xbd, 0xff},
		new: func(cl Cluster, rng *rand.Rand, _ Config, opts []string) Nemesis {
			return NewPartition(cl, rng, opts)
		},
		value:  func(_ Config, o string, _ func([]string) string) (string, any) { return FStartPartition, o },
		option: func(op history.Op) string { return stringArg(op.Value, "kind", "") },
		effect: "grudge",
		heal:   healNetStep,
		record: recordGrudge("grudge", "kind"), replay: replayGrudge, eligible: isRunning,
	},
	{
		Name: FaultLoss, Doc: "drop a share of the packets on the target's links: N (percent), " + strings.Join(Targets, ", "),
		Starts: []string{FStartLoss}, Stop: FStopLoss,
		Options: []string{TargetAll, TargetOne, TargetLeader}, Allowed: Targets,
		Color: color.RGBA{0xbc, 0xbd, 0x22, 0xff},
		parse: func(c *Config, w string) bool {
			p, err := strconv.Atoi(w)
			if err == nil {
				c.LossPercent = p
			}
			return err == nil
		},
		validate: func(c Config) error {
			if c.LossPercent < 1 || c.LossPercent > 100 {
				return fmt.Errorf("loss percent %d out of range 1..100", c.LossPercent)
			}
			return nil
		},
		new: func(cl Cluster, rng *rand.Rand, c Config, opts []string) Nemesis {
			return NewLoss(cl, rng, c.LossPercent, opts)
		},
		value: func(c Config, o string, _ func([]string) string) (string, any) {
			return FStartLoss, map[string]any{"percent": int64(c.LossPercent), "target": o}
		},
		option: func(op history.Op) string { return stringArg(op.Value, "target", "") },
		effect: "from",
		heal:   healNetStep,
		record: recordKeys("percent", "target"), replay: replayNodes, eligible: isRunning,
	},
	{
		Name: FaultKill, Doc: "SIGKILL the target's process, restart it with its data: " + strings.Join(Targets, ", "),
		Starts: []string{FKill}, Stop: FStart, Options: Targets, PerNode: true, Downs: 2,
		Color: color.RGBA{0x8c, 0x56, 0x4b, 0xff},
		new: func(cl Cluster, rng *rand.Rand, _ Config, opts []string) Nemesis {
			return NewKill(cl, rng, opts)
		},
		value:  func(_ Config, o string, _ func([]string) string) (string, any) { return FKill, o },
		option: func(op history.Op) string { return stringArg(op.Value, "target", "") },
		effect: "nodes",
		heal: func(ctx context.Context, h *healer) (any, error) {
			// The runtime's own view of each node decides, so a node that
			// crashed by itself is restarted too (and named under
			// "crashed").
			value, _, err := restart(ctx, h.cl)
			return value, err
		},
		record: recordKeys("target"), replay: replayNodes, leaves: StateKilled, eligible: isUp,
	},
	{
		Name: FaultPause, Doc: "freeze the target's processes (SIGSTOP), then resume them: " + strings.Join(Targets, ", "),
		Starts: []string{FPause}, Stop: FResume, Options: Targets, PerNode: true, Downs: 1,
		Color: color.RGBA{0xe3, 0x77, 0xc2, 0xff},
		new: func(cl Cluster, rng *rand.Rand, _ Config, opts []string) Nemesis {
			return NewPause(cl, rng, opts)
		},
		value:  func(_ Config, o string, _ func([]string) string) (string, any) { return FPause, o },
		option: func(op history.Op) string { return stringArg(op.Value, "target", "") },
		effect: "nodes",
		heal: func(ctx context.Context, h *healer) (any, error) {
			value, _, err := resume(ctx, h.cl)
			return value, err
		},
		record: recordKeys("target"), replay: replayNodes, leaves: StatePaused, eligible: isRunning,
	},
	{
		Name: FaultClock, Doc: "skew the target's clocks through the system's clock hook: bump, strobe; targets " + strings.Join(Targets, ", "),
		Starts: []string{FBumpClock, FStrobeClock}, Stop: FResetClock, Options: []string{ClockBump, ClockStrobe},
		PerNode: true, Color: color.RGBA{0x17, 0xbe, 0xcf, 0xff}, Needs: []Need{NeedClockHook},
		parse: func(c *Config, w string) bool {
			if slices.Contains(Targets, w) {
				c.Clock.Targets = append(c.Clock.Targets, w)
				return true
			}
			return false
		},
		validate: func(c Config) error { return c.Clock.validate(c.Options[FaultClock]) },
		new: func(cl Cluster, rng *rand.Rand, c Config, opts []string) Nemesis {
			cc := c.Clock
			cc.Targets = c.clockTargets()
			return NewClock(cl, rng, cc)
		},
		value: func(c Config, o string, draw func([]string) string) (string, any) {
			target := draw(c.clockTargets())
			if o == ClockBump {
				return FBumpClock, map[string]any{"target": target, "max_ms": c.Clock.MaxBumpMs}
			}
			return FStrobeClock, map[string]any{"target": target, "delta_ms": c.Clock.StrobeDeltaMs,
				"period_ms": c.Clock.StrobePeriodMs, "duration_ms": c.Clock.StrobeDurationMs}
		},
		option: func(op history.Op) string {
			if op.F == FStrobeClock {
				return ClockStrobe
			}
			return ClockBump
		},
		effect: "offsets_ms",
		heal: func(ctx context.Context, h *healer) (any, error) {
			offsets, err := resetClocksUntil(ctx, h.cl, h.deadline)
			return map[string]any{"offsets_ms": offsets}, err
		},
		record: func(c history.Op) (map[string]any, []string) {
			if c.F == FStrobeClock {
				return recordKeys("target", "delta_ms", "period_ms", "duration_ms")(c)
			}
			v, _ := recordKeys("target", "deltas_ms")(c)
			deltas, _ := v["deltas_ms"].(map[string]any)
			return v, sortedKeys(deltas)
		},
		replay: func(v map[string]any, nodes []string) any {
			deltas, ok := v["deltas_ms"].(map[string]any)
			if !ok {
				return replayNodes(v, nodes) // a strobe
			}
			out := pick(v)
			out["deltas_ms"] = pick(deltas, nodes...)
			return out
		},
		eligible: isRunning,
	},
	{
		Name: FaultDelay, Doc: "hold the packets of the chosen links for a delay: Nms (mean), Nms (jitter), " + strings.Join(DelayOptions, ", "),
		Starts: []string{FStartDelay}, Stop: FStopDelay, Options: DelayOptions,
		Color:    color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
		parse:    parseDelayWord,
		validate: func(c Config) error { return c.Delay.validate() },
		new: func(cl Cluster, rng *rand.Rand, c Config, opts []string) Nemesis {
			return NewDelay(cl, rng, c.Delay, opts)
		},
		value: func(c Config, o string, _ func([]string) string) (string, any) {
			return FStartDelay, map[string]any{"kind": o, "mean_ms": c.Delay.Mean.Milliseconds(), "jitter_ms": c.Delay.Jitter.Milliseconds()}
		},
		option: func(op history.Op) string { return stringArg(op.Value, "kind", "") },
		effect: "grudge",
		heal:   healNetStep,
		record: recordGrudge("grudge", "kind", "mean_ms", "jitter_ms", "seed"), replay: replayGrudge, eligible: isRunning,
	},
	{
		Name: FaultMembership, Doc: "change the members through the system's API: leave (remove a member, stop its node, wipe its data), " +
			"replace (leave, then join); join, the stop, brings each node that left back as a new member with a fresh identity",
		Starts: []string{FLeave, FReplace}, Stop: FJoin, Options: MemberModes, PerNode: true,
		Color: color.RGBA{0x00, 0x80, 0x80, 0xff}, Needs: []Need{NeedMembership},
		validate: func(c Config) error {
			if c.LeaveGrace < 0 {
				return fmt.Errorf("leave grace %v must be >= 0", c.LeaveGrace)
			}
			return nil
		},
		new: func(cl Cluster, rng *rand.Rand, c Config, _ []string) Nemesis {
			return NewMembership(cl, rng, c.LeaveGrace)
		},
		value: func(_ Config, o string, _ func([]string) string) (string, any) {
			if o == MemberReplace {
				return FReplace, map[string]any{"mode": o}
			}
			return FLeave, map[string]any{"mode": o}
		},
		option: func(op history.Op) string {
			if op.F == FReplace {
				return MemberReplace
			}
			return MemberLeave
		},
		effect: "nodes",
		heal: func(ctx context.Context, h *healer) (any, error) {
			mc, err := memberCluster(h.cl)
			if err != nil {
				return nil, err
			}
			value, _, err := joinLeft(ctx, h.cl, mc)
			return value, err
		},
		record: recordKeys("mode"),
		replay: func(v map[string]any, nodes []string) any {
			out := pick(v, "mode")
			if len(nodes) > 0 {
				out["node"] = nodes[0]
			}
			return out
		},
		leaves: StateLeft, keeps: []string{FReplace}, eligible: isRunning,
	},
	{
		Name: FaultPower, Doc: "fail the power of the targets: unsynced writes are lost (faultfs), then restart them: " + strings.Join(Targets, ", ") +
			"; the model of what is lost: " + powerModelNames() + " (LazyFS's: only unsynced file data; directory operations are durable at once)",
		Starts: []string{FPowerOff}, Stop: FPowerOn, Options: Targets, PerNode: true, Downs: 2,
		Color: color.RGBA{0x7f, 0x7f, 0x00, 0xff}, Needs: []Need{NeedDisk},
		parse: parsePowerWord,
		new: func(cl Cluster, rng *rand.Rand, c Config, opts []string) Nemesis {
			return NewPower(cl, rng, c.Disk.PowerModel, opts)
		},
		value:  func(_ Config, o string, _ func([]string) string) (string, any) { return FPowerOff, o },
		option: func(op history.Op) string { return stringArg(op.Value, "target", "") },
		effect: "nodes",
		heal: func(ctx context.Context, h *healer) (any, error) {
			value, _, err := restart(ctx, h.cl)
			return value, err
		},
		record: recordKeys("target", "model"), replay: replayNodes, leaves: StateKilled, eligible: isRunning,
	},
	{
		Name: FaultCorrupt, Doc: "kill the targets and change their durable files, then restart them: " + strings.Join(CorruptModes, ", ") +
			"; targets one, minority (the default); file=GLOB narrows the files; flips=N flips N bits in each file (default 1)",
		Starts: []string{FCorrupt}, Stop: FRestartCorrupt, Options: CorruptModes, PerNode: true, Downs: 2,
		Color: color.RGBA{0x4b, 0x00, 0x82, 0xff}, Needs: []Need{NeedDisk, NeedDiskFiles},
		parse: func(c *Config, w string) bool {
			if w == TargetOne || w == TargetMinority {
				c.CorruptTargets = append(c.CorruptTargets, w)
				return true
			}
			return parseCorruptWord(c, w)
		},
		new: func(cl Cluster, rng *rand.Rand, c Config, opts []string) Nemesis {
			targets := c.CorruptTargets
			if len(targets) == 0 {
				targets = []string{TargetMinority}
			}
			return NewCorrupt(cl, rng, c.Disk, opts, targets)
		},
		value: func(_ Config, o string, _ func([]string) string) (string, any) {
			return FCorrupt, map[string]any{"mode": o}
		},
		option: func(op history.Op) string { return stringArg(op.Value, "mode", "") },
		effect: "nodes",
		heal: func(ctx context.Context, h *healer) (any, error) {
			value, _, err := restart(ctx, h.cl)
			return value, err
		},
		// The seed draws the same bits and lengths again; "changes" says
		// which files and offsets the recorded run changed.
		record: recordKeys("mode", "target", "seed", "changes"),
		replay: func(v map[string]any, nodes []string) any {
			out := replayNodes(v, nodes).(map[string]any)
			delete(out, "changes")
			return out
		},
		leaves: StateKilled, eligible: isRunning,
	},
}

// KindNames returns every kind's name, in canonical order.
func KindNames() []string {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = k.Name
	}
	return names
}

// KindOf returns the kind named name.
func KindOf(name string) (Kind, bool) {
	i := slices.IndexFunc(Kinds, func(k Kind) bool { return k.Name == name })
	if i < 0 {
		return Kind{}, false
	}
	return Kinds[i], true
}

// KindOfOp returns the kind whose op f is, and whether f starts (true) or
// ends (false) a fault of it; ok is false for fs of no kind.
func KindOfOp(f string) (k Kind, starts, ok bool) {
	for _, k := range Kinds {
		if slices.Contains(k.Starts, f) {
			return k, true, true
		}
		if k.Stop == f {
			return k, false, true
		}
	}
	return Kind{}, false, false
}

// allowed returns the options a spec may name for k.
func (k Kind) allowed() []string {
	if k.Allowed != nil {
		return k.Allowed
	}
	return k.Options
}

// Fs returns the fs of k's ops: its starts and its stop.
func (k Kind) Fs() []string { return append(slices.Clone(k.Starts), k.Stop) }

// healOrder is the order of the final heal's steps and of teardown: the
// kinds that take nodes down, the lightest first (resume before restart),
// then the kinds that need nothing of the system (the network), then the
// rest (the clocks, whose endpoint needs the nodes reachable), each group
// in canonical order.
func healOrder() []Kind {
	rank := func(k Kind) int {
		switch {
		case k.Downs > 0:
			return k.Downs - 100
		case len(k.Needs) == 0:
			return 0
		}
		return 1
	}
	out := slices.Clone(Kinds)
	slices.SortStableFunc(out, func(a, b Kind) int { return rank(a) - rank(b) })
	return out
}

// healNetStep is the final heal's step for the network kinds: remove every
// netctl rule on every node that is up.
func healNetStep(ctx context.Context, h *healer) (any, error) {
	healed, down, err := healNet(ctx, h.cl, "")
	return healValue(healed, down), err
}
