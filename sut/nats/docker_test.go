package nats_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/cluster/clustertest"
	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/engine/enginetest"
	"github.com/faultline/faultline/sut"
	"github.com/faultline/faultline/sut/nats"
	"github.com/faultline/faultline/workload"
)

// TestQueueOnDocker: a 3-node cluster of the release the nested module
// pins, the stream created, a publish through every node, the stream
// leader killed (publishes through it fail or time out, never ack), the
// others still acknowledge, and after its restart every drain, through
// every node, holds every acknowledged value; without the stream, a
// drain says the queue is gone.
func TestQueueOnDocker(t *testing.T) {
	enginetest.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	spec := cluster.DefaultSpec()
	spec.System = nats.System{}
	spec.Options = sut.Options{Version: nats.ModuleVersion, Settings: map[string]string{"sync_interval": "always"}}
	c, err := docker.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	clustertest.Cleanup(t, c, nil)
	queue := func(home string) workload.Queue {
		cl, err := spec.System.NewClient(ctx, sut.ClientConfig{Addrs: c.ClientAddrs(), Home: home, AttemptTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cl.Close() })
		return workload.QueueOf(cl)
	}
	if _, err := queue("n1").Drain(ctx); !errors.Is(err, workload.ErrQueueGone) {
		t.Fatalf("drain before the stream exists: %v, want ErrQueueGone", err)
	}
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	if err := queue("n1").CreateQueue(ctx); err != nil {
		t.Fatal(err)
	}
	var acked []int64
	next := int64(0)
	publish := func(nodes []string) {
		for _, id := range nodes {
			q := queue(id)
			for {
				next++
				octx, cancel := context.WithTimeout(ctx, 2*time.Second)
				err := q.Enqueue(octx, next)
				cancel()
				if err == nil {
					acked = append(acked, next)
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("enqueue through %s: %v", id, err)
				}
			}
		}
	}
	publish(c.Nodes())
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(ctx, leader); err != nil {
		t.Fatal(err)
	}
	publish(slices.DeleteFunc(c.Nodes(), func(n string) bool { return n == leader }))
	if err := c.Start(ctx, leader); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range c.Nodes() {
		got, err := queue(id).Drain(ctx)
		if err != nil {
			t.Fatalf("drain through %s: %v", id, err)
		}
		for _, v := range acked {
			if !slices.Contains(got, v) {
				t.Errorf("drain through %s lacks acknowledged %d (read %v)", id, v, got)
			}
		}
	}
}
