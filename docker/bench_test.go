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

// BenchmarkBuildImage measures BuildImage: "cached" when the image for
// the current binaries exists (go build from the Go cache plus a tag
// lookup), "uncached" forcing a docker build without the layer cache.
func BenchmarkBuildImage(b *testing.B) {
	dockertest.RequireDocker(b)
	ctx := context.Background()
	for _, force := range []bool{false, true} {
		name := map[bool]string{false: "cached", true: "uncached"}[force]
		b.Run(name, func(b *testing.B) {
			cfg := docker.DefaultBuildConfig()
			cfg.Force = force
			if _, err := docker.BuildImage(ctx, docker.DefaultBuildConfig()); err != nil { // warm the Go build cache
				b.Fatal(err)
			}
			var total time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := docker.BuildImage(ctx, cfg); err != nil {
					b.Fatal(err)
				}
				total += time.Since(t0)
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s/build")
		})
	}
}
