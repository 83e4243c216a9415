package checker

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/faultline/faultline/history"
)

// goldenCheck is one "; check MODEL [FLAGS] => VERDICT [TYPE[:OPS]...]"
// line of a golden history (see testdata/golden/README).
type goldenCheck struct {
	line  string
	model string
	cfg   Config
	want  Verdict
	types map[string][]int64 // anomaly type -> ops it must name
}

func parseGoldenCheck(t *testing.T, line string) goldenCheck {
	t.Helper()
	spec, want, ok := strings.Cut(strings.TrimPrefix(line, "; check "), "=>")
	if !ok {
		t.Fatalf("%q: no =>", line)
	}
	args := strings.Fields(spec)
	g := goldenCheck{line: line, model: args[0], cfg: DefaultConfig(), types: map[string][]int64{}}
	for i := 1; i < len(args); i++ {
		switch args[i] {
		case "--consistency-model":
			i++
			g.cfg.ConsistencyModel = args[i]
		case "--linearizable":
			g.cfg.Linearizable = true
		case "--nil-means-unknown":
			g.cfg.NilReadsUnknown = true
		case "--group-size":
			i++
			n, err := strconv.Atoi(args[i])
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			g.cfg.GroupSize = n
		case "--bank-accounts":
			i++
			g.cfg.BankAccounts = strings.Split(args[i], ",")
		case "--bank-total":
			i++
			n, err := strconv.ParseInt(args[i], 10, 64)
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			g.cfg.BankTotal = n
		default:
			t.Fatalf("%q: unknown flag %s", line, args[i])
		}
	}
	fs := strings.Fields(want)
	switch fs[0] {
	case "valid":
		g.want = Valid
	case "invalid":
		g.want = Invalid
	case "unknown":
		g.want = Unknown
	default:
		t.Fatalf("%q: bad verdict %s", line, fs[0])
	}
	for _, f := range fs[1:] {
		typ, ops, _ := strings.Cut(f, ":")
		g.types[typ] = nil
		if ops == "" {
			continue
		}
		for _, o := range strings.Split(ops, ",") {
			n, err := strconv.ParseInt(o, 10, 64)
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			g.types[typ] = append(g.types[typ], n)
		}
	}
	return g
}

// goldenChecks reads the check lines of a golden history.
func goldenChecks(t *testing.T, path string) []goldenCheck {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []goldenCheck
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "; check ") {
			out = append(out, parseGoldenCheck(t, line))
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s states no check", path)
	}
	return out
}

// cycleTypes are the anomaly types that are dependency cycles.
func isCycleType(typ string) bool {
	base := strings.TrimSuffix(strings.TrimSuffix(typ, "-process"), "-realtime")
	return slices.Contains([]string{"G0", "G1c", "G-single", "G-nonadjacent", "G2-item"}, base)
}

// TestGolden checks every golden history as `faultline check` would:
// read op by op from the file, with the checker New makes.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob(testdata("golden", "*.edn"))
	if len(files) < 40 {
		t.Fatalf("only %d golden histories", len(files))
	}
	seen := map[string]bool{} // anomaly types some golden history shows
	models := map[string]bool{}
	for _, path := range files {
		for _, g := range goldenChecks(t, path) {
			t.Run(filepath.Base(path)+"/"+strings.TrimPrefix(g.line, "; check "), func(t *testing.T) {
				models[g.model] = true
				f, err := os.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				var text bytes.Buffer
				g.cfg.TimeLimit = 30 * time.Second
				c, err := New(g.model, g.cfg)
				if err != nil {
					t.Fatal(err)
				}
				m, err := model(g.model)
				if err != nil {
					t.Fatal(err)
				}
				dec := history.NewDecoder(io.TeeReader(f, &text), history.EDN, history.CheckPairs(m.pairing))
				r, err := checkDecoded(context.Background(), c, dec, func() {}, func() {})
				if err != nil {
					t.Fatal(err)
				}
				ops, err := history.ReadEDN(&text)
				if err != nil {
					t.Fatal(err)
				}
				if r.Valid != g.want {
					t.Fatalf("verdict %s, want %s: %s %s", r.Valid, g.want, r.Explanation, r.Error)
				}
				got := map[string]bool{}
				for _, a := range r.Anomalies {
					got[a.Type] = true
					seen[a.Type] = true
					checkAnomaly(t, a, history.HasTimes(ops))
				}
				if g.want == Invalid {
					for typ := range got {
						if _, ok := g.types[typ]; !ok {
							t.Errorf("unexpected anomaly %s: %s", typ, r.Explanation)
						}
					}
				}
				for typ, want := range g.types {
					if !got[typ] {
						t.Errorf("missing %s; got %v: %s", typ, got, r.Explanation)
						continue
					}
					for _, id := range want {
						named := false
						for _, a := range r.Anomalies {
							named = named || (a.Type == typ && slices.Contains(a.Ops, id))
						}
						if !named {
							t.Errorf("%s does not name op #%d: %+v", typ, id, r.Anomalies)
						}
					}
				}
				for _, a := range r.Anomalies {
					t.Logf("%s: %s\n  %s", a.Type, a.Summary, a.Explanation)
				}
			})
		}
	}
	for _, m := range Models() {
		if !models[m.Name] {
			t.Errorf("no golden history checks model %s", m.Name)
		}
	}
	for _, typ := range []string{"nonlinearizable", "G0", "G1a", "G1b", "G1c", "G-single", "G-single-process",
		"G-single-realtime", "G-nonadjacent", "G2-item", "internal", "future-read", "incompatible-order", "dirty-update",
		"duplicate-elements", "garbage-read", "lost-update", "cyclic-versions", "lost", "stale", "unexpected", "duplicated",
		"wrong-total", "negative-value", "nil-balance", "unexpected-key", "missing-key", "out-of-bounds", "long-fork"} {
		if !seen[typ] {
			t.Errorf("no golden history shows anomaly %s", typ)
		}
	}
}

// checkAnomaly checks the fields every anomaly must fill for reports.
func checkAnomaly(t *testing.T, a Anomaly, timed bool) {
	t.Helper()
	if a.Type == "" || a.Explanation == "" || a.Summary == "" || len(a.Ops) == 0 {
		t.Errorf("anomaly without type, explanation, summary or ops: %+v", a)
	}
	if n := utf8.RuneCountInString(a.Summary); n > summaryLen {
		t.Errorf("summary of %d characters: %s", n, a.Summary)
	}
	if a.HasTime != timed {
		t.Errorf("%s: HasTime %v in a history with times %v", a.Type, a.HasTime, timed)
	}
	if isCycleType(a.Type) {
		if len(a.Cycle) < 2 {
			t.Errorf("%s without its cycle: %+v", a.Type, a)
		}
		for i, e := range a.Cycle {
			if next := a.Cycle[(i+1)%len(a.Cycle)]; e.To != next.From || e.Why == "" || e.Kind == "" {
				t.Errorf("%s: cycle edge %d %+v does not lead to %+v or says nothing", a.Type, i, e, next)
			}
		}
	}
}
