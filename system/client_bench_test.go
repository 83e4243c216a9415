package system

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// BenchmarkClientPut measures the client's CPU per PUT against a server
// that answers at once (ns/op is CPU-bound here: compare cpu-us/op).
//
//	go test -run '^$' -bench ClientPut -benchtime 200000x ./system/
func BenchmarkClientPut(b *testing.B) {
	for _, conc := range []int{1, 64} {
		b.Run(fmt.Sprintf("clients=%d", conc), func(b *testing.B) {
			cfg := DefaultClientConfig()
			cfg.Addrs = map[string]string{"n1": fakeNode(b, func() Response { return Response{Status: StatusOK} })}
			c, err := NewClient(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			value := make([]byte, 256)
			ctx := context.Background()
			if err := c.Put(ctx, "warm", value); err != nil {
				b.Fatal(err)
			}
			keys := make([]string, 1000)
			for i := range keys {
				keys[i] = fmt.Sprintf("k%d", i)
			}
			cpu0 := processCPU()
			start := time.Now()
			b.ResetTimer()
			var wg sync.WaitGroup
			per := b.N / conc
			for w := range conc {
				wg.Go(func() {
					for i := range per {
						if err := c.Put(ctx, keys[(w*per+i)%len(keys)], value); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			n := per * conc
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(n), "cpu-us/op")
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "ops/s")
		})
	}
}
