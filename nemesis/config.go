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

// DefaultHealTimeout bounds how long HealAll waits for the cluster to be
// healthy again.
const DefaultHealTimeout = 30 * time.Second

// Config configures the nemesis and its schedule.
type Config struct {
	// Faults are the enabled fault kinds (FaultKinds); empty means none.
	Faults []string
	// Interval is the time between schedule steps (--nemesis-interval):
	// a fault starts, Interval later it stops, Interval later the next
	// starts.
	Interval time.Duration
	// Seed drives every random choice (schedule, nodes, deltas).
	Seed uint64
	// Grudges are the partition shapes to choose from (GrudgeKinds).
	Grudges []string
	// KillTargets and PauseTargets are the targets to choose from (Targets).
	KillTargets  []string
	PauseTargets []string
	// LossPercent is the packet loss percentage (1..100); LossTargets
	// choose the nodes whose links lose packets.
	LossPercent int
	LossTargets []string
	// Clock configures clock faults.
	Clock ClockConfig
	// Concurrent gives each enabled fault kind its own start/stop cycle,
	// staggered, so faults of different kinds overlap (e.g. a clock bump
	// while the leader is partitioned away); false runs one fault at a time.
	Concurrent bool
}

// DefaultConfig returns every fault kind disabled (Faults empty; use
// WithSpec) and sensible sub-options: all grudges, all targets, 5 s
// interval, 20% loss on all links, ±5 s bumps and a 2 s strobe.
func DefaultConfig() Config {
	return Config{
		Interval:     5 * time.Second,
		Seed:         1,
		Grudges:      slices.Clone(GrudgeKinds),
		KillTargets:  slices.Clone(Targets),
		PauseTargets: slices.Clone(Targets),
		LossPercent:  20,
		LossTargets:  []string{TargetAll, TargetOne, TargetLeader},
		Clock: ClockConfig{
			Modes:            []string{ClockBump, ClockStrobe},
			Targets:          []string{TargetOne, TargetMinority, TargetAll},
			MaxBumpMs:        5000,
			StrobeDeltaMs:    2000,
			StrobePeriodMs:   100,
			StrobeDurationMs: 3000,
		},
	}
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
			c.LossTargets = nil
			for _, o := range list {
				if p, err := strconv.Atoi(o); err == nil {
					c.LossPercent = p
				} else {
					c.LossTargets = append(c.LossTargets, o)
				}
			}
			if len(c.LossTargets) == 0 {
				c.LossTargets = []string{TargetAll}
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
		if len(got) == 0 {
			errs = append(errs, fmt.Errorf("%s: empty (want some of %v)", name, allowed))
		}
		for _, g := range got {
			if !slices.Contains(allowed, g) {
				errs = append(errs, fmt.Errorf("%s: unknown %q (want some of %v)", name, g, allowed))
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
		if slices.Contains(c.Clock.Modes, ClockBump) && c.Clock.MaxBumpMs <= 0 {
			errs = append(errs, fmt.Errorf("clock max bump %d ms must be > 0", c.Clock.MaxBumpMs))
		}
		if slices.Contains(c.Clock.Modes, ClockStrobe) &&
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
		switch f {
		case FaultPartition:
			ns = append(ns, NewPartition(cl, rng, cfg.Grudges))
		case FaultLoss:
			ns = append(ns, NewLoss(cl, rng, cfg.LossPercent, cfg.LossTargets))
		case FaultKill:
			ns = append(ns, NewKill(cl, rng, cfg.KillTargets))
		case FaultPause:
			ns = append(ns, NewPause(cl, rng, cfg.PauseTargets))
		case FaultClock:
			ns = append(ns, NewClock(cl, rng, cfg.Clock))
		}
	}
	return Compose(ns...)
}
