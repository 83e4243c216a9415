package bench

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
)

// checkTimeout bounds one Check; past it the checker answers Unknown and
// the sub-benchmark fails, saying so.
const checkTimeout = 2 * time.Minute

// BenchmarkCheckers runs the register (porcupine, cas-register model) and
// list-append checkers on generated valid histories of each
// -bench.checker-sizes ops (list-append up to -bench.max-list-append), to
// show how the cost grows with the size. It reports ops checked per second
// (op-checked/s) and bytes allocated per op (alloc-B/op). The histories come
// from checker's generators; checker/bench_test.go has the same checkers
// at fixed sizes for profiling.
func BenchmarkCheckers(b *testing.B) {
	for _, n := range cfg.CheckerSizes {
		b.Run(fmt.Sprintf("register/ops=%d", n), func(b *testing.B) {
			ops := checker.GenerateRegisterHistory(checker.RegisterGenConfig{
				Seed: 1, Ops: n, Keys: 1000, Processes: 10, InfoRate: 0.01, FailRate: 0.01})
			c, err := checker.NewLinearizable(checker.LinearizableConfig{Model: "cas-register"})
			if err != nil {
				b.Fatal(err)
			}
			measureCheck(b, c, ops, n)
		})
	}
	for _, n := range cfg.CheckerSizes {
		b.Run(fmt.Sprintf("list-append/ops=%d", n), func(b *testing.B) {
			if n > cfg.MaxListAppend {
				b.Skipf("%d ops is above -bench.max-list-append=%d", n, cfg.MaxListAppend)
			}
			ops := checker.GenerateListAppendHistory(checker.ListAppendGenConfig{
				Seed: 1, Txns: n, Processes: 10, InfoRate: 0.01, FailRate: 0.01})
			measureCheck(b, checker.NewListAppend(checker.ListAppendConfig{}), ops, n)
		})
	}
}

// measureCheck checks ops b.N times; n is the number of logical ops (each
// an invoke and a completion in ops).
func measureCheck(b *testing.B, c checker.Checker, ops []history.Op, n int) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
		t0 := time.Now()
		stop := Every(cfg.Progress, func() {
			slog.Info("bench progress", "name", b.Name(), "checking", time.Since(t0).Round(time.Second))
		})
		r := c.Check(ctx, ops)
		stop()
		cancel()
		if r.Valid != checker.Valid {
			b.Fatalf("%s judged a valid generated history of %d ops %s after %v: %s %s",
				c.Name(), n, r.Valid, time.Since(t0).Round(time.Millisecond), r.Explanation, r.Error)
		}
		if d := time.Since(t0); d > cfg.Progress {
			b.Logf("check %d of %d: %v", i+1, b.N, d.Round(time.Millisecond))
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	total := float64(n) * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds(), "op-checked/s")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/total, "alloc-B/op")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/check")
}
