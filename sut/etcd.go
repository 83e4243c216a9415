package sut

import (
	"context"
	"fmt"
	"strings"
)

// Ports of an etcd member (etcd's defaults).
const (
	etcdClientPort = 2379 // gRPC and HTTP (/health, the v3 JSON gateway)
	etcdPeerPort   = 2380 // raft between members
)

// EtcdReadSerializable is etcd's unsafe read mode: reads are served from
// the local member's state without a quorum round
// (clientv3.WithSerializable), which etcd documents as possibly stale. A
// planted bug for the checkers.
const EtcdReadSerializable ReadMode = "serializable"

// Etcd is etcd 3.7 (go.etcd.io/etcd/server/v3, built from the Go module
// proxy by the nested module sut/etcdserver) with a static initial cluster,
// driven through go.etcd.io/etcd/client/v3. It has no clock hook, so the
// clock fault is refused; partitions, loss, kills and pauses work through
// the runtime and netctl like for any system. Its unsafe read mode is
// EtcdReadSerializable; it has no other planted bugs.
//
// This is the worked example of a System: the server is somebody else's
// binary, configured entirely by its command line; readiness and the
// leader come from its HTTP endpoints (/health and the JSON gateway's
// /v3/maintenance/status); the client (etcdclient.go) maps the workloads'
// operations onto etcd transactions and etcd's errors onto Jepsen's
// fail/info.
type Etcd struct{}

var _ System = Etcd{}

// Info implements System: no clock hook, no lease, one unsafe read mode;
// its members change through its cluster API (Membership).
func (Etcd) Info() Info {
	return Info{Name: "etcd", Bugs: []Bug{{Name: string(EtcdReadSerializable), ReadMode: true,
		Doc: "a member cut off by a partition serves stale reads"}},
		DiskFiles: []string{"member/wal/*.wal", "member/snap/db", "member/snap/*.snap"}, Membership: true,
		DefaultVersion: EtcdModuleVersion, Settings: etcdSettings}
}

// EtcdModuleVersion is the etcd release the nested module sut/etcdserver
// requires: the default, built without resolving anything. Another
// --system-version is resolved through the Go module proxy once (3.5.x and
// 3.6.x releases build with Go 1.26 so: see the README).
const EtcdModuleVersion = "v3.7.3"

// etcdSettings are the etcd flags --system-opt may set (each passed as
// --NAME=value), the ones etcd's own regression tests pin.
var etcdSettings = []Setting{
	{Name: "snapshot-count", Doc: "committed entries between snapshots to disk (etcd's default 10000)"},
	{Name: "heartbeat-interval", Doc: "raft heartbeat, ms (default 100)"},
	{Name: "election-timeout", Doc: "raft election timeout, ms (default 1000)"},
	{Name: "quota-backend-bytes", Doc: "backend size that raises the NOSPACE alarm (default 2 GiB)"},
	{Name: "auto-compaction-retention", Doc: "how much history auto-compaction keeps (default 0: off)"},
}

// Binaries implements System: etcd's own main, from a module of its own so
// that etcd's server dependencies stay out of faultline's go.mod.
func (Etcd) Binaries(opts Options) []Binary {
	b := Binary{Name: "etcd", Module: "sut/etcdserver", Package: "."}
	if v := opts.VersionOr(EtcdModuleVersion); v != EtcdModuleVersion {
		b.Require = []string{"go.etcd.io/etcd/server/v3@" + v}
	}
	return []Binary{b}
}

// Node implements System: a member of a static initial cluster over the
// layout's host names, data under /data/etcd, etcd's default timings
// (heartbeat 100 ms, election 1 s). A node joining the running cluster
// (Layout.Joining) is its incarnation's member (Layout.Name), added as a
// learner before it starts: --initial-cluster lists the current members
// with it, --initial-cluster-state existing. The run's settings follow as
// --NAME=value.
func (Etcd) Node(layout Layout, opts Options, id string) NodeSpec {
	members, state := layout.Nodes, "new"
	if layout.Joining(id) {
		members, state = layout.CurrentMembers(), "existing"
	}
	peers := make([]string, len(members))
	for i, p := range members {
		peers[i] = layout.Name(p) + "=" + etcdPeerURL(layout, p)
	}
	const data = DataRoot + "/etcd"
	host := layout.Host(id)
	spec := NodeSpec{
		Command: []string{
			BinDir + "/etcd",
			"--name", layout.Name(id),
			"--data-dir", data,
			"--listen-client-urls", fmt.Sprintf("http://0.0.0.0:%d", etcdClientPort),
			"--advertise-client-urls", fmt.Sprintf("http://%s:%d", host, etcdClientPort),
			"--listen-peer-urls", fmt.Sprintf("http://0.0.0.0:%d", etcdPeerPort),
			"--initial-advertise-peer-urls", etcdPeerURL(layout, id),
			"--initial-cluster", strings.Join(peers, ","),
			"--initial-cluster-state", state,
			"--initial-cluster-token", "faultline",
		},
		Ports: []Port{
			{Name: PortClient, Number: etcdClientPort, Exposed: true},
			{Name: "peer", Number: etcdPeerPort},
		},
		DataDir: data,
	}
	spec.Command = append(spec.Command, settingFlags(etcdSettings, opts)...)
	return spec
}

// etcdStatus is the part of the JSON gateway's /v3/maintenance/status
// answer Probe reads (64-bit integers come as strings).
type etcdStatus struct {
	Header struct {
		MemberID string `json:"member_id"`
	} `json:"header"`
	Leader    string `json:"leader"`
	RaftTerm  string `json:"raftTerm"`
	RaftIndex string `json:"raftIndex"`
}

// Probe implements System: GET /health (a quorum read: 200 only with a
// leader and no alarm), then the member's status; member ids are the
// Status ids.
func (Etcd) Probe(ctx context.Context, addrs map[string]string) (Status, error) {
	client := addrs[PortClient]
	var health struct {
		Health string `json:"health"`
		Reason string `json:"reason"`
	}
	if err := ProbeJSON(ctx, "GET", client, "/health", "", &health); err != nil {
		return Status{}, err
	}
	if health.Health != "true" {
		return Status{}, fmt.Errorf("GET /health: %s", health.Reason)
	}
	var st etcdStatus
	if err := ProbeJSON(ctx, "POST", client, "/v3/maintenance/status", "{}", &st); err != nil {
		return Status{}, err
	}
	out := Status{ID: st.Header.MemberID, State: "Follower"}
	if st.Leader != "" && st.Leader != "0" {
		out.Leader = st.Leader
	}
	if out.ID == "" {
		return Status{}, fmt.Errorf("POST /v3/maintenance/status: no member id in %+v", st)
	}
	if out.Leader == out.ID {
		out.State = "Leader"
	}
	if _, err := fmt.Sscan(st.RaftTerm, &out.Term); err != nil {
		return Status{}, fmt.Errorf("POST /v3/maintenance/status: raftTerm %q: %w", st.RaftTerm, err)
	}
	if _, err := fmt.Sscan(st.RaftIndex, &out.CommitIndex); err != nil {
		return Status{}, fmt.Errorf("POST /v3/maintenance/status: raftIndex %q: %w", st.RaftIndex, err)
	}
	return out, nil
}
