package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/engine"
	"github.com/faultline/faultline/faultfs"
	"github.com/faultline/faultline/kubernetes/agent"
	"github.com/faultline/faultline/sut"
)

// Container names in a node pod.
const (
	nodeContainer    = "node"
	installContainer = "install-agent"
)

// Cluster is a running cluster: one pod per node in a namespace of its own.
// All methods are safe for concurrent use; operations on one node are
// serialized.
type Cluster struct {
	cluster.Core
	cfg   Config
	ns    string
	cs    kubernetes.Interface
	rest  *rest.Config
	nodes map[string]*node
}

// node is one member: how it runs, its pod's address, its forwarded
// ports and the state its agent last reported.
type node struct {
	cluster.Member
	// serializes operations on this node
	state string
	ip    string // the pod's address: stable, the pod lives for the run
	fwd   *forwarder
	addrs map[string]string // exposed port name -> 127.0.0.1:port forwarded to it
}

// Start creates a cluster as cfg says and returns once every node answers
// /healthz and they agree on a leader (bounded by cfg.StartTimeout). On
// failure everything created so far is removed.
func Start(ctx context.Context, cfg Config) (_ *Cluster, err error) {
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	restCfg, loader, err := loadKubeconfig(cfg.Kubeconfig, cfg.Context)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: client: %w", err)
	}
	log := cfg.Logger
	defer cluster.ReapBeside(ctx, cfg.Reap, log, func(ctx context.Context) error { return reap(ctx, cs, log) })()
	images, err := prepareImages(ctx, &cfg, loader)
	if err != nil {
		return nil, err
	}
	runID := cfg.RunID
	c := &Cluster{
		cfg:   cfg,
		ns:    "faultline-" + runID,
		cs:    cs,
		rest:  restCfg,
		nodes: map[string]*node{},
	}
	// Peers reach each other by node id: the agent writes the pods'
	// addresses into /etc/hosts before the first start.
	layout := cfg.Layout()
	c.Core = cluster.Core{Runtime: "kubernetes", RunID: runID, Log: log.With("run", runID), System: cfg.System, IDs: cluster.NodeIDs(cfg.Nodes),
		StateOf: c.stateOf, AddrsOf: c.exposedAddrs, LogsOf: c.Logs,
		Layout: layout, Options: cfg.Options, Wipe: c.wipe, Renew: c.renew}
	for _, id := range c.IDs {
		c.nodes[id] = &node{Member: cluster.Member{ID: id, Spec: cfg.System.Node(layout, cfg.Options, id)}}
	}
	defer func() {
		if err != nil {
			if cerr := c.Close(context.WithoutCancel(ctx)); cerr != nil {
				err = errors.Join(err, fmt.Errorf("cleanup after failed start: %w", cerr))
			}
		}
	}()
	wctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	if err := c.createNamespace(wctx); err != nil {
		return nil, err
	}
	c.Log.Info("kubernetes: starting cluster", "system", cfg.System.Info().Name, "nodes", cfg.Nodes, "namespace", c.ns, "image", images.node, "server", restCfg.Host)
	var g errgroup.Group
	for _, id := range c.IDs {
		g.Go(func() error { return c.createPod(wctx, id, images) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := c.waitPods(wctx); err != nil {
		return nil, err
	}
	c.Log.Info("kubernetes: pods running", "elapsed", time.Since(t0).Round(time.Millisecond))
	// Every node learns the others' pod addresses, then all start at once
	// (so that they join the first election together).
	hosts := agent.HostsArgs(c.ipMap())
	for _, id := range c.IDs {
		g.Go(func() error {
			n := c.nodes[id]
			if err := c.forwardPorts(n); err != nil {
				return err
			}
			_, err := c.ctl(wctx, n, agent.OpHosts, hosts...)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, id := range c.IDs {
		g.Go(func() error { return c.Start(wctx, id) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := c.Up(ctx, wctx, c.Log, t0, cfg.StartTimeout); err != nil {
		return nil, err
	}
	return c, nil
}

// createNamespace creates the run's namespace and its default service
// account (pods are refused until the controller-manager makes it; making
// it here saves waiting for that).
func (c *Cluster) createNamespace(ctx context.Context) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.ns, Labels: cluster.Labels(c.cfg.Labels, c.RunID, "")}}
	if _, err := c.cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("kubernetes: create namespace %s: %w", c.ns, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	if _, err := c.cs.CoreV1().ServiceAccounts(c.ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("kubernetes: create the default service account of %s: %w", c.ns, err)
	}
	return nil
}

// podSpec is node id's pod: an init container copies the agent into a
// shared volume; the node container runs the node image with the agent
// as its entrypoint, as root with NET_ADMIN (for netctl), and the agent
// runs the node's process as the image's user. The data volume lives as
// long as the pod, which lives as long as the run: kills end the process,
// not the pod.
func (c *Cluster) podSpec(id string, images imageSet) *corev1.Pod {
	spec := c.nodes[id].Spec
	var ports []corev1.ContainerPort
	for _, p := range spec.Ports {
		ports = append(ports, corev1.ContainerPort{Name: p.Name, ContainerPort: int32(p.Number)})
	}
	var env []corev1.EnvVar
	for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
		env = append(env, corev1.EnvVar{Name: k, Value: spec.Env[k]})
	}
	root := int64(0)
	grace := int64(2)
	no := false
	mounts := []corev1.VolumeMount{{Name: "agent", MountPath: agent.Dir}}
	run := agent.RunConfig{Command: spec.Command, UID: engine.NodeUID, GID: engine.NodeUID, Wait: true}
	sec := &corev1.SecurityContext{
		RunAsUser:    &root,
		RunAsGroup:   &root,
		Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}},
	}
	volume := sut.DataRoot
	if c.cfg.Disk {
		// faultfs mounts as root (it needs /dev/fuse: a privileged
		// container), then runs the node as its user on the mount.
		run.Command, run.UID, run.GID = c.cfg.Command(spec), -1, -1
		yes := true
		sec.Privileged = &yes
		volume = faultfs.Volume
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: id, Labels: cluster.Labels(c.cfg.Labels, c.RunID, id)},
		Spec: corev1.PodSpec{
			Hostname:                      id,
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  &no,
			EnableServiceLinks:            &no,
			TerminationGracePeriodSeconds: &grace,
			InitContainers: []corev1.Container{{
				Name:            installContainer,
				Image:           images.agent,
				ImagePullPolicy: images.pull,
				Command:         agent.InstallArgs(),
				VolumeMounts:    mounts,
			}},
			Containers: []corev1.Container{{
				Name:            nodeContainer,
				Image:           images.node,
				ImagePullPolicy: images.pull,
				Command:         agent.RunArgs(run),
				Env:             env,
				Ports:           ports,
				SecurityContext: sec,
				VolumeMounts:    append(slices.Clone(mounts), corev1.VolumeMount{Name: "data", MountPath: volume}),
			}},
			Volumes: []corev1.Volume{
				{Name: "agent", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
		},
	}
}

func (c *Cluster) createPod(ctx context.Context, id string, images imageSet) error {
	if _, err := c.cs.CoreV1().Pods(c.ns).Create(ctx, c.podSpec(id, images), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("kubernetes: create pod %s/%s: %w", c.ns, id, err)
	}
	c.nodes[id].Lock()
	c.nodes[id].state = cluster.StateCreated
	c.nodes[id].Unlock()
	return nil
}

// waitPods waits until every pod's node container runs and the pod has an
// address. It fails early, with the reason, when a pod cannot get there
// (image missing, container crashed, unschedulable at the deadline).
func (c *Cluster) waitPods(ctx context.Context) error {
	var last string
	for {
		pods, err := c.cs.CoreV1().Pods(c.ns).List(ctx, metav1.ListOptions{})
		if err == nil {
			ready := 0
			var waiting []string
			for i := range pods.Items {
				p := &pods.Items[i]
				if bad := podFailure(p); bad != "" {
					return fmt.Errorf("kubernetes: pod %s/%s cannot start: %s", c.ns, p.Name, bad)
				}
				if p.Status.PodIP != "" && nodeRunning(p) {
					ready++
					n := c.nodes[p.Name]
					n.Lock()
					n.ip = p.Status.PodIP
					n.Unlock()
				} else {
					waiting = append(waiting, p.Name+": "+podProgress(p))
				}
			}
			if ready == len(c.IDs) {
				return nil
			}
			last = strings.Join(waiting, "; ")
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kubernetes: pods not running: %w (%s)", ctx.Err(), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func nodeRunning(p *corev1.Pod) bool {
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == nodeContainer && s.State.Running != nil {
			return true
		}
	}
	return false
}

// podFailure says why a pod will not start by itself, or "".
func podFailure(p *corev1.Pod) string {
	if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
		return fmt.Sprintf("phase %s: %s %s", p.Status.Phase, p.Status.Reason, p.Status.Message)
	}
	for _, s := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
		if w := s.State.Waiting; w != nil {
			switch w.Reason {
			case "ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName":
				return fmt.Sprintf("container %s: %s: %s (the image must be on the cluster's nodes or in a registry they pull from: build and load it, or pass an image they can pull)", s.Name, w.Reason, w.Message)
			case "CreateContainerConfigError", "CreateContainerError", "CrashLoopBackOff", "RunContainerError":
				return fmt.Sprintf("container %s: %s: %s", s.Name, w.Reason, w.Message)
			}
		}
		if t := s.State.Terminated; t != nil && (s.Name == nodeContainer || t.ExitCode != 0) {
			return fmt.Sprintf("container %s exited with code %d (%s): %s", s.Name, t.ExitCode, t.Reason, t.Message)
		}
	}
	return ""
}

// podProgress is a short note on where a pending pod is.
func podProgress(p *corev1.Pod) string {
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodScheduled && cond.Status != corev1.ConditionTrue {
			return "not scheduled: " + cond.Message
		}
	}
	for _, s := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
		if w := s.State.Waiting; w != nil {
			return s.Name + " " + w.Reason
		}
	}
	return string(p.Status.Phase)
}

func (c *Cluster) ipMap() map[string]string {
	m := map[string]string{}
	for _, id := range c.IDs {
		m[id] = c.IP(id)
	}
	return m
}

// forwardPorts starts n's port forwards to its exposed ports.
func (c *Cluster) forwardPorts(n *node) error {
	f := c.newForwarder(n.ID)
	addrs := map[string]string{}
	var err error
	for _, p := range n.Spec.Ports {
		if !p.Exposed {
			continue
		}
		if addrs[p.Name], err = f.forward(p.Number); err != nil {
			f.close()
			return err
		}
	}
	n.Lock()
	n.fwd, n.addrs = f, addrs
	n.Unlock()
	return nil
}

// Namespace is the run's namespace.
func (c *Cluster) Namespace() string { return c.ns }

func (c *Cluster) node(id string) (*node, error) { return cluster.Node(&c.Core, c.nodes, id) }

// read returns f(node id) under the node's lock, or "" for an unknown node.
func (c *Cluster) read(id string, f func(n *node) string) string {
	return cluster.Read(&c.Core, c.nodes, id, f)
}

// IP returns the node's pod address ("" for an unknown node). It does not
// change across kills: the pod lives for the whole run.
func (c *Cluster) IP(id string) string { return c.read(id, func(n *node) string { return n.ip }) }

// exposedAddrs maps the node's exposed port names to their local addresses.
func (c *Cluster) exposedAddrs(id string) map[string]string {
	return cluster.Read(&c.Core, c.nodes, id, func(n *node) map[string]string { return maps.Clone(n.addrs) })
}

// stateOf is the node's state as its agent last reported it, "" for an
// unknown node.
func (c *Cluster) stateOf(id string) string {
	return c.read(id, func(n *node) string { return n.state })
}

// ObservedState asks the node's agent for the process's state now, mapped
// onto State's names; a process that ended by itself is "killed".
func (c *Cluster) ObservedState(ctx context.Context, id string) (string, error) {
	n, err := c.node(id)
	if err != nil {
		return "", err
	}
	if st := c.State(id); st == cluster.StateRemoved || st == cluster.StateLeft {
		return st, nil
	}
	reply, err := c.ctl(ctx, n, agent.OpState)
	if err != nil {
		return "", err
	}
	return stateOf(reply), nil
}

// stateOf maps an agent reply onto State's names.
func stateOf(reply string) string {
	switch s, _, _ := strings.Cut(reply, " "); s {
	case agent.StateWaiting:
		return cluster.StateCreated
	case agent.StateExited:
		return cluster.StateKilled
	default:
		return s
	}
}

// ctl runs the agent's op in n's pod and returns its reply.
func (c *Cluster) ctl(ctx context.Context, n *node, op string, args ...string) (string, error) {
	code, out, err := c.execIn(ctx, n.ID, nodeContainer, agent.CtlArgs(op, args...))
	out = strings.TrimSpace(out)
	if err != nil {
		return "", fmt.Errorf("kubernetes: %s node %s: %w", op, n.ID, err)
	}
	if code != 0 {
		return "", fmt.Errorf("kubernetes: %s node %s: %s", op, n.ID, out)
	}
	return out, nil
}

// transition runs the agent's op on node id under the node's lock and
// records the state it reports.
func (c *Cluster) transition(ctx context.Context, id, op string) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	n.Lock()
	defer n.Unlock()
	if n.state == cluster.StateRemoved {
		return fmt.Errorf("kubernetes: %s node %s: the cluster was closed", op, id)
	}
	t0 := time.Now()
	reply, err := c.ctl(ctx, n, op)
	if err != nil {
		return err
	}
	from := n.state
	n.state = stateOf(reply)
	c.Log.Info("kubernetes: node "+op, "node", id, "from", from, "to", n.state, "elapsed", time.Since(t0).Round(time.Millisecond))
	return nil
}

// Kill SIGKILLs the node's process (its agent does, in the pod) and waits
// until it has ended, then removes the node's netctl rules: the nemesis
// takes a killed node's rules as gone (a container's die with it), and the
// pod's network namespace would keep them. The pod, its address and its
// data volume stay: Start runs the process again on the same disk. Killing
// a paused node is allowed.
func (c *Cluster) Kill(ctx context.Context, id string) error {
	if err := c.transition(ctx, id, agent.OpKill); err != nil {
		return err
	}
	code, out, err := c.Exec(ctx, id, []string{engine.NetctlPath, "heal"})
	if err == nil && code != 0 {
		err = fmt.Errorf("exit code %d: %s", code, strings.TrimSpace(out))
	}
	if err != nil {
		return fmt.Errorf("kubernetes: kill node %s: removing its netctl rules: %w", id, err)
	}
	return nil
}

// Start starts the node's process: the first time, or after a kill. It
// does not wait for the node to be healthy: use WaitHealthy.
func (c *Cluster) Start(ctx context.Context, id string) error {
	if st := c.State(id); st == cluster.StateLeft {
		return fmt.Errorf("kubernetes: start node %s: it left the cluster; it comes back only by joining as a new member", id)
	}
	return c.transition(ctx, id, agent.OpStart)
}

// dataVolume is where the node's data volume is mounted in its container.
func (c *Cluster) dataVolume() string {
	if c.cfg.Disk {
		return faultfs.Volume
	}
	return sut.DataRoot
}

// wipe implements cluster.Core.Wipe: node id leaves the cluster. Its
// process is killed (as Kill does) and its agent deletes everything on
// its data volume; the pod, its address and its log stay.
func (c *Cluster) wipe(ctx context.Context, id string) error {
	switch st := c.State(id); st {
	case cluster.StateRunning, cluster.StatePaused:
		if err := c.Kill(ctx, id); err != nil {
			return err
		}
	case cluster.StateKilled, cluster.StateCreated:
	default:
		return fmt.Errorf("kubernetes: leave: node %s is %s", id, st)
	}
	n, err := c.node(id)
	if err != nil {
		return err
	}
	n.Lock()
	defer n.Unlock()
	if _, err := c.ctl(ctx, n, agent.OpWipe, c.dataVolume()); err != nil {
		return err
	}
	n.state = cluster.StateLeft
	c.Log.Info("kubernetes: node left the cluster, its data wiped", "node", id)
	return nil
}

// renew implements cluster.Core.Renew: node id, which left, starts afresh
// on its wiped volume with spec's command line (its agent runs it from
// now on, after kills too).
func (c *Cluster) renew(ctx context.Context, id string, spec sut.NodeSpec) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	n.Lock()
	if n.state != cluster.StateLeft {
		st := n.state
		n.Unlock()
		return fmt.Errorf("kubernetes: join: node %s is %s: only a node that left joins", id, st)
	}
	_, err = c.ctl(ctx, n, agent.OpCommand, agent.CommandArg(c.cfg.Command(spec)))
	if err == nil {
		n.Spec, n.state = spec, cluster.StateKilled
	}
	n.Unlock()
	if err != nil {
		return err
	}
	if err := c.Start(ctx, id); err != nil {
		n.Lock()
		n.state = cluster.StateLeft
		n.Unlock()
		return err
	}
	return nil
}

// Pause freezes the node's process (SIGSTOP to its process group).
func (c *Cluster) Pause(ctx context.Context, id string) error {
	return c.transition(ctx, id, agent.OpPause)
}

// Resume thaws a paused node (SIGCONT).
func (c *Cluster) Resume(ctx context.Context, id string) error {
	return c.transition(ctx, id, agent.OpResume)
}

// Exec runs cmd as root in the node's container (with CAP_NET_ADMIN, so
// that netctl works) and returns its exit code and its output. err is set
// only when the command could not be run.
func (c *Cluster) Exec(ctx context.Context, id string, cmd []string) (int, string, error) {
	if _, err := c.node(id); err != nil {
		return -1, "", err
	}
	code, out, err := c.execIn(ctx, id, nodeContainer, cmd)
	if err != nil {
		return -1, out, fmt.Errorf("kubernetes: exec %q on node %s: %w", cmd, id, err)
	}
	return code, out, nil
}

// DiskExec runs cmd as root against the disk of node id while it is down
// (killed): the pod outlives its process, so cmd runs in the node's
// container, where the node's volume is.
func (c *Cluster) DiskExec(ctx context.Context, id string, cmd []string) (int, string, error) {
	if st := c.State(id); st != cluster.StateKilled {
		return -1, "", fmt.Errorf("kubernetes: disk exec on node %s: it is %s; its disk is reached while it is down (kill it first)", id, st)
	}
	return c.Exec(ctx, id, cmd)
}

// Logs returns the node container's output so far: the agent's lines and
// every incarnation of the node's process.
func (c *Cluster) Logs(ctx context.Context, id string) (string, error) {
	if _, err := c.node(id); err != nil {
		return "", err
	}
	b, err := c.cs.CoreV1().Pods(c.ns).GetLogs(id, &corev1.PodLogOptions{Container: nodeContainer}).DoRaw(ctx)
	if err != nil {
		return string(b), fmt.Errorf("kubernetes: logs of node %s: %w", id, err)
	}
	return string(b), nil
}

// closeTimeout bounds Close.
const closeTimeout = 90 * time.Second

// Close stops the port forwards and deletes the run's namespace, waiting
// until it is gone. It is idempotent, safe after a partial Start, and
// works when ctx is already cancelled.
func (c *Cluster) Close(ctx context.Context) error {
	return c.CloseOnce(func() error {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		for _, n := range c.nodes {
			n.Lock()
			if n.fwd != nil {
				n.fwd.close()
			}
			n.state = cluster.StateRemoved
			n.Unlock()
		}
		if err := deleteNamespace(ctx, c.cs, c.ns); err != nil {
			return fmt.Errorf("kubernetes: close cluster %s: %w (remove it with kubectl delete namespace %s)", c.RunID, err, c.ns)
		}
		c.Log.Info("kubernetes: cluster removed", "namespace", c.ns)
		return nil
	})
}

// deleteNamespace deletes ns and waits until it is gone.
func deleteNamespace(ctx context.Context, cs kubernetes.Interface, ns string) error {
	bg := metav1.DeletePropagationBackground
	err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{PropagationPolicy: &bg})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete namespace %s: %w", ns, err)
	}
	for {
		_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s still terminating: %w", ns, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// String is for logs: the namespace and the server.
func (c *Cluster) String() string {
	return c.ns + "@" + c.rest.Host + " (" + strconv.Itoa(len(c.IDs)) + " nodes)"
}
