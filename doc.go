// Package faultline is a Jepsen-style chaos testing harness.
//
// A Raft-replicated transactional key-value store (package system) runs as a
// cluster of Docker containers (package docker). While client workers drive a
// workload (package workload) against it, a nemesis (package nemesis) injects
// network partitions, packet loss, process kills and pauses, and clock skew.
// Every operation is recorded in a history (package history); checkers
// (package checker) decide whether it is linearizable, serializable or
// lossless; package reports renders a self-contained HTML report.
//
// Run ties it together: build the image, start the cluster, run the
// workload and nemesis, heal, check, report and tear everything down.
package faultline
