package faultline

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/sut"
	"github.com/faultline/faultline/workload"
)

// Test is the full configuration of one run, as parsed values: every field
// is tied to its flag, its test.json key and its place in the rerun command
// by the params table (params.go). It is written to test.json in the run's
// directory, so a stored run says exactly how it was made.
type Test struct {
	// Name names the test in the store (store/<name>/<start-time>/);
	// empty means "<workload>-<faults>".
	Name string `json:"name"`
	// System is the system under test (sut.ByName): "kvnode" (our store)
	// or "etcd".
	System string `json:"system"`
	// Workload is register, bank, list-append or set.
	Workload workload.Name `json:"workload"`
	// Nemesis is the parsed --nemesis value: the fault kinds and options.
	Nemesis nemesis.Spec `json:"nemesis"`
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
	// ReadMode is the system's read mode: linearizable (safe), or one of
	// the system's deliberately unsafe modes.
	ReadMode sut.ReadMode `json:"read_mode"`
	// LeaseDuration is the store's read lease under --read-mode=lease
	// (kvnode --lease-duration); 0 keeps the node's default (2s).
	LeaseDuration time.Duration `json:"lease_duration"`
	// Unsafe lists the system's planted bugs to turn on, by name (e.g.
	// no-dedup: kvnode --unsafe-no-dedup). Never on by default.
	Unsafe []string `json:"unsafe"`
	// Expect is the verdict the run is expected to give: "valid" for a
	// safe configuration, "invalid" for a planted bug, empty when there is
	// no expectation. Suite scenarios set it; reports show it. The exit
	// code is the verdict's, whatever the expectation.
	Expect Expect `json:"expect"`
	// Store is the directory that holds every run.
	Store string `json:"store"`
	// Image is the node image tag; empty builds it from this checkout.
	Image string `json:"image"`
	// Runtime hosts the cluster: "docker" (the local engine) or
	// "kubernetes" (any cluster a kubeconfig reaches).
	Runtime string `json:"runtime"`
	// Kubeconfig is the kubeconfig of the kubernetes runtime; empty follows
	// kubectl's rules ($KUBECONFIG, then ~/.kube/config).
	Kubeconfig string `json:"kubeconfig"`
	// Quiet turns off the live progress line (not part of the run's
	// configuration: not stored, not in the rerun command).
	Quiet bool `json:"-"`
}

// DefaultTest returns a register test without faults on 3 nodes for 30 s.
func DefaultTest() Test {
	return Test{
		System:          "kvnode",
		Workload:        "register",
		Nemesis:         nemesis.None,
		NemesisInterval: 5 * time.Second,
		Nodes:           3,
		TimeLimit:       30 * time.Second,
		OpTimeout:       2 * time.Second,
		RecoveryTimeout: 60 * time.Second,
		CheckTimeout:    2 * time.Minute,
		Seed:            1,
		ReadMode:        sut.Linearizable,
		Store:           "store",
		Runtime:         RuntimeDocker,
	}
}

// Runtimes that host a run's cluster (Test.Runtime).
const (
	RuntimeDocker     = "docker"
	RuntimeKubernetes = "kubernetes"
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Validate reports every problem with t at once, each saying how to fix it.
func (t Test) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if err := new(workload.Name).Set(string(t.Workload)); err != nil {
		errs = append(errs, err)
	}
	if sys, opts, err := t.system(); err != nil {
		errs = append(errs, err)
	} else if err := sys.Validate(opts, t.Nemesis.Kinds()); err != nil {
		errs = append(errs, err) // read mode, planted bugs, lease, fault kinds
	}
	switch {
	case t.Runtime != "" && t.Runtime != RuntimeDocker && t.Runtime != RuntimeKubernetes:
		bad("runtime %q is unknown: use %s or %s", t.Runtime, RuntimeDocker, RuntimeKubernetes)
	case t.Kubeconfig != "" && t.Runtime != RuntimeKubernetes:
		bad("kubeconfig is for --runtime %s: add it, or drop --kubeconfig", RuntimeKubernetes)
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
	if t.Store == "" {
		bad("store directory is empty: pass --store DIR")
	}
	if ncfg, err := t.nemesisConfig(); err != nil {
		errs = append(errs, err)
	} else if t.NemesisInterval > 0 && t.TimeLimit > 0 {
		if err := ncfg.CheckTimeLimit(t.TimeLimit); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// system returns t's system under test and its options.
func (t Test) system() (sut.System, sut.Options, error) {
	sys, err := sut.ByName(t.System)
	return sys, sut.Options{ReadMode: t.ReadMode, Bugs: t.Unsafe, LeaseDuration: t.LeaseDuration}, err
}

// nemesisConfig is the nemesis configuration of t: its spec's faults and
// options, its interval, schedule shape and seed.
func (t Test) nemesisConfig() (nemesis.Config, error) {
	cfg, err := t.Nemesis.Apply(nemesis.DefaultConfig())
	if err != nil {
		return cfg, fmt.Errorf("nemesis: %w", err)
	}
	cfg.Interval = t.NemesisInterval
	cfg.Concurrent = t.NemesisConcurrent
	cfg.Seed = uint64(t.Seed)
	return cfg, nil
}

// TestName returns t.Name or the name derived from workload and faults,
// prefixed with the system unless it is our store.
func (t Test) TestName() string {
	if t.Name != "" {
		return t.Name
	}
	name := string(t.Workload)
	if !t.Nemesis.IsNone() {
		name += "-" + strings.Join(t.Nemesis.Kinds(), "+")
	}
	if t.System != DefaultTest().System {
		name = t.System + "-" + name
	}
	return name
}

// Workers returns the number of client workers.
func (t Test) Workers() int {
	if t.Concurrency > 0 {
		return t.Concurrency
	}
	return 2 * t.Nodes
}

// Expect is what a run must come back as.
type Expect string

const (
	// ExpectNone: no expectation (a plain run).
	ExpectNone Expect = ""
	// ExpectValid: a safe configuration; any other verdict is a false
	// alarm (or an undetected real bug).
	ExpectValid Expect = "valid"
	// ExpectInvalid: a planted bug; a valid verdict means the harness
	// missed a known bug.
	ExpectInvalid Expect = "invalid"
)

// String implements pflag.Value.
func (e Expect) String() string { return string(e) }

// Set implements pflag.Value.
func (e *Expect) Set(s string) error {
	switch x := Expect(s); x {
	case ExpectNone, ExpectValid, ExpectInvalid:
		*e = x
		return nil
	}
	return fmt.Errorf("expect %q: use valid, invalid or nothing", s)
}

// Type implements pflag.Value.
func (e Expect) Type() string { return "verdict" }
