package nemesis

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Fault kinds, the names used in a spec ("partition,kill,pause,clock,loss").
const (
	FaultPartition = "partition"
	FaultLoss      = "loss"
	FaultKill      = "kill"
	FaultPause     = "pause"
	FaultClock     = "clock"
)

// FaultKinds lists every fault kind in canonical order.
var FaultKinds = []string{FaultPartition, FaultLoss, FaultKill, FaultPause, FaultClock}

// Clock modes.
const (
	ClockBump   = "bump"
	ClockStrobe = "strobe"
)

// Config configures the nemesis and its schedule.
//
// The option lists (Grudges, KillTargets, PauseTargets, LossTargets,
// Clock.Modes) say which options a fault kind rotates through. Left empty,
// a kind rotates through its defaults (DefaultOptions) and any one of them
// satisfies it; given (WithSpec fills them from "kind:opt+opt"), every
// option listed is a fault the schedule must run (Required).
type Config struct {
	// Faults are the enabled fault kinds (FaultKinds); empty means none.
	Faults []string
	// Interval is the time between schedule steps (--nemesis-interval):
	// a fault starts, Interval later it stops, Interval later the next
	// starts.
	Interval time.Duration
	// Seed drives every random choice (schedule, nodes, deltas).
	Seed uint64
	// Grudges are the partition shapes (GrudgeKinds); empty: all of them.
	Grudges []string
	// KillTargets and PauseTargets are the targets (Targets); empty: all.
	KillTargets  []string
	PauseTargets []string
	// LossPercent is the packet loss percentage (1..100).
	LossPercent int
	// LossTargets choose the nodes whose links lose packets; empty: all,
	// one and leader.
	LossTargets []string
	// Clock configures clock faults; its Modes are the clock fault's
	// options (empty: bump and strobe), its Targets rotate too (empty:
	// one, minority, all) but are not separate faults.
	Clock ClockConfig
	// Concurrent gives each enabled fault kind its own start/stop cycle,
	// staggered, so faults of different kinds overlap (e.g. a clock bump
	// while the leader is partitioned away); false runs one fault at a time.
	Concurrent bool
}

// DefaultOptions are the options each fault kind rotates through when
// Config names none.
var DefaultOptions = map[string][]string{
	FaultPartition: GrudgeKinds,
	FaultLoss:      {TargetAll, TargetOne, TargetLeader},
	FaultKill:      Targets,
	FaultPause:     Targets,
	FaultClock:     {ClockBump, ClockStrobe},
}

// DefaultClockTargets are the clock fault's targets when Config.Clock
// names none.
var DefaultClockTargets = []string{TargetOne, TargetMinority, TargetAll}

// DefaultConfig returns every fault kind disabled (Faults empty; use
// WithSpec) and sensible sub-options: every option rotated, 5 s interval,
// 20% loss, ±5 s bumps and a 2 s strobe.
func DefaultConfig() Config {
	return Config{
		Interval:    5 * time.Second,
		Seed:        1,
		LossPercent: 20,
		Clock: ClockConfig{
			MaxBumpMs:        5000,
			StrobeDeltaMs:    2000,
			StrobePeriodMs:   100,
			StrobeDurationMs: 3000,
		},
	}
}

// named returns the option list c holds for kind (nil when c names none).
func (c Config) named(kind string) []string {
	switch kind {
	case FaultPartition:
		return c.Grudges
	case FaultLoss:
		return c.LossTargets
	case FaultKill:
		return c.KillTargets
	case FaultPause:
		return c.PauseTargets
	case FaultClock:
		return c.Clock.Modes
	}
	return nil
}

// Options returns the options the schedule rotates through for kind, and
// whether c names them (then each one is required) rather than leaving
// kind to its defaults (then any one of them satisfies kind).
func (c Config) Options(kind string) (opts []string, named bool) {
	if l := c.named(kind); len(l) > 0 {
		return slices.Clone(l), true
	}
	return slices.Clone(DefaultOptions[kind]), false
}

// clockTargets returns the clock targets to rotate through.
func (c Config) clockTargets() []string {
	if len(c.Clock.Targets) > 0 {
		return slices.Clone(c.Clock.Targets)
	}
	return slices.Clone(DefaultClockTargets)
}

// WithSpec returns c with the faults (and sub-options) of spec enabled.
// spec is a comma-separated list of fault kinds, each optionally followed
// by ":" and "+"-separated options:
//
//	partition[:halves+majority-ring+...]  grudges
//	kill[:one+leader+...]                 kill targets
//	pause[:minority+...]                  pause targets
//	clock[:bump+strobe]                   clock modes
//	loss[:30+all+one]                     a number is the percentage, the rest targets
//
// "" and "none" enable nothing; "all" enables every kind.
func (c Config) WithSpec(spec string) (Config, error) {
	c.Faults = nil
	spec = strings.TrimSpace(spec)
	if spec == "" || spec == "none" {
		return c, nil
	}
	if spec == "all" {
		c.Faults = slices.Clone(FaultKinds)
		return c, nil
	}
	for _, part := range strings.Split(spec, ",") {
		kind, opts, _ := strings.Cut(strings.TrimSpace(part), ":")
		if !slices.Contains(FaultKinds, kind) {
			return c, fmt.Errorf("nemesis: spec %q: unknown fault %q (want some of %v)", spec, kind, FaultKinds)
		}
		if slices.Contains(c.Faults, kind) {
			return c, fmt.Errorf("nemesis: spec %q: fault %q given twice", spec, kind)
		}
		c.Faults = append(c.Faults, kind)
		if opts == "" {
			continue
		}
		list := strings.Split(opts, "+")
		switch kind {
		case FaultPartition:
			c.Grudges = list
		case FaultKill:
			c.KillTargets = list
		case FaultPause:
			c.PauseTargets = list
		case FaultClock:
			// Options are modes (bump, strobe) or targets (one, all, ...).
			var modes, targets []string
			for _, o := range list {
				if slices.Contains(Targets, o) {
					targets = append(targets, o)
				} else {
					modes = append(modes, o)
				}
			}
			if len(modes) > 0 {
				c.Clock.Modes = modes
			}
			if len(targets) > 0 {
				c.Clock.Targets = targets
			}
		case FaultLoss:
			// A lone percentage ("loss:30") keeps the default targets.
			var targets []string
			for _, o := range list {
				if p, err := strconv.Atoi(o); err == nil {
					c.LossPercent = p
				} else {
					targets = append(targets, o)
				}
			}
			if len(targets) > 0 {
				c.LossTargets = targets
			}
		}
	}
	return c, c.Validate()
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	for _, f := range c.Faults {
		if !slices.Contains(FaultKinds, f) {
			errs = append(errs, fmt.Errorf("unknown fault %q (want some of %v)", f, FaultKinds))
		}
	}
	if len(c.Faults) > 0 && c.Interval <= 0 {
		errs = append(errs, fmt.Errorf("interval %v must be > 0", c.Interval))
	}
	check := func(name string, got, allowed []string) {
		for i, g := range got {
			if !slices.Contains(allowed, g) {
				errs = append(errs, fmt.Errorf("%s: unknown %q (want some of %v)", name, g, allowed))
			}
			if slices.Contains(got[:i], g) {
				errs = append(errs, fmt.Errorf("%s: %q given twice", name, g))
			}
		}
	}
	on := func(f string) bool { return slices.Contains(c.Faults, f) }
	if on(FaultPartition) {
		check("grudges", c.Grudges, GrudgeKinds)
	}
	if on(FaultKill) {
		check("kill targets", c.KillTargets, Targets)
	}
	if on(FaultPause) {
		check("pause targets", c.PauseTargets, Targets)
	}
	if on(FaultLoss) {
		check("loss targets", c.LossTargets, Targets)
		if c.LossPercent < 1 || c.LossPercent > 100 {
			errs = append(errs, fmt.Errorf("loss percent %d out of range 1..100", c.LossPercent))
		}
	}
	if on(FaultClock) {
		check("clock modes", c.Clock.Modes, []string{ClockBump, ClockStrobe})
		check("clock targets", c.Clock.Targets, Targets)
		modes, _ := c.Options(FaultClock)
		if slices.Contains(modes, ClockBump) && c.Clock.MaxBumpMs <= 0 {
			errs = append(errs, fmt.Errorf("clock max bump %d ms must be > 0", c.Clock.MaxBumpMs))
		}
		if slices.Contains(modes, ClockStrobe) &&
			(c.Clock.StrobeDeltaMs <= 0 || c.Clock.StrobePeriodMs <= 0 || c.Clock.StrobeDurationMs <= 0) {
			errs = append(errs, fmt.Errorf("clock strobe delta/period/duration %d/%d/%d ms must all be > 0",
				c.Clock.StrobeDeltaMs, c.Clock.StrobePeriodMs, c.Clock.StrobeDurationMs))
		}
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
	// Compose tears down in reverse order: resume and restart nodes first,
	// then remove netctl rules (exec needs running containers), then reset
	// clocks (the admin endpoint needs running nodes).
	for _, f := range []string{FaultClock, FaultLoss, FaultPartition, FaultKill, FaultPause} {
		if !slices.Contains(cfg.Faults, f) {
			continue
		}
		rng := rand.New(rand.NewPCG(cfg.Seed, 0x6e656d65+uint64(slices.Index(FaultKinds, f))))
		opts, _ := cfg.Options(f)
		switch f {
		case FaultPartition:
			ns = append(ns, NewPartition(cl, rng, opts))
		case FaultLoss:
			ns = append(ns, NewLoss(cl, rng, cfg.LossPercent, opts))
		case FaultKill:
			ns = append(ns, NewKill(cl, rng, opts))
		case FaultPause:
			ns = append(ns, NewPause(cl, rng, opts))
		case FaultClock:
			cc := cfg.Clock
			cc.Modes, cc.Targets = opts, cfg.clockTargets()
			ns = append(ns, NewClock(cl, rng, cc))
		}
	}
	return Compose(ns...)
}
