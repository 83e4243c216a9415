package system

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
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
	tc := newTestCluster(b, 3, nil) // production raft timing
	tc.leader(10 * time.Second)
	for _, op := range []string{"PUT", "GET"} {
		for _, conc := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("%s/clients=%d", op, conc), func(b *testing.B) {
				benchOps(b, tc, op, conc)
			})
		}
	}
}

func benchOps(b *testing.B, tc *testCluster, op string, conc int) {
	ctx := context.Background()
	clients := make([]*Client, conc)
	value := make([]byte, 100)
	for i := range clients {
		clients[i] = tc.client(nil)
		// Warm the connection and find the leader.
		if err := clients[i].Put(ctx, fmt.Sprintf("bench-%d", i), value); err != nil {
			b.Fatal(err)
		}
	}
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
	for _, c := range clients {
		c.Close()
	}
}
