package system

import (
	"testing"

	"github.com/hashicorp/raft"
)

// blockingStable is a stable store whose writes say they began and wait
// for release.
type blockingStable struct {
	raft.StableStore
	entered, release chan struct{}
	writes           int
}

func (b *blockingStable) SetUint64([]byte, uint64) error {
	close(b.entered)
	<-b.release
	b.writes++
	return nil
}

// TestStableGateClose: a write in flight (raft saving a term on a
// heartbeat's goroutine) holds the gate, so closing it, and then the raft
// log, waits for the write to finish.
func TestStableGateClose(t *testing.T) {
	store := &blockingStable{entered: make(chan struct{}), release: make(chan struct{})}
	g := &stableGate{StableStore: store}
	done := make(chan error)
	go func() { done <- g.SetUint64([]byte("CurrentTerm"), 2) }()
	<-store.entered
	if g.mu.TryLock() {
		t.Fatal("a write in flight does not hold the gate: close would not wait for it")
	}
	close(store.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	g.close()
	if store.writes != 1 || !g.closed {
		t.Errorf("%d writes, closed %v: want the one in flight, then closed", store.writes, g.closed)
	}
}
