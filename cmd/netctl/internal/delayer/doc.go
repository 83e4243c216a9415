// Package delayer holds packets for a delay and then lets them through:
// the userspace half of netctl's delay rules, for kernels without netem.
//
// An nftables rule hands a link's packets to an nfnetlink queue (with the
// bypass flag: while nobody listens on the queue the packets pass
// undelayed). One delayer process per queue binds to it (Open), holds
// each packet for the rule's mean delay ± a jitter drawn from a PRNG
// seeded with the rule's seed (Schedule), and accepts it when it is due
// (Run). Packets of one flow (protocol, addresses, ports) leave in the
// order they came: a packet whose draw would overtake an earlier packet
// of its flow waits for it, as netem does with its default queue.
//
// A delayer listens on an abstract unix socket named after its queue, in
// the network namespace it serves (Serve). Stop asks it to release every
// held packet at once, wait until the kernel queue is empty, unbind and
// exit; Running lists the delayers of the namespace from /proc/net/unix.
package delayer
