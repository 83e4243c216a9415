// Package sut is the seam for the system under test: what a distributed
// system gives the harness so that a runtime (Docker, Kubernetes) can build
// its image and start its nodes, the nemeses can fault it and the workloads
// can drive it. Our own store ("kvnode") is one implementation; etcd
// ("etcd") is the second, and the worked example for users who plug in
// their own: see "Testing another system" in the README. NATS JetStream
// (package sut/nats) is the third, in a package of its own that registers
// as a user's system does.
//
// A System says:
//
//   - how its image is built: the static binaries (Binaries) that the
//     runtime compiles with CGO_ENABLED=0 into a FROM-scratch image under
//     BinDir, beside netctl;
//   - each node's command line, environment, ports and data directory,
//     from the cluster layout (Node);
//   - how to tell that a node is ready and whom it takes for the leader
//     (Probe); a node logs to stdout and stderr, which the runtime keeps;
//   - a client that implements the workloads' interface, workload.KV, with
//     Jepsen's ok/fail/info error contract (NewClient);
//   - what it declares in one table (Info): its name, its planted bugs
//     (unsafe read modes and --unsafe bugs), and what the faults can
//     reach: the clock fault needs a clock hook, an admin port
//     (PortAdmin) serving /fault/clock as kvnode does; the membership
//     fault needs Membership, the system's own API for removing and
//     adding members; which release it builds (Binaries of Options.Version,
//     DefaultVersion), the server settings it takes (Settings), and the
//     workloads it runs (Workloads).
//
// Our systems are known by name; a program registers its own with
// Register.
//
// Nothing here knows a runtime: the runtime passes the layout in and the
// addresses of a node's ports (as the harness reaches them) to Probe and
// NewClient.
package sut

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/system"
	"github.com/faultline/faultline/workload"
)

// System is a distributed system the harness can test. Implementations are
// stateless values; every method is safe for concurrent use.
type System interface {
	// Info is what the system declares about itself, in one table: its
	// name, read modes and planted bugs, and what the faults can reach.
	Info() Info
	// Binaries are the static binaries of the node image for opts (whose
	// Version picks the server's release, for systems that have
	// versions).
	Binaries(opts Options) []Binary
	// Node is node id's process in layout, configured by opts (which
	// passed Info().Validate).
	Node(layout Layout, opts Options, id string) NodeSpec
	// Probe asks one node whether it is ready and whom it follows. addrs
	// maps the node's exposed port names to addresses the harness can
	// dial. An error means "not ready" and says why.
	Probe(ctx context.Context, addrs map[string]string) (Status, error)
	// NewClient returns a client of the cluster for one worker.
	NewClient(ctx context.Context, cfg ClientConfig) (Client, error)
}

// Info is what a system declares about itself. Everything the harness
// checks a run's options against, lists in --help and writes into reports
// comes from here.
type Info struct {
	// Name is the system's name in --system, test.json and reports.
	Name string
	// Bugs are its planted bugs: its unsafe read modes (Bug.ReadMode)
	// and the bugs Options.Bugs may name. Linearizable reads are always
	// offered and are the only safe read mode.
	Bugs []Bug
	// ClockHook says its nodes serve /fault/clock on the admin port
	// (PortAdmin), as kvnode's do: only then can the clock fault skew them.
	ClockHook bool
	// Lease says it takes Options.LeaseDuration (kvnode's read lease).
	Lease bool
	// DiskFiles are globs, relative to NodeSpec.DataDir, of the files
	// that hold a node's durable state: the ones the corrupt fault may
	// flip bits in, truncate or roll back ("**" matches any depth).
	DiskFiles []string
	// Membership says it implements Membership: its members are removed
	// and added through its own API, as its operators do, so that the
	// membership fault can change them; its Node then runs a node that
	// joins a running cluster under a fresh identity (Layout.Joining).
	Membership bool
	// DefaultVersion is the release of the server a run builds unless
	// Options.Version names another; empty means the system has one
	// build and refuses Options.Version.
	DefaultVersion string
	// Settings are the server settings Options.Settings may set
	// (--system-opt key=value); anything else is refused.
	Settings []Setting
	// Workloads are the only workloads it runs (a message queue runs
	// the queue workload, not the key-value ones); empty means every
	// workload.
	Workloads []string
}

// Setting is a server setting a run may set (--system-opt NAME=value).
type Setting struct {
	// Name is the key.
	Name string
	// Doc says in one line what it does and its default.
	Doc string
	// Check, when set, refuses a value out of the setting's range with
	// an error that says what to use.
	Check func(value string) error
}

// settingFlags returns each of settings that opts sets as --NAME=value, in
// the table's order: for a server whose settings are its own flags.
func settingFlags(settings []Setting, opts Options) []string {
	var flags []string
	for _, s := range settings {
		if v, ok := opts.Settings[s.Name]; ok {
			flags = append(flags, "--"+s.Name+"="+v)
		}
	}
	return flags
}

// Client is what NewClient returns: the workloads' client, which the
// harness closes when the run ends. Clients that know which node answered
// also implement workload.NodeReporter.
type Client interface {
	workload.KV
	Close() error
}

// ReadMode names how a system serves reads: Linearizable, the safe mode
// every system offers, or one of its unsafe read modes (a Bug with
// ReadMode set: stale, lease, serializable reads), which exist to prove the
// checkers.
type ReadMode string

// Linearizable is the safe read mode every system offers.
const Linearizable ReadMode = "linearizable"

// String implements pflag.Value.
func (m ReadMode) String() string { return string(m) }

// Set implements pflag.Value; the system validates the name.
func (m *ReadMode) Set(s string) error {
	if s == "" {
		return fmt.Errorf("read mode: empty: use %s or one of the system's unsafe modes", Linearizable)
	}
	*m = ReadMode(s)
	return nil
}

// Type implements pflag.Value.
func (m ReadMode) Type() string { return "mode" }

// Bug is a planted bug: a deliberately unsafe mode of a system that exists
// to prove the checkers catch what it breaks. It is never on by default.
type Bug struct {
	// Name is the bug's name: the unsafe read mode itself (--read-mode
	// NAME) when ReadMode is set, else the name Options.Bugs and --unsafe
	// take (e.g. "no-dedup").
	Name string
	// ReadMode says the bug is an unsafe read mode.
	ReadMode bool
	// Doc says in one line what it breaks.
	Doc string
}

// Flag is how a run turns the bug on: "--read-mode=stale" or
// "--unsafe=no-dedup".
func (b Bug) Flag() string {
	if b.ReadMode {
		return "--read-mode=" + b.Name
	}
	return "--unsafe=" + b.Name
}

// ReadModes lists the read modes the system offers: Linearizable first,
// then its unsafe ones.
func (i Info) ReadModes() []ReadMode {
	out := []ReadMode{Linearizable}
	for _, b := range i.Bugs {
		if b.ReadMode {
			out = append(out, ReadMode(b.Name))
		}
	}
	return out
}

// Bug returns the planted bug named name (a read mode or an --unsafe
// name).
func (i Info) Bug(name string) (Bug, bool) {
	for _, b := range i.Bugs {
		if b.Name == name {
			return b, true
		}
	}
	return Bug{}, false
}

// On returns the planted bugs opts turn on: its unsafe read mode, then
// its Bugs, in the system's table's words.
func (i Info) On(opts Options) []Bug {
	var out []Bug
	for _, b := range i.Bugs {
		if b.ReadMode && ReadMode(b.Name) == opts.ReadMode || !b.ReadMode && slices.Contains(opts.Bugs, b.Name) {
			out = append(out, b)
		}
	}
	return out
}

// Options are a run's per-system settings. The zero value is the safe
// configuration every system accepts.
type Options struct {
	// ReadMode is one of the system's ReadModes; empty means Linearizable.
	ReadMode ReadMode `json:"read_mode,omitempty"`
	// Bugs names planted bugs to turn on (Bug.Name).
	Bugs []string `json:"bugs,omitempty"`
	// LeaseDuration is kvnode's read lease under the lease read mode
	// (kvnode --lease-duration); 0 keeps the node's default. Systems
	// without a lease (Info.Lease) refuse it.
	LeaseDuration time.Duration `json:"lease_duration,omitempty"`
	// Version is the server release to build and run (e.g. "v2.12.1");
	// empty means Info.DefaultVersion. Only systems with a
	// DefaultVersion take it.
	Version string `json:"version,omitempty"`
	// Settings are server settings by name (Info.Settings), e.g.
	// sync_interval=always.
	Settings map[string]string `json:"settings,omitempty"`
}

// VersionOr returns opts.Version, or def when it is empty.
func (o Options) VersionOr(def string) string {
	if o.Version != "" {
		return o.Version
	}
	return def
}

// BinDir is where the runtime puts every binary of the node image.
const BinDir = "/usr/local/bin"

// DataRoot is the node's data volume, which the runtime mounts writable by
// the node's user and keeps across a kill and restart. NodeSpec.DataDir
// lies under it.
const DataRoot = "/data"

// Binary is one static binary of a system's node image, built with
// `go build` (CGO_ENABLED=0) from a Go module in the faultline repository
// (whose own dependencies, e.g. a server from the Go module proxy, stay in
// that module's go.mod).
type Binary struct {
	// Name is its file name under BinDir.
	Name string
	// Module is the module's directory, relative to the repository root:
	// "." for the faultline module itself.
	Module string
	// Package is the main package, relative to Module ("./cmd/kvnode",
	// ".") or a package of one of its dependencies
	// ("github.com/nats-io/nats-server/v2").
	Package string
	// Require, if set, builds Module with these requirements changed,
	// each "module@version" (a release of the server the binary is, and
	// the modules released with it): the runtime resolves them through
	// the Go module proxy into a go.mod of its own, cached per set of
	// requirements, so the module's own go.mod is never changed.
	Require []string
}

// Layout is the cluster a node belongs to.
type Layout struct {
	// Nodes are the node ids, n1..nN.
	Nodes []string
	// Hosts maps a node id to the host name other nodes reach it by; a
	// missing entry means the id itself (Docker network aliases).
	Hosts map[string]string
	// Incarnations count the identities a node has had: one that left
	// the cluster and joined it again as a new member (the membership
	// fault) runs as incarnation 2, 3, ... under a fresh Name, on the
	// same host. A missing entry means 1.
	Incarnations map[string]int
	// Members are the nodes whose members a node joining a running
	// cluster joins (itself included), when not every node is a member
	// (nil).
	Members []string
}

// Host returns the host name of node id.
func (l Layout) Host(id string) string {
	if h, ok := l.Hosts[id]; ok {
		return h
	}
	return id
}

// Incarnation returns node id's incarnation: 1 for the identity it was
// created with.
func (l Layout) Incarnation(id string) int { return max(l.Incarnations[id], 1) }

// Name returns the member name of node id's current incarnation: the id
// itself, then "n3.2", "n3.3", ... (system.MemberID, our store's raft
// server ids; every system names its members so).
func (l Layout) Name(id string) string { return system.MemberID(id, l.Incarnation(id)) }

// Joining reports whether node id joins a running cluster as a new
// member (a later incarnation) rather than forming the cluster with the
// others.
func (l Layout) Joining(id string) bool { return l.Incarnation(id) > 1 }

// CurrentMembers are the nodes that are members when a node joins:
// Members, or every node.
func (l Layout) CurrentMembers() []string {
	if l.Members != nil {
		return slices.Clone(l.Members)
	}
	return slices.Clone(l.Nodes)
}

// NodeOfHost returns the node whose host name is host, or "".
func (l Layout) NodeOfHost(host string) string {
	for _, id := range l.Nodes {
		if l.Host(id) == host {
			return id
		}
	}
	return ""
}

// Well-known port names. A runtime makes exposed ports reachable from the
// harness; the workloads' clients dial PortClient, the clock nemesis
// PortAdmin.
const (
	PortClient = "client"
	PortAdmin  = "admin"
)

// Port is a TCP port a node listens on, inside its container or pod.
type Port struct {
	// Name identifies it (PortClient, PortAdmin, "peer", "raft").
	Name string
	// Number is the port number.
	Number int
	// Exposed means the harness dials it (clients, probes, admin).
	Exposed bool
}

// NodeSpec is how to run one node.
type NodeSpec struct {
	// Command is the node's argv: the first element is a binary's path
	// under BinDir.
	Command []string
	// Env is extra environment.
	Env map[string]string
	// Ports are the ports it listens on.
	Ports []Port
	// DataDir is the directory holding its durable state; it lies under
	// DataRoot, so it survives a kill and restart of the node.
	DataDir string
}

// Port returns the number of the named port, or 0.
func (s NodeSpec) Port(name string) int {
	for _, p := range s.Ports {
		if p.Name == name {
			return p.Number
		}
	}
	return 0
}

// Status is what Probe learned from a ready node.
type Status struct {
	// ID is how the node names itself in Leader fields (kvnode: the node
	// id; etcd: its member id in hex).
	ID string `json:"id"`
	// Leader is the ID of the leader the node follows; "" when it knows
	// none.
	Leader string `json:"leader"`
	// State is the node's role as it says it ("Leader", "Follower", ...).
	State string `json:"state,omitempty"`
	// Term is its Raft term.
	Term uint64 `json:"term"`
	// CommitIndex is its Raft commit index (for batching metrics).
	CommitIndex uint64 `json:"commit_index"`
}

// ClientConfig configures one worker's client.
type ClientConfig struct {
	// Addrs maps node id -> client address the harness can dial.
	Addrs map[string]string
	// Home is the node the client is bound to, as Jepsen binds a client to
	// one node: reads are served there (which is what lets unsafe read
	// modes show). Empty lets the client pick (e.g. the leader).
	Home string
	// AttemptTimeout bounds one attempt of a request; 0 keeps the
	// client's default. A client retries what it can retry safely until
	// the request's context ends.
	AttemptTimeout time.Duration
	// Options are the run's options (e.g. the read mode, for systems
	// whose read mode is a client setting).
	Options Options
}

// registry holds the systems --system can name: ours, then any a program
// registers (Register).
var registry = struct {
	sync.RWMutex
	systems []System
}{systems: []System{KVNode{}, Etcd{}}}

// Register adds a system that runs can name by its Info().Name: a user's
// own system, from the user's own program or test (see the README's
// "Testing another system"). A name that is taken, or an empty one, is an
// error.
func Register(s System) error {
	name := s.Info().Name
	if name == "" {
		return errors.New("sut: register: the system's Info().Name is empty")
	}
	registry.Lock()
	defer registry.Unlock()
	for _, x := range registry.systems {
		if x.Info().Name == name {
			return fmt.Errorf("sut: register: a system named %q is already registered", name)
		}
	}
	registry.systems = append(registry.systems, s)
	return nil
}

// Names returns the known systems' names.
func Names() []string {
	registry.RLock()
	defer registry.RUnlock()
	names := make([]string, len(registry.systems))
	for i, s := range registry.systems {
		names[i] = s.Info().Name
	}
	return names
}

// ByName returns the named system.
func ByName(name string) (System, error) {
	registry.RLock()
	for _, s := range registry.systems {
		if s.Info().Name == name {
			registry.RUnlock()
			return s, nil
		}
	}
	registry.RUnlock()
	return nil, fmt.Errorf("unknown system %q: use one of %s", name, strings.Join(Names(), ", "))
}

// Default is the system a run tests unless told otherwise: our store.
func Default() System { return KVNode{} }

// Validate checks opts against the system's table: the read mode and the
// planted bugs must be its own, the lease only for a system that has one,
// a version only for a system that has versions, settings only those it
// declares, each value within its range (Setting.Check).
// Every error names the system and says what to use instead.
func (i Info) Validate(opts Options) error {
	var errs []string
	name := i.Name
	if m := opts.ReadMode; m != "" && !slices.Contains(i.ReadModes(), m) {
		errs = append(errs, fmt.Sprintf("%s: unknown read mode %q: use %s", name, m, joinModes(i.ReadModes())))
	}
	var names []string
	for _, b := range i.Bugs {
		if !b.ReadMode {
			names = append(names, b.Name)
		}
	}
	for _, b := range opts.Bugs {
		if !slices.Contains(names, b) {
			if len(names) == 0 {
				errs = append(errs, fmt.Sprintf("%s: unknown planted bug %q: it has none (its unsafe read modes are %s)", name, b, joinModes(i.ReadModes()[1:])))
			} else {
				errs = append(errs, fmt.Sprintf("%s: unknown planted bug %q: use %s", name, b, strings.Join(names, ", ")))
			}
		}
	}
	switch {
	case opts.LeaseDuration < 0:
		errs = append(errs, fmt.Sprintf("%s: lease duration %v: use 0 (the node's default) or a positive duration", name, opts.LeaseDuration))
	case opts.LeaseDuration != 0 && !i.Lease:
		errs = append(errs, fmt.Sprintf("%s has no read lease to set: drop the lease duration (it is kvnode's)", name))
	}
	switch {
	case opts.Version != "" && i.DefaultVersion == "":
		errs = append(errs, fmt.Sprintf("%s has one build, no versions to choose: drop the system version %q", name, opts.Version))
	case opts.Version != "" && !versionPattern.MatchString(opts.Version):
		errs = append(errs, fmt.Sprintf("%s: version %q: use a release tag such as %s", name, opts.Version, i.DefaultVersion))
	}
	var settings []string
	for _, s := range i.Settings {
		settings = append(settings, s.Name)
	}
	for _, k := range slices.Sorted(maps.Keys(opts.Settings)) {
		if j := slices.Index(settings, k); j >= 0 {
			if check := i.Settings[j].Check; check != nil {
				if err := check(opts.Settings[k]); err != nil {
					errs = append(errs, fmt.Sprintf("%s: setting %s=%s: %v", name, k, opts.Settings[k], err))
				}
			}
			continue
		}
		if len(settings) == 0 {
			errs = append(errs, fmt.Sprintf("%s: unknown setting %q: it takes none", name, k))
		} else {
			errs = append(errs, fmt.Sprintf("%s: unknown setting %q: use %s", name, k, orList(settings)))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(errs, "; "))
}

// versionPattern is a release tag: v1.2.3, with an optional pre-release
// suffix.
var versionPattern = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)

func joinModes(ms []ReadMode) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = string(m)
	}
	return orList(s)
}

// orList joins "a, b or c".
func orList(s []string) string {
	switch len(s) {
	case 0:
		return "none"
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}
