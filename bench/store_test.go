package bench

import (
	"context"
	"fmt"
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
		storeMatrix(b, c.ClientAddrs())
	})
	b.Run("inproc", func(b *testing.B) {
		c := inProcess(b, cfg.Nodes)
		storeMatrix(b, c.ClientAddrs())
	})
}

func storeMatrix(b *testing.B, addrs map[string]string) {
	for _, kind := range OpKinds {
		for _, conc := range cfg.Concurrency {
			b.Run(fmt.Sprintf("%s/clients=%d", kind, conc), func(b *testing.B) {
				measureStore(b, addrs, kind, conc)
			})
		}
	}
}

// measureStore runs b.N windows of kind at conc clients and reports them.
func measureStore(b *testing.B, addrs map[string]string, kind string, conc int) {
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
	b.ResetTimer()
	for range b.N {
		total.Add(load.Run(ctx))
	}
	b.StopTimer()
	total.Report(b)
	b.ReportMetric(float64(len(s.Clients)), "conns")
	if total.Errors > 0 {
		b.Logf("%d errors (%.2f%%), first: %v", total.Errors,
			100*float64(total.Errors)/float64(total.Errors+total.OK), total.FirstErr)
	}
	if total.OK == 0 {
		b.Fatalf("no op succeeded; first error: %v", total.FirstErr)
	}
}
