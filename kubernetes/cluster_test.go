package kubernetes_test

import (
	"context"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/cluster/clustertest"
	"github.com/faultline/faultline/engine"
	"github.com/faultline/faultline/faultfs"
	"github.com/faultline/faultline/kubernetes"
	"github.com/faultline/faultline/sut"
	"github.com/faultline/faultline/sut/nats"
	"github.com/faultline/faultline/system"
	"github.com/faultline/faultline/workload"
)

// EnvKubeconfig names the kubeconfig of the cluster the tests run against
// (make test-k8s sets it to the local cluster's). Unset, they skip; set,
// an unreachable cluster fails them.
const EnvKubeconfig = "FAULTLINE_KUBECONFIG"

func requireCluster(t *testing.T) string {
	t.Helper()
	kc := os.Getenv(EnvKubeconfig)
	if kc == "" {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci && os.Getenv("FAULTLINE_K8S") == "required" {
			t.Fatalf("FAULTLINE_K8S=required in CI but %s is unset: run through make test-k8s", EnvKubeconfig)
		}
		t.Skipf("skipping: set %s to a kubeconfig to run against a real Kubernetes (make test-k8s does)", EnvKubeconfig)
	}
	return kc
}

func startCluster(t *testing.T, cfg kubernetes.Config) *kubernetes.Cluster {
	t.Helper()
	engine.SetEnvDefaults()
	return clustertest.Start(t, 5*time.Minute, func(ctx context.Context) (*kubernetes.Cluster, error) { return kubernetes.Start(ctx, cfg) }, nil)
}

func kvClient(t *testing.T, c *kubernetes.Cluster) *system.Client {
	t.Helper()
	cfg := system.DefaultClientConfig()
	cfg.Addrs = c.ClientAddrs()
	cl, err := system.NewClient(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// netctl runs netctl with args on node id and returns its output.
func netctl(t *testing.T, c *kubernetes.Cluster, id string, args ...string) string {
	t.Helper()
	code, out, err := c.Exec(context.Background(), id, append([]string{engine.NetctlPath}, args...))
	if err != nil || code != 0 {
		t.Fatalf("netctl %s on %s: code %d, %v: %s", strings.Join(args, " "), id, code, err, out)
	}
	return out
}

func waitHealthy(t *testing.T, c *kubernetes.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
}

func wantState(t *testing.T, c *kubernetes.Cluster, id, want string) {
	t.Helper()
	if got := c.State(id); got != want {
		t.Errorf("State(%s) = %q, want %q", id, got, want)
	}
	got, err := c.ObservedState(context.Background(), id)
	if err != nil || got != want {
		t.Errorf("ObservedState(%s) = %q, %v; want %q", id, got, err, want)
	}
}

// TestCluster drives one cluster through everything the nemeses do: kill
// and restart with the disk kept, pause and resume, netctl partitions, and
// the data path through the forwarded client ports.
func TestCluster(t *testing.T) {
	kc := requireCluster(t)
	cfg := kubernetes.DefaultConfig()
	cfg.Kubeconfig = kc
	c := startCluster(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	cl := kvClient(t, c)
	if err := cl.Put(ctx, "k", []byte("v1")); err != nil {
		t.Fatalf("Put through the forwarded client port: %v", err)
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ip := c.IP(leader)

	// Kill the leader: its process is gone, its pod, address and disk
	// stay; its netctl rules go, as a container's do.
	netctl(t, c, leader, "drop", "--from", c.IP(c.Nodes()[0]))
	t0 := time.Now()
	if err := c.Kill(ctx, leader); err != nil {
		t.Fatal(err)
	}
	t.Logf("kill took %v", time.Since(t0).Round(time.Millisecond))
	wantState(t, c, leader, cluster.StateKilled)
	if out := netctl(t, c, leader, "list"); strings.TrimSpace(out) != "" {
		t.Errorf("netctl rules survived the kill:\n%s", out)
	}
	// Connections to a killed node are refused in the pod; its forwarded
	// ports must still reach it once it runs again (over one shared
	// stream connection, containerd served no stream after such a refusal
	// and the restarted node stayed unreachable).
	for range 3 {
		if _, err := c.Status(ctx, leader); err == nil {
			t.Error("a killed node answered its probe")
		}
	}
	if err := c.Kill(ctx, leader); err == nil {
		t.Error("killing a killed node succeeded")
	}
	if err := c.WaitHealthy(ctx); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("WaitHealthy with a killed node: %v, want an error naming it", err)
	}
	if err := cl.Put(ctx, "k", []byte("v2")); err != nil {
		t.Fatalf("Put with the old leader down: %v", err)
	}
	if err := c.Start(ctx, leader); err != nil {
		t.Fatal(err)
	}
	wantState(t, c, leader, cluster.StateRunning)
	if got := c.IP(leader); got != ip {
		t.Errorf("IP after restart %s, before %s", got, ip)
	}
	waitHealthy(t, c)
	// The restarted node kept its disk: it rejoins and serves a
	// linearizable read of what was written while it was down.
	if v, ok, err := cl.Get(ctx, "k"); err != nil || !ok || string(v) != "v2" {
		t.Fatalf("Get after restart = %q, %v, %v", v, ok, err)
	}

	// Pause a follower: frozen, not dead.
	var follower string
	for _, id := range c.Nodes() {
		if id != leader {
			follower = id
			break
		}
	}
	if err := c.Pause(ctx, follower); err != nil {
		t.Fatal(err)
	}
	wantState(t, c, follower, cluster.StatePaused)
	hctx, hcancel := context.WithTimeout(ctx, 3*time.Second)
	if _, err := c.Status(hctx, follower); err == nil {
		t.Error("a paused node answered /status")
	}
	hcancel()
	if err := c.Resume(ctx, follower); err != nil {
		t.Fatal(err)
	}
	wantState(t, c, follower, cluster.StateRunning)
	waitHealthy(t, c)

	// netctl in the node's network namespace: isolate one node, see the
	// rule, heal.
	var others []string
	for _, id := range c.Nodes() {
		if id != follower {
			others = append(others, c.IP(id))
		}
	}
	code, out, err := c.Exec(ctx, follower, []string{engine.NetctlPath, "drop", "--from", strings.Join(others, ",")})
	if err != nil || code != 0 {
		t.Fatalf("netctl drop: code %d, %v: %s", code, err, out)
	}
	code, out, err = c.Exec(ctx, follower, []string{engine.NetctlPath, "list"})
	if err != nil || code != 0 || !strings.Contains(out, others[0]) {
		t.Fatalf("netctl list: code %d, %v: %q, want a rule for %s", code, err, out, others[0])
	}
	if code, out, err = c.Exec(ctx, follower, []string{engine.NetctlPath, "heal"}); err != nil || code != 0 {
		t.Fatalf("netctl heal: code %d, %v: %s", code, err, out)
	}
	if code, _, err = c.Exec(ctx, follower, []string{engine.NetctlPath, "no-such-command"}); err != nil || code == 0 {
		t.Errorf("a failing command: code %d, err %v; want a non-zero code and no error", code, err)
	}

	dir := t.TempDir()
	if err := c.SaveLogs(ctx, dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dir + "/" + leader + ".log")
	if err != nil || !strings.Contains(string(b), "faultline-agent: kill") {
		t.Errorf("the leader's log does not show the kill (%v):\n%s", err, clustertest.Tail(string(b), 20))
	}
}

// TestMembership: a node leaves (its member removed through kvnode's
// admin port, its process killed, its volume wiped: out of the cluster,
// not waited for) and joins again as a new member in the same pod; after
// a kill it restarts under its new identity.
func TestMembership(t *testing.T) {
	kc := requireCluster(t)
	cfg := kubernetes.DefaultConfig()
	cfg.Kubeconfig = kc
	c := startCluster(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cl := kvClient(t, c)
	if err := cl.Put(ctx, "k", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	const node = "n3"
	if m, err := c.RemoveMember(ctx, node); err != nil || m != node {
		t.Fatalf("remove %s: %q, %v", node, m, err)
	}
	if err := c.Leave(ctx, node); err != nil {
		t.Fatal(err)
	}
	wantState(t, c, node, cluster.StateLeft)
	waitHealthy(t, c)
	if err := cl.Put(ctx, "k", []byte("v2")); err != nil {
		t.Fatalf("Put with %s out: %v", node, err)
	}
	if m, err := c.Join(ctx, node); err != nil || m != node+".2" {
		t.Fatalf("join %s: %q, %v", node, m, err)
	}
	wantState(t, c, node, cluster.StateRunning)
	if err := c.Kill(ctx, node); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, node); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, c)
	ms, err := c.Members(ctx)
	if err != nil || !slices.Contains(ms, node+".2") || len(ms) != 3 {
		t.Fatalf("members %v, %v: want %s.2 a voter among 3", ms, err, node)
	}
}

// TestEtcd runs a system we did not write on the runtime: an etcd cluster
// from sut.Etcd's image, driven through its own client over the forwarded
// ports, survives its leader's kill and restart with the disk kept.
func TestEtcd(t *testing.T) {
	kc := requireCluster(t)
	cfg := kubernetes.DefaultConfig()
	cfg.Kubeconfig = kc
	cfg.System = sut.Etcd{}
	c := startCluster(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if c.HasClockHook() || c.AdminAddr("n1") != "" {
		t.Error("etcd has no admin port, but the cluster says it has a clock hook")
	}
	cl, err := cfg.System.NewClient(ctx, sut.ClientConfig{Addrs: c.ClientAddrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Put(ctx, "k", []byte("v1")); err != nil {
		t.Fatalf("Put through the forwarded client port: %v", err)
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(ctx, leader); err != nil {
		t.Fatal(err)
	}
	// A write is retried until the survivors elect a leader (the
	// client's Unavailable is indefinite: the workloads record it as
	// info).
	for {
		err := cl.Put(ctx, "k", []byte("v2"))
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("Put with the old leader down: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := c.Start(ctx, leader); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, c)
	if v, ok, err := cl.Get(ctx, "k"); err != nil || !ok || string(v) != "v2" {
		t.Fatalf("Get after restart = %q, %v, %v", v, ok, err)
	}
}

// TestStartMissingImage fails fast, saying what to do, when the nodes
// cannot get the node image, and leaves nothing behind.
func TestStartMissingImage(t *testing.T) {
	kc := requireCluster(t)
	cfg := kubernetes.DefaultConfig()
	cfg.Kubeconfig = kc
	cfg.Image = "faultline-node:does-not-exist"
	cfg.LoadImages = func(context.Context, ...string) error { return nil }
	cfg.RunID = "missing-image-" + strconv.Itoa(os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, err := kubernetes.Start(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "image") {
		t.Fatalf("Start with a missing image: %v, want an error about the image", err)
	}
	t.Log(err)
	cs := clientset(t, kc)
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "faultline-"+cfg.RunID, metav1.GetOptions{}); err == nil {
		t.Error("the namespace of the failed start is still there")
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*kubernetes.Config)
		want string
	}{
		{"ok", func(*kubernetes.Config) {}, ""},
		{"nodes", func(c *kubernetes.Config) { c.Nodes = 10 }, "Nodes = 10"},
		{"run id", func(c *kubernetes.Config) { c.RunID = "Bad_ID" }, "RunID"},
		{"label", func(c *kubernetes.Config) { c.Labels = map[string]string{"faultline.run": "x"} }, "reserved"},
		{"read mode", func(c *kubernetes.Config) { c.Options.ReadMode = "eventual" }, "eventual"},
		{"etcd bug", func(c *kubernetes.Config) { c.System = sut.Etcd{}; c.Options.Bugs = []string{"no-dedup"} }, "no-dedup"},
		{"no system", func(c *kubernetes.Config) { c.System = nil }, "System is nil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := kubernetes.DefaultConfig()
			tc.mod(&cfg)
			err := cfg.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

func clientset(t *testing.T, kubeconfig string) k8s.Interface {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := k8s.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestDiskFaults runs the disk faults on pods: the nodes' data on
// faultfs (a privileged node container), a node's power failed (faultfs
// reports what it dropped, the node is down, then back on its disk), and a
// down node's log corrupted from inside its pod.
func TestDiskFaults(t *testing.T) {
	kc := requireCluster(t)
	cfg := kubernetes.DefaultConfig()
	cfg.Kubeconfig, cfg.Disk = kc, true
	c := startCluster(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl := kvClient(t, c)
	if err := cl.Put(ctx, "k", []byte("v1")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	node := c.Nodes()[1]
	code, out, err := c.Exec(ctx, node, faultfs.PowerFailArgs(engine.FaultfsPath, faultfs.Control, faultfs.PowerPOSIX))
	if err != nil || code != 0 {
		t.Fatalf("faultfs powerfail in %s: exit %d, %v\n%s", node, code, err, out)
	}
	if _, err := faultfs.ParsePowerFailReport([]byte(out[strings.IndexByte(out, '{'):])); err != nil {
		t.Fatalf("power-failure report: %v\n%s", err, out)
	}
	if err := c.Kill(ctx, node); err != nil {
		t.Fatal(err)
	}
	corrupt := faultfs.DefaultCorruptConfig()
	corrupt.Root, corrupt.Patterns, corrupt.Mode, corrupt.Seed = faultfs.Backing, []string{"raftlog/*.seg"}, faultfs.ModeBitflip, 7
	code, out, err = c.DiskExec(ctx, node, faultfs.CorruptArgs(engine.FaultfsPath, corrupt))
	if err != nil || code != 0 {
		t.Fatalf("faultfs corrupt in the down %s: exit %d, %v\n%s", node, code, err, out)
	}
	if err := c.Start(ctx, node); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer wcancel()
	if err := c.WaitHealthy(wctx); err != nil {
		t.Fatalf("after a power failure and a flipped bit, the cluster did not recover: %v", err)
	}
	if v, _, err := cl.Get(ctx, "k"); err != nil || string(v) != "v1" {
		t.Errorf("Get after the disk faults: %q, %v", v, err)
	}
}

// TestNATS runs NATS JetStream (--runtime kubernetes --system nats): the
// monitoring port forwarded beside the client port for the probe, the
// queue created, a publish through every node, the stream leader killed
// and restarted, and every acknowledged value drained through every node.
func TestNATS(t *testing.T) {
	kc := requireCluster(t)
	cfg := kubernetes.DefaultConfig()
	cfg.Kubeconfig = kc
	cfg.System = nats.System{}
	cfg.Options = sut.Options{Settings: map[string]string{"sync_interval": "always"}}
	c := startCluster(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	queues := map[string]workload.Queue{}
	for _, id := range c.Nodes() {
		cl, err := cfg.System.NewClient(ctx, sut.ClientConfig{Addrs: c.ClientAddrs(), Home: id})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		queues[id] = workload.QueueOf(cl)
	}
	if err := queues["n1"].CreateQueue(ctx); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, c)
	var acked []int64
	publish := func(v int64) {
		for _, id := range slices.Sorted(maps.Keys(queues)) {
			for v++; ; v++ {
				err := queues[id].Enqueue(ctx, v)
				if err == nil {
					acked = append(acked, v)
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("enqueue %d through %s: %v", v, id, err)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	publish(0)
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(ctx, leader); err != nil {
		t.Fatal(err)
	}
	delete(queues, leader)
	publish(100)
	if err := c.Start(ctx, leader); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, c)
	for _, id := range c.Nodes() {
		cl, err := cfg.System.NewClient(ctx, sut.ClientConfig{Addrs: c.ClientAddrs(), Home: id})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		got, err := workload.QueueOf(cl).Drain(ctx)
		if err != nil {
			t.Fatalf("drain through %s: %v", id, err)
		}
		for _, v := range acked {
			if !slices.Contains(got, v) {
				t.Errorf("drain through %s lacks acknowledged %d: %v", id, v, got)
			}
		}
	}
}
