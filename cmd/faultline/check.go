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

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
)

func checkCmd() *cobra.Command {
	cfg := checker.CheckConfig{Checker: checker.DefaultConfig()}
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
			r, err := checker.CheckFile(cmd.Context(), args[0], cfg)
			if err != nil {
				if r.Input != nil { // refused: say what was read before
					if asJSON {
						_ = printJSON(r)
					}
					err = fmt.Errorf("%w (read %s before it)", err, history.Count(r.Input.Read, "op"))
				}
				return usageError{err}
			}
			if asJSON {
				if err := printJSON(r); err != nil {
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
	fs.StringSliceVar(&cfg.Checker.BankAccounts, "bank-accounts", nil,
		"bank: the accounts every read must show, comma-separated (default: the first read's and those transfers name)")
	fs.BoolVar(&cfg.Checker.Linearizable, "linearizable", false, "set: stale elements make the history invalid (Jepsen's :linearizable?)")
	fs.BoolVar(&cfg.Checker.NilReadsUnknown, "nil-means-unknown", false,
		"register, cas-register: a read of nil is \"value unknown\" and constrains nothing, as in Knossos (default: nil is the initial value)")
	fs.IntVar(&cfg.Checker.GroupSize, "group-size", 0, "long-fork: how many keys every read reads (Jepsen's n; 0: any, reads grouped by their keys)")
	fs.IntVar(&cfg.Checker.MaxReported, "max-reported", checker.DefaultMaxReported, "anomalies of each type shown in full (all are counted)")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON (no progress lines)")
	fs.DurationVar(&cfg.ProgressEvery, "progress", 2*time.Second, "how often to say on stderr how far a long check has got (0: never)")
	return cmd
}

// printJSON prints r for machines.
func printJSON(r checker.Result) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// checkHelp lists the models, one line each.
func checkHelp() string {
	var b strings.Builder
	b.WriteString(`Check a history file with one of faultline's checkers, as Jepsen's tools
would: Jepsen's EDN (one op map per line, or a vector of them; with or
without :time, :index, :process or :f), Jepsen's JSON (an array of ops) or
faultline's JSONL. Without :time, real-time order follows the position of
ops in the file, as Knossos reads it. Nemesis ops are skipped.

` + checkRules + `
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
func printCheck(w io.Writer, file string, cfg checker.CheckConfig, r checker.Result) {
	fmt.Fprintf(w, "%s: valid? %s\n", file, r.Valid)
	model := cfg.Model
	if cm, ok := r.Details["consistency_model"]; ok {
		model += fmt.Sprintf(" (consistency model %v)", cm)
	}
	fmt.Fprintf(w, "model: %s\n", model)
	if in := r.Input; in != nil {
		fmt.Fprintf(w, "history: %s\n", in)
		for _, warn := range in.Warnings {
			fmt.Fprintf(w, "warning: %s\n", warn)
		}
	}
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

// checkRules says in --help how a history is read, and where the register
// models differ from Knossos'.
const checkRules = `A history is evidence only if it was read whole, so check refuses (exit
254) a file cut off in its last line, anything malformed, and ops that
cannot be paired as Knossos pairs them: a completion without an invocation
(only list-append and rw-register take Elle's completions-only histories),
or a process invoking while its previous op is pending. Ops without
:process pair in order, as jepsen.history reads them. A history with no
client op is unknown (exit 2) under every model. Integers are exact at any
size: a value a model cannot take exactly (a register value beyond 64 bits,
a float such as 1e19) makes the verdict unknown, and sums never wrap. The
result says how many ops were read, dropped or refused, and why, and warns
when :time runs against the order of the file (explanations then give no
times).

Where faultline differs from Knossos: in the register and cas-register
models nil is the register's initial value, so a read of nil after an
acknowledged write is a stale read. Knossos reads nil as "value unknown",
which any state allows; --nil-means-unknown reads it so, to reproduce
Knossos' verdicts.
`
