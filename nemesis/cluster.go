package nemesis

import (
	"context"
	"strings"
	"sync"

	"github.com/faultline/faultline/history"
)

// Cluster is what the nemesis needs from the runtime that hosts the nodes.
// Both runtimes (*docker.Cluster, *kubernetes.Cluster) implement it.
type Cluster interface {
	// Nodes returns the node names, e.g. ["n1","n2","n3"].
	Nodes() []string
	// IP returns the node's address on the private network.
	IP(node string) string
	// Kill sends SIGKILL to the node (running or paused) and returns once
	// it is down. A node whose process already died by itself is killed
	// too: Kill then only records it as killed, so that Start may restart
	// it. The node's netctl rules die with it: a restarted node has none.
	Kill(ctx context.Context, node string) error
	// Start restarts a killed node with its data.
	Start(ctx context.Context, node string) error
	// Pause freezes the node (docker pause).
	Pause(ctx context.Context, node string) error
	// Resume unfreezes a paused node.
	Resume(ctx context.Context, node string) error
	// Exec runs cmd as root in the node's container.
	Exec(ctx context.Context, node string, cmd []string) (exitCode int, output string, err error)
	// State returns the node's container state: "running", "paused",
	// "killed", ...
	State(node string) string
	// Leader returns the id of the current Raft leader.
	Leader(ctx context.Context) (string, error)
	// AdminAddr returns "host:port" of the node's admin HTTP endpoint.
	AdminAddr(node string) string
	// WaitHealthy returns when every node is running and healthy and there
	// is one leader, or with an error when ctx ends first.
	WaitHealthy(ctx context.Context) error
}

// Recorder records history ops; Record assigns Index and Time and returns
// the stored op. *history.Recorder implements it.
type Recorder interface {
	Record(op history.Op) history.Op
}

// StateObserver is optionally implemented by a Cluster whose State is its
// own bookkeeping: ObservedState reads the state back from the container
// runtime (docker inspect). When available the nemesis confirms kills,
// pauses and restarts with it, picks fault targets by it, and restarts
// nodes that died by themselves (down per ObservedState while State says
// running).
type StateObserver interface {
	ObservedState(ctx context.Context, node string) (string, error)
}

// ClockHooker is optionally implemented by a Cluster whose system may lack
// a clock hook (the admin /fault/clock endpoint), e.g. etcd: the final heal
// resets clocks only when HasClockHook is true.
type ClockHooker interface {
	HasClockHook() bool
}

// hasClockHook reports whether cl's nodes have a clock hook.
func hasClockHook(cl Cluster) bool {
	h, ok := cl.(ClockHooker)
	return !ok || h.HasClockHook()
}

// provides reports whether cl can give everything needs lists.
func provides(cl Cluster, needs []Need) bool {
	for _, n := range needs {
		switch n {
		case NeedClockHook:
			if !hasClockHook(cl) {
				return false
			}
		case NeedMembership:
			if _, err := memberCluster(cl); err != nil {
				return false
			}
		}
	}
	return true
}

// observe returns the node's state as the runtime reports it when cl can
// say (StateObserver), else cl.State.
func observe(ctx context.Context, cl Cluster, node string) string {
	if o, ok := cl.(StateObserver); ok {
		s, err := o.ObservedState(ctx, node)
		if err != nil {
			return "unknown (" + err.Error() + ")"
		}
		return s
	}
	return cl.State(node)
}

// Container states as reported by Cluster.State.
const (
	StateRunning = "running"
	StatePaused  = "paused"
	StateKilled  = "killed"
	// StateLeft: the node left the cluster (the membership fault): no
	// process, no data, until it joins again.
	StateLeft = "left"
)

// isDown reports whether a container state means the process is not
// running (killed, exited, dead, ...), so that a start runs it again. A
// node that left the cluster is neither down nor up (isUp): only a join
// brings it back.
func isDown(state string) bool {
	switch state {
	case StateKilled, "exited", "dead", "stopped", "created":
		return true
	}
	return false
}

func isRunning(state string) bool { return state == StateRunning }
func isPaused(state string) bool  { return state == StatePaused }
func isUp(state string) bool      { return !isDown(state) && state != StateLeft }

// nodeStates returns every node's state as the runtime reports it
// (observe), read concurrently.
func nodeStates(ctx context.Context, cl Cluster) map[string]string {
	nodes := cl.Nodes()
	states := make([]string, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { states[i] = observe(ctx, cl, n) })
	}
	wg.Wait()
	out := make(map[string]string, len(nodes))
	for i, n := range nodes {
		out[n] = states[i]
	}
	return out
}

// where returns the nodes whose state satisfies ok, in cl.Nodes() order.
func where(cl Cluster, states map[string]string, ok func(string) bool) []string {
	var out []string
	for _, n := range cl.Nodes() {
		if ok(states[n]) {
			out = append(out, n)
		}
	}
	return out
}

// describeStates renders the states of the nodes not in want, e.g.
// "n2 is killed, n3 is paused", for errors.
func describeStates(cl Cluster, states map[string]string, want func(string) bool) string {
	var parts []string
	for _, n := range cl.Nodes() {
		if !want(states[n]) {
			parts = append(parts, n+" is "+states[n])
		}
	}
	return strings.Join(parts, ", ")
}
