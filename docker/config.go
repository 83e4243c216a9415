package docker

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/faultline/faultline/sut"
)

// Label keys put on every container and network this package creates.
const (
	LabelFaultline = "faultline"          // always "1": created by faultline
	LabelRun       = "faultline.run"      // the run id (Config.RunID)
	LabelPID       = "faultline.pid"      // pid of the owning process
	LabelPIDStart  = "faultline.pidstart" // its start time (clock ticks since boot), guards against pid reuse
	LabelHost      = "faultline.host"     // hostname of the owning process
	LabelNode      = "faultline.node"     // the node id, on containers
)

// Config describes a cluster to Start. Use DefaultConfig and change fields.
type Config struct {
	// Nodes is the cluster size: nodes n1..nN. Default 3; at most 9.
	Nodes int
	// System is the system under test; nil means sut.Default() (our
	// store). It says what the image holds and how each node runs.
	System sut.System
	// Options configure the system (read mode, planted bugs, ...); they
	// must pass System.Validate.
	Options sut.Options
	// Image is the node image tag to run; empty builds it with BuildImage
	// (using Build, for System).
	Image string
	// Build configures the image build when Image is empty; Start builds
	// the image of System whatever Build.System says.
	Build BuildConfig
	// StartTimeout bounds Start from creating the containers to "every
	// node ready and a leader agreed" (the image build is not included).
	// Default 60s.
	StartTimeout time.Duration
	// RunID names this run in container/network names and in the
	// faultline.run label. Empty: generated, "<pid>-<random>".
	RunID string
	// Labels are extra labels for every container and network.
	Labels map[string]string
	// Reap removes leftovers of crashed earlier runs (labelled faultline=1,
	// owner pid gone) before starting. DefaultConfig turns it on.
	Reap bool
	// Logger receives progress lines; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultConfig is a 3-node cluster of our store built from the working
// tree, with stale runs reaped.
func DefaultConfig() Config {
	return Config{
		Nodes:        3,
		System:       sut.Default(),
		StartTimeout: 60 * time.Second,
		Reap:         true,
	}
}

var runIDPattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,40}$`)

// Validate reports every problem with c, each saying what to change.
func (c Config) Validate() error {
	var errs []error
	if c.Nodes < 1 || c.Nodes > 9 {
		errs = append(errs, fmt.Errorf("Nodes = %d: use 1..9 (3 or 5 for a fault-tolerant cluster)", c.Nodes))
	}
	if c.System == nil {
		errs = append(errs, fmt.Errorf("System is nil: use sut.ByName(one of %s)", strings.Join(sut.Names(), ", ")))
	} else if err := c.System.Validate(c.Options, nil); err != nil {
		errs = append(errs, fmt.Errorf("Options: %w", err))
	}
	if c.StartTimeout < 0 {
		errs = append(errs, fmt.Errorf("StartTimeout = %v: use a positive duration (0 means the default)", c.StartTimeout))
	}
	if c.RunID != "" && !runIDPattern.MatchString(c.RunID) {
		errs = append(errs, fmt.Errorf("RunID = %q: use 1-41 characters [a-zA-Z0-9_.-], starting with a letter or digit", c.RunID))
	}
	for k := range c.Labels {
		if k == LabelFaultline || strings.HasPrefix(k, LabelFaultline+".") {
			errs = append(errs, fmt.Errorf("Labels[%q]: the faultline label namespace is reserved; pick another key", k))
		}
	}
	return errors.Join(errs...)
}

// withDefaults fills zero fields with DefaultConfig's values.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Nodes == 0 {
		c.Nodes = d.Nodes
	}
	if c.System == nil {
		c.System = d.System
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = d.StartTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// NodeIDs returns n1..nN for a cluster of n nodes.
func NodeIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("n%d", i+1)
	}
	return ids
}

// specs returns every node's spec: node ids are the network aliases other
// nodes reach them by.
func (c Config) specs() map[string]sut.NodeSpec {
	layout := sut.Layout{Nodes: NodeIDs(c.Nodes)}
	out := make(map[string]sut.NodeSpec, c.Nodes)
	for _, id := range layout.Nodes {
		out[id] = c.System.Node(layout, c.Options, id)
	}
	return out
}
