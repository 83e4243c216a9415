package docker_test

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/cluster/clustertest"
	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/engine"
	"github.com/faultline/faultline/engine/enginetest"
	"github.com/faultline/faultline/sut"
	"github.com/faultline/faultline/system"
)

// startCluster starts a cluster and registers its removal, plus a check
// that nothing labelled with its run id survives.
func startCluster(t *testing.T, cfg cluster.Spec) *docker.Cluster {
	t.Helper()
	enginetest.RequireDocker(t)
	var c *docker.Cluster
	c = clustertest.Start(t, 2*time.Minute, func(ctx context.Context) (*docker.Cluster, error) { return docker.Start(ctx, cfg) },
		func(ctx context.Context) {
			cs, ns, err := enginetest.Leftovers(ctx, c.RunID)
			if err != nil {
				t.Errorf("Leftovers: %v", err)
			}
			if len(cs)+len(ns) > 0 {
				t.Errorf("run %s left containers %v and networks %v", c.RunID, cs, ns)
			}
		})
	return c
}

func newClient(t *testing.T, c *docker.Cluster) *system.Client {
	t.Helper()
	cfg := system.DefaultClientConfig()
	cfg.Addrs = c.ClientAddrs()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := system.NewClient(ctx, cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { kv.Close() })
	return kv
}

// eventually retries f every 100ms until it returns nil or d passes.
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func netctl(t *testing.T, c *docker.Cluster, node string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code, out, err := c.Exec(ctx, node, append([]string{engine.NetctlPath}, args...))
	if err != nil || code != 0 {
		t.Fatalf("netctl %v on %s: exit %d, err %v, output %q", args, node, code, err, out)
	}
	return out
}

// TestCluster runs the 3-node scenarios on one shared cluster, in order.
func TestCluster(t *testing.T) {
	c := startCluster(t, cluster.DefaultSpec())
	kv := newClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	if got := c.Nodes(); !slices.Equal(got, []string{"n1", "n2", "n3"}) {
		t.Fatalf("Nodes() = %v", got)
	}
	for _, id := range c.Nodes() {
		if ip := c.IP(id); ip == "" || strings.HasPrefix(ip, "127.") {
			t.Errorf("IP(%s) = %q, want a private network address", id, ip)
		}
		if a := c.AdminAddr(id); !strings.HasPrefix(a, "127.0.0.1:") {
			t.Errorf("AdminAddr(%s) = %q", id, a)
		}
		if st := c.State(id); st != "running" {
			t.Errorf("State(%s) = %q", id, st)
		}
	}

	t.Run("WriteRead", func(t *testing.T) {
		if err := kv.Put(ctx, "k", []byte("v1")); err != nil {
			t.Fatalf("Put: %v", err)
		}
		v, ok, err := kv.Get(ctx, "k")
		if err != nil || !ok || string(v) != "v1" {
			t.Fatalf("Get = %q, %v, %v; want v1", v, ok, err)
		}
	})

	var killed string
	t.Run("KillLeader", func(t *testing.T) {
		old, err := c.Leader(ctx)
		if err != nil {
			t.Fatalf("Leader: %v", err)
		}
		if err := c.Kill(ctx, old); err != nil {
			t.Fatalf("Kill(%s): %v", old, err)
		}
		killed = old
		if st := c.State(old); st != "killed" {
			t.Errorf("State after Kill = %q", st)
		}
		if obs, err := c.ObservedState(ctx, old); err != nil || obs != "killed" {
			t.Errorf("ObservedState after Kill = %q, %v", obs, err)
		}
		var leader string
		eventually(t, 20*time.Second, "a new leader", func() error {
			l, err := c.Leader(ctx)
			if err == nil && l == old {
				return fmt.Errorf("still the killed node %s", l)
			}
			leader = l
			return err
		})
		t.Logf("leader %s killed, new leader %s", old, leader)
		v, ok, err := kv.Get(ctx, "k")
		if err != nil || !ok || string(v) != "v1" {
			t.Fatalf("Get after failover = %q, %v, %v; want v1", v, ok, err)
		}
		if err := kv.Put(ctx, "k2", []byte("after-kill")); err != nil {
			t.Fatalf("Put after failover: %v", err)
		}
		// Illegal transitions are errors, not no-ops.
		if err := c.Pause(ctx, old); !isIllegal(err) {
			t.Errorf("Pause of a killed node: err = %v, want ErrIllegalTransition", err)
		}
	})

	t.Run("RestartCatchesUp", func(t *testing.T) {
		if killed == "" {
			t.Skip("no node was killed")
		}
		if err := c.Start(ctx, killed); err != nil {
			t.Fatalf("Start(%s): %v", killed, err)
		}
		if err := c.Start(ctx, killed); !isIllegal(err) {
			t.Errorf("Start of a running node: err = %v, want ErrIllegalTransition", err)
		}
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		defer wcancel()
		if err := c.WaitHealthy(wctx); err != nil {
			t.Fatalf("WaitHealthy after restart: %v", err)
		}
		leader, err := c.Leader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, killed+" catches up", func() error {
			ls, err := c.Status(ctx, leader)
			if err != nil {
				return err
			}
			ns, err := c.Status(ctx, killed)
			if err != nil {
				return err
			}
			if ns.CommitIndex < ls.CommitIndex {
				return fmt.Errorf("%s committed %d < leader %s commit %d", killed, ns.CommitIndex, leader, ls.CommitIndex)
			}
			return nil
		})
	})

	t.Run("PauseResume", func(t *testing.T) {
		follower := followers(ctx, t, c)[0]
		if err := c.Pause(ctx, follower); err != nil {
			t.Fatalf("Pause(%s): %v", follower, err)
		}
		if st := c.State(follower); st != "paused" {
			t.Errorf("State after Pause = %q", st)
		}
		if obs, err := c.ObservedState(ctx, follower); err != nil || obs != "paused" {
			t.Errorf("ObservedState after Pause = %q, %v", obs, err)
		}
		if err := c.Pause(ctx, follower); !isIllegal(err) {
			t.Errorf("second Pause: err = %v, want ErrIllegalTransition", err)
		}
		if _, _, err := c.Exec(ctx, follower, []string{engine.NetctlPath, "list"}); err == nil {
			t.Errorf("Exec on a paused node succeeded")
		}
		sctx, scancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		_, err := c.Status(sctx, follower)
		scancel()
		if err == nil {
			t.Errorf("a paused node answered /status")
		}
		// The majority still serves writes.
		if err := kv.Put(ctx, "k3", []byte("while-paused")); err != nil {
			t.Fatalf("Put with a paused follower: %v", err)
		}
		if err := c.Resume(ctx, follower); err != nil {
			t.Fatalf("Resume(%s): %v", follower, err)
		}
		wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
		defer wcancel()
		if err := c.WaitHealthy(wctx); err != nil {
			t.Fatalf("WaitHealthy after resume: %v", err)
		}
	})

	t.Run("KillPaused", func(t *testing.T) {
		fs := followers(ctx, t, c)
		follower := fs[len(fs)-1]
		if err := c.Pause(ctx, follower); err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx, follower); !isIllegal(err) {
			t.Errorf("Start of a paused node: err = %v, want ErrIllegalTransition", err)
		}
		if err := c.Kill(ctx, follower); err != nil {
			t.Fatalf("Kill of a paused node: %v", err)
		}
		if obs, err := c.ObservedState(ctx, follower); err != nil || obs != "killed" {
			t.Errorf("ObservedState after Kill of a paused node = %q, %v", obs, err)
		}
		if err := c.Resume(ctx, follower); !isIllegal(err) {
			t.Errorf("Resume of a killed node: err = %v, want ErrIllegalTransition", err)
		}
		if err := c.Start(ctx, follower); err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		defer wcancel()
		if err := c.WaitHealthy(wctx); err != nil {
			t.Fatalf("WaitHealthy after restarting a paused-then-killed node: %v", err)
		}
	})

	t.Run("NetctlIsolate", func(t *testing.T) {
		leader, err := c.Leader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Isolate a follower: it drops everything from its peers and they
		// drop everything from it.
		var victim string
		var peers []string
		for _, id := range c.Nodes() {
			if id != leader && victim == "" {
				victim = id
			} else {
				peers = append(peers, id)
			}
		}
		var peerIPs []string
		for _, p := range peers {
			peerIPs = append(peerIPs, c.IP(p))
		}
		if out := netctl(t, c, victim, "list"); out != "" {
			t.Errorf("list before any rule = %q, want nothing", out)
		}
		netctl(t, c, victim, "drop", "--from", strings.Join(peerIPs, ","))
		for _, p := range peers {
			netctl(t, c, p, "drop", "--from", c.IP(victim))
		}
		out := netctl(t, c, victim, "list")
		for _, ip := range peerIPs {
			if !strings.Contains(out, "drop from "+ip) {
				t.Errorf("list on %s = %q, want a line 'drop from %s'", victim, out, ip)
			}
		}
		eventually(t, 15*time.Second, victim+" loses the leader", func() error {
			st, err := c.Status(ctx, victim)
			if err != nil {
				return err
			}
			if st.Leader != "" {
				return fmt.Errorf("%s still sees leader %q (state %s)", victim, st.Leader, st.State)
			}
			return nil
		})
		// The majority keeps working.
		if err := kv.Put(ctx, "k4", []byte("partitioned")); err != nil {
			t.Fatalf("Put during partition: %v", err)
		}
		for _, id := range c.Nodes() {
			netctl(t, c, id, "heal")
			if out := netctl(t, c, id, "list"); out != "" {
				t.Errorf("list on %s after heal = %q, want nothing", id, out)
			}
		}
		netctl(t, c, victim, "heal") // healing nothing is fine
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		defer wcancel()
		if err := c.WaitHealthy(wctx); err != nil {
			t.Fatalf("WaitHealthy after heal: %v", err)
		}
		v, ok, err := kv.Get(ctx, "k4")
		if err != nil || !ok || string(v) != "partitioned" {
			t.Fatalf("Get k4 = %q, %v, %v", v, ok, err)
		}
	})

	t.Run("NetctlRules", func(t *testing.T) {
		code, out, err := c.Exec(ctx, "n1", []string{engine.NetctlPath, "drop"})
		if err != nil || code != 2 || !strings.Contains(out, "usage:") {
			t.Errorf("netctl drop: exit %d, err %v, output %q; want exit 2 with usage", code, err, out)
		}
		ip2, ip3 := c.IP("n2"), c.IP("n3")
		netctl(t, c, "n1", "drop", "--to", ip2)
		netctl(t, c, "n1", "loss", "--percent", "30", "--from", ip3)
		want := "drop to " + ip2 + "\nloss 30% from " + ip3 + "\n"
		if got := netctl(t, c, "n1", "list"); got != "loss 30% from "+ip3+"\ndrop to "+ip2+"\n" && got != want {
			t.Errorf("list = %q, want the two rules", got)
		}
		netctl(t, c, "n1", "heal")
		if got := netctl(t, c, "n1", "list"); got != "" {
			t.Errorf("list after heal = %q", got)
		}
	})

	t.Run("DataDirOwnedByNodeUser", func(t *testing.T) {
		cli, err := testcontainers.NewDockerClientWithOpts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		ins, err := cli.ContainerInspect(ctx, c.ContainerID("n1"), client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if u := ins.Container.Config.User; u != "65532:65532" {
			t.Errorf("container user = %q, want 65532:65532 (non-root)", u)
		}
		res, err := cli.CopyFromContainer(ctx, c.ContainerID("n1"), client.CopyFromContainerOptions{SourcePath: "/data"})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Content.Close()
		tr := tar.NewReader(res.Content)
		files := 0
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			if h.Uid != engine.NodeUID {
				t.Errorf("%s owned by uid %d, want %d", h.Name, h.Uid, engine.NodeUID)
			}
			files++
		}
		if files < 2 { // /data itself plus what kvnode wrote
			t.Errorf("/data holds %d entries: kvnode wrote nothing?", files)
		}
	})

	t.Run("Logs", func(t *testing.T) {
		dir := t.TempDir()
		if err := c.SaveLogs(ctx, dir); err != nil {
			t.Fatalf("SaveLogs: %v", err)
		}
		l, err := c.Logs(ctx, "n1")
		if err != nil || l == "" {
			t.Errorf("Logs(n1) = %d bytes, %v", len(l), err)
		}
	})
}

func isIllegal(err error) bool {
	return err != nil && strings.Contains(err.Error(), "cannot") && errors.Is(err, docker.ErrIllegalTransition)
}

// TestStartFailureCleansUp: a node that cannot start fails Start quickly
// with its log, and nothing of the run is left behind.
func TestStartFailureCleansUp(t *testing.T) {
	enginetest.RequireDocker(t)
	ctx := context.Background()
	cfg := cluster.DefaultSpec()
	cfg.Nodes = 1
	cfg.RunID = fmt.Sprintf("failtest-%d", time.Now().UnixNano())
	cfg.System = badFlag{}
	cfg.StartTimeout = 30 * time.Second
	t0 := time.Now()
	c, err := docker.Start(ctx, cfg)
	if err == nil {
		c.Close(ctx)
		t.Fatal("Start with a bad kvnode flag succeeded")
	}
	if d := time.Since(t0); d > 20*time.Second {
		t.Errorf("Start took %v to notice the node exited", d)
	}
	t.Logf("Start error: %v", err)
	if !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "no-such-flag") {
		t.Errorf("error does not explain the exit: %v", err)
	}
	cs, ns, lerr := enginetest.Leftovers(ctx, cfg.RunID)
	if lerr != nil || len(cs)+len(ns) > 0 {
		t.Errorf("leftovers after failed Start: containers %v networks %v (%v)", cs, ns, lerr)
	}
}

// badFlag is our store with a flag kvnode rejects: its nodes exit at once.
type badFlag struct{ sut.KVNode }

func (b badFlag) Node(l sut.Layout, o sut.Options, id string) sut.NodeSpec {
	s := b.KVNode.Node(l, o, id)
	s.Command = append(s.Command, "--no-such-flag")
	return s
}

// followers returns the nodes other than the current leader.
func followers(ctx context.Context, t *testing.T, c *docker.Cluster) []string {
	t.Helper()
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var fs []string
	for _, id := range c.Nodes() {
		if id != leader {
			fs = append(fs, id)
		}
	}
	return fs
}
