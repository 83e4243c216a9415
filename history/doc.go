// Package history holds the record of a test run: the Op type, a streaming
// concurrency-safe Recorder that writes history.jsonl as operations happen,
// writers for JSONL and Jepsen's EDN, and one Decoder that reads, op by op,
// every form Jepsen, Knossos and Elle write (EDN lines or vectors, JSON
// arrays, with or without :time, :index, :process or :f) and our JSONL.
//
// Semantics follow Jepsen exactly: every client operation is recorded twice,
// once as an invoke and once as its completion (ok, fail or info). ok means
// the operation happened, fail means it definitely did not, info means the
// outcome is unknown (timeout, connection lost) and the operation may take
// effect at any time after its invocation. After an info completion the
// worker continues under a fresh process id. Nemesis operations use process
// NemesisProcess (-1) and are written as :nemesis in EDN. Pairs and Pairer
// hold the one set of rules for matching completions with invocations;
// Pairing says which histories read from a file can be paired at all.
//
// A history is evidence only if it was read whole: the Decoder refuses a
// torn last line (except, with DropTornTail, in our own history.jsonl after
// a crash), keeps integers exact at any size, and says in ReadStats how many
// ops it read, dropped and refused, and why.
package history
