package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/sut"
)

// BenchmarkStore measures every op kind at every -bench.concurrency
// against every system of -bench.systems, each a containerised cluster
// ("docker", all of them up at once and measured one after the other
// within each op kind and concurrency, so that a noisy machine hits them
// alike), and against our store in-process ("inproc"):
//
//	go test -run '^$' -bench 'Store/docker/put' -benchtime 1x ./bench/
//
// Each window is named <kind>/clients=<n>/system=<name>; after the windows
// of one kind and concurrency, <kind>/clients=<n>/<ours>:<other> reports
// the ratios of the first system's figures over each other's (ops/s-ratio
// above 1 and p99-ratio below 1 mean ours is faster).
func BenchmarkStore(b *testing.B) {
	b.Run("docker", func(b *testing.B) {
		var targets []storeTarget
		for _, name := range cfg.Systems {
			sys, _ := sut.ByName(name) // names checked by cfg.Validate
			c := dockerCluster(b, sys, cfg.Nodes)
			targets = append(targets, dockerTarget(b, sys, c))
		}
		storeMatrix(b, targets)
	})
	b.Run("inproc", func(b *testing.B) {
		c := inProcess(b, cfg.Nodes)
		storeMatrix(b, []storeTarget{{
			name: "kvnode",
			target: func(context.Context) (Target, error) {
				return Target{System: sut.KVNode{}, Addrs: c.ClientAddrs()}, nil
			},
			commit: func(context.Context) (uint64, error) {
				for _, n := range c.Nodes {
					if n.IsLeader() {
						return n.Status().CommitIndex, nil
					}
				}
				return 0, errors.New("no leader")
			},
		}})
	})
}

// storeTarget is one system's cluster in the matrix.
type storeTarget struct {
	name string
	// target says where a window's clients connect.
	target func(context.Context) (Target, error)
	// commit returns the leader's raft commit index.
	commit func(context.Context) (uint64, error)
}

// dockerTarget drives a containerised cluster: clients dial the container
// IPs and are bound to the leader of the moment, the best each system can
// do (our client finds the leader by itself; an etcd client bound to a
// follower would pay a forwarding hop).
func dockerTarget(tb testing.TB, sys sut.System, c *docker.Cluster) storeTarget {
	addrs := dockerAddrs(tb, c)
	return storeTarget{
		name: sys.Info().Name,
		target: func(ctx context.Context) (Target, error) {
			leader, err := c.Leader(ctx)
			return Target{System: sys, Addrs: addrs, Home: leader}, err
		},
		commit: func(ctx context.Context) (uint64, error) {
			id, err := c.Leader(ctx)
			if err != nil {
				return 0, err
			}
			st, err := c.Status(ctx, id)
			return st.CommitIndex, err
		},
	}
}

// warmUpFor is how long a fresh cluster runs the mix, unmeasured, before
// its first window, so that the first window (PUT at 1 client) does not
// pay alone for connection set-up, log segment creation and heap growth.
const warmUpFor = 2 * time.Second

func storeMatrix(b *testing.B, targets []storeTarget) {
	for _, t := range targets {
		warmUp(b, t)
	}
	for _, kind := range OpKinds {
		for _, conc := range cfg.Concurrency {
			results := make([]Result, len(targets))
			for i, t := range targets {
				b.Run(fmt.Sprintf("%s/clients=%d/system=%s", kind, conc, t.name), func(b *testing.B) {
					results[i] = measureStore(b, t, kind, conc)
				})
			}
			for i := 1; i < len(targets); i++ {
				ours, other := results[0], results[i]
				if ours.OK == 0 || other.OK == 0 {
					continue // a failed window: nothing to compare
				}
				b.Run(fmt.Sprintf("%s/clients=%d/%s:%s", kind, conc, targets[0].name, targets[i].name), func(b *testing.B) {
					reportRatios(b, ours, other)
				})
			}
		}
	}
}

// warmUp runs the mix on t unmeasured for warmUpFor.
func warmUp(b *testing.B, t storeTarget) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conc := slices.Max(cfg.Concurrency)
	tgt, err := t.target(ctx)
	if err != nil {
		b.Fatalf("%s: %v", t.name, err)
	}
	s, err := NewStore(ctx, tgt, cfg.ConnsFor(conc), cfg)
	if err != nil {
		b.Fatalf("%s: %v", t.name, err)
	}
	defer s.Close()
	op, _ := s.Op(ctx, OpMix, conc)
	Load{Concurrency: conc, Duration: warmUpFor, Op: op}.Run(ctx)
}

// reportRatios reports ours/other for throughput and latency quantiles.
func reportRatios(b *testing.B, ours, other Result) {
	b.ReportMetric(ours.Throughput()/other.Throughput(), "ops/s-ratio")
	for _, q := range []struct {
		q    float64
		unit string
	}{{50, "p50-ratio"}, {99, "p99-ratio"}, {99.9, "p999-ratio"}} {
		if o := other.QuantileMS(q.q); o > 0 {
			b.ReportMetric(ours.QuantileMS(q.q)/o, q.unit)
		}
	}
	b.ReportMetric(0, "ns/op")
}

// measureStore runs b.N windows of kind at conc clients on t, reports them
// and returns what they measured together; it also reports cpu-us/op, this
// process's CPU time per ok op (the whole cluster's in-process, only the
// clients' with docker) and, for mutations, ops/entry: ops per raft log
// entry committed meanwhile (how well the system batches; for the mix,
// GETs are counted too).
func measureStore(b *testing.B, t storeTarget, kind string, conc int) Result {
	ctx := context.Background()
	setup, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tgt, err := t.target(setup)
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewStore(setup, tgt, cfg.ConnsFor(conc), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	op, err := s.Op(setup, kind, conc)
	if err != nil {
		b.Fatal(err)
	}
	load := Load{Concurrency: conc, Duration: cfg.Duration, MaxOps: cfg.MaxOps, Op: op,
		Progress: cfg.Progress, Name: b.Name()}
	var total Result
	var entries uint64
	entriesOK := true
	var cpu time.Duration
	b.ResetTimer()
	for range b.N {
		c0, err0 := t.commit(setup)
		cpu0 := ProcessCPU()
		total.Add(load.Run(ctx))
		cpu += ProcessCPU() - cpu0
		c1, err1 := t.commit(setup)
		if err := errors.Join(err0, err1); err != nil || c1 < c0 {
			b.Logf("leader's commit index: %v (%d -> %d): no ops/entry", err, c0, c1)
			entriesOK = false
		}
		entries += c1 - c0
	}
	b.StopTimer()
	total.Report(b)
	if total.OK > 0 {
		// In-process: the whole cluster's CPU; docker: the clients' only.
		b.ReportMetric(float64(cpu.Microseconds())/float64(total.OK), "cpu-us/op")
	}
	if kind != OpGet && entriesOK && entries > 0 {
		b.ReportMetric(float64(total.OK+total.Errors)/float64(entries), "ops/entry")
	}
	b.ReportMetric(float64(len(s.Clients)), "conns")
	if total.Errors > 0 {
		b.Logf("%d errors (%.2f%%), first: %v", total.Errors,
			100*float64(total.Errors)/float64(total.Errors+total.OK), total.FirstErr)
	}
	if total.OK == 0 {
		b.Fatalf("no op succeeded; first error: %v", total.FirstErr)
	}
	return total
}
