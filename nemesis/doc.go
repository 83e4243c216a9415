// Package nemesis injects faults into a running cluster and records them in
// the history: network partitions (grudges applied with netctl), random
// packet loss, process kills and pauses, clock skew through each node's
// admin endpoint, and membership changes through the system's own API
// (MemberCluster: a node leaves, and joins again under a fresh identity).
//
// The package is built from small pieces:
//
//   - Grudge: a pure "node -> nodes whose packets it drops" map, with
//     constructors for the classic Jepsen shapes (halves, random-halves, one,
//     majority-ring, bridge, leader, one-way).
//   - Nemesis: one fault family (Invoke an op, Teardown, the Fs it handles);
//     Compose dispatches by f. New builds the composed nemesis a Config
//     enables; Config.WithSpec parses "partition,kill,pause,clock,loss".
//   - Schedule: a seeded, deterministic list of (offset, op) steps that
//     alternates start-fault / stop-fault every Config.Interval, in a
//     shuffled rotation (kinds first, then options) that runs every
//     required Fault (Config.Required) before repeating any;
//     Config.CheckTimeLimit refuses a time limit too short for them.
//   - Happened: the faults a history shows took effect (kind:option), and
//     Missing: the required ones among them that did not.
//   - ScheduleFile: an explicit schedule (schedule.json): Realise reads
//     the faults a history shows into one, each with its nodes and what
//     its kind needs to do it again (Kind.record); Validate refuses one
//     that cannot run; Config.Replay runs one instead of a generated
//     schedule, each start op pinned (PinKey, Kind.replay) so the nemesis
//     draws nothing; Relabel swaps two nodes' names so that a replay's
//     leader plays the part of the leader the schedule recorded.
//   - Run: the nemesis worker; it sleeps to each offset and records the
//     invoke and the completion of every op as process
//     history.NemesisProcess.
//   - HealAll: the final phase; it resumes, restarts (nodes that crashed by
//     themselves too, as the runtime reports them), heals the network,
//     resets every clock, brings back every node that left the cluster
//     and waits (bounded) until the cluster is healthy.
//
// Every fault is confirmed in effect before its completion is recorded as
// ok (netctl list, parsed by package netrule, shows the rules asked for;
// the container state reads back; /status shows the clock offset). A fault
// that cannot be applied or confirmed is recorded as info with the error,
// never skipped silently.
//
// The consumer interfaces Cluster and Recorder are defined here; the Docker
// runtime and history.Recorder satisfy them.
package nemesis
