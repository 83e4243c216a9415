package system

import (
	"fmt"
	"testing"
	"time"
)

// A trailing log entry that raft keeps from the FSM (here a Barrier) costs
// the next linearizable read one fallback, not every read after it: the
// fallback's no-op reaches the FSM. (With a Barrier as the fallback every
// read waited 100ms and appended the next trailing Barrier.)
func TestReadsAfterATrailingBarrierDoNotWait(t *testing.T) {
	tc := newTestCluster(t, 3, fastConfig)
	ctx := ctxT(t, 60*time.Second)
	tc.onLeader(60*time.Second, func(li int) error {
		n := tc.nodes[li]
		if err := n.raft.Barrier(5 * time.Second).Error(); err != nil {
			return fmt.Errorf("barrier: %w", err)
		}
		before := n.metrics.readFallbacks.Load()
		for range 20 {
			if r := n.read(ctx, &Request{Op: OpGet, Key: "k"}); r.Status != StatusNotFound {
				return fmt.Errorf("read: %s %s", r.Status, r.Msg)
			}
		}
		if d := n.metrics.readFallbacks.Load() - before; d > 5 {
			return fmt.Errorf("%d of 20 reads after a trailing barrier fell back to a no-op through the log, want 1", d)
		}
		return nil
	})
}
