// Package nats is NATS JetStream as a system under test: nats-server,
// built from the Go module proxy at the release a run names (the nested
// module natsserver), in a cluster whose one stream has a replica on
// every node and file storage, driven through github.com/nats-io/nats.go's
// jetstream package. It runs the queue workload (workload.Queue): the
// stream is the queue, each worker publishes through its own node and the
// final drain reads the stream through every node, as Jepsen's NATS test
// does (jepsen.io/analyses/nats-2.12.1).
//
// It registers through sut.Register as a user's own system would; nothing
// outside this package names it but the table of built-in systems.
package nats

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/faultline/faultline/sut"
)

// Ports of a nats-server node (NATS's defaults).
const (
	clientPort  = 4222 // clients (PortClient)
	routePort   = 6222 // cluster routes between servers
	monitorPort = 8222 // HTTP monitoring: /healthz, /varz, /jsz
	// PortMonitor is the monitoring port's name: Probe reads it.
	PortMonitor = "monitor"
)

// Stream is the stream the queue workload publishes to and drains, and
// Subject the one subject it holds.
const (
	Stream  = "faultline"
	Subject = "faultline.queue"
)

// ModuleVersion is the nats-server release the nested module natsserver
// requires in its go.mod: that one builds without resolving anything;
// any other is resolved through the Go module proxy once (sut.Binary's
// Require).
const ModuleVersion = "v2.12.1"

// NewestVersion is the newest release that builds here with our Go: a
// run's default.
const NewestVersion = "v2.15.3"

// dataDir is the node's JetStream store_dir, on the node's data volume so
// that power failures and corruption reach it; configFile is where the
// server's configuration is written at start.
const (
	dataDir    = sut.DataRoot + "/nats"
	configFile = sut.DataRoot + "/nats.conf"
)

// System is NATS JetStream. It has no clock hook (the clock fault is
// refused) and no membership API the harness drives; kill, pause,
// partition, loss, power failure and corruption of its .blk files reach
// it. Its zero value is ready to use.
type System struct{}

var _ sut.System = System{}

// serverSettings are the settings written into the server's jetstream
// block.
var serverSettings = []sut.Setting{
	{Name: "sync_interval", Doc: `how often JetStream fsyncs its files: "always" (before each acknowledgement) or a duration; NATS's default is 2m`},
}

// Info implements sut.System: the queue workload only; versions from
// v2.12.1 to NewestVersion; the server setting sync_interval and the
// client setting msg_bytes; the corrupt fault flips bits in the stream's
// message blocks.
func (System) Info() sut.Info {
	return sut.Info{
		Name:           "nats",
		DiskFiles:      []string{"jetstream/**/msgs/*.blk"},
		DefaultVersion: NewestVersion,
		Settings:       append(slices.Clone(serverSettings), msgBytesSetting),
		Workloads:      []string{"queue"},
	}
}

// Binaries implements sut.System: nats-server at opts' version.
func (System) Binaries(opts sut.Options) []sut.Binary {
	b := sut.Binary{Name: "nats-server", Module: "sut/nats/natsserver", Package: "."}
	if v := opts.VersionOr(NewestVersion); v != ModuleVersion {
		b.Require = []string{"github.com/nats-io/nats-server/v2@" + v}
	}
	return []sut.Binary{b}
}

// Node implements sut.System: a server named after its node, JetStream
// on the data volume, routes to every other node, the run's settings in
// the jetstream block.
func (System) Node(layout sut.Layout, opts sut.Options, id string) sut.NodeSpec {
	return sut.NodeSpec{
		Command: []string{sut.BinDir + "/nats-server", "-c", configFile},
		Env:     map[string]string{"NATS_CONFIG_TEXT": Config(layout, opts, id)},
		Ports: []sut.Port{
			{Name: sut.PortClient, Number: clientPort, Exposed: true},
			{Name: PortMonitor, Number: monitorPort, Exposed: true},
			{Name: "route", Number: routePort},
		},
		DataDir: dataDir,
	}
}

// Config is node id's nats-server configuration.
func Config(layout sut.Layout, opts sut.Options, id string) string {
	var routes []string
	for _, n := range layout.Nodes {
		if n != id {
			routes = append(routes, fmt.Sprintf("nats://%s:%d", layout.Host(n), routePort))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "server_name: %q\nlisten: \"0.0.0.0:%d\"\nhttp: %d\n", layout.Name(id), clientPort, monitorPort)
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n", dataDir)
	for _, s := range serverSettings {
		if v, ok := opts.Settings[s.Name]; ok {
			fmt.Fprintf(&b, "  %s: %q\n", s.Name, v)
		}
	}
	fmt.Fprintf(&b, "}\ncluster {\n  name: \"faultline\"\n  listen: \"0.0.0.0:%d\"\n  routes: [%s]\n}\n", routePort, strings.Join(routes, ", "))
	return b.String()
}

// varz and jsz are the parts of /varz and /jsz Probe reads.
type varz struct {
	ServerName string `json:"server_name"`
}

type jsz struct {
	Meta *struct {
		Leader string `json:"leader"`
	} `json:"meta_cluster"`
	Accounts []struct {
		Streams []struct {
			Name    string `json:"name"`
			Cluster *struct {
				Leader string `json:"leader"`
			} `json:"cluster"`
			State struct {
				LastSeq uint64 `json:"last_seq"`
			} `json:"state"`
		} `json:"stream_detail"`
	} `json:"account_details"`
}

// Probe implements sut.System: /healthz (JetStream up), then the leader
// from /jsz: the stream's leader once the stream exists (the queue
// workload creates it), else the JetStream meta leader. Status ids are
// server names, which are node names.
func (System) Probe(ctx context.Context, addrs map[string]string) (sut.Status, error) {
	mon := addrs[PortMonitor]
	if err := sut.ProbeJSON(ctx, http.MethodGet, mon, "/healthz", "", nil); err != nil {
		return sut.Status{}, err
	}
	var v varz
	if err := sut.ProbeJSON(ctx, http.MethodGet, mon, "/varz", "", &v); err != nil {
		return sut.Status{}, err
	}
	var j jsz
	if err := sut.ProbeJSON(ctx, http.MethodGet, mon, "/jsz?accounts=true&streams=true", "", &j); err != nil {
		return sut.Status{}, err
	}
	st := sut.Status{ID: v.ServerName, State: "Follower"}
	if j.Meta != nil {
		st.Leader = j.Meta.Leader
	}
	for _, a := range j.Accounts {
		for _, s := range a.Streams {
			if s.Name != Stream {
				continue
			}
			if s.Cluster == nil || s.Cluster.Leader == "" {
				return sut.Status{}, fmt.Errorf("GET /jsz: stream %s has no leader yet", Stream)
			}
			st.Leader, st.CommitIndex = s.Cluster.Leader, s.State.LastSeq
		}
	}
	if st.ID == "" || st.Leader == "" {
		return sut.Status{}, fmt.Errorf("GET /varz, /jsz: no server name (%q) or no leader (%q) yet", st.ID, st.Leader)
	}
	if st.Leader == st.ID {
		st.State = "Leader"
	}
	return st, nil
}
