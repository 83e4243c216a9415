package workload

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"

	"github.com/faultline/faultline/history"
)

// encodeInt encodes a stored integer as decimal text.
func encodeInt(v int64) []byte { return strconv.AppendInt(nil, v, 10) }

// decodeInt decodes a stored decimal integer.
func decodeInt(b []byte) (int64, error) {
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("workload: stored value %q is not a decimal integer: %w", b, err)
	}
	return v, nil
}

// storeMax raises a to v if v is larger.
func storeMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// pair returns the two elements of a [a, b] value.
func pair(v any) (any, any, error) {
	l, ok := history.List(v)
	if !ok || len(l) != 2 {
		return nil, nil, &DefiniteError{Reason: fmt.Sprintf("value %v is not a pair", v)}
	}
	return l[0], l[1], nil
}

// intOf returns v as an int64 or an error naming what it is.
func intOf(v any, what string) (int64, error) {
	i, ok := history.Int(v)
	if !ok {
		return 0, &DefiniteError{Reason: fmt.Sprintf("%s %v is not an integer", what, v)}
	}
	return i, nil
}

// uniqueValues hands out values unique per key across workers without
// sharing state: worker w's n-th value for a key is n*C + w + 1.
type uniqueValues struct {
	w     WorkerInfo
	count map[int64]int64
}

func newUniqueValues(w WorkerInfo) *uniqueValues {
	return &uniqueValues{w: w, count: map[int64]int64{}}
}

func (u *uniqueValues) next(key int64) int64 {
	n := u.count[key]
	u.count[key] = n + 1
	return n*int64(u.w.Workers) + int64(u.w.Worker) + 1
}

// keyWindow is a worker's sliding window of active keys: keys
// [base, base+size) with base = ops/every (every 0: never slides).
type keyWindow struct {
	size, every int
	ops         int
}

// pick counts one op and returns a random key of the current window.
func (k *keyWindow) pick(r *rand.Rand) int64 {
	return k.base() + int64(r.IntN(k.size))
}

func (k *keyWindow) base() int64 {
	if k.every <= 0 {
		return 0
	}
	return int64(k.ops / k.every)
}

// weighted picks an index in proportion to weights (all >= 0, sum > 0).
func weighted(r *rand.Rand, weights ...float64) int {
	total := 0.0
	for _, w := range weights {
		total += w
	}
	x := r.Float64() * total
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

// noSetup is embedded by workloads with nothing to prepare.
type noSetup struct{}

// Setup implements Workload: nothing to prepare.
func (noSetup) Setup(context.Context, KV) error { return nil }
