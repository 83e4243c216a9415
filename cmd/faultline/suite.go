package main

import (
	"context"
	"os"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline"
	"github.com/faultline/faultline/reports"
	"github.com/faultline/faultline/suite"
)

func suiteCmd() *cobra.Command {
	cfg := suite.DefaultConfig()
	var (
		nightly bool
		only    []string
		// where carries the flags a suite shares with faultline run
		// (--store, --runtime, --kubeconfig), from the same table.
		where = faultline.DefaultTest()
	)
	cmd := &cobra.Command{
		Use:   "suite",
		Short: "Run the chaos matrix: safe scenarios must be valid, planted bugs must be caught",
		Long: "Run the chaos matrix: safe scenarios must be valid, planted bugs must be caught.\n\n" +
			"Exit codes: 0 every scenario met its expectation, 1 some did not, 254 bad arguments, 255 harness error.",
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			scenarios := suite.Default(cfg.TimeLimit)
			if len(only) > 0 {
				// --only picks among the nightly-only scenarios too, at
				// the CI matrix's size and pace.
				scenarios = suite.All(cfg.TimeLimit)
			}
			if nightly {
				scenarios = suite.Nightly(cfg.TimeLimit)
			}
			scenarios, err := suite.Select(scenarios, only)
			if err != nil {
				return usageError{err}
			}
			for i := range scenarios {
				scenarios[i].Test.Store = where.Store
				scenarios[i].Test.Runtime = where.Runtime
				scenarios[i].Test.Kubeconfig = where.Kubeconfig
			}
			stop, abort, done := signalContexts()
			defer done()
			cfg.Scenarios, cfg.Out = scenarios, os.Stdout
			cfg.Run = func(ctx context.Context, t faultline.Test) (faultline.Result, error) {
				return faultline.Run(ctx, t, env(t, abort))
			}
			res, err := suite.Run(stop, cfg)
			if err != nil {
				return err
			}
			if err := reports.WriteIndex(where.Store); err != nil {
				return err
			}
			if !res.Passed() {
				return exitError{exitInvalid}
			}
			return nil
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	fs := cmd.Flags()
	fs.IntVar(&cfg.Repeat, "repeat", cfg.Repeat, "run each scenario N times with different seeds (detection and false-alarm rates)")
	fs.Int64Var(&cfg.Seed, "seed", cfg.Seed, "first seed (each run's seed is printed)")
	fs.DurationVar(&cfg.TimeLimit, "time-limit", cfg.TimeLimit, "main phase of each scenario (raised where its faults need longer)")
	fs.BoolVar(&nightly, "nightly", false, "the nightly matrix: 5 nodes, longer intervals")
	fs.StringSliceVar(&only, "only", nil, "run only these scenarios (names or name prefixes; nightly-only ones too, at the CI matrix's size)")
	fs.IntVar(&cfg.Parallel, "parallel", cfg.Parallel, "scenarios run at once, each on its own cluster (for --runtime kubernetes)")
	faultline.BindFlags(fs, &where, "store", "runtime", "kubeconfig")
	return cmd
}
