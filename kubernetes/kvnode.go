package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/sut"
	"github.com/faultline/faultline/system"
)

// This file is everything the runtime knows about the system under test:
// our store's kvnode (command line, ports, user, health and leader). It is
// the one place to swap for the sut seam.

// KVNode is how each node pod runs kvnode.
type KVNode struct {
	// ReadMode is kvnode --read-mode: linearizable, lease or stale; empty
	// leaves kvnode's default.
	ReadMode string
	// UnsafeNoDedup passes --unsafe-no-dedup (a planted bug).
	UnsafeNoDedup bool
	// EnableFaultInjection passes --enable-fault-injection (the clock
	// nemesis's /fault/clock endpoint).
	EnableFaultInjection bool
	// Args are extra kvnode flags, appended after the ones above.
	Args []string
}

// Ports every node listens on, in its pod.
var ports = struct{ raft, client, admin int }{7000, 7001, 7002}

// nodeUID is the user kvnode runs as (the node image's).
const nodeUID = docker.NodeUID

// dataDir is the node's data volume.
const dataDir = "/data"

func (k KVNode) validate() error {
	switch k.ReadMode {
	case "", string(system.ReadLinearizable), string(system.ReadLease), string(system.ReadStale):
	default:
		return fmt.Errorf("Node.ReadMode = %q: use %q, %q or %q", k.ReadMode, system.ReadLinearizable, system.ReadLease, system.ReadStale)
	}
	for _, a := range k.Args {
		for _, reserved := range []string{"--id", "--peers", "--data", "--raft-addr", "--client-addr", "--admin-addr"} {
			if a == reserved || strings.HasPrefix(a, reserved+"=") {
				return fmt.Errorf("Node.Args: %s is set by the runtime; remove it", reserved)
			}
		}
	}
	return nil
}

// command is node id's command line in a cluster of ids. Peers are named
// by node id: the agent writes their pod addresses into /etc/hosts.
func (k KVNode) command(id string, ids []string) []string {
	peers := make([]string, len(ids))
	for i, p := range ids {
		peers[i] = fmt.Sprintf("%s=%s:%d", p, p, ports.raft)
	}
	args := []string{
		sut.BinDir + "/kvnode",
		"--id", id,
		"--peers", strings.Join(peers, ","),
		"--data", dataDir,
		"--raft-addr", fmt.Sprintf("0.0.0.0:%d", ports.raft),
		"--client-addr", fmt.Sprintf("0.0.0.0:%d", ports.client),
		"--admin-addr", fmt.Sprintf("0.0.0.0:%d", ports.admin),
	}
	if k.ReadMode != "" {
		args = append(args, "--read-mode", k.ReadMode)
	}
	if k.UnsafeNoDedup {
		args = append(args, "--unsafe-no-dedup")
	}
	if k.EnableFaultInjection {
		args = append(args, "--enable-fault-injection")
	}
	return append(args, k.Args...)
}

// ErrNoLeader is wrapped by Leader's error when no leader is agreed on.
var ErrNoLeader = docker.ErrNoLeader

// adminTimeout bounds one admin request: a paused or partitioned node must
// not stall Leader or WaitHealthy.
const adminTimeout = 2 * time.Second

func newAdminClient() *http.Client {
	return &http.Client{
		Timeout: adminTimeout,
		Transport: &http.Transport{
			Proxy:             nil,
			DialContext:       (&net.Dialer{Timeout: adminTimeout}).DialContext,
			DisableKeepAlives: true,
		},
	}
}

// adminGet GETs path from the node's admin endpoint and returns a 200's body.
func (c *Cluster) adminGet(ctx context.Context, id, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.AdminAddr(id)+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.admin.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// Status fetches the node's /status.
func (c *Cluster) Status(ctx context.Context, id string) (system.NodeStatus, error) {
	var st system.NodeStatus
	body, err := c.adminGet(ctx, id, "/status")
	if err != nil {
		return st, fmt.Errorf("kubernetes: status of node %s: %w", id, err)
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("kubernetes: status of node %s: bad JSON %q: %w", id, body, err)
	}
	return st, nil
}

// Leader returns the leader id that a majority of the nodes name in
// /status (the leader among them). Paused, killed and unreachable nodes do
// not vote. The error wraps ErrNoLeader.
func (c *Cluster) Leader(ctx context.Context) (string, error) {
	type answer struct {
		id  string
		st  system.NodeStatus
		err error
	}
	answers := make(chan answer, len(c.ids))
	for _, id := range c.ids {
		go func() {
			if st := c.State(id); st != StateRunning {
				answers <- answer{id: id, err: fmt.Errorf("node is %s", st)}
				return
			}
			st, err := c.Status(ctx, id)
			answers <- answer{id, st, err}
		}()
	}
	votes, self := map[string]int{}, map[string]bool{}
	var notes []string
	for range c.ids {
		a := <-answers
		if a.err != nil {
			notes = append(notes, fmt.Sprintf("%s: %v", a.id, a.err))
			continue
		}
		notes = append(notes, fmt.Sprintf("%s: %s leader=%q term=%d", a.id, a.st.State, a.st.LeaderID, a.st.Term))
		if a.st.LeaderID != "" {
			votes[a.st.LeaderID]++
			self[a.id] = a.st.LeaderID == a.id
		}
	}
	for id, v := range votes {
		if self[id] && v > len(c.ids)/2 {
			return id, nil
		}
	}
	slices.Sort(notes)
	return "", fmt.Errorf("kubernetes: %w (%d nodes; %s)", ErrNoLeader, len(c.ids), strings.Join(notes, "; "))
}

// WaitHealthy waits, bounded by ctx, until every node is running, answers
// /healthz, and all of them name the same leader. It fails at once when a
// node is not running (Start or Resume it first).
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	for _, id := range c.ids {
		if st := c.State(id); st != StateRunning {
			return fmt.Errorf("kubernetes: node %s is %s: Start or Resume it before waiting for a healthy cluster", id, st)
		}
	}
	for {
		last := c.checkHealthy(ctx)
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

// checkHealthy is one round of WaitHealthy's condition.
func (c *Cluster) checkHealthy(ctx context.Context) error {
	var errs []error
	for _, id := range c.ids {
		if _, err := c.adminGet(ctx, id, "/healthz"); err != nil {
			errs = append(errs, fmt.Errorf("node %s: /healthz: %w", id, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		return err
	}
	for _, id := range c.ids {
		st, err := c.Status(ctx, id)
		if err != nil {
			return err
		}
		if st.LeaderID != leader {
			return fmt.Errorf("node %s names leader %q, the majority %q", id, st.LeaderID, leader)
		}
	}
	return nil
}
