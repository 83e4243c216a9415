package kubernetes

import (
	"context"
	"fmt"
	"time"

	"github.com/faultline/faultline/sut"
)

// probeTimeout bounds one probe of one node: a paused or partitioned node
// must not stall Leader or WaitHealthy.
const probeTimeout = 2 * time.Second

// Status probes the node with the system's Probe, through its forwarded
// ports: an error means it is not ready (and says why).
func (c *Cluster) Status(ctx context.Context, id string) (sut.Status, error) {
	if _, err := c.node(id); err != nil {
		return sut.Status{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	st, err := c.cfg.System.Probe(ctx, c.exposedAddrs(id))
	if err != nil {
		return sut.Status{}, fmt.Errorf("kubernetes: probe of node %s: %w", id, err)
	}
	return st, nil
}

// statuses probes every running node concurrently; nodes that are not
// ready are missing from the map and their errors are returned.
func (c *Cluster) statuses(ctx context.Context) (map[string]sut.Status, map[string]error) {
	return sut.ProbeAll(ctx, c.ids, func(id string) error {
		if st := c.State(id); st != StateRunning {
			return fmt.Errorf("node %s is %s", id, st)
		}
		return nil
	}, c.Status)
}

// Leader returns the id of the node that a majority of the nodes name as
// their leader (sut.AgreedLeader). Paused, killed and unreachable nodes do
// not vote. The error wraps sut.ErrNoLeader.
func (c *Cluster) Leader(ctx context.Context) (string, error) {
	sts, errs := c.statuses(ctx)
	leader, err := sut.AgreedLeader(len(c.ids), sts, errs)
	if err != nil {
		return "", fmt.Errorf("kubernetes: %w", err)
	}
	return leader, nil
}

// WaitHealthy waits, bounded by ctx, until every node is running and ready
// (the system's Probe) and all of them name the same leader. It fails at
// once when a node is not running (Start or Resume it first).
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	for _, id := range c.ids {
		if st := c.State(id); st != StateRunning {
			return fmt.Errorf("kubernetes: node %s is %s: Start or Resume it before waiting for a healthy cluster", id, st)
		}
	}
	for {
		sts, errs := c.statuses(ctx)
		last := sut.Healthy(c.ids, sts, errs)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kubernetes: cluster not healthy: %w (last: %v; see the node logs via Cluster.Logs)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
