// Package faultline is a Jepsen-style chaos testing harness: this package
// is one run and its plan.
//
// A Test is a run's configuration, as parsed values, tied to its flags,
// its test.json keys and its rerun command by one table (params.go).
// Test.Plan resolves it, once, into a Plan: the system under test (package
// sut: our Raft-replicated store, etcd, or a system a program registers)
// with its options, the workload (package workload), the nemesis
// configuration (package nemesis) and the checkers (package checker).
//
// Run runs a plan: it starts the cluster on the runtime Env gives (package
// docker: containers on the local engine; package kubernetes: pods), runs
// the workload's clients and the nemesis side by side while every
// operation is recorded in a history (package history), heals, runs the
// final reads, checks the history, writes a self-contained report
// (package reports) and tears everything down. Analyze re-checks a stored
// run. The chaos suite is package suite; the command line is
// cmd/faultline.
package faultline
