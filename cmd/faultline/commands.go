package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/faultline/faultline"
	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/sut"
)

// bindTest binds the run flags into t: the run configuration's own table
// (faultline.BindFlags), and --quiet.
func bindTest(fs *pflag.FlagSet, t *faultline.Test) {
	faultline.BindFlags(fs, t)
	fs.BoolVar(&t.Quiet, "quiet", t.Quiet, "no live progress line")
}

func runCmd() *cobra.Command {
	t := faultline.DefaultTest()
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run one test: start a cluster, inject faults, check, report",
		Long:  "Run one test: start a cluster, inject faults, check, report.\n\n" + exitCodesHelp,
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := t.Validate(); err != nil {
				return usageError{err}
			}
			stop, abort, done := signalContexts()
			defer done()
			res, err := faultline.RunWithAbort(stop, abort, t)
			if err != nil {
				return err
			}
			return withCode(res)
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	bindTest(cmd.Flags(), &t)
	return cmd
}

func suiteCmd() *cobra.Command {
	var (
		repeat    int
		seed      int64
		timeLimit time.Duration
		nightly   bool
		only      []string
		store     string
		parallel  int
		runtime   string
		kubecfg   string
	)
	cmd := &cobra.Command{
		Use:   "suite",
		Short: "Run the chaos matrix: safe scenarios must be valid, planted bugs must be caught",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			scenarios := faultline.DefaultSuite(timeLimit)
			if nightly {
				scenarios = faultline.NightlySuite(timeLimit)
			}
			scenarios, err := faultline.SelectScenarios(scenarios, only)
			if err != nil {
				return usageError{err}
			}
			for i := range scenarios {
				scenarios[i].Test.Store = store
				scenarios[i].Test.Runtime = runtime
				scenarios[i].Test.Kubeconfig = kubecfg
			}
			stop, abort, done := signalContexts()
			defer done()
			res, err := faultline.RunSuite(stop, faultline.SuiteConfig{
				Scenarios: scenarios, Repeat: repeat, Seed: seed, Parallel: parallel, Out: os.Stdout,
				Run: func(ctx context.Context, t faultline.Test) (faultline.Result, error) {
					return faultline.RunWithAbort(ctx, abort, t)
				},
			})
			if err != nil {
				return err
			}
			if err := faultline.WriteIndex(store); err != nil {
				return err
			}
			return withCode(res)
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	fs := cmd.Flags()
	fs.IntVar(&repeat, "repeat", 1, "run each scenario N times with different seeds (detection and false-alarm rates)")
	fs.Int64Var(&seed, "seed", time.Now().Unix()%100000, "first seed (each run's seed is printed)")
	fs.DurationVar(&timeLimit, "time-limit", 12*time.Second, "main phase of each scenario")
	fs.BoolVar(&nightly, "nightly", false, "the nightly matrix: 5 nodes, longer intervals")
	fs.StringSliceVar(&only, "only", nil, "run only these scenarios (names or name prefixes)")
	fs.StringVar(&store, "store", "store", "directory holding every run")
	fs.IntVar(&parallel, "parallel", 1, "scenarios run at once, each on its own cluster (for --runtime kubernetes)")
	fs.StringVar(&runtime, "runtime", faultline.RuntimeDocker, "where the clusters run: docker or kubernetes")
	fs.StringVar(&kubecfg, "kubeconfig", "", "kubeconfig of the kubernetes runtime (default: $KUBECONFIG, then ~/.kube/config)")
	return cmd
}

func analyzeCmd() *cobra.Command {
	var checkTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "analyze DIR",
		Short: "Re-check a stored run from its history (works on a run whose harness died)",
		Long:  "Re-check a stored run from its history (works on a run whose harness died).\n\n" + exitCodesHelp,
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := faultline.Analyze(cmd.Context(), args[0], checkTimeout)
			if err != nil {
				return err
			}
			printVerdict(res)
			fmt.Println("report:", res.Report)
			return withCode(res)
		},
	}
	cmd.Flags().DurationVar(&checkTimeout, "check-timeout", 2*time.Minute, "time limit per checker")
	return cmd
}

func listCmd() *cobra.Command {
	store := "store"
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List stored runs, newest first",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			runs, err := faultline.ListRuns(store)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "START\tTEST\tWORKLOAD\tNEMESIS\tSEED\tVALID\tDIR")
			for _, r := range runs {
				v := r.Valid.String()
				if !r.Checked {
					v = "unchecked (faultline analyze DIR)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Start.Format(time.DateTime), r.Test.TestName(),
					r.Test.Workload, r.Test.Nemesis, r.Test.Seed, v, r.Dir)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&store, "store", store, "directory holding every run")
	return cmd
}

func reportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "report DIR",
		Short: "Regenerate a stored run's report.html (and the store index) from its files",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := faultline.Report(args[0])
			if err != nil {
				return err
			}
			fmt.Println("report:", path)
			return nil
		},
	}
}

func serveCmd() *cobra.Command {
	var store, addr string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the store's reports over HTTP on 127.0.0.1",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			stop, _, done := signalContexts()
			defer done()
			fmt.Printf("serving %s on http://%s/ (Ctrl-C to stop)\n", store, addr)
			return faultline.Serve(stop, store, addr)
		},
	}
	cmd.Flags().StringVar(&store, "store", "store", "directory holding every run")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "listen address (keep it on 127.0.0.1)")
	return cmd
}

func printVerdict(res faultline.Result) {
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECKER\tVALID\tEXPLANATION")
	for _, c := range res.Checkers.Checkers {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Checker, c.Valid, firstLine(c.Explanation))
	}
	tw.Flush()
	fmt.Printf("valid? %s\n", res.Valid)
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i] + " ..."
		}
	}
	return s
}

func imageCmd() *cobra.Command {
	var (
		force  bool
		system string
	)
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build the FROM-scratch node image of a system (its binaries + netctl) and print its tag",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			sys, err := sut.ByName(system)
			if err != nil {
				return usageError{err}
			}
			cfg := docker.DefaultBuildConfig()
			cfg.System = sys
			cfg.Force = force
			tag, err := docker.BuildImage(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			fmt.Println(tag)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "rebuild without the cache even if the tag exists")
	cmd.Flags().StringVar(&system, "system", sut.Default().Name(), "system whose image to build: "+strings.Join(sut.Names(), " or "))
	return cmd
}

// usageArgs marks argument-count errors as usage errors (exit 254).
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{fmt.Errorf("%w (see: faultline %s --help)", err, cmd.Name())}
		}
		return nil
	}
}
