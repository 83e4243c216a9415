package workload

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/faultline/faultline/system"
)

// MemKVConfig sets MemKV's fault knobs. The zero value injects nothing.
type MemKVConfig struct {
	// Seed drives the fault injection.
	Seed int64
	// FailRate is the probability that a request fails definitely (not
	// applied, NOT_LEADER).
	FailRate float64
	// InfoRate is the probability that a request times out (TIMEOUT,
	// indeterminate); half of those are applied anyway.
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
// with system's semantics (CAS on a missing key: NOT_FOUND; TXN compares
// guard the whole TXN: CAS_MISMATCH; APPEND builds system.EncodeList
// lists). It is meant for tests of workloads, runners and checkers.
type MemKV struct {
	cfg  MemKVConfig
	mu   sync.Mutex
	data map[string][]byte
	rng  *rand.Rand
}

// NewMemKV returns an empty MemKV. cfg should pass Validate; out-of-range
// rates simply saturate.
func NewMemKV(cfg MemKVConfig) *MemKV {
	if cfg.Node == "" {
		cfg.Node = "mem"
	}
	return &MemKV{cfg: cfg, data: map[string][]byte{}, rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6d656d6b76))}
}

// LastNode implements NodeReporter.
func (m *MemKV) LastNode() string { return m.cfg.Node }

// Snapshot returns a copy of the store's contents.
func (m *MemKV) Snapshot() map[string][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]byte, len(m.data))
	for k, v := range m.data {
		out[k] = bytes.Clone(v)
	}
	return out
}

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
		return &system.Error{Status: system.StatusNotLeader, Msg: "injected by MemKV"}
	case x < m.cfg.FailRate+m.cfg.InfoRate:
		if m.rng.IntN(2) == 0 {
			_ = apply()
		}
		return &system.Error{Status: system.StatusTimeout, Msg: "injected by MemKV"}
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
			return &system.Error{Status: system.StatusNotFound}
		case !bytes.Equal(cur, expected):
			return &system.Error{Status: system.StatusCASMismatch}
		}
		m.data[key] = bytes.Clone(value)
		return nil
	})
}

// Append implements KV.
func (m *MemKV) Append(ctx context.Context, key string, elem []byte) error {
	return m.do(ctx, func() error {
		m.data[key] = append(m.data[key], system.EncodeList([][]byte{elem})...)
		return nil
	})
}

// Txn implements KV: compares first (any mismatch aborts everything), then
// the micro-ops in order, reads seeing earlier writes.
func (m *MemKV) Txn(ctx context.Context, ops []system.MicroOp) (res []system.MicroResult, err error) {
	err = m.do(ctx, func() error {
		for _, o := range ops {
			switch o.Kind {
			case system.MicroRead, system.MicroWrite, system.MicroAppend:
				continue
			case system.MicroCompare:
			default:
				return &system.Error{Status: system.StatusBadRequest, Msg: "unknown micro-op"}
			}
			cur, ok := m.data[o.Key]
			if !((o.Absent && !ok) || (!o.Absent && ok && bytes.Equal(cur, o.Value))) {
				return &system.Error{Status: system.StatusCASMismatch, Msg: "compare on " + o.Key}
			}
		}
		res = make([]system.MicroResult, len(ops))
		for i, o := range ops {
			switch o.Kind {
			case system.MicroRead:
				cur, ok := m.data[o.Key]
				res[i] = system.MicroResult{Value: bytes.Clone(cur), Found: ok}
			case system.MicroWrite:
				m.data[o.Key] = bytes.Clone(o.Value)
			case system.MicroAppend:
				m.data[o.Key] = append(m.data[o.Key], system.EncodeList([][]byte{o.Value})...)
			}
		}
		return nil
	})
	return res, err
}
