// Package workload drives client operations against the store under test
// and records them in a history, the Jepsen way.
//
// A Workload (register, bank, list-append, set, queue) supplies a main Generator,
// a final Generator, the client-side execution of each op against a KV (the
// consumer-defined interface every system under test's client implements,
// see package sut, with its micro-ops and its definite/indefinite error
// contract) and the names of the checkers that judge its history. A Runner runs C workers: each takes the
// next op from its own per-worker generator, records the invoke, calls the
// store with a per-op deadline and records ok (it happened), fail (it
// definitely did not: an error for which IsDefinite holds) or info (unknown: timeout,
// connection lost, deadline). After an info the worker continues as a fresh
// process (worker + k*C).
//
// Generators are deterministic by seed: each worker has its own
// *rand.Rand seeded from (seed, worker, phase), and the built-in workloads
// derive unique values from per-worker counters (value = n*C + worker + 1),
// so the same seed yields the same op sequence for each worker whatever the
// interleaving. Combinators: Mix, Limit, TimeLimit, Stagger, Rate (a
// golang.org/x/time/rate limiter shared by all workers), Phases, OnWorker.
//
// MemKV is an in-memory linearizable KV with fault knobs, for tests here and
// in other packages.
package workload
