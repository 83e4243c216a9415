package bench

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/engine"
	"github.com/faultline/faultline/engine/enginetest"
	"github.com/faultline/faultline/sut"
)

// cfg is the suite's configuration, bound to the -bench.* flags.
var cfg = DefaultConfig()

func TestMain(m *testing.M) {
	cfg.RegisterFlags(flag.CommandLine)
	flag.Parse()
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// dockerCluster starts a containerised cluster of sys with n nodes
// (building its node image if needed) and closes it when b and its
// sub-benchmarks end.
func dockerCluster(b *testing.B, sys sut.System, n int) *docker.Cluster {
	b.Helper()
	enginetest.RequireDocker(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bcfg := engine.DefaultBuildConfig()
	bcfg.System = sys
	image, err := engine.BuildImage(ctx, bcfg)
	if err != nil {
		b.Fatalf("build the %s node image: %v", sys.Info().Name, err)
	}
	dcfg := cluster.DefaultSpec()
	dcfg.Nodes, dcfg.Image, dcfg.System = n, image, sys
	t0 := time.Now()
	c, err := docker.Start(ctx, dcfg)
	if err != nil {
		b.Fatalf("start a %d-node %s cluster: %v", n, sys.Info().Name, err)
	}
	b.Logf("%s: %d-node cluster up in %v", sys.Info().Name, n, time.Since(t0).Round(time.Millisecond))
	// An interrupted benchmark leaves the cluster to the next start's
	// reaping (its owner is gone).
	b.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			b.Errorf("close the cluster: %v", err)
		}
	})
	return c
}

// dockerAddrs maps node ids to the client addresses clients dial: the
// published 127.0.0.1 ports or, with -bench.direct (the default), the
// container IPs.
func dockerAddrs(tb testing.TB, c *docker.Cluster) map[string]string {
	if !cfg.Direct {
		return c.ClientAddrs()
	}
	addrs := map[string]string{}
	for _, id := range c.Nodes() {
		addrs[id] = c.PrivateAddr(id, sut.PortClient)
	}
	for id, a := range addrs {
		if c.State(id) != "running" {
			continue
		}
		conn, err := net.DialTimeout("tcp", a, time.Second)
		if err != nil {
			tb.Logf("container IPs unreachable (%v): using the published ports (through docker-proxy)", err)
			return c.ClientAddrs()
		}
		conn.Close()
		break
	}
	return addrs
}

// inProcess starts an in-process cluster of n nodes, stopped when b ends.
func inProcess(b *testing.B, n int) *InProcess {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := StartInProcess(ctx, n, b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}
