// Package cluster is what every runtime of a cluster under test (package
// docker: containers on the local engine; package kubernetes: pods) does
// alike, so that each runtime keeps only what is its own:
//
//   - Spec: the cluster a runtime starts (the system, its options, the
//     node count, the image), with its defaults and validation;
//   - Core: the node ids, the addresses of the nodes' exposed ports,
//     probing with the system's Probe (Status, Leader, WaitHealthy), the
//     clock hook, membership changes through the system's API (a node
//     leaves, and joins again under a fresh identity, which the runtime
//     starts), and the nodes' logs, which a runtime embeds;
//   - the labels every resource of a run carries, and whether the process
//     that owns a leftover is still alive (so that the leftovers of
//     crashed runs are reaped and nobody else's);
//   - the node states the runtimes report, in the nemesis's words.
package cluster
