package docker

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"
)

// Ports inside every node container.
const (
	RaftPort   = 7000 // raft transport, private network only
	ClientPort = 7001 // kv client protocol, published on 127.0.0.1
	AdminPort  = 7002 // admin HTTP (/healthz, /status, /fault/...), published on 127.0.0.1
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

// Read modes accepted by kvnode --read-mode.
const (
	ReadLinearizable = "linearizable"
	ReadLease        = "lease"
	ReadStale        = "stale"
)

// Config describes a cluster to Start. Use DefaultConfig and change fields.
type Config struct {
	// Nodes is the cluster size: nodes n1..nN. Default 3; at most 9.
	Nodes int
	// Image is the node image tag to run; empty builds it with BuildImage
	// (using Build).
	Image string
	// Build configures the image build when Image is empty.
	Build BuildConfig
	// ReadMode is kvnode --read-mode: linearizable, lease or stale; empty
	// leaves kvnode's default.
	ReadMode string
	// UnsafeNoDedup passes --unsafe-no-dedup (disables request
	// deduplication: a deliberately broken mode for checker tests).
	UnsafeNoDedup bool
	// EnableFaultInjection passes --enable-fault-injection (the clock
	// nemesis's /fault/clock endpoint). DefaultConfig turns it on.
	EnableFaultInjection bool
	// KVNodeArgs are extra kvnode flags, appended after the ones above.
	KVNodeArgs []string
	// StartTimeout bounds Start from creating the containers to "every
	// node healthy and a leader elected" (the image build is not
	// included). Default 60s.
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

// DefaultConfig is a 3-node cluster built from the working tree, with fault
// injection enabled and stale runs reaped.
func DefaultConfig() Config {
	return Config{
		Nodes:                3,
		Build:                DefaultBuildConfig(),
		EnableFaultInjection: true,
		StartTimeout:         60 * time.Second,
		Reap:                 true,
	}
}

var runIDPattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,40}$`)

// Validate reports the first problem with c, saying what to change.
func (c Config) Validate() error {
	var errs []error
	if c.Nodes < 1 || c.Nodes > 9 {
		errs = append(errs, fmt.Errorf("Nodes = %d: use 1..9 (3 or 5 for a fault-tolerant cluster)", c.Nodes))
	}
	switch c.ReadMode {
	case "", ReadLinearizable, ReadLease, ReadStale:
	default:
		errs = append(errs, fmt.Errorf("ReadMode = %q: use %q, %q or %q", c.ReadMode, ReadLinearizable, ReadLease, ReadStale))
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
	for _, a := range c.KVNodeArgs {
		for _, reserved := range []string{"--id", "--peers", "--data", "--raft-addr", "--client-addr", "--admin-addr"} {
			if a == reserved || strings.HasPrefix(a, reserved+"=") {
				errs = append(errs, fmt.Errorf("KVNodeArgs: %s is set by the runtime; remove it", reserved))
			}
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
	if c.StartTimeout == 0 {
		c.StartTimeout = d.StartTimeout
	}
	if c.Build.isZero() {
		c.Build = d.Build
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

// kvnodeArgs is the command line of node id in a cluster of c.Nodes.
func (c Config) kvnodeArgs(id string) []string {
	ids := NodeIDs(c.Nodes)
	peers := make([]string, len(ids))
	for i, p := range ids {
		peers[i] = fmt.Sprintf("%s=%s:%d", p, p, RaftPort)
	}
	args := []string{
		"--id", id,
		"--peers", strings.Join(peers, ","),
		"--data", "/data",
		"--raft-addr", fmt.Sprintf("0.0.0.0:%d", RaftPort),
		"--client-addr", fmt.Sprintf("0.0.0.0:%d", ClientPort),
		"--admin-addr", fmt.Sprintf("0.0.0.0:%d", AdminPort),
	}
	if c.ReadMode != "" {
		args = append(args, "--read-mode", c.ReadMode)
	}
	if c.UnsafeNoDedup {
		args = append(args, "--unsafe-no-dedup")
	}
	if c.EnableFaultInjection {
		args = append(args, "--enable-fault-injection")
	}
	return append(args, c.KVNodeArgs...)
}
