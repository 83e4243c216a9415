// Package bench holds faultline's `go test -bench` suites: the store under
// test (containerised and in-process), the store under faults, the checkers
// and the harness itself. Every benchmark reports custom metrics with
// b.ReportMetric (ops/s, p50-ms, p99-ms, p999-ms from an HdrHistogram, ...)
// so that benchstat can compare two runs:
//
//	make bench                          # writes bench/results/<date>.txt
//	make bench-compare OLD=a.txt NEW=b.txt
//
// or directly:
//
//	go test -run '^$' -bench Store/docker -benchtime 1x ./bench/ \
//	    -bench.duration 5s -bench.concurrency 1,64 -bench.value-size 1024
//
// # Benchmarks
//
//   - BenchmarkStore: PUT, GET (linearizable), CAS, TXN (4 micro-ops) and a
//     50/50 PUT/GET mix at each -bench.concurrency, on one containerised
//     cluster of -bench.nodes (shared by every sub-benchmark, closed at the
//     end) and on an in-process cluster (real raft, real fsync, loopback
//     TCP, no Docker).
//   - BenchmarkFaults: the mix while one follower is killed and while the
//     leader is isolated (netctl drop on both sides): throughput during the
//     fault as a share of the fault-free figure, and time to first ok.
//   - BenchmarkCheckers: ops checked per second and allocated bytes per op
//     for the register (porcupine) and list-append checkers on generated
//     histories of each -bench.checker-sizes.
//   - BenchmarkRecorder and BenchmarkRunner: recording cost per op and the
//     generator + runner + recorder throughput against an in-memory store.
//
// Cluster start to leader is docker.BenchmarkStartToLeader (docker/), and
// system.BenchmarkCluster (system/) is the store author's own in-process
// PUT/GET benchmark; `make bench` runs the former too.
//
// # Measurement windows
//
// A store measurement is a time window of -bench.duration (also capped at
// -bench.max-ops operations): each b.N iteration is one window, so run with
// -benchtime 1x (any -benchtime shorter than the window gives one window as
// well). ns/op is overridden with the mean time per completed op (1/throughput)
// so that it means something. Docker benchmarks skip without Docker (and
// fail when CI=true), and no container is started unless one of them runs.
package bench
