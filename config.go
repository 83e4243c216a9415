package faultline

import (
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
	// System is the system under test (sut.ByName): "kvnode" (our store),
	// "etcd", or a system a program registered.
	System string `json:"system"`
	// SystemVersion is the server release to build (--system-version),
	// for systems that have versions; empty means the system's default.
	SystemVersion string `json:"system_version"`
	// SystemOpt are server settings, key=value (--system-opt), each one
	// the system declares (sut.Info.Settings).
	SystemOpt []string `json:"system_opt"`
	// Workload is register, bank, list-append, set or queue.
	Workload workload.Name `json:"workload"`
	// Nemesis is the parsed --nemesis value: the fault kinds and options.
	Nemesis nemesis.Spec `json:"nemesis"`
	// Schedule is an explicit fault schedule file (nemesis.ScheduleFile,
	// as every run writes schedule.json) to replay instead of a generated
	// schedule; Nemesis must then be none. The workload keeps its seed.
	Schedule string `json:"schedule"`
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

// Validate reports every problem with t at once, each saying how to fix
// it (Plan).
func (t Test) Validate() error {
	_, err := t.Plan()
	return err
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
	if t.Schedule != "" {
		name += "-schedule"
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
