package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	mobyclient "github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/engine"
	"github.com/faultline/faultline/engine/enginetest"
	"github.com/faultline/faultline/nemesis/netrule"
)

// peerPort is where testdata/peer accepts connections.
const peerPort = 7000

// TestDockerDelay runs netctl in three containers on a private network
// (image FROM scratch: netctl and testdata/peer) and shows from inside
// them that a delay raises the round trip by about its mean, that two
// delays for two peers hold side by side, that heal releases held packets
// at once, that heal --tag removes one fault's rules and leaves another's,
// and that after heal no rule, queue or delayer is left.
func TestDockerDelay(t *testing.T) {
	enginetest.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cli, err := engine.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	runID := fmt.Sprintf("netctl-test-%d", time.Now().UnixNano())
	labels := cluster.Labels(nil, runID, "")
	image := buildPeerImage(ctx, t, cli, runID, labels)
	nw, err := tcnetwork.New(ctx, tcnetwork.WithLabels(labels))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nw.Remove(context.Background()); err != nil {
			t.Errorf("remove network: %v", err)
		}
	})
	nodes := map[string]*node{}
	for _, name := range []string{"a", "b", "c"} {
		nodes[name] = startNode(ctx, t, image, nw.Name, runID+"-"+name, labels)
	}
	a, b, c := nodes["a"], nodes["b"], nodes["c"]

	// rtt measures the round trip from one node to another's peer port.
	rtt := func(t *testing.T, from, to *node) netrule.RTT {
		t.Helper()
		args, err := netrule.Probe{To: netip.AddrPortFrom(to.ip, peerPort), Count: 10, Timeout: 5 * time.Second}.Args()
		if err != nil {
			t.Fatal(err)
		}
		r, err := netrule.ParseRTT(from.netctl(ctx, t, 0, args...))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s -> %s: %s", from.name, to.name, r)
		return r
	}
	// rose checks that the median round trip rose by about want.
	rose := func(t *testing.T, base, now netrule.RTT, want time.Duration) {
		t.Helper()
		if d := now.Median - base.Median; d < want*8/10 || d > want*2+50*time.Millisecond {
			t.Fatalf("median round trip went from %v to %v (+%v), want +%v (between %v and %v)",
				base.Median, now.Median, d, want, want*8/10, want*2+50*time.Millisecond)
		}
	}
	// back checks that the round trip fell back to where it was.
	back := func(t *testing.T, base, now netrule.RTT) {
		t.Helper()
		if now.Median > base.Median+20*time.Millisecond {
			t.Fatalf("median round trip %v after heal, was %v before the delay", now.Median, base.Median)
		}
	}
	install := func(t *testing.T, n *node, rules ...netrule.Rule) {
		t.Helper()
		args, err := netrule.Args(rules...)
		if err != nil {
			t.Fatal(err)
		}
		n.netctl(ctx, t, 0, args...)
	}
	listed := func(t *testing.T, n *node) []netrule.Rule {
		t.Helper()
		rules, err := netrule.ParseList(n.netctl(ctx, t, 0, "list"))
		if err != nil {
			t.Fatalf("%s: netctl list: %v", n.name, err)
		}
		return rules
	}
	healed := func(t *testing.T, n *node) {
		t.Helper()
		n.netctl(ctx, t, 0, "heal")
		if out := n.netctl(ctx, t, 0, "list"); out != "" {
			t.Fatalf("%s: netctl list after heal: %q", n.name, out)
		}
		if ps := n.delayers(ctx, t, cli); len(ps) > 0 {
			t.Fatalf("%s: delayer processes after heal: %q", n.name, ps)
		}
	}
	baseAB, baseCB := rtt(t, a, b), rtt(t, c, b)

	t.Run("inbound", func(t *testing.T) {
		d := netrule.Delayed(netrule.Inbound, netip.Addr{}, 100*time.Millisecond, 10*time.Millisecond, 42)
		install(t, b, d)
		if got := listed(t, b); len(got) != 1 || got[0] != d {
			t.Fatalf("b lists %v, want %v", got, d)
		}
		rose(t, baseAB, rtt(t, a, b), 100*time.Millisecond)
		healed(t, b)
		back(t, baseAB, rtt(t, a, b))
	})

	t.Run("two-peers", func(t *testing.T) {
		fromA := netrule.Delayed(netrule.Inbound, a.ip, 100*time.Millisecond, 10*time.Millisecond, 7)
		fromC := netrule.Delayed(netrule.Inbound, c.ip, 250*time.Millisecond, 0, 0)
		install(t, b, fromA)
		install(t, b, fromC)
		if m := netrule.Missing([]netrule.Rule{fromA, fromC}, listed(t, b)); len(m) > 0 {
			t.Fatalf("b does not list %v", m)
		}
		if ps := b.delayers(ctx, t, cli); len(ps) != 2 {
			t.Fatalf("b runs delayers %q, want two (one per netctl delay)", ps)
		}
		rose(t, baseAB, rtt(t, a, b), 100*time.Millisecond)
		rose(t, baseCB, rtt(t, c, b), 250*time.Millisecond)
		healed(t, b)
		back(t, baseAB, rtt(t, a, b))
		back(t, baseCB, rtt(t, c, b))
	})

	t.Run("heal-by-tag", func(t *testing.T) {
		// Three faults' rules on b side by side; healing one fault's tag
		// leaves the others' rules and delayer in effect.
		cut := netrule.Drop(netrule.Inbound, a.ip).Tagged("partition")
		slow := netrule.Delayed(netrule.Inbound, c.ip, 150*time.Millisecond, 0, 0).Tagged("delay")
		lossy := netrule.Loss(netrule.Outbound, a.ip, 10).Tagged("loss")
		for _, r := range []netrule.Rule{cut, slow, lossy} {
			install(t, b, r)
		}
		b.netctl(ctx, t, 0, netrule.HealArgs("partition")...)
		if got := listed(t, b); netrule.Missing([]netrule.Rule{slow, lossy}, got) != nil || len(got) != 2 {
			t.Fatalf("after heal --tag partition b lists %v, want %v and %v", got, slow, lossy)
		}
		rose(t, baseCB, rtt(t, c, b), 150*time.Millisecond)
		b.netctl(ctx, t, 0, netrule.HealArgs("delay")...)
		if got := listed(t, b); len(got) != 1 || got[0] != lossy {
			t.Fatalf("after heal --tag delay b lists %v, want %v", got, lossy)
		}
		if ps := b.delayers(ctx, t, cli); len(ps) > 0 {
			t.Fatalf("delayer processes after heal --tag delay: %q", ps)
		}
		back(t, baseCB, rtt(t, c, b))
		healed(t, b)
	})

	t.Run("heal-releases", func(t *testing.T) {
		// A SYN held for 5 s is let go at heal: the connect finishes
		// long before the delay is over. The SYN may not have reached
		// b yet when heal runs (heal then reports nothing released);
		// then try again.
		const hold = 5 * time.Second
		args, err := netrule.Probe{To: netip.AddrPortFrom(b.ip, peerPort), Count: 1, Timeout: 2 * hold}.Args()
		if err != nil {
			t.Fatal(err)
		}
		for attempt := 1; ; attempt++ {
			install(t, b, netrule.Delayed(netrule.Inbound, a.ip, hold, 0, 0))
			done := make(chan string, 1)
			go func() {
				_, out, _ := a.exec(ctx, args...)
				done <- out
			}()
			healOut := b.netctl(ctx, t, 0, "heal")
			released := strings.Contains(healOut, "released 1 ")
			r, err := netrule.ParseRTT(<-done)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("attempt %d: heal said %q; %s", attempt, strings.TrimSpace(healOut), r)
			if released {
				if r.Median >= hold {
					t.Fatalf("the released SYN still took %v", r.Median)
				}
				break
			}
			if attempt == 10 {
				t.Fatal("in 10 attempts heal never found the SYN held")
			}
		}
		healed(t, b)
	})
}

// node is one test container.
type node struct {
	name string
	ctr  testcontainers.Container
	ip   netip.Addr
}

// exec runs netctl with args in the node as root and returns its exit
// code and output (stdout and stderr).
func (n *node) exec(ctx context.Context, args ...string) (int, string, error) {
	code, r, err := n.ctr.Exec(ctx, append([]string{"/netctl"}, args...), tcexec.Multiplexed(), tcexec.WithUser("0"))
	if err != nil {
		return -1, "", err
	}
	out, err := io.ReadAll(r)
	return code, string(out), err
}

// netctl runs netctl and fails the test unless it exits with want.
func (n *node) netctl(ctx context.Context, t *testing.T, want int, args ...string) string {
	t.Helper()
	code, out, err := n.exec(ctx, args...)
	if err != nil || code != want {
		t.Fatalf("%s: netctl %s: exit %d, %v: %s", n.name, strings.Join(args, " "), code, err, out)
	}
	return out
}

// delayers lists the delayer processes alive in the node (docker top,
// which lists the container's cgroup: an exited delayer that the
// container's init has not reaped yet is not in it).
func (n *node) delayers(ctx context.Context, t *testing.T, cli *testcontainers.DockerClient) []string {
	t.Helper()
	top, err := cli.ContainerTop(ctx, n.ctr.GetContainerID(), mobyclient.ContainerTopOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cmdCol := len(top.Titles) - 1
	var out []string
	for _, p := range top.Processes {
		if cmd := p[cmdCol]; strings.Contains(cmd, "netctl delayer") {
			out = append(out, cmd)
		}
	}
	return out
}

// startNode starts a container of image on network netName, with
// CAP_NET_ADMIN, removed when the test ends.
func startNode(ctx context.Context, t *testing.T, image, netName, name string, labels map[string]string) *node {
	t.Helper()
	ctr, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:    image,
			Name:     name,
			Labels:   labels,
			Networks: []string{netName},
			HostConfigModifier: func(hc *container.HostConfig) {
				hc.CapAdd = []string{"NET_ADMIN"}
			},
		},
		Started: true,
	})
	if ctr != nil {
		t.Cleanup(func() {
			if err := ctr.Terminate(context.Background()); err != nil {
				t.Errorf("remove container %s: %v", name, err)
			}
		})
	}
	if err != nil {
		t.Fatalf("start container %s: %v", name, err)
	}
	insp, err := ctr.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	es := insp.NetworkSettings.Networks[netName]
	if es == nil || !es.IPAddress.IsValid() {
		t.Fatalf("container %s has no address on %s", name, netName)
	}
	return &node{name: name[strings.LastIndexByte(name, '-')+1:], ctr: ctr, ip: es.IPAddress.Unmap()}
}

// buildPeerImage builds a FROM-scratch image holding static netctl and
// testdata/peer, removed when the test ends.
func buildPeerImage(ctx context.Context, t *testing.T, cli *testcontainers.DockerClient, runID string, labels map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, pkg := range map[string]string{"netctl": ".", "peer": "./testdata/peer"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(dir, name), pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, mode int64, body []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	add("Dockerfile", 0o644, []byte("FROM scratch\nCOPY netctl peer /\nENTRYPOINT [\"/peer\"]\n"))
	for _, name := range []string{"netctl", "peer"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		add(name, 0o755, b)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	tag := "faultline-netctl-test:" + strings.TrimPrefix(runID, "netctl-test-")
	res, err := cli.ImageBuild(ctx, &buf, mobyclient.ImageBuildOptions{
		Tags: []string{tag}, Labels: labels, Remove: true, ForceRemove: true,
	})
	if err != nil {
		t.Fatalf("docker build: %v", err)
	}
	defer res.Body.Close()
	t.Cleanup(func() {
		if _, err := cli.ImageRemove(context.Background(), tag, mobyclient.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil {
			t.Errorf("remove image %s: %v", tag, err)
		}
	})
	dec := json.NewDecoder(res.Body)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("docker build %s: read progress: %v", tag, err)
		}
		if msg.Error != "" {
			t.Fatalf("docker build %s: %s", tag, msg.Error)
		}
	}
	return tag
}
