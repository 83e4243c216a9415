package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
)

// RegisterConfig configures the register workload.
type RegisterConfig struct {
	// Keys is the number of independent registers active at once.
	Keys int
	// RotateEvery slides a worker's window of active keys by one after
	// this many of its ops, so keys retire over time and per-key
	// histories stay short for the linearizability checker; 0 never
	// rotates.
	RotateEvery int
	// ReadWeight, WriteWeight and CASWeight set the mix of operations.
	ReadWeight, WriteWeight, CASWeight float64
}

// DefaultRegisterConfig returns 8 keys rotating every 200 ops per worker,
// reads, writes and cas in equal parts.
func DefaultRegisterConfig() RegisterConfig {
	return RegisterConfig{Keys: 8, RotateEvery: 200, ReadWeight: 1, WriteWeight: 1, CASWeight: 1}
}

// Validate reports the first invalid field.
func (c RegisterConfig) Validate() error {
	switch {
	case c.Keys < 1:
		return fmt.Errorf("workload: register keys %d: want at least 1", c.Keys)
	case c.RotateEvery < 0:
		return fmt.Errorf("workload: register rotate-every %d: want >= 0", c.RotateEvery)
	case c.ReadWeight < 0 || c.WriteWeight < 0 || c.CASWeight < 0 || c.ReadWeight+c.WriteWeight+c.CASWeight == 0:
		return errors.New("workload: register weights must be >= 0 with a positive sum")
	}
	return nil
}

// Register is read / write / cas over many independent integer registers.
// Values (see history.Op): read [k, v|nil], write [k, v], cas [k, [old,
// new]]; k and v int64, values unique per key. A cas expects the last value
// the worker itself wrote to the key (or it writes instead), so it succeeds
// often under low contention. cas on a missing key fails (NOT_FOUND).
type Register struct {
	noSetup
	cfg     RegisterConfig
	maxBase atomic.Int64
}

// NewRegister returns the register workload.
func NewRegister(cfg RegisterConfig) (*Register, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Register{cfg: cfg}, nil
}

// Info implements Workload.
func (w *Register) Info() Info {
	return Info{Name: "register", Model: "cas-register"}
}

func registerKey(k int64) string { return "register/" + strconv.FormatInt(k, 10) }

// Generator implements Workload.
func (w *Register) Generator() Generator {
	return func(wi WorkerInfo) Gen {
		win := &keyWindow{size: w.cfg.Keys, every: w.cfg.RotateEvery}
		vals := newUniqueValues(wi)
		last := map[int64]int64{} // last value this worker wrote per key
		return GenFunc(func(_ context.Context, r *rand.Rand) (Op, error) {
			k := win.pick(r)
			win.ops++
			storeMax(&w.maxBase, win.base())
			switch weighted(r, w.cfg.ReadWeight, w.cfg.WriteWeight, w.cfg.CASWeight) {
			case 0:
				return Op{F: "read", Value: []any{k, nil}}, nil
			case 2:
				if old, ok := last[k]; ok {
					v := vals.next(k)
					last[k] = v
					return Op{F: "cas", Value: []any{k, []any{old, v}}}, nil
				}
			}
			v := vals.next(k)
			last[k] = v
			return Op{F: "write", Value: []any{k, v}}, nil
		})
	}
}

// Final implements Workload: worker 0 reads the most recent window's keys.
func (w *Register) Final() Generator {
	return OnWorker(0, OnceLazy(func() []Op {
		base := w.maxBase.Load()
		ops := make([]Op, w.cfg.Keys)
		for i := range ops {
			ops[i] = Op{F: "read", Value: []any{base + int64(i), nil}}
		}
		return ops
	}))
}

// Invoke implements Workload.
func (w *Register) Invoke(ctx context.Context, kv KV, op Op) (any, error) {
	kAny, arg, err := pair(op.Value)
	if err != nil {
		return nil, err
	}
	k, err := intOf(kAny, "register key")
	if err != nil {
		return nil, err
	}
	key := registerKey(k)
	switch op.F {
	case "read":
		b, found, err := kv.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		if !found {
			return []any{k, nil}, nil
		}
		v, err := decodeInt(b)
		if err != nil {
			return nil, err
		}
		return []any{k, v}, nil
	case "write":
		v, err := intOf(arg, "write value")
		if err != nil {
			return nil, err
		}
		return op.Value, kv.Put(ctx, key, encodeInt(v))
	case "cas":
		oldAny, newAny, err := pair(arg)
		if err != nil {
			return nil, err
		}
		old, err := intOf(oldAny, "cas old value")
		if err != nil {
			return nil, err
		}
		nv, err := intOf(newAny, "cas new value")
		if err != nil {
			return nil, err
		}
		return op.Value, kv.CAS(ctx, key, encodeInt(old), encodeInt(nv))
	}
	return nil, &DefiniteError{Reason: fmt.Sprintf("register: unknown f %q", op.F)}
}
