package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/sut"
)

// Core is the part of a runtime's cluster that every runtime has alike: a
// runtime embeds it and fills in how to read a node's state, the host
// addresses of its exposed ports and its log. Its methods serve the
// runtime's Cluster (Nodes, the addresses, Status, Leader, WaitHealthy,
// HasClockHook, SaveLogs).
type Core struct {
	// Runtime names the runtime in errors ("docker", "kubernetes").
	Runtime string
	// RunID is the run's id (Spec.RunID), the value of the faultline.run
	// label.
	RunID string
	// Log receives the runtime's progress lines, with the run id.
	Log *slog.Logger
	// System is the system under test.
	System sut.System
	// IDs are the node ids, n1..nN.
	IDs []string
	// StateOf returns a node's state in the runtime's bookkeeping, ""
	// for an unknown node.
	StateOf func(id string) string
	// AddrsOf maps a node's exposed port names to the host addresses the
	// harness dials (nil for an unknown node).
	AddrsOf func(id string) map[string]string
	// LogsOf returns a node's log so far.
	LogsOf func(ctx context.Context, id string) (string, error)
	// Exited, if set, tells WaitHealthy that a node the runtime believes
	// running has exited by itself (crashed, or rejected its flags), with
	// its exit code and log, so it fails at once.
	Exited func(ctx context.Context) error

	// Layout is the layout the nodes were started with; Join moves a
	// node to its next incarnation in it. Options are the system's
	// options, for a joining node's spec.
	Layout  sut.Layout
	Options sut.Options
	// Wipe stops node id for good and deletes its data: it left the
	// cluster (StateLeft) until Renew. Renew starts a node that left
	// afresh, on an empty data directory, as spec says. Both nil: the
	// runtime cannot give a node a fresh identity (no membership
	// changes).
	Wipe  func(ctx context.Context, id string) error
	Renew func(ctx context.Context, id string, spec sut.NodeSpec) error

	layoutMu  sync.Mutex // guards Layout's incarnations
	closeOnce sync.Once
	closeErr  error
}

// Member is what every runtime's node record holds: its id, how it runs,
// and the lock that serializes the operations on it.
type Member struct {
	sync.Mutex
	ID   string
	Spec sut.NodeSpec
}

// CloseOnce runs close the first time it is called and returns its error
// then and on every later call: a runtime's Close is idempotent.
func (c *Core) CloseOnce(close func() error) error {
	c.closeOnce.Do(func() { c.closeErr = close() })
	return c.closeErr
}

// Nodes returns the node ids, n1..nN.
func (c *Core) Nodes() []string { return slices.Clone(c.IDs) }

// State returns the node's state in the runtime's bookkeeping: "created",
// "running", "paused", "killed" or "removed" ("unknown" for an id that is
// no node); the runtime's ObservedState reads it back from the runtime.
func (c *Core) State(id string) string {
	if s := c.StateOf(id); s != "" {
		return s
	}
	return "unknown"
}

// Known returns an error naming the valid ids when id is not a node.
func (c *Core) Known(id string) error {
	if !slices.Contains(c.IDs, id) {
		return fmt.Errorf("%s: unknown node %q: use one of %s", c.Runtime, id, strings.Join(c.IDs, ", "))
	}
	return nil
}

// HasClockHook reports whether the system's nodes have a clock hook (the
// admin port's /fault/clock): only then is there a clock to reset.
func (c *Core) HasClockHook() bool { return c.System.Info().ClockHook }

// Addr returns the host address of the node's exposed port of that name,
// or "" when it has none. It stays the same across kill and restart.
func (c *Core) Addr(id, port string) string { return c.AddrsOf(id)[port] }

// ClientAddr returns the node's client address.
func (c *Core) ClientAddr(id string) string { return c.Addr(id, sut.PortClient) }

// AdminAddr returns the node's admin HTTP address, or "" when the system
// has no admin port (no clock hook).
func (c *Core) AdminAddr(id string) string { return c.Addr(id, sut.PortAdmin) }

// ClientAddrs maps every node id to its client address.
func (c *Core) ClientAddrs() map[string]string {
	m := make(map[string]string, len(c.IDs))
	for _, id := range c.IDs {
		m[id] = c.ClientAddr(id)
	}
	return m
}

// probeTimeout bounds one probe of one node, so that a paused or
// partitioned node cannot stall Leader or WaitHealthy.
const probeTimeout = 2 * time.Second

// Status probes the node with the system's Probe: an error means it is not
// ready (and says why).
func (c *Core) Status(ctx context.Context, id string) (sut.Status, error) {
	if err := c.Known(id); err != nil {
		return sut.Status{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	st, err := c.System.Probe(ctx, c.AddrsOf(id))
	if err != nil {
		return sut.Status{}, fmt.Errorf("%s: probe of node %s: %w", c.Runtime, id, err)
	}
	return st, nil
}

// statuses probes every running node of ids concurrently; nodes that are
// not ready are missing from the map and their errors are returned.
func (c *Core) statuses(ctx context.Context, ids []string) (map[string]sut.Status, map[string]error) {
	return sut.ProbeAll(ctx, ids, func(id string) error {
		if st := c.State(id); st != StateRunning {
			return fmt.Errorf("node %s is %s", id, st)
		}
		return nil
	}, c.Status)
}

// Leader returns the id of the node that a majority of the cluster's
// nodes (those that did not leave it) name as their leader
// (sut.AgreedLeader). Paused, killed and unreachable nodes do not vote,
// so a leader needs a reachable majority.
// The error wraps sut.ErrNoLeader.
func (c *Core) Leader(ctx context.Context) (string, error) {
	ids := c.members()
	sts, errs := c.statuses(ctx, ids)
	leader, err := sut.AgreedLeader(len(ids), sts, errs)
	if err != nil {
		return "", fmt.Errorf("%s: %w", c.Runtime, err)
	}
	return leader, nil
}

// members are the nodes that did not leave the cluster (StateLeft).
func (c *Core) members() []string {
	return slices.DeleteFunc(slices.Clone(c.IDs), func(id string) bool { return c.State(id) == StateLeft })
}

// WaitHealthy waits, bounded by ctx, until every node that did not leave
// the cluster is running and ready (the system's Probe) and all of them
// name the same leader. It fails at once when such a node is not running
// (start or resume it first), or when Exited says one has exited by
// itself; on timeout the error says what each node was missing.
func (c *Core) WaitHealthy(ctx context.Context) error {
	ids := c.members()
	for _, id := range ids {
		if st := c.State(id); st != StateRunning {
			return fmt.Errorf("%s: node %s is %s: Start or Resume it before waiting for a healthy cluster", c.Runtime, id, st)
		}
	}
	lastExitCheck := time.Now()
	for {
		sts, errs := c.statuses(ctx, ids)
		last := sut.Healthy(ids, sts, errs)
		if last == nil {
			return nil
		}
		if c.Exited != nil && time.Since(lastExitCheck) > 300*time.Millisecond {
			lastExitCheck = time.Now()
			if err := c.Exited(ctx); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: cluster not healthy: %w (last: %v; see the node logs via Cluster.Logs)", c.Runtime, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// SaveLogs writes every node's log to dir/<node>.log (dir is created).
func (c *Core) SaveLogs(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%s: save logs: %w", c.Runtime, err)
	}
	var errs []error
	for _, id := range c.IDs {
		logs, err := c.LogsOf(ctx, id)
		if err != nil {
			errs = append(errs, err)
			if logs == "" {
				continue
			}
		}
		if err := os.WriteFile(filepath.Join(dir, id+".log"), []byte(logs), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("%s: save logs of %s: %w", c.Runtime, id, err))
		}
	}
	return errors.Join(errs...)
}

// HostAddr is 127.0.0.1:port, the form of every address the harness
// dials.
func HostAddr(port int) string { return net.JoinHostPort("127.0.0.1", fmt.Sprint(port)) }

// Node returns nodes[id], or Known's error for an id that is no node.
func Node[N any](c *Core, nodes map[string]N, id string) (N, error) {
	n, ok := nodes[id]
	if !ok {
		return n, c.Known(id)
	}
	return n, nil
}

// Read returns f(node id) under the node's lock, or T's zero value for an
// unknown node.
func Read[N sync.Locker, T any](c *Core, nodes map[string]N, id string, f func(N) T) T {
	n, err := Node(c, nodes, id)
	if err != nil {
		var zero T
		return zero
	}
	n.Lock()
	defer n.Unlock()
	return f(n)
}

// Up waits, bounded by wctx, until a freshly started cluster is healthy,
// then logs its leader and how long the start took (since t0).
func (c *Core) Up(ctx, wctx context.Context, log *slog.Logger, t0 time.Time, startTimeout time.Duration) error {
	if err := c.WaitHealthy(wctx); err != nil {
		return fmt.Errorf("%s: cluster did not come up (start timeout %v): %w", c.Runtime, startTimeout, err)
	}
	leader, _ := c.Leader(ctx)
	log.Info(c.Runtime+": cluster up", "leader", leader, "elapsed", time.Since(t0).Round(time.Millisecond))
	return nil
}
