package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/faultline/faultline"
	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/kubernetes"
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
		Long:  "Run one test: start a cluster, inject faults, check, report.\n\n" + exitCodesHelp(),
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if t.Schedule != "" {
				// The rerun command and test.json name the file itself,
				// not a link that moves (store/latest/...).
				if p, err := filepath.EvalSymlinks(t.Schedule); err == nil {
					t.Schedule, _ = filepath.Abs(p)
				}
			}
			if err := t.Validate(); err != nil {
				return usageError{err}
			}
			stop, abort, done := signalContexts()
			defer done()
			res, err := faultline.Run(stop, t, env(t, abort))
			if err != nil {
				return err
			}
			return withVerdict(res.Valid)
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	bindTest(cmd.Flags(), &t)
	return cmd
}

// env is what a run of t needs from the command line: the runtime its
// Runtime names, the abort of a second interrupt, and the progress line.
func env(t faultline.Test, abort context.Context) faultline.Env {
	return faultline.Env{Runtime: runtimeFor(t), Abort: abort, Progress: progress}
}

// runtimeFor returns the runtime t.Runtime names (Test validates the name).
func runtimeFor(t faultline.Test) faultline.Runtime {
	if t.Runtime == faultline.RuntimeKubernetes {
		return func(ctx context.Context, spec cluster.Spec) (faultline.Cluster, error) {
			cfg := kubernetes.DefaultConfig()
			cfg.Spec, cfg.Kubeconfig = spec, t.Kubeconfig
			return kubernetes.Start(ctx, cfg)
		}
	}
	return func(ctx context.Context, spec cluster.Spec) (faultline.Cluster, error) {
		return docker.Start(ctx, spec)
	}
}

// progress shows the main phase's progress until ctx is done or the
// returned stop is called: a live bar on a terminal (elapsed / limit, ops
// ok/fail/info, current fault), a log line every 5 s otherwise (CI logs).
func progress(ctx context.Context, m faultline.MainPhase) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	limit := m.Test.TimeLimit
	tty := !m.Test.Quiet && term.IsTerminal(int(os.Stderr.Fd()))
	wg.Go(func() {
		begin := time.Now()
		every := 5 * time.Second
		var bar *progressbar.ProgressBar
		if tty {
			every = 250 * time.Millisecond
			bar = progressbar.NewOptions64(limit.Milliseconds(),
				progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetWidth(20),
				progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(200*time.Millisecond))
		}
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				if bar != nil {
					_ = bar.Finish()
				}
				return
			case <-tick.C:
			}
			n := m.Counts()
			el := time.Since(begin).Round(time.Second)
			if bar != nil {
				bar.Describe(fmt.Sprintf("%s/%s ok %d fail %d info %d | %s", el, limit, n.OK, n.Fail, n.Info, m.Fault()))
				_ = bar.Set64(min(time.Since(begin).Milliseconds(), limit.Milliseconds()))
			} else if !m.Test.Quiet {
				slog.Info("progress", "test", m.Test.TestName(), "elapsed", el, "limit", limit, "ok", n.OK, "fail", n.Fail,
					"info", n.Info, "fault", m.Fault())
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}
