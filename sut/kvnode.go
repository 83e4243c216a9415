package sut

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/system"
	"github.com/faultline/faultline/workload"
)

// Ports of a kvnode node.
const (
	kvnodeRaftPort   = 7000 // raft transport, private network only
	kvnodeClientPort = 7001 // the store's client protocol
	kvnodeAdminPort  = 7002 // admin HTTP: /healthz, /status, /fault/clock
)

// KVNode is our own store (system/, cmd/kvnode): every fault kind,
// including clock skew through its admin /fault/clock hook and membership
// changes through its admin /membership endpoints; unsafe read
// modes lease and stale; planted bugs passed as kvnode --unsafe-<name>,
// from the store's own table (system.PlantedBugs).
type KVNode struct{}

var _ System = KVNode{}

// kvnode's unsafe read modes, for scenarios and tests.
const (
	KVNodeReadLease = ReadMode(system.ReadLease)
	KVNodeReadStale = ReadMode(system.ReadStale)
)

// Info implements System.
func (KVNode) Info() Info {
	bugs := []Bug{
		{Name: string(KVNodeReadLease), ReadMode: true, Doc: "a deposed leader trusts its wall-clock lease under clock skew"},
		{Name: string(KVNodeReadStale), ReadMode: true, Doc: "any node answers reads from local state"},
	}
	for _, b := range system.PlantedBugs() {
		bugs = append(bugs, Bug{Name: b.Name, Doc: strings.TrimPrefix(b.Help, "UNSAFE: ")})
	}
	return Info{Name: "kvnode", Bugs: bugs, ClockHook: true, Lease: true,
		DiskFiles: []string{"raftlog/*.seg", "snapshots/**"}, Membership: true, Settings: kvnodeSettings}
}

// kvnodeSettings are the kvnode flags --system-opt may set (each passed as
// --NAME=value): how often it snapshots, so that a short run's faults meet
// snapshots and the log compactions after them.
var kvnodeSettings = []Setting{
	{Name: "snapshot-threshold", Doc: "new log entries that trigger a snapshot (default 16384)", Check: func(v string) error {
		if n, err := strconv.ParseUint(v, 10, 64); err != nil || n == 0 {
			return errors.New("want a count of entries above 0, e.g. 1000")
		}
		return nil
	}},
	{Name: "snapshot-interval", Doc: "how often the node checks whether to snapshot (default 30s)", Check: func(v string) error {
		if d, err := time.ParseDuration(v); err != nil || d <= 0 {
			return errors.New("want a duration above 0, e.g. 1s")
		}
		return nil
	}},
}

// Binaries implements System: kvnode from this module.
func (KVNode) Binaries(Options) []Binary {
	return []Binary{{Name: "kvnode", Module: ".", Package: "./cmd/kvnode"}}
}

// Node implements System: a static peer list over the layout's host
// names, fault injection (the clock hook) enabled. A node joining a
// running cluster (Layout.Joining) runs as its incarnation's member
// (Layout.Name, "n3.2") with --join: it waits for the leader to add it.
func (KVNode) Node(layout Layout, opts Options, id string) NodeSpec {
	peers := make([]string, len(layout.Nodes))
	for i, p := range layout.Nodes {
		peers[i] = fmt.Sprintf("%s=%s", layout.Name(p), kvnodeRaftAddr(layout, p))
	}
	const data = DataRoot
	args := []string{
		BinDir + "/kvnode",
		"--id", layout.Name(id),
		"--peers", strings.Join(peers, ","),
		"--data", data,
		"--raft-addr", fmt.Sprintf("0.0.0.0:%d", kvnodeRaftPort),
		"--client-addr", fmt.Sprintf("0.0.0.0:%d", kvnodeClientPort),
		"--admin-addr", fmt.Sprintf("0.0.0.0:%d", kvnodeAdminPort),
		"--enable-fault-injection",
	}
	if layout.Joining(id) {
		args = append(args, "--join")
	}
	if opts.ReadMode != "" {
		args = append(args, "--read-mode", string(opts.ReadMode))
	}
	if opts.LeaseDuration > 0 {
		args = append(args, "--lease-duration", opts.LeaseDuration.String())
	}
	for _, b := range opts.Bugs {
		args = append(args, "--unsafe-"+b)
	}
	args = append(args, settingFlags(kvnodeSettings, opts)...)
	return NodeSpec{
		Command: args,
		Ports: []Port{
			{Name: "raft", Number: kvnodeRaftPort},
			{Name: PortClient, Number: kvnodeClientPort, Exposed: true},
			{Name: PortAdmin, Number: kvnodeAdminPort, Exposed: true},
		},
		DataDir: data,
	}
}

// Probe implements System: the admin port's /healthz, then /status.
func (KVNode) Probe(ctx context.Context, addrs map[string]string) (Status, error) {
	admin := addrs[PortAdmin]
	if err := ProbeJSON(ctx, "GET", admin, "/healthz", "", nil); err != nil {
		return Status{}, err
	}
	var st system.NodeStatus
	if err := ProbeJSON(ctx, "GET", admin, "/status", "", &st); err != nil {
		return Status{}, err
	}
	return Status{ID: st.ID, Leader: st.LeaderID, State: st.State, Term: st.Term, CommitIndex: st.CommitIndex}, nil
}

// NewClient implements System: our pipelined client, bound to cfg.Home,
// retrying (with the same sequence number, so a mutation applies once)
// until the request's context ends.
func (KVNode) NewClient(ctx context.Context, cfg ClientConfig) (Client, error) {
	cc := system.DefaultClientConfig()
	cc.Addrs, cc.Home = cfg.Addrs, cfg.Home
	if cfg.AttemptTimeout > 0 {
		cc.RequestTimeout = cfg.AttemptTimeout
	}
	// The request's deadline bounds retries, not an attempt count:
	// attempts against a dead node fail fast and must not exhaust it.
	cc.MaxAttempts = 1000
	c, err := system.NewClient(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("kvnode: %w", err)
	}
	return kvnodeClient{c}, nil
}

// kvnodeClient adapts *system.Client to workload.KV: the store's errors
// already say whether they are definite (system.Error.Definite); only TXN
// micro-ops and list reads need translating.
type kvnodeClient struct{ *system.Client }

var (
	_ Client                = kvnodeClient{}
	_ workload.NodeReporter = kvnodeClient{}
)

// Txn implements workload.KV.
func (c kvnodeClient) Txn(ctx context.Context, ops []workload.MicroOp) ([]workload.MicroResult, error) {
	req := make([]system.MicroOp, len(ops))
	for i, o := range ops {
		k, ok := kvnodeKinds[o.Kind]
		if !ok {
			return nil, &workload.DefiniteError{Reason: fmt.Sprintf("kvnode: unknown micro-op kind %d", o.Kind)}
		}
		req[i] = system.MicroOp{Kind: k, Key: o.Key, Value: o.Value, Absent: o.Absent}
	}
	res, err := c.Client.Txn(ctx, req)
	if err != nil {
		return nil, err
	}
	if len(res) != len(ops) {
		return nil, fmt.Errorf("kvnode: %d TXN results for %d micro-ops", len(res), len(ops))
	}
	out := make([]workload.MicroResult, len(res))
	for i, r := range res {
		out[i] = workload.MicroResult{Value: r.Value, Found: r.Found}
		if ops[i].Kind == workload.MicroReadList && r.Found {
			if out[i].List, err = system.DecodeList(r.Value); err != nil {
				return nil, fmt.Errorf("kvnode: list at %s: %w", ops[i].Key, err)
			}
			out[i].Value = nil
		}
	}
	return out, nil
}

// kvnodeKinds maps the workloads' micro-op kinds to the store's.
var kvnodeKinds = map[workload.MicroKind]system.MicroKind{
	workload.MicroRead:     system.MicroRead,
	workload.MicroReadList: system.MicroRead,
	workload.MicroWrite:    system.MicroWrite,
	workload.MicroAppend:   system.MicroAppend,
	workload.MicroCompare:  system.MicroCompare,
}
