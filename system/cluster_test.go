package system

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testCluster is an in-process cluster on 127.0.0.1 ephemeral ports.
type testCluster struct {
	t     testing.TB
	cfgs  []NodeConfig
	nodes []*Node
	addrs map[string]string // id -> client addr
}

func testLogger() *slog.Logger {
	if os.Getenv("KVTEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// freeAddrs reserves n distinct loopback ports (listen, note, close).
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var lns []net.Listener
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("reserve port: %v", err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

// fastConfig shortens raft timing so tests fail over quickly.
func fastConfig(c *NodeConfig) {
	c.HeartbeatTimeout = 150 * time.Millisecond
	c.ElectionTimeout = 150 * time.Millisecond
	c.LeaderLeaseTimeout = 100 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.RequestTimeout = 2 * time.Second
}

func newTestCluster(t testing.TB, n int, mod func(*NodeConfig)) *testCluster {
	t.Helper()
	addrs := freeAddrs(t, 3*n)
	tc := &testCluster{t: t, addrs: map[string]string{}}
	var peers []Peer
	for i := range n {
		id := fmt.Sprintf("n%d", i+1)
		peers = append(peers, Peer{ID: id, RaftAddr: addrs[3*i], ClientAddr: addrs[3*i+1]})
		tc.addrs[id] = addrs[3*i+1]
	}
	base := t.TempDir()
	for i := range n {
		cfg := DefaultNodeConfig()
		cfg.ID = peers[i].ID
		cfg.Peers = peers
		cfg.DataDir = filepath.Join(base, cfg.ID)
		cfg.RaftAddr = peers[i].RaftAddr
		cfg.ClientAddr = peers[i].ClientAddr
		cfg.AdminAddr = addrs[3*i+2]
		cfg.Logger = testLogger()
		if mod != nil {
			mod(&cfg)
		}
		tc.cfgs = append(tc.cfgs, cfg)
	}
	tc.nodes = make([]*Node, n)
	for i := range n {
		tc.start(i)
	}
	t.Cleanup(tc.stopAll)
	return tc
}

func (tc *testCluster) start(i int) {
	tc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	for try := 0; try < 50; try++ { // the port may linger briefly after a stop
		tc.nodes[i], err = StartNode(ctx, tc.cfgs[i])
		if err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	tc.t.Fatalf("start node %d: %v", i, err)
}

func (tc *testCluster) stop(i int) {
	if tc.nodes[i] != nil {
		tc.nodes[i].Close()
		tc.nodes[i] = nil
	}
}

func (tc *testCluster) stopAll() {
	for i := range tc.nodes {
		tc.stop(i)
	}
}

// leader waits for a node that believes it is the leader and has committed
// its readiness no-op; it returns its index.
func (tc *testCluster) leader(timeout time.Duration) int {
	tc.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for i, n := range tc.nodes {
			if n != nil && n.IsLeader() && n.readyTerm.Load() == n.raft.CurrentTerm() {
				return i
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	tc.t.Fatalf("no leader within %v", timeout)
	return -1
}

// maxTerm is the highest raft term of the running nodes. A leader that
// still leads in maxTerm has not been challenged: every election (even a
// failed one) raises some node's term.
func (tc *testCluster) maxTerm() uint64 {
	var m uint64
	for _, n := range tc.nodes {
		if n != nil {
			m = max(m, n.raft.CurrentTerm())
		}
	}
	return m
}

// onLeader runs check against the current leader until it passes. Under
// load an election can start at any moment, so a failed check only fails
// the test if the leader kept its term unchallenged while check ran (the
// failure is then not explained by leadership moving); otherwise check
// runs again at the new leader, until timeout.
func (tc *testCluster) onLeader(timeout time.Duration, check func(li int) error) {
	tc.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		li := tc.leader(max(time.Until(deadline), time.Second))
		term := tc.nodes[li].raft.CurrentTerm()
		err := check(li)
		if err == nil {
			return
		}
		if tc.nodes[li] != nil && tc.nodes[li].IsLeader() && tc.maxTerm() == term {
			tc.t.Fatalf("leader %s (term %d, unchallenged): %v", tc.nodes[li].ID(), term, err)
		}
		if time.Now().After(deadline) {
			tc.t.Fatalf("leadership kept moving for %v; last failure: %v", timeout, err)
		}
		tc.t.Logf("leadership moved during the check (%v); checking again at the new leader", err)
	}
}

// waitFor polls cond every 20ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// client returns a client for the cluster. Its attempts are practically
// unbounded: elections on a loaded machine can take seconds, so tests bound
// requests with their context deadline instead (mod may set a budget).
func (tc *testCluster) client(mod func(*ClientConfig)) *Client {
	tc.t.Helper()
	cfg := DefaultClientConfig()
	cfg.Addrs = tc.addrs
	cfg.MaxAttempts = 1 << 20
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(context.Background(), cfg)
	if err != nil {
		tc.t.Fatalf("new client: %v", err)
	}
	tc.t.Cleanup(func() { c.Close() })
	return c
}
