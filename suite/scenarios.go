package suite

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline"

	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/sut"
	"github.com/faultline/faultline/system"
	"github.com/faultline/faultline/workload"
)

// Default is the matrix `make chaos` runs in CI: every workload and
// every fault kind on the safe configuration (must be valid), and every
// planted bug (must be caught), on our store and on etcd. timeLimit is each
// scenario's main phase (raised where the named faults need longer).
func Default(timeLimit time.Duration) []Scenario {
	var out []Scenario
	for _, s := range scenarios(timeLimit) {
		if !s.Nightly {
			out = append(out, s)
		}
	}
	return out
}

// All is every scenario, the nightly-only ones too (marked), at the CI
// matrix's size and pace: what `faultline suite --only` picks from.
func All(timeLimit time.Duration) []Scenario { return scenarios(timeLimit) }

// scenarios is every scenario, the nightly-only ones marked.
func scenarios(timeLimit time.Duration) []Scenario {
	t := func(w, spec string, expect faultline.Expect) faultline.Test {
		x := faultline.DefaultTest()
		x.Workload = workload.Name(w)
		x.Nemesis = nemesis.MustParseSpec(spec)
		x.TimeLimit = timeLimit
		x.NemesisInterval = 3 * time.Second
		x.OpTimeout = time.Second
		x.Expect = expect
		x.Quiet = true
		if len(x.Nemesis.Kinds()) > 1 {
			// Each kind on its own staggered cycle: every named fault
			// happens within a short main phase, and faults overlap.
			x.NemesisConcurrent = true
		}
		return fitTimeLimit(x)
	}
	safe := func(w, spec string) faultline.Test { return t(w, spec, faultline.ExpectValid) }
	stale := t("register", "partition", faultline.ExpectInvalid)
	stale.ReadMode = sut.KVNodeReadStale
	// The lease bug shows when a deposed leader keeps serving reads: isolate
	// the leader while clocks jump (a backward jump revives an expired
	// lease), faults overlapping, with more cycles than the default.
	lease := t("register", "partition:leader,clock:bump+all", faultline.ExpectInvalid)
	lease.ReadMode = sut.KVNodeReadLease
	lease.NemesisConcurrent = true
	lease.NemesisInterval = 2 * time.Second
	lease.LeaseDuration = 5 * time.Second // ten election timeouts
	// More isolate-and-skew cycles than 12 s gives: a CI run missed the
	// bug at 12 s (its seed caught it twice on rerun: timing, not the
	// schedule).
	lease.TimeLimit = max(timeLimit, 18*time.Second)
	lease = fitTimeLimit(lease)
	// Duplicates need a request that took effect but was retried: a leader
	// frozen or killed after its followers have an entry and before it
	// answers. The new leader commits the entry, and the client's retry,
	// with room in its deadline for an election, applies it again. One
	// fault at a time, many of them: with pause and kill overlapping the
	// cluster is leaderless for long stretches and the retries time out
	// too; packet loss on the leader moves the leadership away instead.
	nodedup := t("set", "pause:leader,kill:leader", faultline.ExpectInvalid)
	nodedup.Unsafe = []string{system.BugNoDedup}
	nodedup.OpTimeout = 3 * time.Second // room for a retry on the new leader
	nodedup.Concurrency = 16            // more requests in flight when the leader goes
	// Seven leader faults or so: the interval counts from each op's
	// completion, so a fault and its undo take 1.5 s each plus the op's
	// own time (a kill and its restart about 2 s under load). With 24 s
	// (five faults) 4 of 20 loaded runs duplicated nothing.
	nodedup.NemesisInterval = 1500 * time.Millisecond
	nodedup.TimeLimit = max(timeLimit, 32*time.Second)
	nodedup.NemesisConcurrent = false
	nodedup = fitTimeLimit(nodedup)
	// A transaction applied as one log entry per micro-op: the bank sees
	// totals break, no fault needed.
	nonatomic := t("bank", "none", faultline.ExpectInvalid)
	nonatomic.Unsafe = []string{system.BugNonatomicTxn}
	// A write acknowledged before a quorum has it is lost when the leader
	// is cut off: isolate the leader again and again.
	ackEarly := t("set", "partition:leader", faultline.ExpectInvalid)
	ackEarly.Unsafe = []string{system.BugAckBeforeCommit}
	ackEarly.NemesisInterval = 2 * time.Second
	ackEarly = fitTimeLimit(ackEarly)
	// A timeout answered "not applied" while the entry still commits: slow
	// the leader's links so commits take longer than the node waits; the
	// list-append checker sees failed appends read back (G1a).
	definite := t("list-append", "loss:40+leader", faultline.ExpectInvalid)
	definite.Unsafe = []string{system.BugDefiniteTimeouts}
	// Several loss cycles per run: with one (the 3 s default interval in
	// 12 s), 2 of 10 quiet runs saw no failed append read back.
	definite.NemesisInterval = 1500 * time.Millisecond
	definite = fitTimeLimit(definite)
	// Durability: every node killed at once, again and again, under
	// writes; no acknowledged add may be lost.
	killAll := safe("set", "kill:all")
	killAll.TimeLimit = max(timeLimit, 15*time.Second) // two kill:all cycles at the 3 s interval
	// Disk faults: every node's power fails at once, again and again,
	// under writes (the nodes' data on faultfs, which drops what was not
	// fsynced): no acknowledged add may be lost. With the raft log never
	// fsyncing, only a power failure loses what it acknowledged.
	powerAll := safe("set", "power:all")
	powerAll.TimeLimit = max(timeLimit, 15*time.Second) // two power failures at the 3 s interval
	noFsync := powerAll
	noFsync.Expect, noFsync.Unsafe = faultline.ExpectInvalid, []string{system.BugNoFsync}
	// kvnode's safe one snapshots every 300 entries, checked each second:
	// its power failures meet snapshots, as a longer run's do, where a
	// snapshot raft's file store never made durable left every node
	// refusing to vote.
	powerAllSnaps := powerAll
	powerAllSnaps.SystemOpt = []string{"snapshot-threshold=300", "snapshot-interval=1s"}
	// A minority's durable files corrupted while it is down (bit flips,
	// a truncation, a rollback), one mode after another.
	corrupt := safe("set", "corrupt")
	corrupt.TimeLimit = max(timeLimit, 24*time.Second) // the three modes at the 3 s interval
	corrupt = fitTimeLimit(corrupt)
	// etcd's WAL (CRC-checked records) corrupted on a minority: a member
	// that finds a bad record refuses to start, the others serve.
	corruptWAL := corrupt
	corruptWAL.Nemesis = nemesis.MustParseSpec("corrupt:file=member/wal/*.wal")
	// Membership: members leave (removed through the system's API,
	// stopped, wiped) and join again under a fresh identity, a learner
	// first, or are replaced at once; a change or two a run.
	membership := func(w string) faultline.Test {
		x := safe(w, nemesis.FaultMembership)
		x.TimeLimit = max(timeLimit, 20*time.Second)
		return x
	}
	// A removed node that keeps answering reads from its frozen state:
	// the leave lets it run for its grace (2 s) while its clients read.
	removedReads := membership("register")
	removedReads.Nemesis = nemesis.MustParseSpec(nemesis.FaultMembership + ":" + nemesis.MemberLeave)
	removedReads.Expect, removedReads.Unsafe = faultline.ExpectInvalid, []string{system.BugRemovedServesReads}
	// etcd: the same workloads and checkers on a system we did not write,
	// every fault kind it supports (it has no clock hook); its planted bug
	// is serializable reads, served by a member cut off by a partition.
	etcd := func(x faultline.Test) faultline.Test { x.System = sut.Etcd{}.Info().Name; return x }
	serializable := etcd(t("register", "partition", faultline.ExpectInvalid))
	serializable.ReadMode = sut.EtcdReadSerializable
	// Two partitions in 12 s: at the 3 s default, counted from each op's
	// completion, one fits, and 2 of 10 loaded runs read nothing stale.
	serializable.NemesisInterval = 2 * time.Second
	serializable = fitTimeLimit(serializable)
	// NATS JetStream (jepsen.io/analyses/nats-2.12.1): the queue
	// workload, one stream replicated on every node. The findings are
	// pinned to the release the analysis tested; the safe scenario runs
	// the newest release with every write fsynced before its ack.
	nats := func(version string, spec string, expect faultline.Expect, settings ...string) faultline.Test {
		x := t("queue", spec, expect)
		x.System, x.SystemVersion, x.SystemOpt = "nats", version, settings
		x.TimeLimit = max(timeLimit, 20*time.Second)
		return fitTimeLimit(x)
	}
	natsQueue := nats("", "kill,partition,pause", faultline.ExpectValid, "sync_interval=always")
	natsQueue.TimeLimit = max(timeLimit, 30*time.Second)
	// Every node's power fails at once, twice, as the analysis's LazyFS
	// fails it (data-only: unsynced file data lost, directory operations
	// kept): with the default sync_interval (2 min) what the nodes
	// acknowledged is not on disk.
	natsPowerAll := nats("v2.12.1", "power:all+data-only", faultline.ExpectInvalid)
	// The control: the same with every write fsynced before its ack.
	natsPowerAllSync := nats("v2.12.1", "power:all+data-only", faultline.ExpectValid, "sync_interval=always")
	// The control under POSIX's power failure instead, which also undoes
	// directory operations whose directory was not fsynced: nats-server
	// fsyncs no directory it creates, so a power failure undoes the
	// stream's directories whatever sync_interval says (README,
	// "Reproducing published findings"), a finding of faultline's.
	natsPowerAllDir := nats("v2.12.1", "power:all", faultline.ExpectInvalid, "sync_interval=always")
	// Bit flips in a minority's .blk files, as Jepsen's bitflip-file-chunks
	// with --corrupt-file-type blk: any .blk under jetstream/ (the
	// stream's message blocks and the raft groups' logs), about two bits a
	// file, among kills of one node, a majority and all (Jepsen's default
	// targets); with sync_interval always too. Each message is padded to
	// 64 KiB (msg_bytes) so that a run's stream spans many 8 MB message
	// blocks, as Jepsen's runs of hundreds of thousands of messages do: a
	// block truncated at a flipped bit then loses the middle of the
	// stream (README, "Reproducing published findings"); 90 s gives two
	// or three corruptions.
	natsBitflip := nats("v2.12.1", "corrupt:bitflip+flips=2+file=jetstream/**/*.blk,kill:one+majority+all", faultline.ExpectInvalid, "sync_interval=always", "msg_bytes=65536")
	natsBitflip.TimeLimit = max(timeLimit, 90*time.Second)
	// One fault at a time, as Jepsen's generator emits them: on their own
	// cycles the kills kept the corruptions' one minority down whenever a
	// corruption was due (1 of 3 runs had none: faults missing).
	natsBitflip.NemesisConcurrent = false
	natsBitflip = fitTimeLimit(natsBitflip)
	// One node's power failure among pauses and kills: a persistent
	// split brain, seen as values missing when read through one node.
	natsSplit := nats("v2.12.1", "power:one,pause,kill", faultline.ExpectInvalid, "sync_interval=always")
	natsSplit.TimeLimit = max(timeLimit, 60*time.Second)
	natsSplit = fitTimeLimit(natsSplit)
	// The queue checker proven on a planted bug: acknowledged enqueues
	// lost when the leader that acknowledged them is cut off.
	ackEarlyQueue := ackEarly
	ackEarlyQueue.Workload = "queue"
	// The views of two planted bugs by a second checker, nightly.
	nonatomicLA := nonatomic
	nonatomicLA.Workload = "list-append"
	ackEarlyReg := ackEarly
	ackEarlyReg.Workload = "register"
	return []Scenario{
		{Name: "register-partition-kill-pause", Test: safe("register", "partition,kill,pause")},
		{Name: "register-clock-loss", Test: safe("register", "clock,loss")},
		{Name: "bank-partition-kill", Test: safe("bank", "partition,kill")},
		{Name: "list-append-partition-kill-pause", Test: safe("list-append", "partition,kill,pause")},
		{Name: "set-kill-all", Test: killAll},
		{Name: "register-delay", Test: safe("register", "delay")},
		{Name: "set-power-all", Test: powerAllSnaps},
		{Name: "set-corrupt", Test: corrupt},
		{Name: "list-append-membership", Test: membership("list-append")},
		{Name: "register-partition", Test: safe("register", "partition"), Nightly: true},
		{Name: "set-loss-kill-clock", Test: safe("set", "loss,kill,clock"), Nightly: true},
		{Name: "bug-stale-read", Test: stale},
		{Name: "bug-lease-clock", Test: lease},
		{Name: "bug-no-dedup", Test: nodedup},
		{Name: "bug-nonatomic-txn", Test: nonatomic},
		{Name: "bug-ack-before-commit", Test: ackEarly},
		{Name: "bug-definite-timeouts", Test: definite},
		{Name: "bug-no-fsync", Test: noFsync},
		{Name: "bug-removed-serves-reads", Test: removedReads},
		{Name: "bug-ack-before-commit-queue", Test: ackEarlyQueue},
		{Name: "bug-nonatomic-txn-list-append", Test: nonatomicLA, Nightly: true},
		{Name: "bug-ack-before-commit-register", Test: ackEarlyReg, Nightly: true},
		{Name: "etcd-register-partition-pause", Test: etcd(safe("register", "partition,pause"))},
		{Name: "etcd-bank-partition-kill", Test: etcd(safe("bank", "partition,kill"))},
		{Name: "etcd-list-append-kill-pause", Test: etcd(safe("list-append", "kill,pause"))},
		{Name: "etcd-set-loss-partition-delay", Test: etcd(safe("set", "loss,partition,delay"))},
		{Name: "etcd-set-corrupt-wal", Test: etcd(corruptWAL)},
		{Name: "etcd-register-membership", Test: etcd(membership("register"))},
		{Name: "etcd-queue-kill-partition", Test: etcd(safe("queue", "kill,partition")), Nightly: true},
		{Name: "etcd-bug-serializable-read", Test: serializable},
		{Name: "etcd-set-power-all", Test: etcd(func() faultline.Test { x := powerAll; x.Expect = faultline.ExpectInvalid; return x }()),
			Finding: "etcd does not fsync the directories it creates at its first start (member/, and etcd/ above it): a power failure undoes them, every node bootstraps an empty member, and every acknowledged write is lost (related: etcd-io/etcd#6368)"},
		{Name: "nats-queue", Test: natsQueue},
		{Name: "nats-2.12.1-power-all-default-sync", Test: natsPowerAll,
			Finding: "NATS 2.12.1 with the default sync_interval (2 min) acknowledges messages it has not fsynced: a power failure of every node loses them, or the whole stream (jepsen.io/analyses/nats-2.12.1; nats-io/nats-server#7564)"},
		{Name: "nats-2.12.1-power-all-sync-always", Test: natsPowerAllSync, Nightly: true},
		{Name: "nats-2.12.1-power-all-posix-dirs", Test: natsPowerAllDir, Nightly: true,
			Finding: "nats-server fsyncs no directory it creates: a POSIX power failure of every node undoes its stream's directories and files, and every acknowledged message is lost, with sync_interval always too (a finding of faultline's, not in the analysis: README, \"Findings\")"},
		{Name: "nats-2.12.1-bitflip-blk", Test: natsBitflip, Nightly: true,
			Finding: "NATS 2.12.1 loses acknowledged messages after single-bit errors in a minority's .blk files, with sync_interval always too (jepsen.io/analyses/nats-2.12.1; nats-io/nats-server#7549)"},
		{Name: "nats-2.12.1-power-one-split-brain", Test: natsSplit, Nightly: true,
			Finding: "NATS 2.12.1: one node's power failure among pauses and kills leaves a persistent split brain: acknowledged messages missing when read through one node (jepsen.io/analyses/nats-2.12.1; nats-io/nats-server#7567)"},
	}
}

// fitTimeLimit raises t's main phase to the shortest one in which every
// fault t names happens (nemesis.Config.MinTimeLimit), so a scenario never
// names a fault it has no time for.
func fitTimeLimit(t faultline.Test) faultline.Test {
	if ncfg, err := t.NemesisConfig(); err == nil {
		t.TimeLimit = max(t.TimeLimit, ncfg.MinTimeLimit())
	}
	return t
}

// Nightly is the longer matrix for nightly runs: every scenario
// (the CI ones and the nightly-only ones: more fault mixes, and the planted
// bugs seen by their second checker) on 5 nodes with a longer main phase.
func Nightly(timeLimit time.Duration) []Scenario {
	s := scenarios(timeLimit)
	for i := range s {
		s[i].Test.Nodes = 5
		s[i].Test.NemesisInterval = 10 * time.Second
		s[i].Test = fitTimeLimit(s[i].Test)
	}
	return s
}

// Select keeps the scenarios whose name equals, or starts with,
// one of only; an empty only keeps all. A name that matches nothing is an
// error listing the valid names.
func Select(all []Scenario, only []string) ([]Scenario, error) {
	if len(only) == 0 {
		return all, nil
	}
	var out []Scenario
	for _, o := range only {
		n := 0
		for _, s := range all {
			if strings.HasPrefix(s.Name, o) && !slices.ContainsFunc(out, func(x Scenario) bool { return x.Name == s.Name }) {
				out = append(out, s)
				n++
			}
		}
		if n == 0 && !slices.ContainsFunc(out, func(x Scenario) bool { return strings.HasPrefix(x.Name, o) }) {
			names := make([]string, len(all))
			for i, s := range all {
				names[i] = s.Name
			}
			return nil, fmt.Errorf("no scenario matches %q: choose from %s", o, strings.Join(names, ", "))
		}
	}
	return out, nil
}
