package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline"
	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/kubernetes"
	"github.com/faultline/faultline/reports"
	"github.com/faultline/faultline/runstore"
)

func analyzeCmd() *cobra.Command {
	// The zero value keeps the run's own check timeout (test.json).
	var t faultline.Test
	cmd := &cobra.Command{
		Use:   "analyze DIR",
		Short: "Re-check a stored run from its history (works on a run whose harness died)",
		Long:  "Re-check a stored run from its history (works on a run whose harness died).\n\n" + exitCodesHelp(),
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := faultline.Analyze(cmd.Context(), args[0], t.CheckTimeout)
			if err != nil {
				return err
			}
			printVerdict(res)
			if h := res.History; h.Dropped > 0 || h.Refused > 0 || len(h.Warnings) > 0 {
				fmt.Printf("history: %s; %s\n", h, strings.Join(append(h.Why, h.Warnings...), "; "))
			}
			fmt.Println("report:", res.Report)
			return withVerdict(res.Valid)
		},
	}
	faultline.BindFlags(cmd.Flags(), &t, "check-timeout")
	cmd.Flags().Lookup("check-timeout").Usage += " (default: the run's own)"
	return cmd
}

// storedRun is one run found in the store.
type storedRun struct {
	dir   string
	test  faultline.Test
	start time.Time
	// valid is the stored verdict; checked is false when results.json is
	// missing (the harness died before checking: run `faultline analyze`).
	valid   checker.Verdict
	checked bool
}

// listRuns returns every run in store, newest first. A run whose test.json
// cannot be read is skipped with a warning naming it.
func listRuns(store string) ([]storedRun, error) {
	dirs, err := runstore.List(store, runstore.TestJSON)
	if err != nil {
		return nil, err
	}
	var runs []storedRun
	for _, d := range dirs {
		r := storedRun{dir: d.Dir}
		if err := runstore.ReadJSON(d.Path(runstore.TestJSON), &r.test); err != nil {
			slog.Warn("skipping an unreadable run", "dir", d.Dir, "err", err)
			continue
		}
		r.start, _ = d.Start()
		var res checker.Results
		if err := runstore.ReadJSON(d.Path(runstore.ResultsJSON), &res); err == nil {
			r.valid, r.checked = res.Valid, true
		}
		runs = append(runs, r)
	}
	return runs, nil
}

func listCmd() *cobra.Command {
	where := faultline.DefaultTest()
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List stored runs, newest first",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			runs, err := listRuns(where.Store)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "START\tTEST\tWORKLOAD\tNEMESIS\tSEED\tVALID\tDIR")
			for _, r := range runs {
				v := r.valid.String()
				if !r.checked {
					v = "unchecked (faultline analyze DIR)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.start.Format(time.DateTime), r.test.TestName(),
					r.test.Workload, r.test.Nemesis, r.test.Seed, v, r.dir)
			}
			return tw.Flush()
		},
	}
	faultline.BindFlags(cmd.Flags(), &where, "store")
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
	where := faultline.DefaultTest()
	var addr string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the store's reports over HTTP on 127.0.0.1",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			stop, _, done := signalContexts()
			defer done()
			fmt.Printf("serving %s on http://%s/ (Ctrl-C to stop)\n", where.Store, addr)
			return reports.Serve(stop, where.Store, addr)
		},
	}
	faultline.BindFlags(cmd.Flags(), &where, "store")
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

func reapCmd() *cobra.Command {
	where := faultline.DefaultTest()
	cmd := &cobra.Command{
		Use:   "reap",
		Short: "Remove what runs whose harness died left behind (containers and networks, or namespaces)",
		Long: "Remove what runs whose harness died left behind: containers and networks on the Docker\n" +
			"engine, namespaces on Kubernetes. Resources of live runs, in this process or another, are kept.\n" +
			"Every run does this as it starts; this command does it now.",
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if where.Runtime == faultline.RuntimeKubernetes {
				return kubernetes.Reap(cmd.Context(), where.Kubeconfig)
			}
			return docker.Reap(cmd.Context())
		},
	}
	faultline.BindFlags(cmd.Flags(), &where, "runtime", "kubeconfig")
	return cmd
}
