package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/faultline/faultline/system"
)

// InProcess is a store cluster of system.Node values in this process, on
// loopback ports, with the production defaults (fsync on).
type InProcess struct {
	Nodes []*system.Node
	addrs map[string]string
}

// StartInProcess starts n nodes with their data under dir and waits, bounded
// by ctx, until a leader is elected. logger nil discards the nodes' logs.
func StartInProcess(ctx context.Context, n int, dir string, logger *slog.Logger) (*InProcess, error) {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// Reserve 2 ports per node (raft, client): listen on all, then close.
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range 2 * n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("bench: reserve a loopback port: %w", err)
		}
		lns = append(lns, ln)
	}
	c := &InProcess{addrs: map[string]string{}}
	peers := make([]system.Peer, n)
	for i := range peers {
		id := fmt.Sprintf("n%d", i+1)
		peers[i] = system.Peer{ID: id, RaftAddr: lns[2*i].Addr().String(), ClientAddr: lns[2*i+1].Addr().String()}
		c.addrs[id] = peers[i].ClientAddr
	}
	for _, ln := range lns {
		ln.Close()
	}
	lns = nil
	for _, p := range peers {
		cfg := system.DefaultNodeConfig()
		cfg.ID, cfg.Peers = p.ID, peers
		cfg.DataDir = filepath.Join(dir, p.ID)
		cfg.RaftAddr, cfg.ClientAddr = p.RaftAddr, p.ClientAddr
		cfg.Logger = logger
		node, err := system.StartNode(ctx, cfg)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("bench: start in-process node %s: %w", p.ID, err)
		}
		c.Nodes = append(c.Nodes, node)
	}
	if err := c.waitLeader(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// waitLeader waits until one node is leader and the others agree on it.
func (c *InProcess) waitLeader(ctx context.Context) error {
	for {
		var leaders []string
		for _, n := range c.Nodes {
			id, _ := n.Leader()
			leaders = append(leaders, id)
		}
		agreed := leaders[0] != ""
		for _, id := range leaders {
			agreed = agreed && id == leaders[0]
		}
		if agreed {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: no agreed leader in the in-process cluster (nodes name %v): %w", leaders, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ClientAddrs maps node ids to client addresses.
func (c *InProcess) ClientAddrs() map[string]string { return c.addrs }

// Close stops every node.
func (c *InProcess) Close() error {
	var errs []error
	for _, n := range c.Nodes {
		errs = append(errs, n.Close())
	}
	return errors.Join(errs...)
}
