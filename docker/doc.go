// Package docker runs a cluster of a system under test (a sut.System: our
// store, etcd, ...) in Docker containers for the faultline harness, through
// testcontainers-go.
//
// The node image is package engine's (FROM scratch, the system's static
// binaries and netctl; nothing is ever pulled). What both runtimes do
// alike (probing with the system's Probe, addresses, logs, labels, the
// reaping of dead runs' leftovers) is package cluster's.
//
// [Start] creates a private bridge network per run and containers n1..nN
// (network aliases n1..nN) running each node's spec (sut.NodeSpec: command,
// environment, ports), its exposed ports published on 127.0.0.1 only, at
// host ports chosen up front so that they survive a kill and restart, and
// CAP_NET_ADMIN so that netctl can install nftables rules. Readiness and
// the leader come from the system's Probe. Every container and network carries the labels
// faultline=1, faultline.run=<run id> and faultline.pid=<owning pid>;
// leftovers of a crashed earlier run (whose pid is gone) are reaped on Start.
//
// Each node's lifecycle is an explicit state machine (Created, Running,
// Paused, Killed, Left, Removed): an illegal transition, such as pausing a
// killed node, fails with an error wrapping [ErrIllegalTransition]. A node
// that leaves the cluster (the membership fault) loses its container and
// volume, its log kept; it joins again in a new container on the same
// alias and host ports, with a fresh identity's spec.
//
// [Cluster.Close] removes everything and works with a cancelled context;
// [Reap] removes what runs whose harness died left behind.
//
// The engine connection (engine.Client) sets TESTCONTAINERS_RYUK_DISABLED=true
// and TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 when they are unset.
package docker
