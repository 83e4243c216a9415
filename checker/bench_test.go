package checker

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/faultline/faultline/checker/checkertest"
)

// measure runs check b.N times and reports ops/s and allocated bytes per
// unit (op or txn).
func measure(b *testing.B, units int, unit string, check func() Result) {
	b.Helper()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for range b.N {
		if r := check(); r.Valid != Valid {
			b.Fatalf("generated history judged %s: %s %s", r.Valid, r.Explanation, r.Error)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	n := float64(units) * float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), unit+"/s")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "alloc-B/"+unit)
}

func BenchmarkLinearizableRegister(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			ops := checkertest.GenerateRegisterHistory(checkertest.RegisterGenConfig{Seed: 1, Ops: n, Keys: 1000, Processes: 10, InfoRate: 0.01, FailRate: 0.01})
			l, _ := NewLinearizable(LinearizableConfig{Model: "cas-register"})
			measure(b, n, "op", func() Result { return l.Check(context.Background(), ops) })
		})
	}
}

func BenchmarkListAppend(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("txns=%d", n), func(b *testing.B) {
			ops := checkertest.GenerateListAppendHistory(checkertest.ListAppendGenConfig{Seed: 1, Txns: n, Processes: 10, InfoRate: 0.01, FailRate: 0.01})
			c := NewListAppend(ListAppendConfig{})
			measure(b, n, "txn", func() Result { return c.Check(context.Background(), ops) })
		})
	}
}
