package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline"
	"github.com/faultline/faultline/shrink"
)

func shrinkCmd() *cobra.Command {
	cfg := shrink.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "shrink RUNDIR",
		Short: "Shrink a failing run's fault schedule to the smallest that still fails",
		Long: `Shrink a failing run's fault schedule (its schedule.json) to the smallest one
that still fails: drop faults, drop a fault's nodes, shorten faults, move them
earlier, shorten the time limit, halve the workers, one change at a time. A
candidate fails when one of --runs-per-candidate reruns shows an anomaly of the
original's class (same checker, same anomaly type). It stops when no single
change still fails (1-minimal), when --budget is spent, or on Ctrl-C (after
the candidate in flight), keeping the best schedule found.

A lucky rerun can keep a change after which the bug rarely fires, so the
search's best is then measured over --reproduce runs; below
--reproduce-target it steps back (the search's time limit and workers first,
then its faults) to the smallest schedule that reaches the target.

It writes into RUNDIR/shrink/: schedule.json (the minimal schedule), shrink.log
(one line per candidate), shrink.json (the summary, with the rerun command and
the minimal schedule's reproduction rate over --reproduce runs), candidates/.

Exit codes: 0 the shrink ran, 254 bad arguments, 255 harness error.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := shrink.Open(args[0])
			if err != nil {
				return usageError{err}
			}
			cfg.Target = o.Target
			if err := cfg.Validate(); err != nil {
				return usageError{err}
			}
			stop, abort, done := signalContexts()
			defer done()
			// The runs' own logs would drown the progress lines: only
			// their errors show.
			prev := slog.Default()
			slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
			defer slog.SetDefault(prev)
			run := func(ctx context.Context, t faultline.Test) (faultline.Result, error) {
				return faultline.Run(ctx, t, env(t, abort))
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "shrinking %s: %s, anomaly %v; Ctrl-C stops after the candidate in flight and keeps the best so far\n",
				o.Dir, o.Start, o.Target)
			res, err := shrink.Search(stop, cfg, o.Start, o.Runner(run), func(s shrink.Step) { fmt.Fprintln(out, s) })
			if err != nil {
				return err
			}
			if cfg.Reproduce > 0 {
				fmt.Fprintf(out, "measuring the reproduction rate over %d runs (target %v)\n", cfg.Reproduce, cfg.ReproduceTarget)
			}
			res = shrink.Stabilise(stop, cfg, res, o.Runner(run), shrink.MeasureLines(out))
			sum, err := o.Finish(res)
			fmt.Fprint(out, sum.Report())
			return err
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	fs := cmd.Flags()
	fs.IntVar(&cfg.RunsPerCandidate, "runs-per-candidate", cfg.RunsPerCandidate, "reruns of a candidate at most (K): it fails when one shows the anomaly")
	fs.IntVar(&cfg.MinFails, "min-fails", cfg.MinFails, "reruns of a candidate that must show the anomaly for it to fail (M of K; more than 1 keeps a rare bug's minimal schedule reproducible)")
	fs.DurationVar(&cfg.Budget, "budget", cfg.Budget, "wall-clock limit of the search (0: none); the candidate in flight is finished")
	fs.IntVar(&cfg.Parallel, "parallel", cfg.Parallel, "reruns at once, each on its own cluster (for --runtime kubernetes)")
	fs.IntVar(&cfg.Reproduce, "reproduce", cfg.Reproduce, "reruns that measure the minimal schedule's reproduction rate (0: none, and no stabilising)")
	fs.Float64Var(&cfg.ReproduceTarget, "reproduce-target", cfg.ReproduceTarget, "reproduction rate (0 to 1) the schedule returned must reach: below it, time, workers and then faults are given back until it does")
	return cmd
}
