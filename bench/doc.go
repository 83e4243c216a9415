// Package bench holds faultline's `go test -bench` suites: the systems
// under test (containerised, side by side, and our store in-process), the
// same under faults, the checkers and the harness itself. Every benchmark reports custom metrics with
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
//     50/50 PUT/GET mix at each -bench.concurrency, on a containerised
//     cluster of -bench.nodes of every system of -bench.systems (default
//     kvnode,etcd; all up at once, shared by every sub-benchmark, closed at
//     the end) and on an in-process cluster of our store (real raft, real
//     fsync, loopback TCP, no Docker). Windows are named
//     <kind>/clients=<n>/system=<name>; the systems are measured one after
//     the other for each kind and concurrency, and <kind>/clients=<n>/
//     kvnode:etcd reports ours over theirs (ops/s-ratio, p50-ratio,
//     p99-ratio, p999-ratio), so that a noisy machine affects both sides
//     of a ratio alike. Every system is driven through its own client of
//     the workloads' interface (sut.System.NewClient), bound to the leader.
//   - BenchmarkFaults: the mix while one follower is killed and while the
//     leader is isolated (netctl drop on both sides), for every system:
//     throughput during the fault as a share of the fault-free figure, and
//     time to first ok.
//   - BenchmarkCheckers: ops checked per second and allocated bytes per op
//     for the register (porcupine) and list-append checkers on generated
//     histories of each -bench.checker-sizes.
//   - BenchmarkRecorder and BenchmarkRunner: recording cost per op and the
//     generator + runner + recorder throughput against an in-memory store.
//
// Cluster start to leader is docker.BenchmarkStartToLeader (docker/, per
// system), and
// system.BenchmarkCluster (system/) is the store author's own in-process
// PUT/GET benchmark; `make bench` runs the former too.
//
// # Clients
//
// The goroutines of a window share -bench.conns clients (default one per
// 64 goroutines): our protocol is pipelined and a shared connection
// coalesces concurrent requests into fewer writes, which measured faster
// than one connection per goroutine; an etcd client multiplexes requests
// over one gRPC (HTTP/2) connection. Against Docker the clients dial the
// containers' private IPs (-bench.direct, default on), not the ports
// published on 127.0.0.1 through docker-proxy, so that the system is
// measured rather than the proxy. Besides ops/s and latency the
// store benchmarks report cpu-us/op (this process's CPU per ok op: the
// whole cluster's in-process, only the clients' against Docker) and
// ops/entry (ops per raft log entry the leader committed meanwhile: how
// well mutations are batched).
//
// # Noise
//
// Each sub-benchmark is one window, so benchstat shows no confidence
// interval; `make bench BENCHFLAGS=-count=3` repeats everything (three
// times as long). Figures from a machine that other jobs share (Docker
// tests, builds) are not comparable with a quiet run's: check the load
// average before comparing.
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
