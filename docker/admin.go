package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/system"
	"github.com/moby/moby/client"
)

// NodeStatus is a node's admin GET /status document (kept in one place:
// the store's own type).
type NodeStatus = system.NodeStatus

// ErrNoLeader is wrapped by Leader's error when no leader is agreed on.
var ErrNoLeader = errors.New("no leader agreed by a majority")

// adminRequestTimeout bounds one admin HTTP request, so that a paused or
// partitioned node cannot stall Leader or WaitHealthy.
const adminRequestTimeout = time.Second

// adminClient talks to the nodes' admin ports over 127.0.0.1 (never a
// proxy), without keep-alives: connections do not outlive kills/pauses.
type adminClient struct{ hc *http.Client }

func newAdminClient() *adminClient {
	return &adminClient{hc: &http.Client{
		Timeout: adminRequestTimeout,
		Transport: &http.Transport{
			Proxy:             nil,
			DialContext:       (&net.Dialer{Timeout: adminRequestTimeout}).DialContext,
			DisableKeepAlives: true,
		},
	}}
}

func (a *adminClient) close() { a.hc.CloseIdleConnections() }

// get GETs http://addr+path and returns the body of a 200 answer.
func (a *adminClient) get(ctx context.Context, addr, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.hc.Do(req)
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
func (c *Cluster) Status(ctx context.Context, id string) (NodeStatus, error) {
	if _, err := c.node(id); err != nil {
		return NodeStatus{}, err
	}
	body, err := c.admin.get(ctx, c.AdminAddr(id), "/status")
	if err != nil {
		return NodeStatus{}, fmt.Errorf("docker: status of node %s: %w", id, err)
	}
	var st NodeStatus
	if err := json.Unmarshal(body, &st); err != nil {
		return NodeStatus{}, fmt.Errorf("docker: status of node %s: bad JSON %q: %w", id, body, err)
	}
	return st, nil
}

// healthy reports whether the node answers /healthz with 200.
func (c *Cluster) healthy(ctx context.Context, id string) error {
	_, err := c.admin.get(ctx, c.AdminAddr(id), "/healthz")
	return err
}

// statuses fetches /status of every running node concurrently; nodes that
// do not answer are missing from the map and their errors are returned.
func (c *Cluster) statuses(ctx context.Context) (map[string]NodeStatus, map[string]error) {
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		sts  = map[string]NodeStatus{}
		errs = map[string]error{}
	)
	for _, id := range c.ids {
		if st := c.State(id); st != StateRunning.String() {
			errs[id] = fmt.Errorf("node %s is %s", id, st)
			continue
		}
		wg.Go(func() {
			st, err := c.Status(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[id] = err
			} else {
				sts[id] = st
			}
		})
	}
	wg.Wait()
	return sts, errs
}

// Leader returns the leader id that a majority of the cluster's nodes
// report in /status (a node counts for the leader it names; the leader
// itself must be among them). Paused, killed and unreachable nodes do not
// vote, so a leader needs a reachable majority. The error wraps ErrNoLeader.
func (c *Cluster) Leader(ctx context.Context) (string, error) {
	sts, errs := c.statuses(ctx)
	return agreedLeader(len(c.ids), sts, errs)
}

// agreedLeader picks the leader named by a majority of n nodes.
func agreedLeader(n int, sts map[string]NodeStatus, errs map[string]error) (string, error) {
	votes := map[string]int{}
	for _, st := range sts {
		if st.LeaderID != "" {
			votes[st.LeaderID]++
		}
	}
	for id, v := range votes {
		if _, self := sts[id]; self && sts[id].LeaderID == id && v > n/2 {
			return id, nil
		}
	}
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(sts)) {
		parts = append(parts, fmt.Sprintf("%s: %s leader=%q term=%d", id, sts[id].State, sts[id].LeaderID, sts[id].Term))
	}
	for _, id := range slices.Sorted(maps.Keys(errs)) {
		parts = append(parts, fmt.Sprintf("%s: %v", id, errs[id]))
	}
	return "", fmt.Errorf("docker: %w (%d nodes; %s)", ErrNoLeader, n, strings.Join(parts, "; "))
}

// WaitHealthy waits, bounded by ctx, until every node is running, answers
// /healthz, and all of them name the same leader. It fails at once when a
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
	var errs []error
	for _, id := range c.ids {
		if err := c.healthy(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("node %s: /healthz: %w", id, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	sts, serrs := c.statuses(ctx)
	leader, err := agreedLeader(len(c.ids), sts, serrs)
	if err != nil {
		return err
	}
	for _, id := range c.ids {
		st, ok := sts[id]
		if !ok {
			return fmt.Errorf("node %s: %v", id, serrs[id])
		}
		if st.LeaderID != leader {
			return fmt.Errorf("node %s names leader %q, the majority %q", id, st.LeaderID, leader)
		}
	}
	return nil
}

// checkExited fails when a node this package believes running has exited
// by itself (kvnode crashed or rejected its flags), with its exit code and
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
