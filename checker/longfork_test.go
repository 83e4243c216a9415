package checker

import (
	"bytes"
	"context"
	"testing"

	"github.com/faultline/faultline/checker/checkertest"
	"github.com/faultline/faultline/history"
)

// TestLongForkGenerated: histories of Jepsen's long-fork workload against
// one store are valid, seed after seed; against two replicas that apply
// each other's writes late (the planted bug), the checker finds long
// forks, and each it reports is real: two reads of the same keys, each
// seeing a write the other did not.
func TestLongForkGenerated(t *testing.T) {
	caught := 0
	const seeds = 20
	for seed := range int64(seeds) {
		for _, forked := range []bool{false, true} {
			ops := checkertest.GenerateLongForkHistory(checkertest.LongForkGenConfig{Seed: seed, Txns: 400, Processes: 6, GroupSize: 2 + int(seed%3), Forked: forked})
			// The history survives a write and a read as `faultline check`
			// reads a file.
			var buf bytes.Buffer
			if err := history.WriteEDN(&buf, ops); err != nil {
				t.Fatal(err)
			}
			m, _ := model("long-fork")
			dec := history.NewDecoder(&buf, history.EDN, history.CheckPairs(m.pairing))
			c := NewLongFork(LongForkConfig{GroupSize: 2 + int(seed%3)})
			r, err := checkDecoded(context.Background(), c, dec, func() {}, func() {})
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			if !forked {
				if r.Valid != Valid {
					t.Fatalf("seed %d: one store judged %s: %s", seed, r.Valid, r.Explanation)
				}
				if r.Details["reads"].(int) == 0 || r.Details["early_reads"].(int) == r.Details["reads"].(int) {
					t.Fatalf("seed %d: no read saw a write: %v", seed, r.Details)
				}
				continue
			}
			if r.Valid == Unknown {
				t.Fatalf("seed %d: %s", seed, r.Explanation)
			}
			if r.Valid == Invalid {
				caught++
				for _, a := range r.Anomalies {
					checkFork(t, ops, a)
				}
			}
		}
	}
	if caught < seeds*3/4 {
		t.Errorf("the forked store was caught in %d of %d seeds", caught, seeds)
	}
	t.Logf("forked store caught in %d of %d seeds", caught, seeds)
}

// checkFork checks a reported long fork against the history itself.
func checkFork(t *testing.T, ops []history.Op, a Anomaly) {
	t.Helper()
	if a.Type != "long-fork" || len(a.Ops) != 2 || a.Summary == "" {
		t.Fatalf("anomaly %+v", a)
	}
	read := func(i int64) map[string]bool {
		seen := map[string]bool{}
		for _, m := range ops[i].Value.([]any) {
			mv := m.([]any)
			seen[keyString(mv[1])] = mv[2] != nil
		}
		return seen
	}
	x, y := read(a.Ops[0]), read(a.Ops[1])
	xOnly, yOnly := false, false
	for k, v := range x {
		w, ok := y[k]
		if !ok || len(x) != len(y) {
			t.Fatalf("%s: reads of different keys: %v, %v", a.Summary, x, y)
		}
		xOnly = xOnly || (v && !w)
		yOnly = yOnly || (w && !v)
	}
	if !xOnly || !yOnly {
		t.Errorf("%s: not a fork: %v, %v", a.Summary, x, y)
	}
}
