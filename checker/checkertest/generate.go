package checkertest

import (
	"math/rand/v2"

	"github.com/faultline/faultline/history"
)

// RegisterGenConfig configures GenerateRegisterHistory.
type RegisterGenConfig struct {
	Seed int64
	// Ops is the number of operations (each is an invoke and a
	// completion, so the history has about 2*Ops entries).
	Ops int
	// Keys (default 1000) and Processes (default 10).
	Keys, Processes int
	// Values is the number of distinct values written (default 5).
	Values int
	// InfoRate and FailRate are the shares of ops that complete as info
	// (taking effect or not, at random) and fail (no effect).
	InfoRate, FailRate float64
}

// GenerateRegisterHistory returns a linearizable cas-register history:
// Processes workers run read/write/cas ops on random keys with overlapping
// invocations; each op takes effect at its completion time against an
// in-memory register per key. Deterministic for a given config.
func GenerateRegisterHistory(cfg RegisterGenConfig) []history.Op {
	if cfg.Keys <= 0 {
		cfg.Keys = 1000
	}
	if cfg.Processes <= 0 {
		cfg.Processes = 10
	}
	if cfg.Values <= 0 {
		cfg.Values = 5
	}
	type reg struct {
		v  int64
		ok bool
	}
	regs := make([]reg, cfg.Keys)
	vals := int64(cfg.Values)
	return Simulate(SimSpec{Seed: cfg.Seed, Ops: cfg.Ops, Procs: cfg.Processes, InfoRate: cfg.InfoRate, FailRate: cfg.FailRate,
		Next: func(rng *rand.Rand) (string, any) {
			k := rng.Int64N(int64(cfg.Keys))
			switch r := rng.IntN(10); {
			case r < 5:
				return "read", []any{k, nil}
			case r < 8:
				return "write", []any{k, rng.Int64N(vals)}
			default:
				return "cas", []any{k, []any{rng.Int64N(vals), rng.Int64N(vals)}}
			}
		},
		Apply: func(f string, v any) (any, bool) {
			kv := v.([]any)
			r := &regs[kv[0].(int64)]
			switch f {
			case "read":
				if !r.ok {
					return []any{kv[0], nil}, true
				}
				return []any{kv[0], r.v}, true
			case "write":
				r.v, r.ok = kv[1].(int64), true
			case "cas":
				on := kv[1].([]any)
				if !r.ok || r.v != on[0].(int64) {
					return nil, false
				}
				r.v = on[1].(int64)
			}
			return v, true
		}})
}

// SimSpec describes a history made from a serial execution: Procs workers
// each invoke Ops ops drawn by Next, with overlapping invocations; an op
// takes effect atomically when it completes, through Apply, which returns
// the completion's value, or false when the op is refused (it fails). A
// share complete as info (taking effect or not, at random; the worker then
// goes on under a fresh process, as Jepsen's do) or fail (no effect).
type SimSpec struct {
	Seed               int64
	Ops, Procs         int
	InfoRate, FailRate float64
	Next               func(rng *rand.Rand) (f string, v any)
	Apply              func(f string, v any) (any, bool)
}

// Simulate builds the history spec describes. Deterministic for a spec.
func Simulate(spec SimSpec) []history.Op {
	rng := rand.New(rand.NewPCG(uint64(spec.Seed), 0x5eed))
	type worker struct {
		busy bool
		proc int
		f    string
		v    any
	}
	ws := make([]worker, spec.Procs)
	for i := range ws {
		ws[i].proc = i
	}
	ops := make([]history.Op, 0, 2*spec.Ops+2*spec.Procs)
	var now int64
	add := func(o history.Op) {
		o.Index, o.Time = int64(len(ops)), now
		ops = append(ops, o)
	}
	started, busy := 0, 0
	for started < spec.Ops || busy > 0 {
		now += 1000 + rng.Int64N(100000)
		w := &ws[rng.IntN(len(ws))]
		if !w.busy {
			if started >= spec.Ops {
				continue
			}
			started++
			busy++
			w.busy = true
			w.f, w.v = spec.Next(rng)
			add(history.Op{Type: history.Invoke, Process: w.proc, F: w.f, Value: w.v})
			continue
		}
		w.busy = false
		busy--
		switch x := rng.Float64(); {
		case x < spec.FailRate:
			add(history.Op{Type: history.Fail, Process: w.proc, F: w.f, Value: w.v, Error: "generated failure"})
		case x < spec.FailRate+spec.InfoRate:
			if rng.IntN(2) == 0 {
				spec.Apply(w.f, w.v)
			}
			add(history.Op{Type: history.Info, Process: w.proc, F: w.f, Value: w.v, Error: "generated timeout"})
			w.proc += spec.Procs
		default:
			if out, ok := spec.Apply(w.f, w.v); ok {
				add(history.Op{Type: history.OK, Process: w.proc, F: w.f, Value: out})
			} else {
				add(history.Op{Type: history.Fail, Process: w.proc, F: w.f, Value: w.v, Error: "refused"})
			}
		}
	}
	return ops
}

// ListAppendGenConfig configures GenerateListAppendHistory.
type ListAppendGenConfig struct {
	Seed int64
	// Txns is the number of transactions.
	Txns int
	// Processes (default 10) run transactions concurrently.
	Processes int
	// Keys is the number of keys in use at once (default 10); a key is
	// retired after MaxWritesPerKey appends (default 32) and a fresh one
	// takes its place, as Elle's generator does, so reads stay short.
	Keys, MaxWritesPerKey int
	// MaxMops is the maximum number of micro-ops per txn (default 4).
	MaxMops int
	// InfoRate and FailRate are the shares of txns that complete as info
	// (taking effect or not, at random) and fail (no effect).
	InfoRate, FailRate float64
}

// GenerateListAppendHistory returns a strict-serializable list-append
// history: Processes workers run transactions of reads and appends with
// overlapping invocations; each transaction takes effect atomically at its
// completion time against an in-memory store of lists. Deterministic for a
// given config.
func GenerateListAppendHistory(cfg ListAppendGenConfig) []history.Op {
	if cfg.Processes <= 0 {
		cfg.Processes = 10
	}
	if cfg.Keys <= 0 {
		cfg.Keys = 10
	}
	if cfg.MaxWritesPerKey <= 0 {
		cfg.MaxWritesPerKey = 32
	}
	if cfg.MaxMops <= 0 {
		cfg.MaxMops = 4
	}
	active := make([]int64, cfg.Keys)
	for i := range active {
		active[i] = int64(i)
	}
	nextKey := int64(cfg.Keys)
	writes := map[int64]int{}  // appends planned per key
	lists := map[int64][]any{} // committed state
	return Simulate(SimSpec{Seed: cfg.Seed, Ops: cfg.Txns, Procs: cfg.Processes, InfoRate: cfg.InfoRate, FailRate: cfg.FailRate,
		Next: func(rng *rand.Rand) (string, any) {
			mops := make([]any, 1+rng.IntN(cfg.MaxMops))
			for i := range mops {
				ki := rng.IntN(len(active))
				k := active[ki]
				if rng.IntN(2) == 0 {
					mops[i] = []any{"r", k, nil}
					continue
				}
				writes[k]++
				mops[i] = []any{"append", k, int64(writes[k])}
				if writes[k] >= cfg.MaxWritesPerKey {
					active[ki] = nextKey
					nextKey++
				}
			}
			return "txn", mops
		},
		Apply: func(_ string, v any) (any, bool) { return execTxn(v.([]any), lists), true },
	})
}

// execTxn applies mops to lists and returns the completed micro-ops.
func execTxn(mops []any, lists map[int64][]any) []any {
	out := make([]any, len(mops))
	for i, m := range mops {
		mv := m.([]any)
		k := mv[1].(int64)
		if mv[0] == "append" {
			lists[k] = append(lists[k], mv[2])
			out[i] = mv
			continue
		}
		l := lists[k]
		out[i] = []any{"r", k, append(make([]any, 0, len(l)), l...)}
	}
	return out
}

// LongForkGenConfig configures GenerateLongForkHistory.
type LongForkGenConfig struct {
	Seed int64
	// Txns is the number of transactions; Processes (default 10) run them
	// concurrently.
	Txns, Processes int
	// GroupSize is how many keys a read reads (default 2), Jepsen's n.
	GroupSize int
	// Forked plants the bug long-fork is for: two replicas, each applying
	// a write at once and the other's writes only Lag (default 8)
	// transactions later; a read reads one replica at random. Otherwise
	// every transaction sees one store (snapshot isolation holds).
	Forked bool
	Lag    int
}

// GenerateLongForkHistory returns a long-fork history as Jepsen's
// generator makes one: a worker writes a fresh key ([[:w k 1]]), then
// reads the group of keys it belongs to; others read groups recently
// written. Without Forked it has no long fork; with it, it usually has
// some. Deterministic for a given config.
func GenerateLongForkHistory(cfg LongForkGenConfig) []history.Op {
	if cfg.Processes <= 0 {
		cfg.Processes = 10
	}
	if cfg.GroupSize <= 0 {
		cfg.GroupSize = 2
	}
	if cfg.Lag <= 0 {
		cfg.Lag = 8
	}
	n := int64(cfg.GroupSize)
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x10f0))
	var next int64     // the next fresh key
	var recent []int64 // keys written lately, whose groups are read
	replicas := [2]map[int64]bool{{}, {}}
	type pending struct {
		replica int
		key     int64
		due     int
	}
	var queue []pending // writes not yet applied to the other replica
	applied := 0        // transactions applied so far
	catchUp := func() {
		kept := queue[:0]
		for _, p := range queue {
			if p.due <= applied {
				replicas[p.replica][p.key] = true
				continue
			}
			kept = append(kept, p)
		}
		queue = kept
	}
	return Simulate(SimSpec{Seed: cfg.Seed, Ops: cfg.Txns, Procs: cfg.Processes,
		Next: func(r *rand.Rand) (string, any) {
			if len(recent) == 0 || r.IntN(2) == 0 {
				k := next
				next++
				recent = append(recent, k)
				if len(recent) > 4 {
					recent = recent[1:]
				}
				return "write", []any{[]any{"w", k, int64(1)}}
			}
			k := recent[r.IntN(len(recent))]
			lo := k - k%n
			mops := make([]any, 0, n)
			for _, i := range r.Perm(int(n)) {
				mops = append(mops, []any{"r", lo + int64(i), nil})
			}
			return "read", mops
		},
		Apply: func(f string, v any) (any, bool) {
			applied++
			catchUp()
			mops := v.([]any)
			if f == "write" {
				k := mops[0].([]any)[1].(int64)
				if !cfg.Forked {
					replicas[0][k] = true
					return v, true
				}
				home := rng.IntN(2)
				replicas[home][k] = true
				queue = append(queue, pending{replica: 1 - home, key: k, due: applied + cfg.Lag})
				return v, true
			}
			seen := replicas[0]
			if cfg.Forked {
				seen = replicas[rng.IntN(2)]
			}
			out := make([]any, len(mops))
			for i, m := range mops {
				k := m.([]any)[1].(int64)
				var val any
				if seen[k] {
					val = int64(1)
				}
				out[i] = []any{"r", k, val}
			}
			return out, true
		},
	})
}
