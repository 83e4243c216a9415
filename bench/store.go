package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/faultline/faultline/sut"
	"github.com/faultline/faultline/workload"
)

// Op kinds of the store benchmarks.
const (
	OpPut = "put" // PUT a random key
	OpGet = "get" // linearizable GET of a random key
	OpCAS = "cas" // CAS on the worker's own key from its current value
	OpTxn = "txn" // TXN: read, write, read, write on random keys
	OpMix = "mix" // 50% PUT, 50% GET
)

// OpKinds lists the store op kinds in report order.
var OpKinds = []string{OpPut, OpGet, OpCAS, OpTxn, OpMix}

// Target is a cluster the store benchmarks drive, through its system's
// own client (the workloads' client: the same operations for every
// system).
type Target struct {
	System sut.System
	// Addrs maps node ids to the client addresses to dial.
	Addrs map[string]string
	// Home is the node every client is bound to (the leader, for the
	// best each system can do); "" lets the client choose.
	Home string
}

// Store drives one load against a cluster through a few shared clients.
type Store struct {
	Clients []sut.Client
	keys    []string
	value   []byte
	casCur  [][]byte // worker -> the value its CAS key holds
}

// NewStore connects conns clients to the target cluster, warms each (dial,
// find the leader) and writes every key once.
func NewStore(ctx context.Context, tgt Target, conns int, cfg Config) (*Store, error) {
	s := &Store{value: make([]byte, cfg.ValueSize)}
	for i := range s.value {
		s.value[i] = byte('a' + i%26)
	}
	for i := range cfg.Keys {
		s.keys = append(s.keys, "k"+strconv.Itoa(i))
	}
	for range max(1, conns) {
		c, err := tgt.System.NewClient(ctx, sut.ClientConfig{Addrs: tgt.Addrs, Home: tgt.Home})
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("bench: new %s client: %w", tgt.System.Info().Name, err)
		}
		s.Clients = append(s.Clients, c)
		if err := warm(ctx, c, s.keys[0], s.value); err != nil {
			s.Close()
			return nil, err
		}
	}
	// Write every key once so that GETs find values.
	if err := s.fill(ctx, 32); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// warm writes key through c until it succeeds or ctx ends: the client
// dials and finds the leader, waiting out an election (a loaded machine
// can cost the leader its lease between two windows).
func warm(ctx context.Context, c sut.Client, key string, value []byte) error {
	for {
		err := c.Put(ctx, key, value)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: warm client: %w (last error: %w)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// fill writes every key with conc goroutines.
func (s *Store) fill(ctx context.Context, conc int) error {
	errs := make([]error, conc)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			for k := w; k < len(s.keys) && errs[w] == nil; k += conc {
				for try := 0; try < 3; try++ { // a transient error is not fatal here
					if errs[w] = s.client(w).Put(ctx, s.keys[k], s.value); errs[w] == nil {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bench: write the %d keys: %w", len(s.keys), err)
	}
	return nil
}

// Close closes every client.
func (s *Store) Close() {
	for _, c := range s.Clients {
		c.Close()
	}
}

func (s *Store) client(worker int) sut.Client { return s.Clients[worker%len(s.Clients)] }

// key picks a pseudo-random key for op i of worker w (splitmix64).
func (s *Store) key(w int, i int64, salt uint64) string {
	z := uint64(w)<<40 ^ uint64(i) ^ salt*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	return s.keys[z%uint64(len(s.keys))]
}

// casValue is the value CAS worker w writes at its step i.
func (s *Store) casValue(w int, i int64) []byte {
	v := append([]byte(nil), s.value...)
	tag := strconv.Itoa(w) + "." + strconv.FormatInt(i, 10)
	if len(tag) > len(v) {
		return []byte(tag)
	}
	copy(v[len(v)-len(tag):], tag)
	return v
}

// Op returns the operation of kind for conc workers. For CAS it first
// writes each worker's own key.
func (s *Store) Op(ctx context.Context, kind string, conc int) (OpFunc, error) {
	switch kind {
	case OpPut:
		return func(ctx context.Context, w int, i int64) error {
			return s.client(w).Put(ctx, s.key(w, i, 1), s.value)
		}, nil
	case OpGet:
		return func(ctx context.Context, w int, i int64) error {
			_, _, err := s.client(w).Get(ctx, s.key(w, i, 2))
			return err
		}, nil
	case OpMix:
		return func(ctx context.Context, w int, i int64) error {
			k := s.key(w, i, 3)
			if i%2 == 0 {
				return s.client(w).Put(ctx, k, s.value)
			}
			_, _, err := s.client(w).Get(ctx, k)
			return err
		}, nil
	case OpTxn:
		return func(ctx context.Context, w int, i int64) error {
			_, err := s.client(w).Txn(ctx, []workload.MicroOp{
				{Kind: workload.MicroRead, Key: s.key(w, i, 4)},
				{Kind: workload.MicroWrite, Key: s.key(w, i, 5), Value: s.value},
				{Kind: workload.MicroRead, Key: s.key(w, i, 6)},
				{Kind: workload.MicroWrite, Key: s.key(w, i, 7), Value: s.value},
			})
			return err
		}, nil
	case OpCAS:
		s.casCur = make([][]byte, conc)
		for w := range conc {
			s.casCur[w] = s.casValue(w, -1)
			if err := s.client(w).Put(ctx, "cas"+strconv.Itoa(w), s.casCur[w]); err != nil {
				return nil, fmt.Errorf("bench: write CAS key of worker %d: %w", w, err)
			}
		}
		return func(ctx context.Context, w int, i int64) error {
			c, key := s.client(w), "cas"+strconv.Itoa(w)
			next := s.casValue(w, i)
			err := c.CAS(ctx, key, s.casCur[w], next)
			if err == nil {
				s.casCur[w] = next
			} else if !workload.IsDefinite(err) {
				// Unknown outcome: read back what the key holds.
				if v, _, gerr := c.Get(ctx, key); gerr == nil {
					s.casCur[w] = v
				}
			}
			return err
		}, nil
	}
	return nil, fmt.Errorf("bench: unknown op kind %q (want one of %v)", kind, OpKinds)
}
