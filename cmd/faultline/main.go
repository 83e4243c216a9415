// Command faultline runs Jepsen-style chaos tests against a distributed
// system (our Raft-replicated key-value store, etcd, or one a program
// registers) on Docker or Kubernetes, checks the histories they record and
// reports on them.
//
//	faultline run --workload register --nemesis partition,kill --time-limit 60s --seed 42
//	faultline suite                       # the CI chaos matrix (make chaos)
//	faultline analyze store/latest        # re-check a stored run
//	faultline check --model cas-register history.edn
//	faultline list | report DIR | serve
//
// Exit codes, as Jepsen's CLI (exit.go):
//
//	0    valid
//	1    invalid
//	2    unknown
//	254  bad arguments or usage
//	255  harness error (or interrupted before a verdict)
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline/engine"
)

func main() {
	engine.SetEnvDefaults()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	root := &cobra.Command{
		Use:   "faultline",
		Short: "Jepsen-style chaos tests of distributed systems",
		Long: `faultline runs Jepsen-style chaos tests against a distributed system (our
Raft-replicated key-value store, etcd, ...) on Docker or Kubernetes, checks the
histories they record and reports on them.

` + exitCodesHelp(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} }) // inherited: a bad flag on any command exits 254
	root.AddCommand(runCmd(), suiteCmd(), analyzeCmd(), checkCmd(), listCmd(), reportCmd(), serveCmd(), imageCmd(), reapCmd(), shrinkCmd())
	err := root.Execute()
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		os.Exit(ee.code)
	default:
		fmt.Fprintln(os.Stderr, "faultline:", err)
		if isUsage(err) {
			os.Exit(exitUsage)
		}
		os.Exit(exitHarnessError)
	}
}

// isUsage tells flag and argument errors (exit 254) from harness failures
// (exit 255).
func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

// signalContexts returns a context cancelled by the first SIGINT/SIGTERM
// (stop the workload, heal, check what was recorded) and one cancelled by
// the second (abort: skip healing and checking, tear down and exit).
func signalContexts() (stop, abort context.Context, done func()) {
	stop, cancelStop := context.WithCancel(context.Background())
	abort, cancelAbort := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		n := 0
		for range ch {
			n++
			if n == 1 {
				cancelStop() // the command says what it does about it
				continue
			}
			slog.Warn("interrupted again: aborting; tearing down containers and networks")
			cancelAbort()
		}
	}()
	return stop, abort, func() { signal.Stop(ch); cancelStop(); cancelAbort() }
}
