package nemesis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	mobyclient "github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/cluster/clustertest"
	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/engine/enginetest"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/system"
)

var (
	_ Cluster       = (*docker.Cluster)(nil)
	_ StateObserver = (*docker.Cluster)(nil)
)

// TestDockerFaults applies every fault kind to one shared 3-node cluster,
// checks each is in effect from the outside, heals, and ends with a
// healthy cluster and no netctl rule anywhere.
func TestDockerFaults(t *testing.T) {
	enginetest.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cl, err := docker.Start(ctx, cluster.DefaultSpec())
	if err != nil {
		t.Fatalf("docker.Start: %v", err)
	}
	clustertest.Cleanup(t, cl, nil)
	// Every kind a plain cluster takes (the disk faults need its data on
	// faultfs: TestDockerDiskFaults; membership: its own test).
	cfg, err := DefaultConfig().WithSpec("partition,loss,delay,kill,pause,clock")
	if err != nil {
		t.Fatal(err)
	}
	nem, err := New(cl, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nem.Teardown(context.Background()); err != nil {
			t.Errorf("Teardown: %v", err)
		}
	})
	rec := &memRecorder{}
	apply := func(t *testing.T, op history.Op) map[string]any {
		t.Helper()
		c, err := Apply(ctx, nem, rec, op)
		if err != nil || c.Type != history.OK {
			t.Fatalf("%s %v: %v", op.F, op.Value, c)
		}
		t.Logf("%s", c)
		v, _ := c.Value.(map[string]any)
		return v
	}
	healthy := func(t *testing.T) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := cl.WaitHealthy(wctx); err != nil {
			t.Fatalf("cluster not healthy: %v", err)
		}
	}
	client := func(t *testing.T, nodes ...string) *system.Client {
		t.Helper()
		cc := system.DefaultClientConfig()
		cc.Addrs = map[string]string{}
		for _, n := range nodes {
			cc.Addrs[n] = cl.ClientAddr(n)
		}
		cc.MaxAttempts, cc.RequestTimeout = 3, time.Second
		c, err := system.NewClient(ctx, cc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	healthy(t)

	t.Run("partition", func(t *testing.T) {
		v := apply(t, history.Op{F: FStartPartition, Value: GrudgeOne})
		var isolated string
		var majority []string
		for n, l := range v["grudge"].(map[string]any) {
			if len(l.([]any)) == 2 {
				isolated = n
			}
		}
		for _, n := range cl.Nodes() {
			if n != isolated {
				majority = append(majority, n)
			}
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, _, err := client(t, isolated).Get(rctx, "nemesis-probe")
		cancel()
		var kerr *system.Error
		switch {
		case err == nil:
			t.Fatalf("isolated %s served a linearizable read", isolated)
		case errors.As(err, &kerr) && kerr.Status == system.StatusNotLeader, !system.IsDefinite(err):
			t.Logf("isolated %s: %v", isolated, err)
		default:
			t.Fatalf("isolated %s: unexpected definite error %v", isolated, err)
		}
		// The majority side still serves (after an election if needed).
		mc := client(t, majority...)
		deadline := time.Now().Add(20 * time.Second)
		for {
			rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			_, _, err := mc.Get(rctx, "nemesis-probe")
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("majority %v cannot serve reads: %v", majority, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		apply(t, history.Op{F: FStopPartition})
		healthy(t)
	})

	t.Run("loss", func(t *testing.T) {
		apply(t, history.Op{F: FStartLoss, Value: map[string]any{"percent": int64(30), "target": TargetAll}})
		for _, n := range cl.Nodes() {
			_, out, err := cl.Exec(ctx, n, []string{NetctlPaths[0], "list"})
			if err != nil || strings.Count(out, "loss 30% from") != 2 {
				t.Fatalf("%s: netctl list %q, %v", n, out, err)
			}
		}
		apply(t, history.Op{F: FStopLoss})
		healthy(t)
	})

	t.Run("kill", func(t *testing.T) {
		v := apply(t, history.Op{F: FKill, Value: TargetOne})
		victim := v["nodes"].([]any)[0].(string)
		if conn, err := net.DialTimeout("tcp", cl.ClientAddr(victim), time.Second); err == nil {
			conn.Close()
			t.Fatalf("killed %s still accepts connections on %s", victim, cl.ClientAddr(victim))
		}
		apply(t, history.Op{F: FStart})
		healthy(t)
	})

	t.Run("pause", func(t *testing.T) {
		v := apply(t, history.Op{F: FPause, Value: TargetMinority})
		for _, n := range v["nodes"].([]any) {
			if s, _ := cl.ObservedState(ctx, n.(string)); s != StatePaused {
				t.Fatalf("%s is %s", n, s)
			}
		}
		apply(t, history.Op{F: FResume})
		healthy(t)
	})

	t.Run("clock", func(t *testing.T) {
		apply(t, history.Op{F: FBumpClock, Value: map[string]any{"deltas_ms": map[string]any{"n2": int64(-3000)}}})
		if off, err := statusOffset(ctx, cl, "n2"); err != nil || abs(off+3000) > offsetTolerance {
			t.Fatalf("n2 /status offset %d, %v; want -3000", off, err)
		}
		apply(t, history.Op{F: FStrobeClock, Value: map[string]any{"target": TargetOne,
			"delta_ms": int64(500), "period_ms": int64(20), "duration_ms": int64(1000)}})
		apply(t, history.Op{F: FResetClock})
		for _, n := range cl.Nodes() {
			if off, err := statusOffset(ctx, cl, n); err != nil || abs(off) > offsetTolerance {
				t.Fatalf("%s /status offset %d after reset, %v", n, off, err)
			}
		}
	})

	t.Run("kill-all", func(t *testing.T) {
		// Every node at once, again and again, under a write; each
		// restart brings the whole cluster back with its disks.
		for round := range 2 {
			key, val := fmt.Sprintf("kill-all-%d", round), []byte(fmt.Sprintf("v%d", round))
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := client(t, cl.Nodes()...).Put(wctx, key, val)
			cancel()
			if err != nil {
				t.Fatalf("round %d: put before kill: %v", round, err)
			}
			v := apply(t, history.Op{F: FKill, Value: TargetAll})
			if got := len(v["nodes"].([]any)); got != len(cl.Nodes()) {
				t.Fatalf("round %d: kill all killed %d nodes", round, got)
			}
			for _, n := range cl.Nodes() {
				if s, err := cl.ObservedState(ctx, n); err != nil || s != StateKilled {
					t.Fatalf("round %d: %s is %s (%v) after kill all", round, n, s, err)
				}
			}
			c, err := Apply(ctx, nem, rec, history.Op{F: FStartPartition, Value: GrudgeLeader})
			if err == nil || !strings.Contains(c.Error, "every node is down") {
				t.Fatalf("round %d: leader partition with every node down: %v", round, c)
			}
			apply(t, history.Op{F: FStart})
			healthy(t)
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			got, ok, err := client(t, cl.Nodes()...).Get(rctx, key)
			cancel()
			if err != nil || !ok || string(got) != string(val) {
				t.Fatalf("round %d: %s after restart = %q, %v, %v; want %q", round, key, got, ok, err, val)
			}
		}
	})

	t.Run("heal-restarts-crashed-node", func(t *testing.T) {
		// Kill n2's container behind the runtime's back: it "died by
		// itself"; the runtime's bookkeeping still says running.
		cli, err := testcontainers.NewDockerClientWithOpts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		if _, err := cli.ContainerKill(ctx, cl.ContainerID("n2"), mobyclient.ContainerKillOptions{Signal: "SIGKILL"}); err != nil {
			t.Fatal(err)
		}
		if !waitFor(ctx, 10*time.Second, func() bool { return observe(ctx, cl, "n2") == StateKilled }) || cl.State("n2") != StateRunning {
			t.Fatalf("n2: observed %s, bookkeeping %s", observe(ctx, cl, "n2"), cl.State("n2"))
		}
		start := len(rec.all())
		if err := HealAll(ctx, cl, rec, cfg.Faults, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		var restarted history.Op
		for _, op := range rec.all()[start:] {
			if op.F == FStart && op.Type == history.OK {
				restarted = op
			}
		}
		if v, _ := restarted.Value.(map[string]any); !reflect.DeepEqual(v["crashed"], []any{"n2"}) {
			t.Fatalf("heal did not record n2 as crashed: %v", restarted)
		}
		healthy(t)
	})

	t.Run("delay", func(t *testing.T) {
		// One node's links held 150 ms at both ends: the probe across one
		// of them sees the round trip rise by about 300 ms; heal releases
		// everything.
		v := apply(t, history.Op{F: FStartDelay, Value: map[string]any{"kind": DelayOne, "mean_ms": int64(150), "jitter_ms": int64(10)}})
		rtt, _ := v["rtt_ms"].(float64)
		if added, _ := history.Int(v["added_ms"]); added != 300 || rtt < 300*0.8 || rtt > 300*1.5 {
			t.Fatalf("delayed round trip %v ms, want about %v ms (value %v)", rtt, added, v)
		}
		apply(t, history.Op{F: FStopDelay})
		if rtt, _, _, cut, err := probeDelayed(ctx, cl, Grudge{"n1": {"n3"}}, 0); err != nil || len(cut) > 0 || rtt.Median > 50*time.Millisecond {
			t.Fatalf("round trip n1->n3 after stop-delay: %v, %v (cut %v): want it back to well under 50 ms", rtt, err, cut)
		}
		for _, n := range cl.Nodes() {
			code, out, err := cl.Exec(ctx, n, []string{NetctlPaths[0], "list"})
			if err != nil || code != 0 || strings.TrimSpace(out) != "" {
				t.Fatalf("%s: netctl list %q (exit %d, %v) after stop-delay", n, out, code, err)
			}
		}
		// Every link cut one way by a partition already in effect: the
		// delay's rules go in, no probe can answer, and the op says so
		// instead of failing (a concurrent schedule overlaps them).
		apply(t, history.Op{F: FStartPartition, Value: GrudgeMajorityRing})
		v = apply(t, history.Op{F: FStartDelay, Value: map[string]any{"kind": DelayOne, "mean_ms": int64(50)}})
		if v["probe_cut"] == nil {
			t.Fatalf("delay under a majority ring: %v: want probe_cut to name the links the partition cut", v)
		}
		apply(t, history.Op{F: FStopDelay})
		apply(t, history.Op{F: FStopPartition})
	})

	t.Run("schedule", func(t *testing.T) {
		scfg := cfg
		scfg.Seed, scfg.Interval = 3, time.Second
		sched, err := NewSchedule(scfg, scfg.MinTimeLimit())
		if err != nil {
			t.Fatal(err)
		}
		start := len(rec.all())
		if err := Run(ctx, sched, nem, rec); err != nil {
			t.Fatal(err)
		}
		for _, op := range rec.all()[start:] {
			t.Logf("%s", op)
			if op.Type == history.Info {
				t.Errorf("scheduled op could not be applied: %v", op)
			}
		}
		if err := HealAll(ctx, cl, rec, cfg.Faults, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("heal-all", func(t *testing.T) {
		// Leave faults in effect and let the final phase clean up.
		apply(t, history.Op{F: FStartPartition, Value: GrudgeMajorityRing})
		apply(t, history.Op{F: FBumpClock, Value: map[string]any{"target": TargetAll}})
		apply(t, history.Op{F: FPause, Value: TargetOne})
		start := len(rec.all())
		if err := HealAll(ctx, cl, rec, cfg.Faults, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		for _, op := range rec.all()[start:] {
			if op.Type == history.Info {
				t.Fatalf("heal op %v", op)
			}
		}
		for _, n := range cl.Nodes() {
			code, out, err := cl.Exec(ctx, n, []string{NetctlPaths[0], "list"})
			if err != nil || code != 0 || strings.TrimSpace(out) != "" {
				t.Fatalf("%s: netctl list %q (exit %d, %v) after heal", n, out, code, err)
			}
			if s := cl.State(n); s != StateRunning {
				t.Fatalf("%s is %s after heal", n, s)
			}
		}
		healthy(t)
	})
}

// TestDockerDiskFaults puts a cluster's data on faultfs and fails a node's
// power and corrupts another's log for real: each fault reads back what
// it did (faultfs's report), and the cluster is healthy after each heal.
func TestDockerDiskFaults(t *testing.T) {
	enginetest.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	spec := cluster.DefaultSpec()
	spec.Disk = true
	cl, err := docker.Start(ctx, spec)
	if err != nil {
		t.Fatalf("docker.Start: %v", err)
	}
	clustertest.Cleanup(t, cl, nil)
	cfg, err := DefaultConfig().WithSpec("power,corrupt")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Disk.Root, cfg.Disk.Files = "/disk/data", []string{"raftlog/*.seg"}
	nem, err := New(cl, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := &memRecorder{}
	apply := func(op history.Op) map[string]any {
		t.Helper()
		c, err := Apply(ctx, nem, rec, op)
		if err != nil || c.Type != history.OK {
			t.Fatalf("%s %v: %v", op.F, op.Value, c)
		}
		t.Logf("%s", c)
		v, _ := c.Value.(map[string]any)
		return v
	}
	healthy := func() {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := cl.WaitHealthy(wctx); err != nil {
			t.Fatalf("cluster not healthy: %v", err)
		}
	}
	v := apply(history.Op{F: FPowerOff, Value: TargetOne})
	dropped, _ := v["dropped"].(map[string]any)
	if len(dropped) != 1 {
		t.Fatalf("power-off dropped %v: want the report of one node", v["dropped"])
	}
	apply(history.Op{F: FPowerOn})
	healthy()
	v = apply(history.Op{F: FCorrupt, Value: map[string]any{"mode": CorruptBitflip, "target": TargetOne}})
	changes, _ := v["changes"].(map[string]any)
	if len(changes) != 1 {
		t.Fatalf("corrupt changed %v: want one node's flipped bit", v["changes"])
	}
	apply(history.Op{F: FRestartCorrupt})
	healthy()
}
