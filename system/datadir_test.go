package system

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A data directory written by an older kvnode (raft-boltdb's raft.db) is
// refused with what to do, not silently started empty: its term and vote
// would be lost.
func TestStartRefusesARaftBoltDBDataDir(t *testing.T) {
	addrs := freeAddrs(t, 2)
	cfg := DefaultNodeConfig()
	cfg.ID = "n1"
	cfg.Peers = []Peer{{ID: "n1", RaftAddr: addrs[0], ClientAddr: addrs[1]}}
	cfg.DataDir = t.TempDir()
	cfg.RaftAddr, cfg.ClientAddr = addrs[0], addrs[1]
	cfg.Logger = testLogger()
	if err := os.WriteFile(filepath.Join(cfg.DataDir, "raft.db"), []byte("bolt"), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := StartNode(context.Background(), cfg)
	if err == nil {
		n.Close()
		t.Fatal("started on a raft-boltdb data directory")
	}
	if !strings.Contains(err.Error(), "raft.db") || !strings.Contains(err.Error(), "empty the directory") {
		t.Fatalf("error does not say what to do: %v", err)
	}
}
