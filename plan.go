package faultline

import (
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strings"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/faultfs"
	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/sut"
	"github.com/faultline/faultline/workload"
)

// Plan is a Test resolved, once, into the values every phase of its run
// reads: the system and its options, the workload, the nemesis
// configuration and the faults it must run. Test.Plan builds and
// validates it; Run passes it down.
type Plan struct {
	// Test is the configuration the plan was made from.
	Test Test
	// System is the system under test, Options its options.
	System  sut.System
	Options sut.Options
	// Workload is the workload, built with its default options.
	Workload workload.Workload
	// Nemesis is the nemesis configuration: the spec's faults and
	// options, the interval, the schedule's shape and the seed.
	Nemesis nemesis.Config
}

// Plan resolves t and checks that it can run: every problem is reported
// at once, each saying how to fix it.
func (t Test) Plan() (Plan, error) {
	p, err := t.resolve()
	switch {
	case p.Nemesis.Replay != nil:
		err = errors.Join(err, p.Nemesis.Replay.Validate(t.TimeLimit, cluster.NodeIDs(t.Nodes)))
	case t.NemesisInterval > 0 && t.TimeLimit > 0:
		err = errors.Join(err, p.Nemesis.CheckTimeLimit(t.TimeLimit))
	}
	return p, errors.Join(err, t.runnable())
}

// resolve builds t's plan: the system, the workload and the nemesis
// configuration, each checked against what it knows (a read mode, a
// planted bug, a fault kind the system cannot take). A stored run's test
// resolves even when a run could no longer start from it.
func (t Test) resolve() (Plan, error) {
	var errs []error
	RegisterSystems()
	p := Plan{Test: t, Options: sut.Options{ReadMode: t.ReadMode, Bugs: t.Unsafe, LeaseDuration: t.LeaseDuration, Version: t.SystemVersion}}
	settings, err := parseSettings(t.SystemOpt)
	if err != nil {
		errs = append(errs, err)
	}
	p.Options.Settings = settings
	if p.Workload, err = workload.ByName(string(t.Workload), workload.DefaultOptions()); err != nil {
		errs = append(errs, err)
	}
	if p.System, err = sut.ByName(t.System); err != nil {
		errs = append(errs, err)
	} else if err := p.System.Info().Validate(p.Options); err != nil {
		errs = append(errs, err) // read mode, planted bugs, lease, version, settings
	}
	if info := p.System; info != nil {
		if w := info.Info().Workloads; len(w) > 0 && !slices.Contains(w, string(t.Workload)) {
			errs = append(errs, fmt.Errorf("%s runs only the %s workload, not %s: use --workload=%s", info.Info().Name, orList(w), t.Workload, w[0]))
		}
	}
	if p.Nemesis, err = t.NemesisConfig(); err != nil {
		errs = append(errs, err)
	} else {
		if p.System != nil {
			errs = append(errs, p.refuseFaults()...)
			p.Nemesis.Disk.Root = p.diskRoot()
			if len(p.Nemesis.Disk.Files) == 0 {
				p.Nemesis.Disk.Files = p.System.Info().DiskFiles
			}
		}
	}
	return p, errors.Join(errs...)
}

// parseSettings parses --system-opt's key=value pairs.
func parseSettings(opts []string) (map[string]string, error) {
	if len(opts) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, o := range opts {
		k, v, ok := strings.Cut(o, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--system-opt %q: use key=value (e.g. sync_interval=always)", o)
		}
		out[k] = v
	}
	return out, nil
}

// runnable reports what keeps t from running, besides what resolve finds.
func (t Test) runnable() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch {
	case t.Runtime != RuntimeDocker && t.Runtime != RuntimeKubernetes:
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
	return errors.Join(errs...)
}

// NemesisConfig is t's nemesis configuration: its spec's faults and
// options, its interval, schedule shape and seed.
func (t Test) NemesisConfig() (nemesis.Config, error) {
	cfg, err := t.Nemesis.Apply(nemesis.DefaultConfig())
	if err != nil {
		return cfg, fmt.Errorf("nemesis: %w", err)
	}
	cfg.Interval, cfg.Concurrent, cfg.Seed = t.NemesisInterval, t.NemesisConcurrent, uint64(t.Seed)
	if t.Schedule == "" {
		return cfg, nil
	}
	if !t.Nemesis.IsNone() {
		return cfg, fmt.Errorf("--schedule and --nemesis %s cannot be given together: the schedule names its faults (drop --nemesis)", t.Nemesis)
	}
	s, err := nemesis.ReadScheduleFile(t.Schedule)
	if err != nil {
		return cfg, err
	}
	cfg.Faults, cfg.Replay = s.Kinds(), &s
	return cfg, nil
}

// refuseFaults names every fault kind of the spec that the system cannot
// take, by name and with why (a kind needs what the system lacks).
func (p Plan) refuseFaults() []error {
	info := p.System.Info()
	has := map[nemesis.Need]bool{nemesis.NeedClockHook: info.ClockHook, nemesis.NeedDisk: true,
		nemesis.NeedDiskFiles: len(info.DiskFiles) > 0, nemesis.NeedMembership: info.Membership}
	var ok []string
	for _, k := range nemesis.Kinds {
		if !slices.ContainsFunc(k.Needs, func(n nemesis.Need) bool { return !has[n] }) {
			ok = append(ok, k.Name)
		}
	}
	var errs []error
	for _, f := range p.Nemesis.Faults {
		k, _ := nemesis.KindOf(f)
		for _, n := range k.Needs {
			if !has[n] {
				errs = append(errs, fmt.Errorf("%s does not support the %s fault (it has no %s); use %s",
					info.Name, f, n, orList(ok)))
			}
		}
	}
	return errs
}

// diskRoot is where a node's data directory lies on faultfs's backing
// store: its durable files' root for the corrupt fault.
func (p Plan) diskRoot() string {
	spec := p.System.Node(cluster.DefaultSpec().Layout(), p.Options, "n1")
	rel := strings.TrimPrefix(strings.TrimPrefix(spec.DataDir, sut.DataRoot), "/")
	return path.Join(faultfs.Backing, rel)
}

// Disk says whether the run's faults need the nodes' data on faultfs.
func (p Plan) Disk() bool {
	for _, f := range p.Nemesis.Faults {
		if k, _ := nemesis.KindOf(f); slices.Contains(k.Needs, nemesis.NeedDisk) {
			return true
		}
	}
	return false
}

// Bugs are the planted bugs the run turns on, in the system's words.
func (p Plan) Bugs() []sut.Bug { return p.System.Info().On(p.Options) }

// Spec is the cluster the run starts, for its runtime.
func (p Plan) Spec(log *slog.Logger) cluster.Spec {
	s := cluster.DefaultSpec()
	s.Nodes, s.System, s.Options, s.Image, s.Logger = p.Test.Nodes, p.System, p.Options, p.Test.Image, log
	s.Disk = p.Disk()
	return s
}

// Checkers returns the run's checkers, writing their artifacts into dir:
// the workload's model checker (checker.New, the models `faultline check`
// knows) and the figures every run gets, each bounded by the check
// timeout.
func (p Plan) Checkers(dir string) ([]checker.Checker, error) {
	info := p.Workload.Info()
	cfg := checker.DefaultConfig()
	cfg.OutDir, cfg.BankTotal, cfg.BankAccounts = dir, info.Total, info.Accounts
	m, err := checker.New(info.Model, cfg)
	if err != nil {
		return nil, fmt.Errorf("workload %s: checker %q: %w", info.Name, info.Model, err)
	}
	var cs []checker.Checker
	for _, c := range append([]checker.Checker{m}, checker.Figures(p.Test.Workers())...) {
		cs = append(cs, checker.WithTimeLimit(c, p.Test.CheckTimeout))
	}
	return cs, nil
}

// orList joins "a, b or c".
func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}
