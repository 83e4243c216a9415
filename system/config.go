package system

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/system/raftlog"
)

// ReadMode selects how reads are served.
type ReadMode string

// Read modes. Only ReadLinearizable is safe.
const (
	// ReadLinearizable (default): ReadIndex. The leader captures its commit
	// index, confirms leadership with a quorum (VerifyLeader), waits until
	// that index is applied, then reads locally. A fresh leader first
	// commits an entry of its own term.
	ReadLinearizable ReadMode = "linearizable"
	// ReadLease (UNSAFE): the node answers reads locally while its clock
	// says the lease from its last quorum verification has not expired.
	// Trusts wall clocks: a skewed clock lets a deposed leader serve stale
	// reads.
	ReadLease ReadMode = "lease"
	// ReadStale (UNSAFE): any node answers reads from local state.
	ReadStale ReadMode = "stale"
)

// ParseReadMode parses a --read-mode value.
func ParseReadMode(s string) (ReadMode, error) {
	switch m := ReadMode(s); m {
	case ReadLinearizable, ReadLease, ReadStale:
		return m, nil
	}
	return "", fmt.Errorf("unknown read mode %q: use linearizable, lease (UNSAFE) or stale (UNSAFE)", s)
}

// Unsafe reports whether m is one of the deliberately unsafe modes.
func (m ReadMode) Unsafe() bool { return m == ReadLease || m == ReadStale }

// Peer is one cluster member.
type Peer struct {
	ID string
	// RaftAddr is the address other nodes dial for raft (host:port); it is
	// also the server address in the raft configuration.
	RaftAddr string
	// ClientAddr is the address clients dial (host:port); NOT_LEADER
	// answers name the leader by it.
	ClientAddr string
}

// ParsePeers parses "n1=host:7000,n2=host:7000" (client address = raft host
// + clientPort) or the explicit "n1=host:7000/host:7001" form.
func ParsePeers(s, clientPort string) ([]Peer, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty peer list: pass --peers n1=host:port,n2=host:port,...")
	}
	var out []Peer
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		id, addrs, ok := strings.Cut(part, "=")
		if !ok || id == "" || addrs == "" {
			return nil, fmt.Errorf("bad peer %q: want id=host:raftport or id=host:raftport/host:clientport", part)
		}
		if seen[id] {
			return nil, fmt.Errorf("duplicate peer id %q in the peer list", id)
		}
		seen[id] = true
		raftAddr, clientAddr, explicit := strings.Cut(addrs, "/")
		host, _, err := net.SplitHostPort(raftAddr)
		if err != nil {
			return nil, fmt.Errorf("peer %s: bad raft address %q: %w", id, raftAddr, err)
		}
		if !explicit {
			if clientPort == "" {
				return nil, fmt.Errorf("peer %s: no client address: use id=host:raftport/host:clientport or set the client port", id)
			}
			clientAddr = net.JoinHostPort(host, clientPort)
		}
		if _, _, err := net.SplitHostPort(clientAddr); err != nil {
			return nil, fmt.Errorf("peer %s: bad client address %q: %w", id, clientAddr, err)
		}
		out = append(out, Peer{ID: id, RaftAddr: raftAddr, ClientAddr: clientAddr})
	}
	return out, nil
}

// NodeConfig configures one store node. Start from DefaultNodeConfig().
type NodeConfig struct {
	// ID is this node's id; it must appear in Peers.
	ID string
	// Peers is the static cluster membership, this node included. It
	// bootstraps the cluster when DataDir holds no raft state (unless
	// Join), and names the peers' client addresses.
	Peers []Peer
	// Join makes a node without raft state join a running cluster as a
	// new member instead of bootstrapping one from Peers: it waits until
	// the leader adds it (POST /membership/add on the leader's admin
	// port), first as a non-voter, then as a voter once it caught up.
	Join bool
	// DataDir holds the raft log and stable store (raftlog/) and the
	// snapshots (snapshots/).
	DataDir string
	// RaftAddr is the raft listen address (e.g. "0.0.0.0:7000").
	RaftAddr string
	// RaftAdvertise is the address advertised to other nodes; empty means
	// this node's raft address from Peers, with its host resolved to an IP.
	RaftAdvertise string
	// ClientAddr is the client protocol listen address (e.g. "0.0.0.0:7001").
	ClientAddr string
	// AdminAddr is the admin HTTP listen address; empty disables it.
	AdminAddr string

	// ReadMode selects the read path (default linearizable).
	ReadMode ReadMode
	// LeaseDuration is the read lease for ReadLease.
	LeaseDuration time.Duration
	// UnsafeNoDedup makes the FSM ignore client ids and sequence numbers
	// (UNSAFE: retried mutations apply twice).
	UnsafeNoDedup bool
	// UnsafeNonatomicTxn applies a TXN's micro-ops as separate log
	// entries, so other requests interleave (UNSAFE: breaks atomicity and
	// isolation; see unsafe.go).
	UnsafeNonatomicTxn bool
	// UnsafeAckBeforeCommit makes the leader answer SET, CLEAR and APPEND
	// as soon as they are in its own log, before a quorum has them
	// (UNSAFE: acknowledged writes are lost when the leader is cut off).
	UnsafeAckBeforeCommit bool
	// UnsafeDefiniteTimeouts gives up on a request after 100 ms and
	// answers BUSY, which says "not applied", although its log entry may
	// still commit (UNSAFE: failed writes take effect).
	UnsafeDefiniteTimeouts bool
	// UnsafeNoFsync makes the raft log acknowledge entries once written,
	// without fdatasync, and write its meta file (term, vote) without
	// fsync (UNSAFE: a power failure loses acknowledged writes).
	UnsafeNoFsync bool
	// UnsafeRemovedServesReads makes a node that was removed from the
	// cluster's configuration answer reads from its own state, frozen at
	// its removal (UNSAFE: stale reads), where a safe one answers
	// NOT_LEADER.
	UnsafeRemovedServesReads bool
	// EnableFaultInjection allows POST /fault/* on the admin port.
	EnableFaultInjection bool

	// SnapshotInterval is how often raft checks whether to snapshot;
	// SnapshotThreshold is how many new log entries trigger one;
	// TrailingLogs is how many entries are kept after a snapshot.
	SnapshotInterval  time.Duration
	SnapshotThreshold uint64
	TrailingLogs      uint64

	// LogSegmentSize is the size of one raft log segment file
	// (preallocated; see package raftlog).
	LogSegmentSize int64

	// Raft timing, tuned for a LAN.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	// MaxAppendEntries bounds entries per AppendEntries RPC and per batch
	// written to disk (1..1024).
	MaxAppendEntries int

	// MaxInflightProposals bounds the raft log entries the node's proposal
	// batcher has in flight; client mutations arriving meanwhile are
	// batched into the next entry. Lower means bigger batches.
	MaxInflightProposals int

	// RequestTimeout bounds how long the server works on one request
	// before answering TIMEOUT (indeterminate).
	RequestTimeout time.Duration
	// MaxFrameSize is the largest accepted frame length, and the largest
	// answer sent (a larger one is replaced by TOO_LARGE).
	MaxFrameSize int
	// MaxConns bounds open client connections; a connection beyond it gets
	// BUSY for its first request and is closed.
	MaxConns int
	// MaxInflightPerConn bounds concurrently served requests per client
	// connection; a request beyond it gets BUSY (not applied).
	MaxInflightPerConn int
	// IdleTimeout closes a client connection when nothing arrives from the
	// client, or no answer can be written to it, for this long (requests
	// in flight are answered first). 0 disables it.
	IdleTimeout time.Duration

	// Logger receives the node's logs (raft's included, at RaftLogLevel
	// and above). Nil means slog.Default().
	Logger *slog.Logger
	// RaftLogLevel is the least severe raft log level passed on.
	RaftLogLevel slog.Level
	// Clock is the node's wall clock; nil means a fresh NewClock().
	Clock *Clock
}

// DefaultNodeConfig returns a config with every tunable set; fill in ID,
// Peers, DataDir and the addresses.
func DefaultNodeConfig() NodeConfig {
	return NodeConfig{
		ReadMode:             ReadLinearizable,
		LeaseDuration:        2 * time.Second,
		SnapshotInterval:     30 * time.Second,
		SnapshotThreshold:    16384,
		TrailingLogs:         10240,
		HeartbeatTimeout:     500 * time.Millisecond,
		ElectionTimeout:      500 * time.Millisecond,
		LeaderLeaseTimeout:   250 * time.Millisecond,
		CommitTimeout:        20 * time.Millisecond,
		LogSegmentSize:       raftlog.DefaultConfig().SegmentSize,
		MaxAppendEntries:     512,
		MaxInflightProposals: 1,
		RequestTimeout:       3 * time.Second,
		MaxFrameSize:         DefaultMaxFrameSize,
		MaxConns:             1024,
		MaxInflightPerConn:   1024,
		IdleTimeout:          2 * time.Minute,
		RaftLogLevel:         slog.LevelWarn,
	}
}

// Validate checks the config and says how to fix it.
func (c *NodeConfig) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.ID == "" {
		add("node id is empty: set --id")
	}
	if len(c.Peers) == 0 {
		add("no peers: set --peers n1=host:port,...")
	}
	found := false
	for _, p := range c.Peers {
		if p.ID == c.ID {
			found = true
		}
	}
	if c.ID != "" && len(c.Peers) > 0 && !found {
		add("node id %q is not in the peer list: add it to --peers", c.ID)
	}
	if c.DataDir == "" {
		add("data dir is empty: set --data")
	}
	for name, a := range map[string]string{"raft": c.RaftAddr, "client": c.ClientAddr} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			add("bad %s listen address %q: want host:port (%v)", name, a, err)
		}
	}
	if c.AdminAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdminAddr); err != nil {
			add("bad admin listen address %q: want host:port (%v)", c.AdminAddr, err)
		}
	}
	if _, err := ParseReadMode(string(c.ReadMode)); err != nil {
		add("%v", err)
	}
	if c.ReadMode == ReadLease && c.LeaseDuration <= 0 {
		add("lease duration must be positive for --read-mode lease")
	}
	if c.HeartbeatTimeout < 5*time.Millisecond || c.ElectionTimeout < c.HeartbeatTimeout {
		add("raft timeouts: need heartbeat >= 5ms and election (%v) >= heartbeat (%v)", c.ElectionTimeout, c.HeartbeatTimeout)
	}
	if c.LeaderLeaseTimeout < 5*time.Millisecond || c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		add("raft leader lease timeout (%v) must be between 5ms and the heartbeat timeout (%v)", c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	}
	if c.CommitTimeout < time.Millisecond {
		add("raft commit timeout must be >= 1ms")
	}
	if c.MaxAppendEntries < 1 || c.MaxAppendEntries > 1024 {
		add("max append entries %d must be in 1..1024", c.MaxAppendEntries)
	}
	if c.SnapshotInterval <= 0 || c.SnapshotThreshold == 0 {
		add("snapshot interval and threshold must be positive")
	}
	if c.LogSegmentSize < 4096 {
		add("log segment size %d is too small (>= 4096 bytes)", c.LogSegmentSize)
	}
	if c.MaxInflightProposals < 1 {
		add("max in-flight proposals must be >= 1")
	}
	if c.RequestTimeout <= 0 {
		add("request timeout must be positive")
	}
	if c.MaxFrameSize < 64 {
		add("max frame size %d is too small (>= 64)", c.MaxFrameSize)
	}
	if c.MaxConns < 1 {
		add("max connections %d must be >= 1", c.MaxConns)
	}
	if c.MaxInflightPerConn < 1 {
		add("max in-flight requests per connection %d must be >= 1", c.MaxInflightPerConn)
	}
	if c.IdleTimeout != 0 && c.IdleTimeout < time.Second {
		add("idle timeout %v must be 0 (never) or at least 1s", c.IdleTimeout)
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid node config: %w", errors.Join(errs...))
	}
	return nil
}

// PlantedBug is one of the store's deliberate bugs, there to prove the
// checkers can fail: kvnode --unsafe-NAME turns it on. Never on by
// default.
type PlantedBug struct {
	// Name is the flag name without --unsafe- (e.g. "no-dedup").
	Name string
	// Help says what breaks, starting with UNSAFE.
	Help string
	on   func(*NodeConfig) *bool
}

// Switch returns the field of c that turns the bug on.
func (b PlantedBug) Switch(c *NodeConfig) *bool { return b.on(c) }

// Planted bugs' names, for code that turns one on (the chaos suite's
// scenarios).
const (
	BugNoDedup            = "no-dedup"
	BugNonatomicTxn       = "nonatomic-txn"
	BugAckBeforeCommit    = "ack-before-commit"
	BugDefiniteTimeouts   = "definite-timeouts"
	BugNoFsync            = "no-fsync"
	BugRemovedServesReads = "removed-serves-reads"
)

var plantedBugs = []PlantedBug{
	{BugNoDedup, "UNSAFE: ignore client ids and sequence numbers, so retried mutations apply twice",
		func(c *NodeConfig) *bool { return &c.UnsafeNoDedup }},
	{BugNonatomicTxn, "UNSAFE: apply a transaction's micro-ops as separate log entries, so transactions interleave (bank totals break; G0/G1/G2 anomalies)",
		func(c *NodeConfig) *bool { return &c.UnsafeNonatomicTxn }},
	{BugAckBeforeCommit, "UNSAFE: the leader acknowledges SET/CLEAR/APPEND once they are in its own log, before a quorum has them (writes lost when the leader is cut off)",
		func(c *NodeConfig) *bool { return &c.UnsafeAckBeforeCommit }},
	{BugDefiniteTimeouts, "UNSAFE: give up on a request after 100ms and answer BUSY (not applied) although it may still apply (failed writes take effect; G1a)",
		func(c *NodeConfig) *bool { return &c.UnsafeDefiniteTimeouts }},
	{BugNoFsync, "UNSAFE: the raft log acknowledges entries after write(), never fdatasync, and the term and vote are not synced either (a power failure loses acknowledged writes)",
		func(c *NodeConfig) *bool { return &c.UnsafeNoFsync }},
	{BugRemovedServesReads, "UNSAFE: a node removed from the cluster's configuration keeps answering reads from its own state, frozen at its removal, instead of NOT_LEADER (stale reads until it stops)",
		func(c *NodeConfig) *bool { return &c.UnsafeRemovedServesReads }},
}

// PlantedBugs lists the store's planted bugs; the unsafe read modes are
// separate (ReadMode).
func PlantedBugs() []PlantedBug { return slices.Clone(plantedBugs) }

// UnsafeFlags names the planted bugs c turns on.
func (c *NodeConfig) UnsafeFlags() []string {
	out := []string{}
	for _, b := range plantedBugs {
		if *b.on(c) {
			out = append(out, b.Name)
		}
	}
	return out
}

// MemberID is the raft server id of node's k-th identity: a node that
// left the cluster and joined it again as a new member runs as "n3.2",
// "n3.3", ...; its first identity is the node id itself. NodeOfMember
// takes it back.
func MemberID(node string, k int) string {
	if k <= 1 {
		return node
	}
	return node + "." + strconv.Itoa(k)
}

// NodeOfMember is the node id of a raft server id that MemberID made:
// "n3" for "n3.2" and for "n3".
func NodeOfMember(id string) string {
	if i := strings.LastIndexByte(id, '.'); i > 0 {
		if k, err := strconv.Atoi(id[i+1:]); err == nil && k > 1 {
			return id[:i]
		}
	}
	return id
}

func (c *NodeConfig) peer(id string) (Peer, bool) {
	for _, p := range c.Peers {
		if p.ID == id {
			return p, true
		}
	}
	return Peer{}, false
}
