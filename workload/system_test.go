package workload_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/sut"
	"github.com/faultline/faultline/system"
	"github.com/faultline/faultline/workload"
)

// startCluster starts an in-process 3-node store on loopback ports.
func startCluster(t *testing.T) map[string]string {
	t.Helper()
	const n = 3
	var lns []net.Listener
	var addrs []string
	for range 3 * n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	var peers []system.Peer
	clientAddrs := map[string]string{}
	for i := range n {
		id := fmt.Sprintf("n%d", i+1)
		peers = append(peers, system.Peer{ID: id, RaftAddr: addrs[3*i], ClientAddr: addrs[3*i+1]})
		clientAddrs[id] = addrs[3*i+1]
	}
	dir := t.TempDir()
	for i := range n {
		cfg := system.DefaultNodeConfig()
		cfg.ID, cfg.Peers = peers[i].ID, peers
		cfg.DataDir = filepath.Join(dir, cfg.ID)
		cfg.RaftAddr, cfg.ClientAddr, cfg.AdminAddr = peers[i].RaftAddr, peers[i].ClientAddr, addrs[3*i+2]
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		node, err := system.StartNode(ctx, cfg)
		cancel()
		if err != nil {
			t.Fatalf("start %s: %v", cfg.ID, err)
		}
		t.Cleanup(func() { node.Close() })
	}
	return clientAddrs
}

// TestWorkloadsAgainstRealStore runs every workload briefly against an
// in-process cluster of the real store through its sut client (the
// adapter of system.Client to workload.KV).
func TestWorkloadsAgainstRealStore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an in-process cluster")
	}
	addrs := startCluster(t)
	for _, name := range workload.Names() {
		t.Run(name, func(t *testing.T) {
			cfg := workload.DefaultRunConfig()
			cfg.Concurrency, cfg.Seed, cfg.Limit, cfg.TimeLimit = 4, 5, 300, 10*time.Second
			cfg.FinalBackoff = 100 * time.Millisecond
			var clients []sut.Client
			t.Cleanup(func() {
				for _, c := range clients {
					c.Close()
				}
			})
			r, ops, _, final := workload.RunBothPhases(t, name, cfg, workload.MustWorkload(t, name), func(int) (workload.KV, error) {
				c, err := sut.KVNode{}.NewClient(context.Background(), sut.ClientConfig{Addrs: addrs})
				if err == nil {
					clients = append(clients, c)
				}
				return c, err
			})
			c := r.Counts()
			// A loaded machine may time out a few ops (or hit the first
			// election); more than that is a bug.
			if c.Info > c.Invoked/20 || c.OK < 100 {
				t.Errorf("counts %+v on a healthy cluster", c)
			}
			for _, o := range ops {
				if o.Type == history.Info {
					t.Logf("info: %v", o) // e.g. an election under load
				}
			}
			if final.Node == "" {
				t.Errorf("final read %v names no node", final)
			}
			workload.CheckSemantics(t, name, ops, final)
		})
	}
}
