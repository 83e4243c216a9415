package docker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/docker/dockertest"
)

// BenchmarkStartToLeader measures docker.Start (containers created and
// started, every node healthy, a leader agreed) with the image already
// built. Target: 5 nodes in <= 3 s.
func BenchmarkStartToLeader(b *testing.B) {
	dockertest.RequireDocker(b)
	ctx := context.Background()
	image, err := docker.BuildImage(ctx, docker.DefaultBuildConfig())
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{3, 5} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			cfg := docker.DefaultConfig()
			cfg.Nodes, cfg.Image = n, image
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
