package faultline

import (
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/sut"
	"github.com/faultline/faultline/workload"
)

// param ties one field of Test to its flag, its test.json key (the flag's
// name with '_' for '-') and its place in the rerun command. params is the
// one table of them: BindFlags registers the flags from it, Args writes
// the rerun command from it, and a test checks that test.json's keys are
// exactly its keys, so none of them can drift.
type param struct {
	flag  string
	usage string
	// list, if set, ends usage with the values the registries know (so
	// --help cannot fall behind them).
	list func() string
	// always puts the flag in the rerun command even at its default value
	// (the ones a reader wants to see).
	always bool
	// bind registers the flag on fs, bound to the field of t.
	bind func(fs *pflag.FlagSet, t *Test, name, usage string)
}

// params lists every field of Test that configures a run, in rerun order.
var params = []param{
	{flag: "workload", always: true, usage: "workload:", list: func() string { return strings.Join(workload.Names(), ", ") },
		bind: func(fs *pflag.FlagSet, t *Test, n, u string) { fs.Var(&t.Workload, n, u) }},
	{flag: "nemesis", always: true, usage: "faults: none, all, or a comma-separated list of kinds, each with options after ':' joined by '+' (e.g. partition:leader+bridge,kill:one):", list: faultKinds,
		bind: func(fs *pflag.FlagSet, t *Test, n, u string) { fs.Var(&t.Nemesis, n, u) }},
	{flag: "schedule", usage: "replay this fault schedule file (a run's schedule.json, or a shrink's minimal one) instead of --nemesis",
		bind: func(fs *pflag.FlagSet, t *Test, n, u string) { fs.StringVar(&t.Schedule, n, t.Schedule, u) }},
	{flag: "time-limit", always: true, usage: "length of the main phase",
		bind: func(fs *pflag.FlagSet, t *Test, n, u string) { fs.DurationVar(&t.TimeLimit, n, t.TimeLimit, u) }},
	{flag: "seed", always: true, usage: "seed for every random choice; the same seed reproduces the schedule",
		bind: func(fs *pflag.FlagSet, t *Test, n, u string) { fs.Int64Var(&t.Seed, n, t.Seed, u) }},
	{flag: "name", usage: "test name in the store (default <workload>-<faults>)",
		bind: func(fs *pflag.FlagSet, t *Test, n, u string) { fs.StringVar(&t.Name, n, t.Name, u) }},
	{flag: "system", usage: "system under test (kvnode: our store):", list: func() string { RegisterSystems(); return strings.Join(sut.Names(), ", ") },
		bind: func(fs *pflag.FlagSet, t *Test, n, u string) { fs.StringVar(&t.System, n, t.System, u) }},
	{flag: "system-version", usage: "server release to build and run, for systems that have versions (default: the newest that builds):", list: systemVersions,
		bind: func(fs *pflag.FlagSet, t *Test, n, u string) { fs.StringVar(&t.SystemVersion, n, t.SystemVersion, u) }},
	{flag: "system-opt", usage: "server settings, key=value, comma-separated:", list: systemSettings,
		bind: func(fs *pflag.FlagSet, t *Test, n, u string) { fs.Var(&listValue{l: &t.SystemOpt}, n, u) }},
	{flag: "nodes", usage: "cluster size",
		bind: func(fs *pflag.FlagSet, t *Test, n, u string) { fs.IntVar(&t.Nodes, n, t.Nodes, u) }},
	{flag: "concurrency", usage: "client workers (0: 2 per node)",
		bind: func(fs *pflag.FlagSet, t *Test, n, u string) { fs.IntVar(&t.Concurrency, n, t.Concurrency, u) }},
	{flag: "rate", usage: "total client request rate cap in ops/s (0: unlimited)",
		bind: func(fs *pflag.FlagSet, t *Test, n, u string) { fs.Float64Var(&t.Rate, n, t.Rate, u) }},
	{flag: "nemesis-interval", usage: "time between nemesis operations",
		bind: func(fs *pflag.FlagSet, t *Test, n, u string) {
			fs.DurationVar(&t.NemesisInterval, n, t.NemesisInterval, u)
		}},
	{flag: "nemesis-concurrent", usage: "run each fault kind on its own cycle so faults overlap (default: one fault at a time)",
		bind: func(fs *pflag.FlagSet, t *Test, n, u string) {
			fs.BoolVar(&t.NemesisConcurrent, n, t.NemesisConcurrent, u)
		}},
	{flag: "op-timeout", usage: "deadline of each client operation (past it: info)",
		bind: func(fs *pflag.FlagSet, t *Test, n, u string) { fs.DurationVar(&t.OpTimeout, n, t.OpTimeout, u) }},
	{flag: "recovery-timeout", usage: "how long the final phase waits for a healthy cluster",
		bind: func(fs *pflag.FlagSet, t *Test, n, u string) {
			fs.DurationVar(&t.RecoveryTimeout, n, t.RecoveryTimeout, u)
		}},
	{flag: "check-timeout", usage: "time limit per checker (past it: unknown)",
		bind: func(fs *pflag.FlagSet, t *Test, n, u string) { fs.DurationVar(&t.CheckTimeout, n, t.CheckTimeout, u) }},
	{flag: "read-mode", usage: "read mode: linearizable, or an UNSAFE mode of the system (a planted bug)", list: unsafeReadModes,
		bind: func(fs *pflag.FlagSet, t *Test, n, u string) { fs.Var(&t.ReadMode, n, u) }},
	{flag: "lease-duration", usage: "kvnode's read lease under --read-mode=lease (0: node default 2s)",
		bind: func(fs *pflag.FlagSet, t *Test, n, u string) {
			fs.DurationVar(&t.LeaseDuration, n, t.LeaseDuration, u)
		}},
	{flag: "unsafe", usage: "UNSAFE planted bugs of the system to turn on, comma-separated", list: plantedBugs,
		bind: func(fs *pflag.FlagSet, t *Test, n, u string) { fs.Var(&listValue{l: &t.Unsafe}, n, u) }},
	{flag: "expect", usage: "the verdict this run should give (valid, or invalid for a planted bug); reports show it, the exit code stays the verdict's",
		bind: func(fs *pflag.FlagSet, t *Test, n, u string) { fs.Var(&t.Expect, n, u) }},
	{flag: "store", usage: "directory holding every run",
		bind: func(fs *pflag.FlagSet, t *Test, n, u string) { fs.StringVar(&t.Store, n, t.Store, u) }},
	{flag: "image", usage: "node image tag (default: build from this checkout)",
		bind: func(fs *pflag.FlagSet, t *Test, n, u string) { fs.StringVar(&t.Image, n, t.Image, u) }},
	{flag: "runtime", usage: "where the cluster runs: docker (the local engine) or kubernetes (pods, through --kubeconfig)",
		bind: func(fs *pflag.FlagSet, t *Test, n, u string) { fs.StringVar(&t.Runtime, n, t.Runtime, u) }},
	{flag: "kubeconfig", usage: "kubeconfig of the kubernetes runtime (default: $KUBECONFIG, then ~/.kube/config)",
		bind: func(fs *pflag.FlagSet, t *Test, n, u string) { fs.StringVar(&t.Kubeconfig, n, t.Kubeconfig, u) }},
}

// BindFlags registers a flag for every field of the run configuration on
// fs, bound to t, or, when only names flags, for those alone (a command
// that takes a few of them: suite's --store, analyze's --check-timeout).
// t's values are the defaults shown in --help.
func BindFlags(fs *pflag.FlagSet, t *Test, only ...string) {
	for _, p := range params {
		if len(only) > 0 && !slices.Contains(only, p.flag) {
			continue
		}
		u := p.usage
		if p.list != nil {
			u += " " + p.list()
		}
		p.bind(fs, t, p.flag, u)
	}
}

// faultKinds lists the fault kinds, each with what it takes.
func faultKinds() string {
	var l []string
	for _, k := range nemesis.Kinds {
		l = append(l, k.Name+" ("+k.Doc+")")
	}
	return strings.Join(l, "; ")
}

// unsafeReadModes lists each system's unsafe read modes (planted bugs).
func unsafeReadModes() string {
	return perSystem(func(i sut.Info) []string {
		var modes []string
		for _, m := range i.ReadModes()[1:] {
			modes = append(modes, string(m))
		}
		return modes
	})
}

// plantedBugs lists each system's --unsafe bugs.
func plantedBugs() string {
	return perSystem(func(i sut.Info) []string {
		var bugs []string
		for _, b := range i.Bugs {
			if !b.ReadMode {
				bugs = append(bugs, b.Name)
			}
		}
		return bugs
	})
}

// systemVersions lists each versioned system's default release.
func systemVersions() string {
	return perSystem(func(i sut.Info) []string {
		if i.DefaultVersion == "" {
			return nil
		}
		return []string{i.DefaultVersion}
	})
}

// systemSettings lists each system's settings.
func systemSettings() string {
	return perSystem(func(i sut.Info) []string {
		var names []string
		for _, s := range i.Settings {
			names = append(names, s.Name)
		}
		return names
	})
}

// perSystem lists names(s) for each system that has any:
// "(kvnode: a, b; etcd: c)".
func perSystem(names func(sut.Info) []string) string {
	RegisterSystems()
	var per []string
	for _, name := range sut.Names() {
		s, _ := sut.ByName(name)
		if l := names(s.Info()); len(l) > 0 {
			per = append(per, name+": "+strings.Join(l, ", "))
		}
	}
	return "(" + strings.Join(per, "; ") + ")"
}

// jsonKey is the test.json key of a flag.
func jsonKey(flag string) string { return strings.ReplaceAll(flag, "-", "_") }

// values returns every parameter of t as its flag's text, by flag name.
func (t Test) values() map[string]string {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	BindFlags(fs, &t)
	out := make(map[string]string, len(params))
	fs.VisitAll(func(f *pflag.Flag) { out[f.Name] = f.Value.String() })
	return out
}

// Args returns the faultline run arguments that reproduce t: every
// parameter that differs from DefaultTest, and the ones always shown.
func (t Test) Args() []string {
	have, def := t.values(), DefaultTest().values()
	var args []string
	for _, p := range params {
		if v := have[p.flag]; p.always || v != def[p.flag] {
			args = append(args, "--"+p.flag+"="+v)
		}
	}
	return args
}

// RerunCommand returns the faultline command line that reproduces t, each
// argument quoted for a POSIX shell where it needs it.
func (t Test) RerunCommand() string {
	words := []string{"faultline", "run"}
	for _, a := range t.Args() {
		words = append(words, shellQuote(a))
	}
	return strings.Join(words, " ")
}

// Config returns every parameter of t by its test.json key, as text: the
// configuration table of the report.
func (t Test) Config() map[string]any {
	out := map[string]any{}
	for flag, v := range t.values() {
		out[jsonKey(flag)] = v
	}
	return out
}

// parseArgs parses faultline run arguments (as Args writes them) over
// DefaultTest.
func parseArgs(args []string) (Test, error) {
	t := DefaultTest()
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	BindFlags(fs, &t)
	if err := fs.Parse(args); err != nil {
		return Test{}, err
	}
	return t, nil
}

// listValue is a comma-separated list flag whose text form parses back to
// the same list (pflag's StringSlice prints brackets). Given more than
// once, as pflag's slices, the first replaces the default and the rest
// add to it: `--system-opt a=1 --system-opt b=2` is both.
type listValue struct {
	l   *[]string
	set bool
}

func (l *listValue) String() string {
	if l.l == nil {
		return ""
	}
	return strings.Join(*l.l, ",")
}

func (l *listValue) Set(s string) error {
	if !l.set {
		*l.l, l.set = nil, true
	}
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			*l.l = append(*l.l, x)
		}
	}
	return nil
}

func (l *listValue) Type() string { return "list" }

// shellQuote quotes s for a POSIX shell when it holds anything but safe
// characters.
func shellQuote(s string) string {
	safe := func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_=.,:+/@%", r)
	}
	if s != "" && strings.IndexFunc(s, func(r rune) bool { return !safe(r) }) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
