// Command kvnode runs one node of the faultline store (package system).
//
//	kvnode --id n1 --peers n1=n1:7000,n2=n2:7000,n3=n3:7000 --data /data \
//	       --raft-addr 0.0.0.0:7000 --client-addr 0.0.0.0:7001 --admin-addr 0.0.0.0:7002
//
// A peer's client address is its raft host plus the port of --client-addr,
// unless given explicitly as id=host:raftport/host:clientport.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/faultline/faultline/system"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// usageError marks bad command-line input (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

// parseFlags turns the command line into a node config and a log level.
func parseFlags(args []string, stderr io.Writer) (system.NodeConfig, slog.Level, error) {
	cfg := system.DefaultNodeConfig()
	fs := flag.NewFlagSet("kvnode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var peers, readMode, logLevel, raftLogLevel string
	fs.StringVar(&cfg.ID, "id", "", "this node's id (must appear in --peers)")
	fs.StringVar(&peers, "peers", "", "static cluster: id=host:raftport,... (client address = host + the --client-addr port) or id=host:raftport/host:clientport")
	fs.StringVar(&cfg.DataDir, "data", "", "data directory (raft log, stable store, snapshots)")
	fs.BoolVar(&cfg.Join, "join", false, "with an empty data directory, join a running cluster as a new member (the leader adds it: POST /membership/add) instead of bootstrapping one from --peers")
	fs.StringVar(&cfg.RaftAddr, "raft-addr", "0.0.0.0:7000", "raft listen address")
	fs.StringVar(&cfg.RaftAdvertise, "raft-advertise", "", "raft address advertised to peers (default: this node's --peers address, host resolved to an IP)")
	fs.StringVar(&cfg.ClientAddr, "client-addr", "0.0.0.0:7001", "client protocol listen address")
	fs.StringVar(&cfg.AdminAddr, "admin-addr", "0.0.0.0:7002", "admin HTTP listen address (empty disables)")
	fs.StringVar(&readMode, "read-mode", string(system.ReadLinearizable), "read path: linearizable (safe), lease (UNSAFE: trusts wall clocks) or stale (UNSAFE: any node answers from local state)")
	fs.DurationVar(&cfg.LeaseDuration, "lease-duration", cfg.LeaseDuration, "read lease length for --read-mode lease (UNSAFE mode)")
	for _, b := range system.PlantedBugs() {
		fs.BoolVar(b.Switch(&cfg), "unsafe-"+b.Name, false, b.Help)
	}
	fs.BoolVar(&cfg.EnableFaultInjection, "enable-fault-injection", false, "allow POST /fault/clock on the admin port")
	fs.DurationVar(&cfg.SnapshotInterval, "snapshot-interval", cfg.SnapshotInterval, "how often to check whether to snapshot and compact the log")
	fs.Uint64Var(&cfg.SnapshotThreshold, "snapshot-threshold", cfg.SnapshotThreshold, "new log entries that trigger a snapshot")
	fs.DurationVar(&cfg.HeartbeatTimeout, "heartbeat-timeout", cfg.HeartbeatTimeout, "raft heartbeat timeout")
	fs.DurationVar(&cfg.ElectionTimeout, "election-timeout", cfg.ElectionTimeout, "raft election timeout")
	fs.DurationVar(&cfg.LeaderLeaseTimeout, "leader-lease-timeout", cfg.LeaderLeaseTimeout, "raft leader lease timeout (<= heartbeat timeout)")
	fs.DurationVar(&cfg.RequestTimeout, "request-timeout", cfg.RequestTimeout, "server-side bound on one request before it answers TIMEOUT")
	fs.IntVar(&cfg.MaxFrameSize, "max-frame-size", cfg.MaxFrameSize, "largest accepted request and largest answer, bytes (a larger answer is replaced by TOO_LARGE)")
	fs.IntVar(&cfg.MaxConns, "max-conns", cfg.MaxConns, "most open client connections; one more gets BUSY for its first request and is closed")
	fs.IntVar(&cfg.MaxInflightPerConn, "max-inflight-per-conn", cfg.MaxInflightPerConn, "most requests served at once per client connection; one more gets BUSY (not applied)")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", cfg.IdleTimeout, "close a client connection that sends nothing (or reads no answer) for this long; 0 never")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&raftLogLevel, "raft-log-level", "warn", "least severe raft log level passed on: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, 0, err
		}
		return cfg, 0, usageError{err}
	}
	if fs.NArg() > 0 {
		return cfg, 0, usageError{fmt.Errorf("unexpected arguments %q: kvnode takes only flags", fs.Args())}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
		return cfg, 0, usageError{fmt.Errorf("bad --log-level %q: use debug, info, warn or error", logLevel)}
	}
	if err := cfg.RaftLogLevel.UnmarshalText([]byte(raftLogLevel)); err != nil {
		return cfg, 0, usageError{fmt.Errorf("bad --raft-log-level %q: use debug, info, warn or error", raftLogLevel)}
	}
	m, err := system.ParseReadMode(readMode)
	if err != nil {
		return cfg, 0, usageError{fmt.Errorf("bad --read-mode: %w", err)}
	}
	cfg.ReadMode = m
	_, clientPort, err := net.SplitHostPort(cfg.ClientAddr)
	if err != nil {
		return cfg, 0, usageError{fmt.Errorf("bad --client-addr %q: want host:port", cfg.ClientAddr)}
	}
	if cfg.Peers, err = system.ParsePeers(peers, clientPort); err != nil {
		return cfg, 0, usageError{fmt.Errorf("bad --peers: %w", err)}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, 0, usageError{err}
	}
	return cfg, lvl, nil
}

func run(args []string, stderr io.Writer) int {
	cfg, lvl, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "kvnode: %v\nRun kvnode --help for usage.\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	cfg.Logger = log
	if unsafe := cfg.UnsafeFlags(); cfg.ReadMode.Unsafe() || len(unsafe) > 0 {
		log.Warn("!!! UNSAFE MODE: this node deliberately violates consistency to test checkers; never use it for real data !!!",
			"read_mode", cfg.ReadMode, "unsafe", unsafe)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	node, err := system.StartNode(ctx, cfg)
	if err != nil {
		log.Error("kvnode failed to start", "err", err)
		return 1
	}
	<-ctx.Done()
	log.Info("signal received; shutting down")
	if err := node.Close(); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	return 0
}
