// Package checker decides whether a recorded history is correct.
//
// A Checker looks at a whole history ([]history.Op, invokes and completions
// as Jepsen records them) and returns a Result: Valid, Invalid (always with
// an explanation in words naming the ops involved) or Unknown (timeout, bad
// input, panic). Run executes several checkers concurrently, each under its
// own time limit, recovers their panics, and composes the verdicts
// (Invalid > Unknown > Valid) into the Results written to results.json.
//
// The checkers:
//   - Linearizable: porcupine over the register, cas-register and kv models,
//     partitioned per key; info ops may take effect at any time after their
//     invocation; a failing key's porcupine visualisation is written as HTML.
//   - ListAppend: an Elle-style checker for transactions of appends and reads
//     of lists: it infers version orders from reads, builds the ww/wr/rw/
//     realtime/process dependency graph and reports G0, G1a, G1b, G1c,
//     G-single, G2, internal, duplicate and incompatible-order anomalies with
//     the consistency models they rule out.
//   - Bank: constant total, no negative balances.
//   - Set: lost, unexpected, recovered and stale elements.
//   - Stats, Latency and Availability: informational figures for reports
//     (counts, HdrHistogram quantiles, throughput over time, recovery after
//     the final heal).
//
// Histories may come from memory or from JSONL/EDN decoding: every value is
// read through history.Int and history.List, so number and list
// representations do not matter.
package checker
