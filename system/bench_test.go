package system

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// BenchmarkCluster measures PUT and GET (linearizable) throughput and
// latency on an in-process 3-node cluster with fsync on, at 1, 16 and 64
// concurrent clients (one Client, hence one connection, each).
//
//	go test -run '^$' -bench BenchmarkCluster -benchtime 20000x ./system/
func BenchmarkCluster(b *testing.B) {
	tc := newTestCluster(b, 3, func(c *NodeConfig) { // production raft timing
		if v, err := strconv.Atoi(os.Getenv("KVBENCH_INFLIGHT")); err == nil {
			c.MaxInflightProposals = v
		}
	})
	tc.leader(10 * time.Second)
	for _, op := range []string{"PUT", "GET"} {
		for _, conc := range []int{1, 16, 64} {
			for _, conns := range []int{1, conc} {
				b.Run(fmt.Sprintf("%s/clients=%d/conns=%d", op, conc, conns), func(b *testing.B) {
					benchOps(b, tc, op, conc, conns)
				})
				if conc == 1 {
					break
				}
			}
		}
	}
}

// benchOps runs b.N ops from conc goroutines over conns Clients (each with
// its own connection); conns=1 is etcd's benchmark default (--conns=1).
func benchOps(b *testing.B, tc *testCluster, op string, conc, conns int) {
	ctx := context.Background()
	clients := make([]*Client, conc)
	value := make([]byte, 100)
	for i := range clients {
		if i < conns {
			clients[i] = tc.client(nil)
			// Warm the connection and find the leader.
			if err := clients[i].Put(ctx, fmt.Sprintf("bench-%d", i), value); err != nil {
				b.Fatal(err)
			}
		} else {
			clients[i] = clients[i%conns]
		}
	}
	var props0, entries0 uint64
	for _, n := range tc.nodes {
		props0 += n.metrics.proposals.Load()
		entries0 += n.metrics.proposalEntries.Load()
	}
	cpu0 := processCPU()
	hist := hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 3)
	var mu sync.Mutex
	var next atomic.Int64
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clients[w]
			local := hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 3)
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					break
				}
				key := fmt.Sprintf("bench-%d", i%1000)
				t0 := time.Now()
				var err error
				if op == "PUT" {
					err = c.Put(ctx, key, value)
				} else {
					_, _, err = c.Get(ctx, key)
				}
				if err != nil {
					failed.Add(1)
					continue
				}
				_ = local.RecordValue(time.Since(t0).Microseconds())
			}
			mu.Lock()
			hist.Merge(local)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d requests failed", f, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(hist.ValueAtQuantile(50))/1000, "p50-ms")
	b.ReportMetric(float64(hist.ValueAtQuantile(99))/1000, "p99-ms")
	cpu := processCPU() - cpu0
	// CPU time per op across the whole in-process cluster and clients: a
	// load-independent efficiency figure on a shared machine.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/op")
	var props1, entries1 uint64
	for _, n := range tc.nodes {
		props1 += n.metrics.proposals.Load()
		entries1 += n.metrics.proposalEntries.Load()
	}
	if entries1 > entries0 {
		b.ReportMetric(float64(props1-props0)/float64(entries1-entries0), "cmds/entry")
	}
	for _, c := range clients[:conns] {
		c.Close()
	}
}

// processCPU is the user plus system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
