package engine

import (
	"context"
	"testing"
	"time"
)

// BenchmarkBuildImage measures BuildImage as a fresh process sees it:
// "cached" when the image for the current binaries exists (go build from
// the Go build cache plus a tag lookup), "uncached" forcing a docker build
// without the layer cache. The in-process memo is cleared each time.
func BenchmarkBuildImage(b *testing.B) {
	ctx := context.Background()
	if err := Available(ctx); err != nil {
		b.Skip(err)
	}
	if _, err := BuildImage(ctx, DefaultBuildConfig()); err != nil { // warm the Go build cache
		b.Fatal(err)
	}
	for _, force := range []bool{false, true} {
		name := map[bool]string{false: "cached", true: "uncached"}[force]
		b.Run(name, func(b *testing.B) {
			cfg := DefaultBuildConfig()
			cfg.Force = force
			var total time.Duration
			for b.Loop() {
				buildMu.Lock()
				clear(built)
				buildMu.Unlock()
				t0 := time.Now()
				if _, err := BuildImage(ctx, cfg); err != nil {
					b.Fatal(err)
				}
				total += time.Since(t0)
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s/build")
		})
	}
}
