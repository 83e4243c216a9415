package system

import (
	"sync"

	"github.com/hashicorp/raft"
)

// stableGate is the stable store raft writes its term and vote to: the
// raft log's, until the node closes it. raft answers heartbeats on its
// transport's goroutines, which its Shutdown does not wait for, and it
// panics when it cannot save a term ("failed to save current term"): a
// heartbeat that raced the node's close panicked a test process. Dropping
// the write instead would let the node answer for a term its disk never
// saw. So once the gate is closed, a write waits for good: the node is
// gone, and nothing may be said in its name.
type stableGate struct {
	raft.StableStore
	mu     sync.RWMutex
	closed bool
}

var _ raft.StableStore = (*stableGate)(nil)

// Set implements raft.StableStore.
func (g *stableGate) Set(key, val []byte) error {
	g.enter()
	defer g.mu.RUnlock()
	return g.StableStore.Set(key, val)
}

// SetUint64 implements raft.StableStore.
func (g *stableGate) SetUint64(key []byte, val uint64) error {
	g.enter()
	defer g.mu.RUnlock()
	return g.StableStore.SetUint64(key, val)
}

// enter read-locks g for a write, or blocks for good once g is closed.
func (g *stableGate) enter() {
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		select {}
	}
}

// close waits for writes in flight and makes every later one wait.
func (g *stableGate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}
