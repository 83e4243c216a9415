package checker

import (
	"context"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/faultline/faultline/checker/checkertest"
	"github.com/faultline/faultline/history"
)

func deepCopy(v any) any {
	if l, ok := v.([]any); ok {
		out := make([]any, len(l))
		for i, x := range l {
			out[i] = deepCopy(x)
		}
		return out
	}
	return v
}

func copyOps(ops []history.Op) []history.Op {
	out := make([]history.Op, len(ops))
	for i, o := range ops {
		o.Value = deepCopy(o.Value)
		out[i] = o
	}
	return out
}

// laRead is an ok read micro-op: the txn's completion position, its
// invocation position, and the mop.
type laRead struct {
	inv, comp int
	mop       []any
}

type laView struct {
	reads   []laRead
	writers map[[2]int64][2]int // (key, value) -> (inv, comp) of the ok appender
}

func viewOf(ops []history.Op) laView {
	v := laView{writers: map[[2]int64][2]int{}}
	inv := map[int]int{}
	for i, o := range ops {
		if o.Type == history.Invoke {
			inv[o.Process] = i
			continue
		}
		if o.Type != history.OK {
			continue
		}
		for _, m := range o.Value.([]any) {
			mv := m.([]any)
			if mv[0] == "r" {
				v.reads = append(v.reads, laRead{inv[o.Process], i, mv})
			} else {
				v.writers[[2]int64{mv[1].(int64), mv[2].(int64)}] = [2]int{inv[o.Process], i}
			}
		}
	}
	return v
}

func readList(m []any) []any {
	if m[2] == nil {
		return nil
	}
	return m[2].([]any)
}

// fault plants one anomaly in a valid history; the checker must name one
// of names.
type fault struct {
	name   string
	inject func(ops []history.Op, rng *rand.Rand) ([]history.Op, bool)
	names  []string
}

var listAppendFaults = []fault{
	{"lost-append", func(ops []history.Op, rng *rand.Rand) ([]history.Op, bool) {
		v := viewOf(ops)
		var cands [][2]int64
		for _, r := range v.reads {
			for _, x := range readList(r.mop) {
				kv := [2]int64{r.mop[1].(int64), x.(int64)}
				if w, ok := v.writers[kv]; ok && w[1] < r.inv {
					cands = append(cands, kv)
				}
			}
		}
		if len(cands) == 0 {
			return nil, false
		}
		kv := cands[rng.IntN(len(cands))]
		for _, r := range v.reads {
			if r.mop[1].(int64) != kv[0] {
				continue
			}
			var out []any
			for _, x := range readList(r.mop) {
				if x.(int64) != kv[1] {
					out = append(out, x)
				}
			}
			r.mop[2] = out
		}
		return ops, true
	}, []string{"G-single-realtime", "G-single-process", "G0-realtime", "G0-process", "G-single", "G1c-realtime", "G1c-process"}},
	{"stale-read", func(ops []history.Op, rng *rand.Rand) ([]history.Op, bool) {
		v := viewOf(ops)
		var cands []laRead
		for _, r := range v.reads {
			l := readList(r.mop)
			if len(l) == 0 {
				continue
			}
			if w, ok := v.writers[[2]int64{r.mop[1].(int64), l[len(l)-1].(int64)}]; ok && w[1] < r.inv {
				cands = append(cands, r)
			}
		}
		if len(cands) == 0 {
			return nil, false
		}
		r := cands[rng.IntN(len(cands))]
		l := readList(r.mop)
		r.mop[2] = l[:len(l)-1]
		return ops, true
	}, []string{"G-single-realtime", "G-single-process"}},
	{"duplicate", func(ops []history.Op, rng *rand.Rand) ([]history.Op, bool) {
		v := viewOf(ops)
		var cands []laRead
		for _, r := range v.reads {
			if len(readList(r.mop)) > 0 {
				cands = append(cands, r)
			}
		}
		if len(cands) == 0 {
			return nil, false
		}
		r := cands[rng.IntN(len(cands))]
		l := readList(r.mop)
		r.mop[2] = append(l, l[len(l)-1])
		return ops, true
	}, []string{"duplicate-elements"}},
	{"reordered-version", func(ops []history.Op, rng *rand.Rand) ([]history.Op, bool) {
		v := viewOf(ops)
		lens := map[any][]int{} // key -> sorted read lengths
		for _, r := range v.reads {
			lens[r.mop[1]] = append(lens[r.mop[1]], len(readList(r.mop)))
		}
		for _, l := range lens {
			slices.Sort(l)
		}
		var cands []laRead
		for _, r := range v.reads {
			n := len(readList(r.mop))
			l := lens[r.mop[1]]
			// another read at least as long, to contradict the swap
			if n >= 2 && len(l)-sort.SearchInts(l, n) >= 2 {
				cands = append(cands, r)
			}
		}
		if len(cands) == 0 {
			return nil, false
		}
		r := cands[rng.IntN(len(cands))]
		l := readList(r.mop)
		l[len(l)-1], l[len(l)-2] = l[len(l)-2], l[len(l)-1]
		return ops, true
	}, []string{"incompatible-order"}},
}

func smallListAppend(seed int64) []history.Op {
	return checkertest.GenerateListAppendHistory(checkertest.ListAppendGenConfig{Seed: seed, Txns: 150, Processes: 5,
		Keys: 3, MaxWritesPerKey: 12, MaxMops: 4, InfoRate: 0.1, FailRate: 0.1})
}

func TestListAppendPropertyValid(t *testing.T) {
	for seed := int64(1); seed <= 300; seed++ {
		r := NewListAppend(ListAppendConfig{}).Check(context.Background(), smallListAppend(seed))
		if r.Valid != Valid {
			t.Fatalf("seed %d: generated history judged %s: %s", seed, r.Valid, r.Explanation)
		}
	}
}

func TestListAppendPropertyFaults(t *testing.T) {
	testFaults(t, listAppendFaults, smallListAppend, NewListAppend(ListAppendConfig{}))
}

// testFaults plants each fault in histories from gen and checks c names
// it.
func testFaults(t *testing.T, faults []fault, gen func(seed int64) []history.Op, c Checker) {
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			injected := 0
			for seed := int64(1); seed <= 150; seed++ {
				ops, ok := f.inject(copyOps(gen(seed)), rand.New(rand.NewPCG(uint64(seed), 7)))
				if !ok {
					continue
				}
				injected++
				r := c.Check(context.Background(), ops)
				if r.Valid != Invalid {
					t.Fatalf("seed %d: %s not caught: %s %s", seed, f.name, r.Valid, r.Explanation)
				}
				named := false
				for _, a := range r.Anomalies {
					named = named || slices.Contains(f.names, a.Type)
				}
				if !named {
					t.Fatalf("seed %d: %s caught as %v, want one of %v: %s", seed, f.name, r.Details["anomaly_counts"], f.names, r.Explanation)
				}
			}
			if injected < 100 {
				t.Fatalf("only %d histories could take the fault", injected)
			}
		})
	}
}

func TestRegisterProperty(t *testing.T) {
	for seed := int64(1); seed <= 100; seed++ {
		ops := checkertest.GenerateRegisterHistory(checkertest.RegisterGenConfig{Seed: seed, Ops: 300, Keys: 3, Processes: 5, InfoRate: 0.1, FailRate: 0.05})
		l, _ := NewLinearizable(LinearizableConfig{Model: "cas-register", TimeLimit: 10 * time.Second})
		if r := l.Check(context.Background(), ops); r.Valid != Valid {
			t.Fatalf("seed %d: generated history judged %s: %s", seed, r.Valid, r.Explanation)
		}
		// Fault: one ok read returns a value nobody wrote.
		rng := rand.New(rand.NewPCG(uint64(seed), 9))
		var reads []int
		for i, o := range ops {
			if o.Type == history.OK && o.F == "read" {
				reads = append(reads, i)
			}
		}
		bad := copyOps(ops)
		i := reads[rng.IntN(len(reads))]
		bad[i].Value = []any{bad[i].Value.([]any)[0], int64(1000 + seed)}
		if r := l.Check(context.Background(), bad); r.Valid != Invalid || r.Anomalies[0].Type != "nonlinearizable" {
			t.Fatalf("seed %d: corrupted read #%d not caught: %s", seed, i, r.Explanation)
		}
	}
}

// TestListAppendLargeStaleRead plants one stale read in a history of
// 20,000 txns, whose realtime edges tie most txns into one component: the
// cycle search must find it, name it, and not take long.
func TestListAppendLargeStaleRead(t *testing.T) {
	ops := checkertest.GenerateListAppendHistory(checkertest.ListAppendGenConfig{Seed: 3, Txns: 20000, Processes: 10, InfoRate: 0.01, FailRate: 0.01})
	ops, ok := listAppendFaults[1].inject(ops, rand.New(rand.NewPCG(3, 7)))
	if !ok {
		t.Fatal("no read to make stale")
	}
	start := time.Now()
	r := NewListAppend(ListAppendConfig{}).Check(context.Background(), ops)
	if r.Valid != Invalid {
		t.Fatalf("%s: %s", r.Valid, r.Explanation)
	}
	counts := r.Details["anomaly_counts"].(map[string]int)
	if counts["G-single-realtime"]+counts["G-single-process"] == 0 {
		t.Errorf("stale read named %v", counts)
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("took %v", d)
	}
	t.Logf("%v in %v: %s", counts, time.Since(start), r.Anomalies[0].Summary)
	// Trying one start edge per shape and component, the first pass most
	// likely misses it; the second must still find a cycle.
	r = NewListAppend(ListAppendConfig{CycleSearchLimit: 1}).Check(context.Background(), ops)
	if r.Valid != Invalid {
		t.Fatalf("with one try per component: %s: %s", r.Valid, r.Explanation)
	}
	t.Logf("with one try per component: %v", r.Details["anomaly_counts"])
}
