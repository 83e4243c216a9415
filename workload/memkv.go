package workload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// MemKVConfig sets MemKV's fault knobs. The zero value injects nothing.
type MemKVConfig struct {
	// Seed drives the fault injection.
	Seed int64
	// FailRate is the probability that a request fails definitely (not
	// applied).
	FailRate float64
	// InfoRate is the probability that a request times out
	// (indeterminate); half of those are applied anyway.
	InfoRate float64
	// Latency, if > 0, delays every request by up to this much (uniform).
	Latency time.Duration
	// Node is what LastNode reports (default "mem").
	Node string
}

// DefaultMemKVConfig returns a MemKV without faults or latency.
func DefaultMemKVConfig() MemKVConfig { return MemKVConfig{Node: "mem"} }

// Validate reports the first invalid field.
func (c MemKVConfig) Validate() error {
	if c.FailRate < 0 || c.InfoRate < 0 || c.FailRate+c.InfoRate > 1 {
		return fmt.Errorf("workload: memkv fail rate %v and info rate %v: want each >= 0 and their sum <= 1", c.FailRate, c.InfoRate)
	}
	if c.Latency < 0 {
		return fmt.Errorf("workload: memkv latency %v: want >= 0", c.Latency)
	}
	return nil
}

// MemKV is an in-memory, mutex-protected, linearizable KV implementing KV
// (CAS on a missing key and failed TXN compares are definite errors; lists
// built by Append are kept apart from plain values). It is meant for tests
// of workloads, runners and checkers.
type MemKV struct {
	cfg   MemKVConfig
	mu    sync.Mutex
	data  map[string][]byte
	lists map[string][][]byte
	rng   *rand.Rand
}

// NewMemKV returns an empty MemKV. cfg should pass Validate; out-of-range
// rates simply saturate.
func NewMemKV(cfg MemKVConfig) *MemKV {
	if cfg.Node == "" {
		cfg.Node = "mem"
	}
	return &MemKV{cfg: cfg, data: map[string][]byte{}, lists: map[string][][]byte{},
		rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6d656d6b76))}
}

// LastNode implements NodeReporter.
func (m *MemKV) LastNode() string { return m.cfg.Node }

// errInjectedTimeout is MemKV's indeterminate failure.
var errInjectedTimeout = errors.New("memkv: timeout (injected)")

// do runs apply under the lock with the configured faults.
func (m *MemKV) do(ctx context.Context, apply func() error) error {
	if m.cfg.Latency > 0 {
		m.mu.Lock()
		d := time.Duration(m.rng.Int64N(int64(m.cfg.Latency)))
		m.mu.Unlock()
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	x := m.rng.Float64()
	switch {
	case x < m.cfg.FailRate:
		return &DefiniteError{Reason: "memkv: not leader (injected)"}
	case x < m.cfg.FailRate+m.cfg.InfoRate:
		if m.rng.IntN(2) == 0 {
			_ = apply()
		}
		return errInjectedTimeout
	}
	return apply()
}

// Get implements KV.
func (m *MemKV) Get(ctx context.Context, key string) (v []byte, found bool, err error) {
	err = m.do(ctx, func() error {
		var cur []byte
		cur, found = m.data[key]
		v = bytes.Clone(cur)
		return nil
	})
	return v, found, err
}

// Put implements KV.
func (m *MemKV) Put(ctx context.Context, key string, value []byte) error {
	return m.do(ctx, func() error {
		m.data[key] = bytes.Clone(value)
		return nil
	})
}

// CAS implements KV.
func (m *MemKV) CAS(ctx context.Context, key string, expected, value []byte) error {
	return m.do(ctx, func() error {
		cur, ok := m.data[key]
		switch {
		case !ok:
			return &DefiniteError{Reason: "memkv: cas: " + key + " not found"}
		case !bytes.Equal(cur, expected):
			return &DefiniteError{Reason: "memkv: cas: " + key + " mismatch"}
		}
		m.data[key] = bytes.Clone(value)
		return nil
	})
}

// Append implements KV.
func (m *MemKV) Append(ctx context.Context, key string, elem []byte) error {
	return m.do(ctx, func() error {
		m.lists[key] = append(m.lists[key], bytes.Clone(elem))
		return nil
	})
}

// Txn implements KV: compares first (any mismatch aborts everything), then
// the micro-ops in order, reads seeing earlier writes.
func (m *MemKV) Txn(ctx context.Context, ops []MicroOp) (res []MicroResult, err error) {
	err = m.do(ctx, func() error {
		for _, o := range ops {
			switch o.Kind {
			case MicroRead, MicroReadList, MicroWrite, MicroAppend:
				continue
			case MicroCompare:
			default:
				return &DefiniteError{Reason: fmt.Sprintf("memkv: unknown micro-op kind %d", o.Kind)}
			}
			cur, ok := m.data[o.Key]
			if !((o.Absent && !ok) || (!o.Absent && ok && bytes.Equal(cur, o.Value))) {
				return &DefiniteError{Reason: "memkv: compare on " + o.Key + " failed"}
			}
		}
		res = make([]MicroResult, len(ops))
		for i, o := range ops {
			switch o.Kind {
			case MicroRead:
				cur, ok := m.data[o.Key]
				res[i] = MicroResult{Value: bytes.Clone(cur), Found: ok}
			case MicroReadList:
				l, ok := m.lists[o.Key]
				res[i] = MicroResult{List: slices.Clone(l), Found: ok}
			case MicroWrite:
				m.data[o.Key] = bytes.Clone(o.Value)
			case MicroAppend:
				m.lists[o.Key] = append(m.lists[o.Key], bytes.Clone(o.Value))
			}
		}
		return nil
	})
	return res, err
}
