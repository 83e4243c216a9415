package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
)

// ListAppendConfig configures the list-append workload (Elle's).
type ListAppendConfig struct {
	// Keys is the number of keys active at once.
	Keys int
	// MinTxnLength and MaxTxnLength bound the micro-ops per TXN.
	MinTxnLength, MaxTxnLength int
	// MaxWritesPerKey is roughly how many appends a key receives (across
	// all workers) before it retires and a fresh key takes its place.
	MaxWritesPerKey int
	// ReadFraction is the probability that a micro-op is a read.
	ReadFraction float64
}

// DefaultListAppendConfig returns 4 active keys, TXNs of 1-4 micro-ops,
// about 32 appends per key, half reads.
func DefaultListAppendConfig() ListAppendConfig {
	return ListAppendConfig{Keys: 4, MinTxnLength: 1, MaxTxnLength: 4, MaxWritesPerKey: 32, ReadFraction: 0.5}
}

// Validate reports the first invalid field.
func (c ListAppendConfig) Validate() error {
	switch {
	case c.Keys < 1:
		return fmt.Errorf("workload: list-append keys %d: want at least 1", c.Keys)
	case c.MinTxnLength < 1 || c.MaxTxnLength < c.MinTxnLength:
		return fmt.Errorf("workload: list-append txn length %d..%d: want 1 <= min <= max", c.MinTxnLength, c.MaxTxnLength)
	case c.MaxWritesPerKey < 1:
		return fmt.Errorf("workload: list-append max writes per key %d: want at least 1", c.MaxWritesPerKey)
	case c.ReadFraction < 0 || c.ReadFraction > 1:
		return errors.New("workload: list-append read fraction must be in [0, 1]")
	}
	return nil
}

// ListAppend runs TXNs of reads and appends over rotating integer keys.
// Values (see history.Op): f "txn", Value a list of micro-ops
// []any{f, k, v} with f "r" or "append", k int64; an append's v is an int64
// unique per key; a read's v is nil at invoke and the []any of int64 read
// (empty for a missing key) at completion.
type ListAppend struct {
	noSetup
	cfg    ListAppendConfig
	maxKey atomic.Int64
}

// NewListAppend returns the list-append workload.
func NewListAppend(cfg ListAppendConfig) (*ListAppend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &ListAppend{cfg: cfg}, nil
}

func listKey(k int64) string { return "list/" + strconv.FormatInt(k, 10) }

// Info implements Workload.
func (w *ListAppend) Info() Info {
	return Info{Name: "list-append", Model: "list-append"}
}

// Generator implements Workload. Each worker slides its window of Keys
// active keys by one key every few TXNs, so that a key gets about
// MaxWritesPerKey appends from all workers together before it retires;
// workers running at similar rates share their windows.
func (w *ListAppend) Generator() Generator {
	return func(wi WorkerInfo) Gen {
		avgLen := float64(w.cfg.MinTxnLength+w.cfg.MaxTxnLength) / 2
		appendsPerTxn := avgLen * (1 - w.cfg.ReadFraction)
		every := 1
		if appendsPerTxn > 0 {
			every = max(1, int(float64(w.cfg.MaxWritesPerKey)/(appendsPerTxn*float64(wi.Workers))))
		}
		win := &keyWindow{size: w.cfg.Keys, every: every}
		vals := newUniqueValues(wi)
		return GenFunc(func(_ context.Context, r *rand.Rand) (Op, error) {
			n := w.cfg.MinTxnLength + r.IntN(w.cfg.MaxTxnLength-w.cfg.MinTxnLength+1)
			txn := make([]any, n)
			for i := range txn {
				k := win.pick(r)
				storeMax(&w.maxKey, k)
				if r.Float64() < w.cfg.ReadFraction {
					txn[i] = []any{"r", k, nil}
				} else {
					txn[i] = []any{"append", k, vals.next(k)}
				}
			}
			win.ops++
			return Op{F: "txn", Value: txn}, nil
		})
	}
}

// Final implements Workload: worker 0 reads the last 2*Keys keys used,
// in one TXN.
func (w *ListAppend) Final() Generator {
	return OnWorker(0, OnceLazy(func() []Op {
		hi := w.maxKey.Load()
		var txn []any
		for k := max(0, hi-int64(2*w.cfg.Keys)+1); k <= hi; k++ {
			txn = append(txn, []any{"r", k, nil})
		}
		return []Op{{F: "txn", Value: txn}}
	}))
}

// Invoke implements Workload.
func (w *ListAppend) Invoke(ctx context.Context, kv KV, op Op) (any, error) {
	if op.F != "txn" {
		return nil, &DefiniteError{Reason: fmt.Sprintf("list-append: unknown f %q", op.F)}
	}
	mops, ok := op.Value.([]any)
	if !ok {
		return nil, &DefiniteError{Reason: fmt.Sprintf("list-append: txn value %v is not a list", op.Value)}
	}
	req := make([]MicroOp, len(mops))
	keys := make([]int64, len(mops))
	for i, m := range mops {
		l, ok := m.([]any)
		if !ok || len(l) != 3 {
			return nil, &DefiniteError{Reason: fmt.Sprintf("list-append: micro-op %v is not [f k v]", m)}
		}
		k, err := intOf(l[1], "key")
		if err != nil {
			return nil, err
		}
		keys[i] = k
		switch l[0] {
		case "r":
			req[i] = MicroOp{Kind: MicroReadList, Key: listKey(k)}
		case "append":
			v, err := intOf(l[2], "append value")
			if err != nil {
				return nil, err
			}
			req[i] = MicroOp{Kind: MicroAppend, Key: listKey(k), Value: encodeInt(v)}
		default:
			return nil, &DefiniteError{Reason: fmt.Sprintf("list-append: micro-op function %v is not r or append", l[0])}
		}
	}
	res, err := kv.Txn(ctx, req)
	if err != nil {
		return nil, err
	}
	if len(res) != len(req) {
		return nil, fmt.Errorf("workload: list-append: %d results for %d micro-ops", len(res), len(req))
	}
	out := make([]any, len(mops))
	for i, m := range mops {
		if req[i].Kind != MicroReadList {
			out[i] = m
			continue
		}
		list := []any{}
		for _, e := range res[i].List {
			v, err := decodeInt(e)
			if err != nil {
				return nil, fmt.Errorf("workload: list-append: key %d: %w", keys[i], err)
			}
			list = append(list, v)
		}
		out[i] = []any{"r", keys[i], list}
	}
	return out, nil
}
