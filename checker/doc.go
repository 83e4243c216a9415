// Package checker decides whether a recorded history is correct.
//
// A Checker looks at a whole history ([]history.Op, invocations and
// completions as Jepsen records them) and returns a Result: Valid, Invalid
// (always with anomalies named as Elle and Jepsen name them, each with an
// explanation, a one-line summary, the ops involved and, for dependency
// cycles, the cycle) or Unknown (time limit, bad input, panic). Run
// executes several checkers concurrently, each under its own time limit,
// recovers their panics, and composes the verdicts (Invalid > Unknown >
// Valid) into the Results written to results.json. A Streamer takes a
// history one op at a time (RunStream), so that histories of millions of
// ops are checked as they are read.
//
// Models and New are the one list of checkers `faultline check --model`
// runs, under the names Jepsen's users know:
//   - cas-register, register, kv, mutex: Linearizable, porcupine key by key
//     (Jepsen's independent [k v] tuples), ops ordered by their position in
//     the history (so a history without :time is ordered as Knossos orders
//     it); a failing key's visualisation is written as HTML.
//   - list-append and rw-register: Elle's checkers. Version orders are
//     inferred (list-append from reads; rw-register from the initial nil,
//     writes following reads and, under strict serializability, process
//     and realtime order), the ww/wr/rw/process/realtime dependency graph
//     is searched (graph.go) for the cycles the consistency model forbids
//     (consistency.go, Elle's graphs of models and anomalies), and each is
//     named (G0, G1c, G-single, G-nonadjacent, G2-item, with -process or
//     -realtime) and explained (elle.go); G1a, G1b, internal, future-read,
//     dirty-update, lost-update, duplicate-elements, incompatible-order,
//     cyclic-versions and garbage reads too.
//   - long-fork (Jepsen's long-fork: two reads that saw writes of
//     different keys in opposite orders), bank (Jepsen's bank: wrong-total,
//     negative-value, unexpected-key, missing-key, nil-balance), set
//     (Jepsen's set-full: lost, stale, never-read, unexpected, duplicated),
//     counter (reads within the bounds of the adds: out-of-bounds),
//     queue (Jepsen's NATS queue test: lost, split per writer into
//     prefix, middle and postfix, lost-on-node, unexpected, total-loss
//     when the stream is gone; recovered and duplicated counted).
//
// CheckFile is `faultline check`: it reads a history file op by op,
// holds it to the model's pairing rules (history.Pairing), refuses what it
// cannot read whole, and says in the result's Input how many ops it read,
// dropped or refused, and why.
//
// Stats, Latency and Availability give informational figures for reports
// (counts, HdrHistogram quantiles, throughput over time, recovery after the
// final heal).
//
// Histories may come from memory or from JSONL/EDN decoding: every value is
// read through history.Int (or IntOf) and history.List, so number and list
// representations do not matter. Numbers are exact: a value a model cannot
// take exactly makes its verdict unknown, and sums (bank, counter) never
// wrap. A history with no client op is unknown under every model.
package checker
