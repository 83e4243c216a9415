package nemesis

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Config configures the nemesis and its schedule.
//
// Options say which options a fault kind rotates through. A kind they do
// not name rotates through its defaults (Kind.Options) and any one of them
// satisfies it; a kind they name (WithSpec fills them from
// "kind:opt+opt") must run every option listed (Required).
type Config struct {
	// Faults are the enabled fault kinds (Kind.Name); empty means none.
	Faults []string
	// Options are the options named per kind.
	Options map[string][]string
	// Interval is the time between schedule steps (--nemesis-interval),
	// counted from the completion of the previous op, as Jepsen's.
	Interval time.Duration
	// OpAllowance is what MinTimeLimit allows for each op to take
	// (a kill, an exec of netctl): the time limit must leave room for it.
	OpAllowance time.Duration
	// Seed drives every random choice (schedule, nodes, deltas).
	Seed uint64
	// LossPercent is the packet loss percentage (1..100).
	LossPercent int
	// Clock configures clock faults: its Targets rotate (empty:
	// DefaultClockTargets) but are not separate faults.
	Clock ClockConfig
	// Delay is how long a delay fault holds each packet.
	Delay DelayConfig
	// Disk says where a node's durable files are, for the disk faults
	// (the run's plan fills it from the system).
	Disk DiskConfig
	// CorruptTargets choose the nodes whose files a corruption changes;
	// empty: a minority.
	CorruptTargets []string
	// LeaveGrace is how long a node whose member was removed keeps
	// running before the membership fault stops it.
	LeaveGrace time.Duration
	// delaySet says the spec named the delay's mean (its next word is
	// the jitter).
	delaySet bool
	// Replay, when set, is the explicit schedule to run instead of a
	// generated one (faultline run --schedule): Faults are its kinds.
	Replay *ScheduleFile
	// Concurrent gives each enabled fault kind its own start/stop cycle,
	// staggered, so faults of different kinds overlap (e.g. a clock bump
	// while the leader is partitioned away); false runs one fault at a time.
	Concurrent bool
}

// DefaultClockTargets are the clock fault's targets when Config.Clock
// names none.
var DefaultClockTargets = []string{TargetOne, TargetMinority, TargetAll}

// DefaultConfig returns every fault kind disabled (Faults empty; use
// WithSpec) and sensible sub-options: every option rotated, 5 s interval,
// 20% loss, ±5 s bumps, a 2 s strobe, a 100±20 ms delay and a 2 s leave
// grace.
func DefaultConfig() Config {
	return Config{
		Interval:    5 * time.Second,
		OpAllowance: 500 * time.Millisecond,
		Seed:        1,
		LossPercent: 20,
		Clock: ClockConfig{
			MaxBumpMs:        5000,
			StrobeDeltaMs:    2000,
			StrobePeriodMs:   100,
			StrobeDurationMs: 3000,
		},
		Delay:      DelayConfig{Mean: 100 * time.Millisecond, Jitter: 20 * time.Millisecond},
		Disk:       DiskConfig{Flips: 1},
		LeaveGrace: DefaultLeaveGrace,
	}
}

// KindOptions returns the options the schedule rotates through for kind,
// and whether c names them (then each one is required) rather than leaving
// kind to its defaults (then any one of them satisfies kind).
func (c Config) KindOptions(kind string) (opts []string, named bool) {
	if l := c.Options[kind]; len(l) > 0 {
		return slices.Clone(l), true
	}
	k, _ := KindOf(kind)
	return slices.Clone(k.Options), false
}

// clockTargets returns the clock targets to rotate through.
func (c Config) clockTargets() []string {
	if len(c.Clock.Targets) > 0 {
		return slices.Clone(c.Clock.Targets)
	}
	return slices.Clone(DefaultClockTargets)
}

// WithSpec returns c with the faults (and options) of spec enabled. spec
// is a comma-separated list of fault kinds (Kinds), each optionally
// followed by ":" and "+"-separated options: the kind's options (grudges,
// targets, modes) or its parameters (a loss percentage, a clock target),
// e.g. "partition:leader+bridge,kill:one,loss:30+all,clock:bump+all".
// "" and "none" enable nothing; "all" enables every kind.
func (c Config) WithSpec(spec string) (Config, error) {
	c.Faults, c.Options = nil, nil
	spec = strings.TrimSpace(spec)
	if spec == "" || spec == "none" {
		return c, nil
	}
	if spec == "all" {
		c.Faults = KindNames()
		return c, nil
	}
	for _, part := range strings.Split(spec, ",") {
		name, opts, _ := strings.Cut(strings.TrimSpace(part), ":")
		k, ok := KindOf(name)
		if !ok {
			return c, fmt.Errorf("nemesis: spec %q: unknown fault %q (want some of %v)", spec, name, KindNames())
		}
		if slices.Contains(c.Faults, name) {
			return c, fmt.Errorf("nemesis: spec %q: fault %q given twice", spec, name)
		}
		c.Faults = append(c.Faults, name)
		if opts == "" {
			continue
		}
		var named []string
		for _, o := range strings.Split(opts, "+") {
			switch {
			case slices.Contains(k.allowed(), o):
				named = append(named, o)
			case k.parse != nil && k.parse(&c, o):
			default:
				return c, fmt.Errorf("nemesis: spec %q: %s: unknown option %q (want some of %v)", spec, name, o, k.allowed())
			}
		}
		if len(named) > 0 {
			if c.Options == nil {
				c.Options = map[string][]string{}
			}
			c.Options[name] = named
		}
	}
	return c, c.Validate()
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	for _, f := range c.Faults {
		k, ok := KindOf(f)
		if !ok {
			errs = append(errs, fmt.Errorf("unknown fault %q (want some of %v)", f, KindNames()))
			continue
		}
		named := c.Options[f]
		for i, o := range named {
			if !slices.Contains(k.allowed(), o) {
				errs = append(errs, fmt.Errorf("%s: unknown option %q (want some of %v)", f, o, k.allowed()))
			}
			if slices.Contains(named[:i], o) {
				errs = append(errs, fmt.Errorf("%s: option %q given twice", f, o))
			}
		}
		if k.validate != nil {
			if err := k.validate(c); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f, err))
			}
		}
	}
	for f := range c.Options {
		if !slices.Contains(c.Faults, f) {
			errs = append(errs, fmt.Errorf("options for %q, which is not enabled", f))
		}
	}
	if len(c.Faults) > 0 && c.Interval <= 0 {
		errs = append(errs, fmt.Errorf("interval %v must be > 0", c.Interval))
	}
	if c.OpAllowance < 0 {
		errs = append(errs, fmt.Errorf("op allowance %v must be >= 0", c.OpAllowance))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("nemesis: invalid config: %w", err)
	}
	return nil
}

// New returns the composed nemesis for every fault kind cfg enables, acting
// on cl. Each member draws its random choices from its own generator seeded
// from cfg.Seed, so a run is reproducible given the same cluster behaviour.
func New(cl Cluster, cfg Config) (Nemesis, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var ns []Nemesis
	// Compose tears down in reverse order, the heal's: resume and restart
	// nodes first, then remove netctl rules (exec needs running
	// containers), then reset clocks (the admin endpoint needs running
	// nodes).
	for _, k := range slices.Backward(healOrder()) {
		if !slices.Contains(cfg.Faults, k.Name) {
			continue
		}
		i := slices.IndexFunc(Kinds, func(x Kind) bool { return x.Name == k.Name })
		rng := rand.New(rand.NewPCG(cfg.Seed, 0x6e656d65+uint64(i)))
		opts, _ := cfg.KindOptions(k.Name)
		ns = append(ns, k.new(cl, rng, cfg, opts))
	}
	return Compose(ns...)
}
