package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkStore measures every op kind at every -bench.concurrency on one
// containerised cluster ("docker") and one in-process cluster ("inproc"),
// each shared by its sub-benchmarks:
//
//	go test -run '^$' -bench Store/inproc -benchtime 1x ./bench/
func BenchmarkStore(b *testing.B) {
	b.Run("docker", func(b *testing.B) {
		c := dockerCluster(b, cfg.Nodes)
		storeMatrix(b, dockerAddrs(b, c), func(ctx context.Context) (uint64, error) {
			id, err := c.Leader(ctx)
			if err != nil {
				return 0, err
			}
			st, err := c.Status(ctx, id)
			return st.CommitIndex, err
		})
	})
	b.Run("inproc", func(b *testing.B) {
		c := inProcess(b, cfg.Nodes)
		storeMatrix(b, c.ClientAddrs(), func(context.Context) (uint64, error) {
			for _, n := range c.Nodes {
				if n.IsLeader() {
					return n.Status().CommitIndex, nil
				}
			}
			return 0, errors.New("no leader")
		})
	})
}

// commitFunc returns the leader's raft commit index.
type commitFunc func(context.Context) (uint64, error)

// warmUpFor is how long a fresh cluster runs the mix, unmeasured, before
// its first window, so that the first window (PUT at 1 client) does not
// pay alone for connection set-up, raft-wal segment creation and heap
// growth.
const warmUpFor = 2 * time.Second

func storeMatrix(b *testing.B, addrs map[string]string, commit commitFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conc := slices.Max(cfg.Concurrency)
	s, err := NewStore(ctx, addrs, cfg.ConnsFor(conc), cfg)
	if err != nil {
		b.Fatal(err)
	}
	op, _ := s.Op(ctx, OpMix, conc)
	Load{Concurrency: conc, Duration: warmUpFor, Op: op}.Run(ctx)
	s.Close()
	for _, kind := range OpKinds {
		for _, conc := range cfg.Concurrency {
			b.Run(fmt.Sprintf("%s/clients=%d", kind, conc), func(b *testing.B) {
				measureStore(b, addrs, commit, kind, conc)
			})
		}
	}
}

// measureStore runs b.N windows of kind at conc clients and reports them,
// with cpu-us/op, this process's CPU time per ok op (the whole cluster's
// in-process, only the clients' with docker) and, for mutations,
// ops/entry: ops per raft log entry committed meanwhile (how well the
// store batches; for the mix, GETs are counted too).
func measureStore(b *testing.B, addrs map[string]string, commit commitFunc, kind string, conc int) {
	ctx := context.Background()
	setup, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	s, err := NewStore(setup, addrs, cfg.ConnsFor(conc), cfg)
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
		c0, err0 := commit(setup)
		cpu0 := ProcessCPU()
		total.Add(load.Run(ctx))
		cpu += ProcessCPU() - cpu0
		c1, err1 := commit(setup)
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
}
