package docker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/faultline/faultline/sut"
)

// NodeStatus is what a node's probe says (the system's sut.Status).
type NodeStatus = sut.Status

// probeTimeout bounds one probe of one node, so that a paused or
// partitioned node cannot stall Leader or WaitHealthy.
const probeTimeout = 2 * time.Second

// Status probes the node with the system's Probe: an error means it is not
// ready (and says why).
func (c *Cluster) Status(ctx context.Context, id string) (NodeStatus, error) {
	if _, err := c.node(id); err != nil {
		return NodeStatus{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	st, err := c.cfg.System.Probe(ctx, c.exposedAddrs(id))
	if err != nil {
		return NodeStatus{}, fmt.Errorf("docker: probe of node %s: %w", id, err)
	}
	return st, nil
}

// statuses probes every running node concurrently; nodes that are not
// ready are missing from the map and their errors are returned.
func (c *Cluster) statuses(ctx context.Context) (map[string]NodeStatus, map[string]error) {
	return sut.ProbeAll(ctx, c.ids, func(id string) error {
		if st := c.State(id); st != StateRunning.String() {
			return fmt.Errorf("node %s is %s", id, st)
		}
		return nil
	}, c.Status)
}

// Leader returns the id of the node that a majority of the cluster's ready
// nodes name as their leader (sut.AgreedLeader). Paused, killed and
// unreachable nodes do not vote, so a leader needs a reachable majority.
// The error wraps sut.ErrNoLeader.
func (c *Cluster) Leader(ctx context.Context) (string, error) {
	sts, errs := c.statuses(ctx)
	leader, err := sut.AgreedLeader(len(c.ids), sts, errs)
	if err != nil {
		return "", fmt.Errorf("docker: %w", err)
	}
	return leader, nil
}

// WaitHealthy waits, bounded by ctx, until every node is running and
// ready (the system's Probe), and all of them name the same leader. It fails at once when a
// node is not running (start or resume it first); on timeout the error
// says what each node was missing.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	for _, id := range c.ids {
		if st := c.State(id); st != StateRunning.String() {
			return fmt.Errorf("docker: node %s is %s: Start or Resume it before waiting for a healthy cluster", id, st)
		}
	}
	var last error
	lastExitCheck := time.Now()
	for {
		last = c.checkHealthy(ctx)
		if last == nil {
			return nil
		}
		if time.Since(lastExitCheck) > 300*time.Millisecond {
			lastExitCheck = time.Now()
			if err := c.checkExited(ctx); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("docker: cluster not healthy: %w (last: %v; see the node logs via Cluster.Logs)", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// checkHealthy is one round of WaitHealthy's condition.
func (c *Cluster) checkHealthy(ctx context.Context) error {
	sts, errs := c.statuses(ctx)
	return sut.Healthy(c.ids, sts, errs)
}

// checkExited fails when a node this package believes running has exited
// by itself (it crashed or rejected its flags), with its exit code and
// log.
func (c *Cluster) checkExited(ctx context.Context) error {
	for _, id := range c.ids {
		if c.State(id) != StateRunning.String() {
			continue
		}
		n, _ := c.node(id)
		n.mu.Lock()
		cid := containerOf(n.st)
		n.mu.Unlock()
		res, err := c.cli.ContainerInspect(ctx, cid, client.ContainerInspectOptions{})
		if err != nil || res.Container.State == nil || res.Container.State.Running {
			continue
		}
		logs, _ := c.Logs(ctx, id)
		return fmt.Errorf("docker: node %s exited by itself with code %d; its log:\n%s",
			id, res.Container.State.ExitCode, abridge(logs, 8, 12))
	}
	return nil
}

// abridge keeps the first head and last tail lines of s.
func abridge(s string, head, tail int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) <= head+tail {
		return strings.Join(lines, "\n")
	}
	out := append(slices.Clone(lines[:head]), fmt.Sprintf("... (%d lines) ...", len(lines)-head-tail))
	return strings.Join(append(out, lines[len(lines)-tail:]...), "\n")
}
