package bench

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/docker/dockertest"
)

// cfg is the suite's configuration, bound to the -bench.* flags.
var cfg = DefaultConfig()

func init() { cfg.RegisterFlags(flag.CommandLine) }

func TestMain(m *testing.M) {
	flag.Parse()
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// dockerCluster starts a containerised cluster of n nodes (building the
// node image if needed) and closes it when b and its sub-benchmarks end.
func dockerCluster(b *testing.B, n int) *docker.Cluster {
	b.Helper()
	dockertest.RequireDocker(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	image, err := docker.BuildImage(ctx, docker.DefaultBuildConfig())
	if err != nil {
		b.Fatalf("build the node image: %v", err)
	}
	dcfg := docker.DefaultConfig()
	dcfg.Nodes, dcfg.Image = n, image
	c, err := docker.Start(ctx, dcfg)
	if err != nil {
		b.Fatalf("start a %d-node cluster: %v", n, err)
	}
	stop := docker.CloseOnSignal(c)
	b.Cleanup(func() {
		stop()
		if err := c.Close(context.Background()); err != nil {
			b.Errorf("close the cluster: %v", err)
		}
	})
	return c
}

// dockerAddrs maps node ids to the addresses clients dial: the published
// 127.0.0.1 ports or, with -bench.direct (the default), the container IPs.
func dockerAddrs(tb testing.TB, c *docker.Cluster) map[string]string {
	if !cfg.Direct {
		return c.ClientAddrs()
	}
	addrs := map[string]string{}
	for _, id := range c.Nodes() {
		addrs[id] = net.JoinHostPort(c.IP(id), strconv.Itoa(docker.ClientPort))
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
