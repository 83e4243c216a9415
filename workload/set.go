package workload

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
)

// SetConfig configures the set workload.
type SetConfig struct {
	// Keys is the number of store keys the set is spread over (each an
	// APPEND list); the final read unions them.
	Keys int
}

// DefaultSetConfig returns a set held in one key.
func DefaultSetConfig() SetConfig { return SetConfig{Keys: 1} }

// Validate reports the first invalid field.
func (c SetConfig) Validate() error {
	if c.Keys < 1 {
		return fmt.Errorf("workload: set keys %d: want at least 1", c.Keys)
	}
	return nil
}

// Set adds unique elements, then reads them all back in the final phase.
// Values (see history.Op): add has an int64 element (unique across
// workers); read has nil at invoke and the []any of int64 elements read at
// completion.
type Set struct {
	noSetup
	cfg SetConfig
}

// NewSet returns the set workload.
func NewSet(cfg SetConfig) (*Set, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Set{cfg: cfg}, nil
}

func setKey(i int64) string { return "set/" + strconv.FormatInt(i, 10) }

// Info implements Workload.
func (w *Set) Info() Info { return Info{Name: "set", Checkers: checkers("set")} }

// Generator implements Workload.
func (w *Set) Generator() Generator {
	return func(wi WorkerInfo) Gen {
		vals := newUniqueValues(wi)
		return GenFunc(func(context.Context, *rand.Rand) (Op, error) {
			return Op{F: "add", Value: vals.next(0)}, nil
		})
	}
}

// Final implements Workload: one read of the whole set by worker 0.
func (w *Set) Final() Generator { return OnWorker(0, Once(Op{F: "read"})) }

// Invoke implements Workload.
func (w *Set) Invoke(ctx context.Context, kv KV, op Op) (any, error) {
	switch op.F {
	case "add":
		e, err := intOf(op.Value, "set element")
		if err != nil {
			return nil, err
		}
		return op.Value, kv.Append(ctx, setKey(e%int64(w.cfg.Keys)), encodeInt(e))
	case "read":
		req := make([]MicroOp, w.cfg.Keys)
		for i := range req {
			req[i] = MicroOp{Kind: MicroReadList, Key: setKey(int64(i))}
		}
		res, err := kv.Txn(ctx, req)
		if err != nil {
			return nil, err
		}
		out := []any{}
		for i, r := range res {
			for _, b := range r.List {
				e, err := decodeInt(b)
				if err != nil {
					return nil, fmt.Errorf("workload: set: key %d: %w", i, err)
				}
				out = append(out, e)
			}
		}
		return out, nil
	}
	return nil, &DefiniteError{Reason: fmt.Sprintf("set: unknown f %q", op.F)}
}
