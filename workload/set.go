package workload

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// SetConfig configures the set workload.
type SetConfig struct {
	// Keys is the number of store keys the set is spread over (each an
	// APPEND list, element e in key e mod Keys); the final read unions
	// them, reading setReadChunk keys per transaction.
	Keys int
	// ReadInterval is how often worker 0 reads the whole set during the
	// main phase, as Jepsen's set-full reads while it adds: the checker
	// then tells stale and lost elements apart from never-read ones, and
	// a duplicate shows when it happens, not only at the final read. 0:
	// worker 0 adds like the others, and only the final read reads.
	ReadInterval time.Duration
}

// DefaultSetConfig spreads the set over 256 keys, so that no key, nor any
// answer of the final read, comes near the store's 4 MiB frame limit: a
// 5-minute run at 10,000 adds/s (about 11 bytes per element) puts about
// 130 KB in each key and about 520 KB in each answer of the final read.
// A read each second costs 256/setReadChunk small transactions a second.
func DefaultSetConfig() SetConfig { return SetConfig{Keys: 256, ReadInterval: time.Second} }

// setReadChunk is how many keys one transaction of the final read reads;
// a failed transaction is tried again up to setReadAttempts times in all
// (it only reads), so that one failure among many does not fail the read.
const (
	setReadChunk    = 4
	setReadAttempts = 5
)

// Validate reports the first invalid field.
func (c SetConfig) Validate() error {
	if c.Keys < 1 {
		return fmt.Errorf("workload: set keys %d: want at least 1", c.Keys)
	}
	if c.ReadInterval < 0 {
		return fmt.Errorf("workload: set read interval %v: want 0 (final read only) or more", c.ReadInterval)
	}
	return nil
}

// Set adds unique elements, worker 0 reading them all back every
// ReadInterval, and reads them all back in the final phase.
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
func (w *Set) Info() Info { return Info{Name: "set", Model: "set"} }

// Generator implements Workload.
func (w *Set) Generator() Generator {
	var reads Generator
	if w.cfg.ReadInterval > 0 {
		reads = Rate(1/w.cfg.ReadInterval.Seconds(), Repeat("read", nil))
	}
	return func(wi WorkerInfo) Gen {
		if reads != nil && wi.Worker == 0 && wi.Workers > 1 {
			return reads(wi)
		}
		vals := newUniqueValues(wi)
		return GenFunc(func(context.Context, *rand.Rand) (Op, error) {
			return Op{F: "add", Value: vals.next(0)}, nil
		})
	}
}

// Final implements Workload: one read of the whole set by worker 0.
func (w *Set) Final() Generator { return OnWorker(0, Once(Op{F: "read"})) }

// Requests implements Requests: a read is a transaction per
// setReadChunk keys, each with the op timeout (a read of 256 keys by one
// 1 s deadline failed every time on a machine at load 34, and the run
// looked unavailable).
func (w *Set) Requests(op Op) int {
	if op.F == "read" {
		return (w.cfg.Keys + setReadChunk - 1) / setReadChunk
	}
	return 1
}

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
		// A few keys per transaction keep every answer small. The read
		// is not atomic across chunks; the checker needs only that it
		// sees every add acknowledged before it began. The op's deadline
		// is Requests op timeouts: each chunk may use what the chunks
		// before it left, never what is kept for the chunks after it,
		// so a read that hangs on an unavailable cluster ends in one op
		// timeout, not in all of them (64 s: the main phase waited for
		// it, its faults in place).
		dl, bounded := ctx.Deadline()
		n := w.Requests(op)
		share := time.Until(dl) / time.Duration(n)
		out := []any{}
		for lo := 0; lo < w.cfg.Keys; lo += setReadChunk {
			req := make([]MicroOp, min(setReadChunk, w.cfg.Keys-lo))
			for i := range req {
				req[i] = MicroOp{Kind: MicroReadList, Key: setKey(int64(lo + i))}
			}
			cctx, cancel := ctx, context.CancelFunc(func() {})
			if bounded {
				later := n - 1 - lo/setReadChunk // chunks after this one
				cctx, cancel = context.WithDeadline(ctx, dl.Add(-time.Duration(later)*share))
			}
			var res []MicroResult
			var err error
			for range setReadAttempts {
				if res, err = kv.Txn(cctx, req); err == nil || cctx.Err() != nil {
					break
				}
			}
			cancel()
			if err != nil {
				return nil, err
			}
			for i, r := range res {
				for _, b := range r.List {
					e, err := decodeInt(b)
					if err != nil {
						return nil, fmt.Errorf("workload: set: key %d: %w", lo+i, err)
					}
					out = append(out, e)
				}
			}
		}
		return out, nil
	}
	return nil, &DefiniteError{Reason: fmt.Sprintf("set: unknown f %q", op.F)}
}
