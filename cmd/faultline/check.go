package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline"
	"github.com/faultline/faultline/checker"
)

func checkCmd() *cobra.Command {
	cfg := faultline.CheckConfig{Checker: checker.DefaultConfig()}
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check --model NAME FILE",
		Short: "Check a Jepsen, Knossos or Elle history file (EDN or JSON) with any checker",
		Long:  checkHelp(),
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !asJSON && cfg.ProgressEvery > 0 {
				cfg.Progress = func(line string) { fmt.Fprintln(os.Stderr, "faultline check:", line) }
			}
			r, err := faultline.CheckFile(cmd.Context(), args[0], cfg)
			if err != nil {
				return usageError{err}
			}
			if asJSON {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(r); err != nil {
					return err
				}
			} else {
				printCheck(os.Stdout, args[0], cfg, r)
			}
			return withVerdict(r.Valid)
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	fs := cmd.Flags()
	fs.StringVar(&cfg.Model, "model", "cas-register", "checker to run (see the list above)")
	fs.StringVar(&cfg.Checker.ConsistencyModel, "consistency-model", checker.DefaultConsistencyModel,
		"list-append, rw-register: "+strings.Join(checker.ConsistencyModels, ", "))
	fs.DurationVar(&cfg.Checker.TimeLimit, "timeout", time.Minute, "time limit of the check (past it: unknown, exit 2)")
	fs.StringVar(&cfg.Checker.OutDir, "out", ".", "directory for the visualisation of a key that is not linearizable")
	fs.Int64Var(&cfg.Checker.BankTotal, "bank-total", 0, "bank: the constant total of all balances (0: the sum most reads show)")
	fs.BoolVar(&cfg.Checker.Linearizable, "linearizable", false, "set: stale elements make the history invalid (Jepsen's :linearizable?)")
	fs.IntVar(&cfg.Checker.MaxReported, "max-reported", checker.DefaultMaxReported, "anomalies of each type shown in full (all are counted)")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON (no progress lines)")
	fs.DurationVar(&cfg.ProgressEvery, "progress", 2*time.Second, "how often to say on stderr how far a long check has got (0: never)")
	return cmd
}

// checkHelp lists the models, one line each.
func checkHelp() string {
	var b strings.Builder
	b.WriteString(`Check a history file with one of faultline's checkers, as Jepsen's tools
would: Jepsen's EDN (one op map per line, or a vector of them; with or
without :time, :index, :process or :f), Jepsen's JSON (an array of ops) or
faultline's JSONL. Without :time, real-time order follows the position of
ops in the file, as Knossos reads it. Nemesis ops are skipped.

Models:
`)
	tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
	for _, m := range checker.Models() {
		fmt.Fprintf(tw, "  %s\t%s\n", m.Name, m.Summary)
	}
	tw.Flush()
	b.WriteString("\n" + exitCodesHelp())
	return b.String()
}

// printCheck renders a result for people: the verdict, then each anomaly
// with its summary and explanation.
func printCheck(w io.Writer, file string, cfg faultline.CheckConfig, r checker.Result) {
	fmt.Fprintf(w, "%s: valid? %s\n", file, r.Valid)
	model := cfg.Model
	if cm, ok := r.Details["consistency_model"]; ok {
		model += fmt.Sprintf(" (consistency model %v)", cm)
	}
	fmt.Fprintf(w, "model: %s\n", model)
	if len(r.Anomalies) == 0 && r.Explanation != "" {
		fmt.Fprintln(w, r.Explanation)
	}
	counts, _ := r.Details["anomaly_counts"].(map[string]int)
	last := ""
	for _, a := range r.Anomalies {
		if a.Type != last {
			n := counts[a.Type]
			if n == 0 {
				n = 1
			}
			fmt.Fprintf(w, "\n%s (%d):\n", a.Type, n)
			last = a.Type
		}
		if a.Summary != "" {
			fmt.Fprintf(w, "  - %s\n    %s\n", a.Summary, a.Explanation)
		} else {
			fmt.Fprintf(w, "  - %s\n", a.Explanation)
		}
	}
	if allowed, ok := r.Details["allowed_anomalies"].(map[string]int); ok {
		var parts []string
		for _, t := range slices.Sorted(maps.Keys(allowed)) {
			parts = append(parts, fmt.Sprintf("%s (%d)", t, allowed[t]))
		}
		fmt.Fprintf(w, "\nallowed under %s: %s\n", cfg.Checker.ConsistencyModel, strings.Join(parts, ", "))
	}
	if len(r.RuledOut) > 0 {
		fmt.Fprintf(w, "ruled out: %s\n", strings.Join(r.RuledOut, ", "))
	}
	for _, a := range r.Artifacts {
		fmt.Fprintln(w, "visualisation:", a)
	}
}
