package docker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/engine"
	"github.com/faultline/faultline/engine/enginetest"
	"github.com/faultline/faultline/sut"
)

// BenchmarkStartToLeader measures docker.Start (containers created and
// started, every node ready, a leader agreed) with the image already
// built, for every system. Target for our store: 5 nodes in <= 3 s.
func BenchmarkStartToLeader(b *testing.B) {
	enginetest.RequireDocker(b)
	ctx := context.Background()
	for _, name := range sut.Names() {
		sys, _ := sut.ByName(name)
		bcfg := engine.DefaultBuildConfig()
		bcfg.System = sys
		image, err := engine.BuildImage(ctx, bcfg)
		if err != nil {
			b.Fatal(err)
		}
		for _, n := range []int{3, 5} {
			b.Run(fmt.Sprintf("system=%s/nodes=%d", name, n), func(b *testing.B) {
				cfg := cluster.DefaultSpec()
				cfg.Nodes, cfg.Image, cfg.System = n, image, sys
				var total time.Duration
				for b.Loop() {
					t0 := time.Now()
					c, err := docker.Start(ctx, cfg)
					d := time.Since(t0)
					if err != nil {
						b.Fatal(err)
					}
					total += d
					b.StopTimer()
					if err := c.Close(ctx); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				b.ReportMetric(total.Seconds()/float64(b.N), "s/start")
			})
		}
	}
}
