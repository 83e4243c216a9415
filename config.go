package faultline

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/nemesis"
)

// Read modes the store offers; the unsafe ones exist to prove the checkers.
var readModes = []string{"linearizable", "lease", "stale"}

// Workloads the runner knows.
var workloads = []string{"register", "bank", "list-append", "set"}

// Test is the full configuration of one run. It is written to test.json in
// the run's directory, so a stored run says exactly how it was made.
type Test struct {
	// Name names the test in the store (store/<name>/<start-time>/);
	// empty means "<workload>-<nemesis>".
	Name string `json:"name"`
	// Workload is register, bank, list-append or set.
	Workload string `json:"workload"`
	// Nemesis is a comma-separated list of fault kinds (partition, loss,
	// kill, pause, clock) or "none".
	Nemesis string `json:"nemesis"`
	// NemesisInterval is the time between nemesis operations.
	NemesisInterval time.Duration `json:"nemesis_interval"`
	// NemesisConcurrent gives each fault kind its own start/stop cycle so
	// faults of different kinds overlap; false runs one fault at a time.
	NemesisConcurrent bool `json:"nemesis_concurrent"`
	// Nodes is the cluster size.
	Nodes int `json:"nodes"`
	// Concurrency is the number of client workers; 0 means 2 per node.
	Concurrency int `json:"concurrency"`
	// Rate caps the total client request rate in ops/s; 0 is unlimited.
	Rate float64 `json:"rate"`
	// TimeLimit is the length of the main phase (workload + nemesis).
	TimeLimit time.Duration `json:"time_limit"`
	// OpTimeout is the deadline of every client operation; an op that
	// exceeds it completes as info.
	OpTimeout time.Duration `json:"op_timeout"`
	// RecoveryTimeout bounds the final phase's wait for a healthy cluster.
	RecoveryTimeout time.Duration `json:"recovery_timeout"`
	// CheckTimeout bounds each checker; past it a checker says unknown.
	CheckTimeout time.Duration `json:"check_timeout"`
	// Seed drives every random choice of the run (generators, nemesis
	// schedule); the same seed reproduces the same schedule.
	Seed int64 `json:"seed"`
	// ReadMode is the store's read mode: linearizable (safe), or the
	// deliberately unsafe lease and stale.
	ReadMode string `json:"read_mode"`
	// LeaseDuration is the store's read lease under --read-mode=lease
	// (kvnode --lease-duration); 0 keeps the node's default (2s).
	LeaseDuration time.Duration `json:"lease_duration,omitempty"`
	// UnsafeNoDedup turns off the store's request deduplication (a planted
	// bug: retried appends apply twice).
	UnsafeNoDedup bool `json:"unsafe_no_dedup"`
	// Store is the directory that holds every run.
	Store string `json:"store"`
	// Image is the node image tag; empty builds it from this checkout.
	Image string `json:"image,omitempty"`
	// Quiet turns off the live progress line.
	Quiet bool `json:"-"`
}

// DefaultTest returns a register test without faults on 3 nodes for 30 s.
func DefaultTest() Test {
	return Test{
		Workload:        "register",
		Nemesis:         "none",
		NemesisInterval: 5 * time.Second,
		Nodes:           3,
		TimeLimit:       30 * time.Second,
		OpTimeout:       2 * time.Second,
		RecoveryTimeout: 60 * time.Second,
		CheckTimeout:    2 * time.Minute,
		Seed:            1,
		ReadMode:        "linearizable",
		Store:           "store",
	}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Validate reports every problem with t at once, each saying how to fix it.
func (t Test) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if !slices.Contains(workloads, t.Workload) {
		bad("workload %q is unknown: use one of %s", t.Workload, strings.Join(workloads, ", "))
	}
	if _, err := ParseNemeses(t.Nemesis); err != nil {
		errs = append(errs, err)
	}
	if t.Name != "" && !nameRE.MatchString(t.Name) {
		bad("name %q: use letters, digits, '.', '_' and '-' only", t.Name)
	}
	if t.Nodes < 1 || t.Nodes > 9 {
		bad("nodes = %d: use 1 to 9 (3 or 5 for fault tests)", t.Nodes)
	}
	if t.Concurrency < 0 || t.Concurrency > 1024 {
		bad("concurrency = %d: use 0 (2 per node) to 1024", t.Concurrency)
	}
	if t.Rate < 0 {
		bad("rate = %v: use 0 (unlimited) or a positive ops/s", t.Rate)
	}
	if t.TimeLimit <= 0 {
		bad("time limit = %v: must be positive, e.g. 30s", t.TimeLimit)
	}
	if t.OpTimeout <= 0 {
		bad("op timeout = %v: must be positive, e.g. 2s", t.OpTimeout)
	}
	if t.NemesisInterval <= 0 {
		bad("nemesis interval = %v: must be positive, e.g. 5s", t.NemesisInterval)
	}
	if t.RecoveryTimeout <= 0 || t.CheckTimeout <= 0 {
		bad("recovery and check timeouts must be positive")
	}
	if !slices.Contains(readModes, t.ReadMode) {
		bad("read mode %q is unknown: use linearizable (safe), lease or stale (unsafe)", t.ReadMode)
	}
	if t.LeaseDuration < 0 {
		bad("lease duration = %v: use 0 (node default) or a positive duration", t.LeaseDuration)
	}
	if t.Store == "" {
		bad("store directory is empty: pass --store DIR")
	}
	return errors.Join(errs...)
}

// Nemeses the runner knows, by the name used in --nemesis.
var nemesisKinds = nemesis.FaultKinds

// ParseNemeses returns the fault kinds of a --nemesis value: "none" or ""
// give none, "all" every kind, otherwise a comma-separated list of kinds,
// each with optional nemesis options after a colon ("partition:leader",
// "kill:one+leader", "clock:bump", "loss:30+all"). The whole spec is
// validated by the nemesis package.
func ParseNemeses(spec string) ([]string, error) {
	cfg, err := nemesis.DefaultConfig().WithSpec(spec)
	if err != nil {
		return nil, fmt.Errorf("--nemesis %q: %w (or none, or all)", spec, err)
	}
	return cfg.Faults, nil
}

// TestName returns t.Name or the name derived from workload and nemesis.
func (t Test) TestName() string {
	if t.Name != "" {
		return t.Name
	}
	n, _ := ParseNemeses(t.Nemesis)
	if len(n) == 0 {
		return t.Workload
	}
	return t.Workload + "-" + strings.Join(n, "+")
}

// Workers returns the number of client workers.
func (t Test) Workers() int {
	if t.Concurrency > 0 {
		return t.Concurrency
	}
	return 2 * t.Nodes
}

// RerunCommand returns the faultline command line that reproduces t.
func (t Test) RerunCommand() string {
	d := DefaultTest()
	args := []string{"faultline", "run", "--workload", t.Workload, "--nemesis", orNone(t.Nemesis),
		"--time-limit", t.TimeLimit.String(), "--seed", fmt.Sprint(t.Seed)}
	if t.Name != "" {
		args = append(args, "--name", t.Name)
	}
	if t.Nodes != d.Nodes {
		args = append(args, "--nodes", fmt.Sprint(t.Nodes))
	}
	if t.Concurrency != 0 {
		args = append(args, "--concurrency", fmt.Sprint(t.Concurrency))
	}
	if t.Rate != 0 {
		args = append(args, "--rate", fmt.Sprint(t.Rate))
	}
	if t.NemesisInterval != d.NemesisInterval {
		args = append(args, "--nemesis-interval", t.NemesisInterval.String())
	}
	if t.NemesisConcurrent {
		args = append(args, "--nemesis-concurrent")
	}
	if t.OpTimeout != d.OpTimeout {
		args = append(args, "--op-timeout", t.OpTimeout.String())
	}
	if t.ReadMode != d.ReadMode {
		args = append(args, "--read-mode", t.ReadMode)
	}
	if t.LeaseDuration != 0 {
		args = append(args, "--lease-duration", t.LeaseDuration.String())
	}
	if t.UnsafeNoDedup {
		args = append(args, "--unsafe-no-dedup")
	}
	if t.Store != d.Store {
		args = append(args, "--store", t.Store)
	}
	return strings.Join(args, " ")
}

func orNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "none"
	}
	return s
}
