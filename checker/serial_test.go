package checker

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/faultline/faultline/checker/checkertest"
	"github.com/faultline/faultline/history"
)

// testValid checks c accepts histories from gen.
func testValid(t *testing.T, gen func(seed int64) []history.Op, c Checker) {
	for seed := int64(1); seed <= 150; seed++ {
		if r := c.Check(context.Background(), gen(seed)); r.Valid != Valid {
			t.Fatalf("seed %d: a serial history judged %s: %s %s", seed, r.Valid, r.Explanation, r.Error)
		}
	}
}

// rwRegisterHistory: txns of reads and unique writes over 3 keys.
func rwRegisterHistory(seed int64) []history.Op {
	state := map[int64]any{}
	next := int64(0)
	return checkertest.Simulate(checkertest.SimSpec{Seed: seed, Ops: 120, Procs: 5, InfoRate: 0.1, FailRate: 0.1,
		Next: func(rng *rand.Rand) (string, any) {
			var mops []any
			for range 1 + rng.IntN(3) {
				k := rng.Int64N(3)
				if rng.IntN(2) == 0 {
					mops = append(mops, []any{"r", k, nil})
				} else {
					next++
					mops = append(mops, []any{"w", k, next})
				}
			}
			return "txn", mops
		},
		Apply: func(_ string, v any) (any, bool) {
			var out []any
			for _, m := range v.([]any) {
				mv := m.([]any)
				if mv[0] == "w" {
					state[mv[1].(int64)] = mv[2]
					out = append(out, mv)
				} else {
					out = append(out, []any{"r", mv[1], state[mv[1].(int64)]})
				}
			}
			return out, true
		}})
}

// extRead is a committed txn's first read of a key, before any write of
// it: what it saw of others.
type extRead struct {
	op  int
	mop []any
}

func extReads(ops []history.Op) []extRead {
	var out []extRead
	for i, o := range ops {
		if o.Type != history.OK {
			continue
		}
		met := map[any]bool{}
		for _, m := range o.Value.([]any) {
			mv := m.([]any)
			if mv[0] == "r" && !met[mv[1]] {
				out = append(out, extRead{i, mv})
			}
			met[mv[1]] = true
		}
	}
	return out
}

var rwRegisterFaults = []fault{
	{"aborted-read", func(ops []history.Op, rng *rand.Rand) ([]history.Op, bool) {
		var failed [][]any
		for _, o := range ops {
			if o.Type == history.Fail {
				for _, m := range o.Value.([]any) {
					if mv := m.([]any); mv[0] == "w" {
						failed = append(failed, mv)
					}
				}
			}
		}
		var cands []extRead
		for _, r := range extReads(ops) {
			for _, w := range failed {
				if w[1] == r.mop[1] {
					cands = append(cands, r)
					break
				}
			}
		}
		if len(cands) == 0 {
			return nil, false
		}
		r := cands[rng.IntN(len(cands))]
		for _, w := range failed {
			if w[1] == r.mop[1] {
				r.mop[2] = w[2]
			}
		}
		return ops, true
	}, []string{"G1a"}},
	{"garbage-read", func(ops []history.Op, rng *rand.Rand) ([]history.Op, bool) {
		rs := extReads(ops)
		if len(rs) == 0 {
			return nil, false
		}
		rs[rng.IntN(len(rs))].mop[2] = int64(1 << 40)
		return ops, true
	}, []string{"garbage-read"}},
	{"stale-nil-read", func(ops []history.Op, rng *rand.Rand) ([]history.Op, bool) {
		// A read of nil after a committed write of its key completed.
		written := map[any]int{} // key -> completion position of its first committed write
		for i, o := range ops {
			if o.Type != history.OK {
				continue
			}
			for _, m := range o.Value.([]any) {
				if mv := m.([]any); mv[0] == "w" {
					if _, ok := written[mv[1]]; !ok {
						written[mv[1]] = i
					}
				}
			}
		}
		inv := map[int]int{} // completion position -> invocation position
		open := map[int]int{}
		for i, o := range ops {
			if o.Type == history.Invoke {
				open[o.Process] = i
			} else {
				inv[i] = open[o.Process]
			}
		}
		var cands []extRead
		for _, r := range extReads(ops) {
			if w, ok := written[r.mop[1]]; ok && w < inv[r.op] && r.mop[2] != nil {
				cands = append(cands, r)
			}
		}
		if len(cands) == 0 {
			return nil, false
		}
		cands[rng.IntN(len(cands))].mop[2] = nil
		return ops, true
	}, []string{"G-single-realtime", "G-single-process"}},
}

func TestRWRegisterProperty(t *testing.T) {
	testValid(t, rwRegisterHistory, NewRWRegister(RWRegisterConfig{}))
	testFaults(t, rwRegisterFaults, rwRegisterHistory, NewRWRegister(RWRegisterConfig{}))
}

// setHistory: adds of unique elements and reads of the whole set, ending
// with a final read.
func setHistory(seed int64) []history.Op {
	var set []any
	next := int64(0)
	ops := checkertest.Simulate(checkertest.SimSpec{Seed: seed, Ops: 100, Procs: 4, InfoRate: 0.1, FailRate: 0.1,
		Next: func(rng *rand.Rand) (string, any) {
			if rng.IntN(4) == 0 {
				return "read", nil
			}
			next++
			return "add", next
		},
		Apply: func(f string, v any) (any, bool) {
			if f == "add" {
				set = append(set, v)
				return v, true
			}
			return append([]any(nil), set...), true
		}})
	n := int64(len(ops))
	return append(ops, history.Op{Index: n, Time: (n + 1) * 1000, Type: history.Invoke, Process: 1000, F: "read"},
		history.Op{Index: n + 1, Time: (n + 2) * 1000, Type: history.OK, Process: 1000, F: "read", Value: append([]any(nil), set...)})
}

var setFaults = []fault{
	{"lost", func(ops []history.Op, rng *rand.Rand) ([]history.Op, bool) {
		// Drop, from the final read, an element acknowledged before it.
		final := ops[len(ops)-1].Value.([]any)
		var acked []any
		for _, o := range ops {
			if o.Type == history.OK && o.F == "add" {
				acked = append(acked, o.Value)
			}
		}
		if len(acked) == 0 {
			return nil, false
		}
		drop := acked[rng.IntN(len(acked))]
		var out []any
		for _, e := range final {
			if e != drop {
				out = append(out, e)
			}
		}
		ops[len(ops)-1].Value = out
		return ops, true
	}, []string{"lost"}},
	{"duplicated", func(ops []history.Op, rng *rand.Rand) ([]history.Op, bool) {
		final := ops[len(ops)-1].Value.([]any)
		if len(final) == 0 {
			return nil, false
		}
		ops[len(ops)-1].Value = append(final, final[rng.IntN(len(final))])
		return ops, true
	}, []string{"duplicated"}},
	{"failed-add-read", func(ops []history.Op, rng *rand.Rand) ([]history.Op, bool) {
		var failed []any
		for _, o := range ops {
			if o.Type == history.Fail && o.F == "add" {
				failed = append(failed, o.Value)
			}
		}
		if len(failed) == 0 {
			return nil, false
		}
		ops[len(ops)-1].Value = append(ops[len(ops)-1].Value.([]any), failed[rng.IntN(len(failed))])
		return ops, true
	}, []string{"unexpected"}},
}

func TestSetProperty(t *testing.T) {
	testValid(t, setHistory, NewSet(SetConfig{Linearizable: true}))
	testFaults(t, setFaults, setHistory, NewSet(SetConfig{}))
}

// counterHistory: adds of -2..5 and reads.
func counterHistory(seed int64) []history.Op {
	var n int64
	return checkertest.Simulate(checkertest.SimSpec{Seed: seed, Ops: 100, Procs: 4, InfoRate: 0.1, FailRate: 0.1,
		Next: func(rng *rand.Rand) (string, any) {
			if rng.IntN(3) == 0 {
				return "read", nil
			}
			return "add", rng.Int64N(8) - 2
		},
		Apply: func(f string, v any) (any, bool) {
			if f == "add" {
				n += v.(int64)
				return v, true
			}
			return n, true
		}})
}

// okRead returns the position of a random ok read of ops, or -1.
func okRead(ops []history.Op, rng *rand.Rand) int {
	var reads []int
	for i, o := range ops {
		if o.Type == history.OK && o.F == "read" {
			reads = append(reads, i)
		}
	}
	if len(reads) == 0 {
		return -1
	}
	return reads[rng.IntN(len(reads))]
}

var counterFaults = []fault{{"off-by-a-lot", func(ops []history.Op, rng *rand.Rand) ([]history.Op, bool) {
	i := okRead(ops, rng)
	if i < 0 {
		return nil, false
	}
	ops[i].Value = ops[i].Value.(int64) + 1000
	return ops, true
}, []string{"out-of-bounds"}}}

func TestCounterProperty(t *testing.T) {
	testValid(t, counterHistory, NewCounter(CounterConfig{}))
	testFaults(t, counterFaults, counterHistory, NewCounter(CounterConfig{}))
}

// bankHistory: transfers between 3 accounts holding 100 in all, and reads.
func bankHistory(seed int64) []history.Op {
	bal := map[string]int64{"0": 40, "1": 30, "2": 30}
	return checkertest.Simulate(checkertest.SimSpec{Seed: seed, Ops: 100, Procs: 4, InfoRate: 0.1, FailRate: 0.1,
		Next: func(rng *rand.Rand) (string, any) {
			if rng.IntN(2) == 0 {
				return "read", nil
			}
			return "transfer", map[string]any{"from": rng.Int64N(3), "to": rng.Int64N(3), "amount": rng.Int64N(5)}
		},
		Apply: func(f string, v any) (any, bool) {
			if f == "read" {
				m := map[string]any{}
				for a, b := range bal {
					m[a] = b
				}
				return m, true
			}
			t := v.(map[string]any)
			from, to, amt := keyString(t["from"]), keyString(t["to"]), t["amount"].(int64)
			if bal[from] < amt {
				return nil, false
			}
			bal[from] -= amt
			bal[to] += amt
			return v, true
		}})
}

var bankFaults = []fault{{"money-made", func(ops []history.Op, rng *rand.Rand) ([]history.Op, bool) {
	i := okRead(ops, rng)
	if i < 0 {
		return nil, false
	}
	m := ops[i].Value.(map[string]any)
	m["1"] = m["1"].(int64) + 7
	return ops, true
}, []string{"wrong-total"}}}

func TestBankProperty(t *testing.T) {
	testValid(t, bankHistory, NewBank(BankConfig{Total: 100}))
	testFaults(t, bankFaults, bankHistory, NewBank(BankConfig{Total: 100}))
}

// mutexHistory: acquires and releases of one lock; an acquire of a held
// lock or a release of a free one is refused (fails); infoRate of them
// time out.
func mutexHistory(infoRate float64) func(seed int64) []history.Op {
	return func(seed int64) []history.Op {
		held := false
		return checkertest.Simulate(checkertest.SimSpec{Seed: seed, Ops: 60, Procs: 3, InfoRate: infoRate,
			Next: func(rng *rand.Rand) (string, any) {
				if rng.IntN(2) == 0 {
					return "acquire", nil
				}
				return "release", nil
			},
			Apply: func(f string, _ any) (any, bool) {
				if held == (f == "acquire") {
					return nil, false
				}
				held = f == "acquire"
				return nil, true
			}})
	}
}

var mutexFaults = []fault{{"double-acquire", func(ops []history.Op, rng *rand.Rand) ([]history.Op, bool) {
	// Two more processes acquire the lock in turn, without a release.
	n := int64(len(ops))
	for i, p := range []int{1000, 1001} {
		at := n + int64(2*i)
		ops = append(ops, history.Op{Index: at, Time: (at + 1) * 1000, Type: history.Invoke, Process: p, F: "acquire"},
			history.Op{Index: at + 1, Time: (at + 2) * 1000, Type: history.OK, Process: p, F: "acquire"})
	}
	return ops, true
}, []string{"nonlinearizable"}}}

func TestMutexProperty(t *testing.T) {
	l, err := NewLinearizable(LinearizableConfig{Model: "mutex", TimeLimit: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	testValid(t, mutexHistory(0.1), l)
	testFaults(t, mutexFaults, mutexHistory(0), l)
}
