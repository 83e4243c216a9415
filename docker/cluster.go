package docker

import (
	"context"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"golang.org/x/sync/errgroup"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/engine"
	"github.com/faultline/faultline/faultfs"
	"github.com/faultline/faultline/internal/syncbuf"
	"github.com/faultline/faultline/sut"
)

// Cluster is a running cluster of a system under test: one container per
// node on a private network. All methods are safe for concurrent use;
// operations on one node are serialized.
type Cluster struct {
	cluster.Core
	cfg   cluster.Spec
	image string
	cli   *testcontainers.DockerClient
	nodes map[string]*node

	mu      sync.Mutex // guards netID, netName
	netID   string
	netName string
}

// node is one member: its spec, the fixed host ports of its exposed ports
// and its lifecycle state.
type node struct {
	cluster.Member
	// serializes operations on this node
	hostPorts map[string]int // exposed port name -> host port on 127.0.0.1
	st        nodeState
	lastIP    string // last known address on the private network
	// pastLogs are the logs of the containers of the node's earlier
	// identities (removed when it left the cluster).
	pastLogs string
}

// exposed returns the spec's exposed ports.
func (n *node) exposed() []sut.Port {
	var out []sut.Port
	for _, p := range n.Spec.Ports {
		if p.Exposed {
			out = append(out, p)
		}
	}
	return out
}

// pickPorts chooses new host ports for n's exposed ports; n.mu is held or
// n is not shared yet.
func (n *node) pickPorts() error {
	exp := n.exposed()
	ports, err := freePorts(len(exp))
	if err != nil {
		return err
	}
	n.hostPorts = make(map[string]int, len(exp))
	for i, p := range exp {
		n.hostPorts[p.Name] = ports[i]
	}
	return nil
}

// Start creates a cluster as spec says and returns once every node is
// ready (the system's Probe) and they agree on a leader (bounded by
// spec.StartTimeout, default DefaultStartTimeout). On failure everything
// created so far is removed.
func Start(ctx context.Context, spec cluster.Spec) (_ *Cluster, err error) {
	cfg, err := spec.WithDefaults(DefaultStartTimeout)
	if err != nil {
		return nil, fmt.Errorf("docker: invalid spec: %w", err)
	}
	t0 := time.Now()
	log := cfg.Logger
	cli, err := engine.Client(ctx)
	if err != nil {
		return nil, err
	}
	reaped := cluster.ReapBeside(ctx, cfg.Reap, log, func(ctx context.Context) error { return reap(ctx, cli, log) })
	defer reaped()
	image := cfg.Image
	if image == "" {
		b := cfg.Build
		if b.Logger == nil {
			b.Logger = log
		}
		if image, err = engine.BuildImage(ctx, b); err != nil {
			reaped()
			cli.Close()
			return nil, err
		}
	} else if _, err := cli.ImageInspect(ctx, image); err != nil {
		// testcontainers-go would try to pull a missing image; there is no
		// registry, so say what to do instead.
		reaped()
		cli.Close()
		return nil, fmt.Errorf("docker: image %s: %w (nothing is pulled: build it with engine.BuildImage or make image, or leave Spec.Image empty)", image, err)
	}
	c := &Cluster{
		cfg:   cfg,
		image: image,
		cli:   cli,
		nodes: map[string]*node{},
	}
	c.Core = cluster.Core{Runtime: "docker", RunID: cfg.RunID, Log: log.With("run", cfg.RunID), System: cfg.System, IDs: cluster.NodeIDs(cfg.Nodes),
		StateOf: c.stateOf, AddrsOf: c.exposedAddrs, LogsOf: c.Logs, Exited: c.checkExited,
		Layout: cfg.Layout(), Options: cfg.Options, Wipe: c.wipe, Renew: c.renew}
	defer func() {
		if err != nil {
			if cerr := c.Close(context.WithoutCancel(ctx)); cerr != nil {
				err = errors.Join(err, fmt.Errorf("cleanup after failed start: %w", cerr))
			}
		}
	}()

	nw, err := tcnetwork.New(ctx, tcnetwork.WithLabels(cluster.Labels(c.cfg.Labels, c.RunID, "")), tcnetwork.WithAttachable())
	if err != nil {
		return nil, fmt.Errorf("docker: create network: %w", err)
	}
	c.mu.Lock()
	c.netID, c.netName = nw.ID, nw.Name
	c.mu.Unlock()

	layout := cfg.Layout()
	for _, id := range layout.Nodes {
		n := &node{Member: cluster.Member{ID: id, Spec: cfg.System.Node(layout, cfg.Options, id)}, st: stCreated{}}
		if err := n.pickPorts(); err != nil {
			return nil, err
		}
		c.nodes[id] = n
	}
	c.Log.Info("docker: starting cluster", "system", cfg.System.Info().Name, "nodes", cfg.Nodes, "image", image, "network", nw.Name)
	// Create every container first, then start them all: the engine
	// serializes much of the start work, and starts bunched together let
	// the late nodes join the first election instead of waiting out the
	// leader's retry backoff.
	wctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	var g errgroup.Group
	for _, id := range c.IDs {
		g.Go(func() error { return c.createContainer(wctx, c.nodes[id]) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, id := range c.IDs {
		g.Go(func() error { return c.startFirst(wctx, c.nodes[id]) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	c.Log.Info("docker: containers started", "elapsed", time.Since(t0).Round(time.Millisecond))
	if err := c.Up(ctx, wctx, c.Log, t0, cfg.StartTimeout); err != nil {
		return nil, err
	}
	return c, nil
}

// startFirst starts n's freshly created container, recreating it with new
// host ports when the chosen ones were taken in the meantime.
func (c *Cluster) startFirst(ctx context.Context, n *node) error {
	for attempt := 1; ; attempt++ {
		err := c.Start(ctx, n.ID)
		if err == nil || attempt == 3 || !isPortConflict(err) {
			return err
		}
		c.Log.Warn("docker: host port taken, retrying with new ports", "node", n.ID, "err", err)
		n.Lock()
		id := containerOf(n.st)
		n.Unlock()
		if _, rerr := c.cli.ContainerRemove(context.WithoutCancel(ctx), id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); rerr != nil {
			return errors.Join(err, rerr)
		}
		n.Lock()
		perr := n.pickPorts()
		n.st = stCreated{}
		n.Unlock()
		if perr != nil {
			return perr
		}
		if err := c.createContainer(ctx, n); err != nil {
			return err
		}
	}
}

// createContainer creates (without starting) n's container with
// testcontainers-go: the spec's command and environment, private network
// with alias n.ID, the exposed ports bound to 127.0.0.1 at n's host ports,
// CAP_NET_ADMIN, run labels.
func (c *Cluster) createContainer(ctx context.Context, n *node) error {
	c.mu.Lock()
	netName := c.netName
	c.mu.Unlock()
	loopback := netip.MustParseAddr("127.0.0.1")
	bindings := network.PortMap{}
	var exposed []string
	n.Lock()
	for _, p := range n.exposed() {
		port := fmt.Sprintf("%d/tcp", p.Number)
		exposed = append(exposed, port)
		bindings[network.MustParsePort(port)] = []network.PortBinding{{HostIP: loopback, HostPort: strconv.Itoa(n.hostPorts[p.Name])}}
	}
	n.Unlock()
	req := testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:          c.image,
			Name:           fmt.Sprintf("faultline-%s-%s", c.RunID, n.ID),
			Entrypoint:     c.cfg.Command(n.Spec),
			Env:            n.Spec.Env,
			Labels:         cluster.Labels(c.cfg.Labels, c.RunID, n.ID),
			ExposedPorts:   exposed,
			Networks:       []string{netName},
			NetworkAliases: map[string][]string{netName: {n.ID}},
			ConfigModifier: func(cc *container.Config) {
				cc.Hostname = n.ID
				if c.cfg.Disk {
					cc.User = "0" // faultfs mounts, then runs the node as its user
				}
			},
			HostConfigModifier: func(hc *container.HostConfig) {
				hc.CapAdd = []string{"NET_ADMIN"}
				volume := sut.DataRoot
				if c.cfg.Disk {
					// FUSE needs both the device and CAP_SYS_ADMIN.
					hc.CapAdd = append(hc.CapAdd, "SYS_ADMIN")
					hc.Devices = []container.DeviceMapping{{PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm"}}
					volume = faultfs.Volume
				}
				hc.PortBindings = bindings
				// The node's durable state on an anonymous volume: a
				// real filesystem, not the container layer (here
				// fuse-overlayfs, where each fsync costs 1.2-1.7x more);
				// kept across kill and restart, removed with the
				// container (RemoveVolumes).
				// The image's /data (owned by the node's user) seeds it.
				hc.Mounts = []mount.Mount{{Type: mount.TypeVolume, Target: volume}}
				hc.RestartPolicy = container.RestartPolicy{Name: container.RestartPolicyDisabled}
				// The engine's init as PID 1 reaps what netctl leaves
				// behind (a delayer that exited), which the node's own
				// process would not.
				init := true
				hc.Init = &init
			},
		},
		Started: false,
		Logger:  engine.Printf{},
	}
	// The create itself is not cancelled with ctx: a request cancelled in
	// flight can still create the container in the engine, after this
	// process stopped waiting for its id, and Close would not know it.
	// It finishes (bounded by createTimeout), is recorded, and the
	// cancellation is reported after.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), createTimeout)
	defer cancel()
	ctr, err := testcontainers.GenericContainer(cctx, req)
	if ctr != nil && ctr.GetContainerID() != "" {
		n.Lock()
		n.st = stCreated{container: ctr.GetContainerID()}
		n.Unlock()
	}
	if err != nil {
		return fmt.Errorf("docker: create node %s: %w", n.ID, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("docker: create node %s: %w", n.ID, err)
	}
	return nil
}

// createTimeout bounds one container create.
const createTimeout = 2 * time.Minute

// readIP returns the container's address on the cluster network.
func (c *Cluster) readIP(ctx context.Context, containerID string) (string, error) {
	res, err := c.cli.ContainerInspect(ctx, containerID, client.ContainerInspectOptions{})
	if err != nil {
		return "", fmt.Errorf("docker: inspect container %.12s: %w", containerID, err)
	}
	c.mu.Lock()
	netName := c.netName
	c.mu.Unlock()
	if ns := res.Container.NetworkSettings; ns != nil {
		if ep := ns.Networks[netName]; ep != nil && ep.IPAddress.IsValid() {
			return ep.IPAddress.String(), nil
		}
	}
	if st := res.Container.State; st != nil && !st.Running && !st.Paused {
		// The node exited before its address could be read (it rejected
		// its flags or crashed at once): say so, with its log.
		logs, _ := c.containerLogs(ctx, containerID)
		return "", fmt.Errorf("docker: container %.12s exited with code %d before it got an address; its log:\n%s",
			containerID, st.ExitCode, abridge(logs, 8, 12))
	}
	return "", fmt.Errorf("docker: container %.12s has no address on network %s", containerID, netName)
}

func isPortConflict(err error) bool {
	s := err.Error()
	return strings.Contains(s, "port is already allocated") || strings.Contains(s, "address already in use")
}

// freePorts picks n distinct free TCP ports on 127.0.0.1, below the
// kernel's ephemeral range when possible: a port the kernel also hands out
// as a connection's source port could be taken while its node is killed,
// and the node could not restart on it. All listeners are held until every
// port is chosen, so the ports differ.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	lo, hi := portPool()
	for tries := 0; len(ports) < n && tries < 50*n && hi > lo; tries++ {
		p := lo + mathrand.IntN(hi-lo)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		ls = append(ls, l)
		ports = append(ports, p)
	}
	for len(ports) < n { // fall back to the kernel's choice
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("docker: pick a free host port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// portPool is the range host ports are drawn from: [10000, start of the
// ephemeral range), or empty when that range starts too low.
func portPool() (lo, hi int) {
	lo, hi = 10000, 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				hi = v
			}
		}
	}
	return lo, hi
}

// Image is the node image tag the cluster runs.
func (c *Cluster) Image() string { return c.image }

// ContainerID returns the node's Docker container id ("" once removed or
// for an unknown node), for debugging with the docker CLI.
func (c *Cluster) ContainerID(id string) string {
	return c.read(id, func(n *node) string { return containerOf(n.st) })
}

func (c *Cluster) node(id string) (*node, error) { return cluster.Node(&c.Core, c.nodes, id) }

// read returns f(node id) under the node's lock, or "" for an unknown node.
func (c *Cluster) read(id string, f func(n *node) string) string {
	return cluster.Read(&c.Core, c.nodes, id, f)
}

// IP returns the node's address on the private network: the current one,
// or the last known while it is killed; "" for an unknown node.
func (c *Cluster) IP(id string) string {
	return c.read(id, func(n *node) string {
		if ip := ipOf(n.st); ip != "" {
			return ip
		}
		return n.lastIP
	})
}

// PrivateAddr returns the node's address on the private network for the
// named port (container IP and port number), for clients that bypass
// docker-proxy; "" when the node has no such port or no address.
func (c *Cluster) PrivateAddr(id, port string) string {
	ip := c.IP(id)
	num := c.read(id, func(n *node) string {
		if p := n.Spec.Port(port); p != 0 {
			return strconv.Itoa(p)
		}
		return ""
	})
	if ip == "" || num == "" {
		return ""
	}
	return net.JoinHostPort(ip, num)
}

// exposedAddrs maps the node's exposed port names to their host addresses.
func (c *Cluster) exposedAddrs(id string) map[string]string {
	return cluster.Read(&c.Core, c.nodes, id, func(n *node) map[string]string {
		out := make(map[string]string, len(n.hostPorts))
		for name, hp := range n.hostPorts {
			out[name] = cluster.HostAddr(hp)
		}
		return out
	})
}

// stateOf is the node's lifecycle state as this package drove it (the
// state machine), "" for an unknown node.
func (c *Cluster) stateOf(id string) string {
	return c.read(id, func(n *node) string { return n.st.state().String() })
}

// ObservedState reads the container's state back from Docker, mapped onto
// the same names: "running", "paused", "killed" (exited or dead, e.g. the
// process crashed by itself), "created" or "removed"; a node that left the
// cluster has no container and is "left".
func (c *Cluster) ObservedState(ctx context.Context, id string) (string, error) {
	if st := c.stateOf(id); st == StateLeft.String() {
		return st, nil
	}
	cid, err := c.containerFor(id)
	if err != nil {
		return "", err
	}
	if cid == "" {
		return StateRemoved.String(), nil
	}
	res, err := c.cli.ContainerInspect(ctx, cid, client.ContainerInspectOptions{})
	if err != nil {
		if isNotFound(err) {
			return StateRemoved.String(), nil
		}
		return "", fmt.Errorf("docker: inspect node %s: %w", id, err)
	}
	s := res.Container.State
	switch {
	case s == nil:
		return "unknown", nil
	case s.Paused:
		return StatePaused.String(), nil
	case s.Running:
		return StateRunning.String(), nil
	case s.Status == container.StateCreated:
		return StateCreated.String(), nil
	}
	return StateKilled.String(), nil
}

// transition runs op on node id: it checks the state machine, performs do
// (with the container id) under the node's lock, and on success moves to
// next(container id). A failed do leaves the state unchanged.
func (c *Cluster) transition(ctx context.Context, id, op string, do func(ctx context.Context, n *node, cid string) (nodeState, error)) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	n.Lock()
	defer n.Unlock()
	if _, err := checkTransition(id, op, n.st.state()); err != nil {
		return err
	}
	cid := containerOf(n.st)
	t0 := time.Now()
	next, err := do(ctx, n, cid)
	if err != nil {
		return err
	}
	c.Log.Info("docker: node "+op, "node", id, "from", n.st.state(), "to", next.state(), "elapsed", time.Since(t0).Round(time.Millisecond))
	n.st = next
	return nil
}

// Kill sends SIGKILL to the node's process and waits until the container has
// stopped. Its data directory survives for Start. Killing a paused node is
// allowed, and so is killing a node whose container already exited by
// itself: Kill then only records it as killed, so that Start can restart
// it. Note that the node's nftables rules (netctl) die with its network
// namespace.
func (c *Cluster) Kill(ctx context.Context, id string) error {
	return c.transition(ctx, id, "kill", func(ctx context.Context, n *node, cid string) (nodeState, error) {
		if _, err := c.cli.ContainerKill(ctx, cid, client.ContainerKillOptions{Signal: "SIGKILL"}); err != nil {
			// A container that exited by itself (its process crashed)
			// cannot be signalled; it is down, which is what kill is for.
			res, ierr := c.cli.ContainerInspect(ctx, cid, client.ContainerInspectOptions{})
			if ierr != nil || res.Container.State == nil || res.Container.State.Running {
				return nil, fmt.Errorf("docker: kill node %s: %w", id, err)
			}
		}
		if err := c.waitStopped(ctx, cid); err != nil {
			return nil, fmt.Errorf("docker: kill node %s: %w", id, err)
		}
		return stKilled{container: cid, since: time.Now()}, nil
	})
}

// waitStopped polls until the container is no longer running.
func (c *Cluster) waitStopped(ctx context.Context, cid string) error {
	for {
		res, err := c.cli.ContainerInspect(ctx, cid, client.ContainerInspectOptions{})
		if err != nil {
			return err
		}
		if s := res.Container.State; s == nil || !s.Running {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("container still running: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Start restarts a killed node (same container: its data survives, same
// host ports) and re-reads its IP. It does not wait for the node to be
// healthy: use WaitHealthy.
func (c *Cluster) Start(ctx context.Context, id string) error {
	return c.transition(ctx, id, "start", func(ctx context.Context, n *node, cid string) (nodeState, error) {
		if _, err := c.cli.ContainerStart(ctx, cid, client.ContainerStartOptions{}); err != nil {
			if isPortConflict(err) && n.st.state() == StateKilled {
				return nil, fmt.Errorf("docker: start node %s: %w (another process took one of its host ports %v while it was down; the node keeps its ports so that client addresses stay valid: free the port and Start again)", id, err, n.hostPorts)
			}
			return nil, fmt.Errorf("docker: start node %s: %w", id, err)
		}
		ip, err := c.readIP(ctx, cid)
		if err != nil {
			return nil, err
		}
		if n.lastIP != "" && ip != n.lastIP {
			c.Log.Info("docker: node address changed on restart", "node", id, "old", n.lastIP, "new", ip)
		}
		n.lastIP = ip
		return stRunning{container: cid, ip: ip, since: time.Now()}, nil
	})
}

// Pause freezes every process of the node (docker pause).
func (c *Cluster) Pause(ctx context.Context, id string) error {
	return c.transition(ctx, id, "pause", func(ctx context.Context, n *node, cid string) (nodeState, error) {
		if _, err := c.cli.ContainerPause(ctx, cid, client.ContainerPauseOptions{}); err != nil {
			return nil, fmt.Errorf("docker: pause node %s: %w", id, err)
		}
		return stPaused{container: cid, ip: n.lastIP, since: time.Now()}, nil
	})
}

// Resume unfreezes a paused node (docker unpause).
func (c *Cluster) Resume(ctx context.Context, id string) error {
	return c.transition(ctx, id, "resume", func(ctx context.Context, n *node, cid string) (nodeState, error) {
		if _, err := c.cli.ContainerUnpause(ctx, cid, client.ContainerUnpauseOptions{}); err != nil {
			return nil, fmt.Errorf("docker: resume node %s: %w", id, err)
		}
		return stRunning{container: cid, ip: n.lastIP, since: time.Now()}, nil
	})
}

// Exec runs cmd in the node's container as root (so that netctl has
// CAP_NET_ADMIN) and returns its exit code and its stdout and stderr,
// demultiplexed and concatenated in arrival order. err is set only when the
// command could not be run; a non-zero exit is reported through exitCode.
func (c *Cluster) Exec(ctx context.Context, id string, cmd []string) (exitCode int, output string, err error) {
	n, err := c.node(id)
	if err != nil {
		return -1, "", err
	}
	n.Lock()
	st, cid := n.st.state(), containerOf(n.st)
	n.Unlock()
	if st != StateRunning {
		return -1, "", fmt.Errorf("docker: exec on node %s: it is %s; exec needs a running node", id, st)
	}
	ex, err := c.cli.ExecCreate(ctx, cid, client.ExecCreateOptions{
		User: "0", Cmd: cmd, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return -1, "", fmt.Errorf("docker: exec %q on node %s: %w", cmd, id, err)
	}
	att, err := c.cli.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		return -1, "", fmt.Errorf("docker: exec %q on node %s: attach: %w", cmd, id, err)
	}
	defer att.Close()
	var out syncbuf.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(&out, &out, att.Reader)
		done <- err
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		att.Close()
		return -1, out.String(), fmt.Errorf("docker: exec %q on node %s: %w", cmd, id, ctx.Err())
	}
	if err != nil {
		return -1, out.String(), fmt.Errorf("docker: exec %q on node %s: read output: %w", cmd, id, err)
	}
	for {
		res, err := c.cli.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{})
		if err != nil {
			return -1, out.String(), fmt.Errorf("docker: exec %q on node %s: inspect: %w", cmd, id, err)
		}
		if !res.Running {
			return res.ExitCode, out.String(), nil
		}
		select {
		case <-ctx.Done():
			return -1, out.String(), fmt.Errorf("docker: exec %q on node %s: %w", cmd, id, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Logs returns the node's container output so far (stdout and stderr
// interleaved), including earlier incarnations before a kill, and the
// output of the containers of its identities before it last left the
// cluster.
func (c *Cluster) Logs(ctx context.Context, id string) (string, error) {
	n, err := c.node(id)
	if err != nil {
		return "", err
	}
	n.Lock()
	cid, past, st := containerOf(n.st), n.pastLogs, n.st.state()
	n.Unlock()
	if cid == "" {
		if st == StateLeft {
			return past, nil
		}
		return past, fmt.Errorf("docker: logs of node %s: its container was removed", id)
	}
	logs, err := c.containerLogs(ctx, cid)
	if err != nil {
		return past + logs, fmt.Errorf("docker: logs of node %s: %w", id, err)
	}
	return past + logs, nil
}

// containerLogs returns a container's stdout and stderr so far.
func (c *Cluster) containerLogs(ctx context.Context, cid string) (string, error) {
	rc, err := c.cli.ContainerLogs(ctx, cid, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return "", err
	}
	defer rc.Close()
	var out syncbuf.Buffer
	_, err = stdcopy.StdCopy(&out, &out, rc)
	return out.String(), err
}

// containerFor returns the id of node id's current container ("" once
// removed), or an error for an unknown node.
func (c *Cluster) containerFor(id string) (string, error) {
	n, err := c.node(id)
	if err != nil {
		return "", err
	}
	n.Lock()
	defer n.Unlock()
	return containerOf(n.st), nil
}

// closeTimeout bounds Close.
const closeTimeout = 30 * time.Second

// Close removes every container and the network of the cluster. It is
// idempotent, safe after a partial Start, and runs on a fresh context
// (ctx's values only) so that it works even when the run's context is
// already cancelled.
func (c *Cluster) Close(ctx context.Context) error {
	return c.CloseOnce(func() error {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		var (
			errs []error
			emu  sync.Mutex
			wg   sync.WaitGroup
		)
		for _, n := range c.nodes {
			wg.Go(func() {
				n.Lock()
				defer n.Unlock()
				cid := containerOf(n.st)
				if cid != "" {
					_, err := c.cli.ContainerRemove(ctx, cid, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
					if err != nil && !isNotFound(err) {
						emu.Lock()
						errs = append(errs, fmt.Errorf("remove node %s (container %.12s): %w", n.ID, cid, err))
						emu.Unlock()
						return
					}
				}
				n.st = stRemoved{since: time.Now()}
			})
		}
		wg.Wait()
		// Anything else labelled with this run (a create this process
		// never heard back from) goes too.
		if err := c.removeStray(ctx); err != nil {
			errs = append(errs, err)
		}
		c.mu.Lock()
		netID, netName := c.netID, c.netName
		c.mu.Unlock()
		if netID != "" && len(errs) == 0 {
			if _, err := c.cli.NetworkRemove(ctx, netID, client.NetworkRemoveOptions{}); err != nil && !isNotFound(err) {
				errs = append(errs, fmt.Errorf("remove network %s: %w", netName, err))
			}
		}
		c.cli.Close()
		if len(errs) > 0 {
			return fmt.Errorf("docker: close cluster %s: %w (leftovers are labelled %s=%s; remove them with docker rm -f / docker network rm)", c.RunID, errors.Join(errs...), cluster.LabelRun, c.RunID)
		}
		c.Log.Info("docker: cluster removed")
		return nil
	})
}

// removeStray removes the containers labelled with this run that Close
// did not know of.
func (c *Cluster) removeStray(ctx context.Context) error {
	f := make(client.Filters).Add("label", cluster.LabelRun+"="+c.RunID)
	err := removeContainers(ctx, c.cli, f, func(name string, _ map[string]string, _ time.Time) bool {
		c.Log.Warn("docker: removing a container of this run the cluster did not know of", "container", name)
		return true
	})
	if err != nil {
		return fmt.Errorf("containers of run %s: %w", c.RunID, err)
	}
	return nil
}

func isNotFound(err error) bool {
	return err != nil && (errdefs.IsNotFound(err) || strings.Contains(strings.ToLower(err.Error()), "no such"))
}
