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
	reproduce := 10
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
			sum, err := o.Finish(stop, res, run, reproduce, cfg.Parallel, out)
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
	fs.IntVar(&reproduce, "reproduce", reproduce, "reruns of the minimal schedule for its reproduction rate (0: none)")
	return cmd
}
