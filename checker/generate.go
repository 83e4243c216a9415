package checker

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
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed))
	type reg struct {
		v  int64
		ok bool
	}
	regs := make([]reg, cfg.Keys)
	type inflight struct {
		busy bool
		proc int
		f    string
		key  int64
		v    any
	}
	workers := make([]inflight, cfg.Processes)
	for i := range workers {
		workers[i].proc = i
	}
	ops := make([]history.Op, 0, 2*cfg.Ops+2*cfg.Processes)
	var now int64
	add := func(o history.Op) {
		o.Index = int64(len(ops))
		o.Time = now
		ops = append(ops, o)
	}
	started := 0
	for started < cfg.Ops || anyBusy(workers, func(w inflight) bool { return w.busy }) {
		now += 1000 + rng.Int64N(100000)
		w := &workers[rng.IntN(len(workers))]
		if !w.busy {
			if started >= cfg.Ops {
				continue
			}
			started++
			w.busy = true
			w.key = rng.Int64N(int64(cfg.Keys))
			switch r := rng.IntN(10); {
			case r < 5:
				w.f, w.v = "read", []any{w.key, nil}
			case r < 8:
				w.f, w.v = "write", []any{w.key, rng.Int64N(int64(cfg.Values))}
			default:
				w.f, w.v = "cas", []any{w.key, []any{rng.Int64N(int64(cfg.Values)), rng.Int64N(int64(cfg.Values))}}
			}
			add(history.Op{Type: history.Invoke, Process: w.proc, F: w.f, Value: w.v})
			continue
		}
		w.busy = false
		r := &regs[w.key]
		x := rng.Float64()
		switch {
		case x < cfg.FailRate:
			add(history.Op{Type: history.Fail, Process: w.proc, F: w.f, Value: w.v, Error: "generated failure"})
			continue
		case x < cfg.FailRate+cfg.InfoRate:
			if rng.IntN(2) == 0 {
				applyReg(w.f, w.v, &r.v, &r.ok)
			}
			v := w.v
			if w.f == "read" {
				v = []any{w.key, nil}
			}
			add(history.Op{Type: history.Info, Process: w.proc, F: w.f, Value: v, Error: "generated timeout"})
			w.proc += cfg.Processes
			continue
		}
		switch w.f {
		case "read":
			var v any
			if r.ok {
				v = r.v
			}
			add(history.Op{Type: history.OK, Process: w.proc, F: w.f, Value: []any{w.key, v}})
		case "write":
			applyReg(w.f, w.v, &r.v, &r.ok)
			add(history.Op{Type: history.OK, Process: w.proc, F: w.f, Value: w.v})
		case "cas":
			if applyReg(w.f, w.v, &r.v, &r.ok) {
				add(history.Op{Type: history.OK, Process: w.proc, F: w.f, Value: w.v})
			} else {
				add(history.Op{Type: history.Fail, Process: w.proc, F: w.f, Value: w.v, Error: "cas mismatch"})
			}
		}
	}
	return ops
}

func applyReg(f string, v any, cur *int64, ok *bool) bool {
	kv := v.([]any)
	switch f {
	case "write":
		*cur, *ok = kv[1].(int64), true
		return true
	case "cas":
		on := kv[1].([]any)
		if *ok && *cur == on[0].(int64) {
			*cur = on[1].(int64)
			return true
		}
	}
	return false
}

func anyBusy[T any](xs []T, f func(T) bool) bool {
	for _, x := range xs {
		if f(x) {
			return true
		}
	}
	return false
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
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x11a))
	active := make([]int64, cfg.Keys)
	for i := range active {
		active[i] = int64(i)
	}
	nextKey := int64(cfg.Keys)
	writes := map[int64]int{}  // appends planned per key
	lists := map[int64][]any{} // committed state
	type inflight struct {
		busy bool
		proc int
		mops []any
	}
	workers := make([]inflight, cfg.Processes)
	for i := range workers {
		workers[i].proc = i
	}
	ops := make([]history.Op, 0, 2*cfg.Txns+2*cfg.Processes)
	var now int64
	add := func(o history.Op) {
		o.Index = int64(len(ops))
		o.Time = now
		o.F = "txn"
		ops = append(ops, o)
	}
	started, busy := 0, 0
	for started < cfg.Txns || busy > 0 {
		now += 1000 + rng.Int64N(100000)
		w := &workers[rng.IntN(len(workers))]
		if !w.busy {
			if started >= cfg.Txns {
				continue
			}
			started++
			busy++
			w.busy = true
			n := 1 + rng.IntN(cfg.MaxMops)
			w.mops = make([]any, n)
			for i := range w.mops {
				ki := rng.IntN(len(active))
				k := active[ki]
				if rng.IntN(2) == 0 {
					w.mops[i] = []any{"r", k, nil}
					continue
				}
				writes[k]++
				w.mops[i] = []any{"append", k, int64(writes[k])}
				if writes[k] >= cfg.MaxWritesPerKey {
					active[ki] = nextKey
					nextKey++
				}
			}
			add(history.Op{Type: history.Invoke, Process: w.proc, Value: w.mops})
			continue
		}
		w.busy = false
		busy--
		x := rng.Float64()
		switch {
		case x < cfg.FailRate:
			add(history.Op{Type: history.Fail, Process: w.proc, Value: w.mops, Error: "generated abort"})
			continue
		case x < cfg.FailRate+cfg.InfoRate:
			if rng.IntN(2) == 0 {
				execTxn(w.mops, lists)
			}
			add(history.Op{Type: history.Info, Process: w.proc, Value: w.mops, Error: "generated timeout"})
			w.proc += cfg.Processes
			continue
		}
		add(history.Op{Type: history.OK, Process: w.proc, Value: execTxn(w.mops, lists)})
	}
	return ops
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
