package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/engine"
	"github.com/faultline/faultline/sut"
)

// faultLead is how long the load runs before the fault starts.
const faultLead = time.Second

// BenchmarkFaults runs the 50/50 mix at -bench.fault-concurrency clients on
// one containerised cluster, fault-free for -bench.duration and then across
// a fault of -bench.fault-duration, and reports:
//
//   - base-ops/s, fault-ops/s: ok ops per second without and during the
//     fault; fault-share-%: the second as a share of the first;
//   - ttfo-ms: time from the fault's start to the completion of the first
//     ok op invoked after it (ops in flight at the start do not count);
//   - inject-ms: how long putting the fault in place took (docker kill or
//     docker exec netctl); the fault counts from the end of it;
//   - fault-p99-ms and fault-errors: latency and errors of the faulty
//     window (an isolated leader makes its clients time out and retry).
//
// The faults: "kill-follower" (SIGKILL one follower, restarted after) and
// "isolate-leader" (netctl drop on the leader from every follower and on
// every follower from the leader, healed after). Every system of
// -bench.systems is measured (system=<name>); its clients are not bound to
// a node, so that they can move to the new leader.
func BenchmarkFaults(b *testing.B) {
	for _, name := range cfg.Systems {
		sys, _ := sut.ByName(name) // names checked by cfg.Validate
		b.Run("system="+name, func(b *testing.B) {
			c := dockerCluster(b, sys, cfg.Nodes)
			for _, f := range []struct {
				name         string
				inject, heal func(ctx context.Context, c *docker.Cluster, leader string) error
			}{
				{"kill-follower", killFollower, restartAll},
				{"isolate-leader", isolateLeader, healAll},
			} {
				b.Run(f.name, func(b *testing.B) {
					for range b.N {
						measureFault(b, sys, c, f.inject, f.heal)
					}
				})
			}
		})
	}
}

func measureFault(b *testing.B, sys sut.System, c *docker.Cluster,
	inject, heal func(context.Context, *docker.Cluster, string) error) {
	ctx := context.Background()
	setup, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := c.WaitHealthy(setup); err != nil {
		b.Fatalf("cluster not healthy before the fault: %v", err)
	}
	leader, err := c.Leader(setup)
	if err != nil {
		b.Fatal(err)
	}
	conc := cfg.FaultConcurrency
	s, err := NewStore(setup, Target{System: sys, Addrs: dockerAddrs(b, c)}, cfg.ConnsFor(conc), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	op, _ := s.Op(setup, OpMix, conc)
	load := Load{Concurrency: conc, Op: op, Progress: cfg.Progress, Name: b.Name()}

	load.Duration = cfg.Duration
	base := load.Run(ctx)
	if base.OK == 0 {
		b.Fatalf("no op succeeded without faults; first error: %v", base.FirstErr)
	}

	load.Duration, load.Events = faultLead+cfg.FaultDuration, true
	var (
		faultAt    time.Duration
		injectTook time.Duration
		injectErr  = make(chan error, 1)
		started    = make(chan time.Time, 1)
	)
	go func() {
		t0 := <-started
		time.Sleep(time.Until(t0.Add(faultLead)))
		begin := time.Now()
		err := inject(ctx, c, leader)
		// The fault counts from when it is fully in place.
		faultAt, injectTook = time.Since(t0), time.Since(begin)
		injectErr <- err
	}()
	load.Op = func(ctx context.Context, w int, i int64) error {
		if w == 0 && i == 0 {
			started <- time.Now()
		}
		return op(ctx, w, i)
	}
	b.Logf("fault-free: %.0f ops/s; injecting the fault (leader %s)", base.Throughput(), leader)
	faulty := load.Run(ctx)
	ierr := <-injectErr
	healCtx, cancelHeal := context.WithTimeout(ctx, time.Minute)
	defer cancelHeal()
	if err := heal(healCtx, c, leader); err != nil {
		b.Fatalf("heal: %v", err)
	}
	if err := c.WaitHealthy(healCtx); err != nil {
		b.Fatalf("cluster not healthy after the heal: %v", err)
	}
	if ierr != nil {
		b.Fatalf("inject: %v", ierr)
	}
	// The fault window ends when the load does (the heal comes after).
	window := faulty.Elapsed - faultAt
	var during Result
	during.Latency = newHist()
	for _, e := range faulty.Events {
		if e.Invoke >= faultAt {
			if e.OK {
				during.OK++
				_ = during.Latency.RecordValue(max(1, (e.Complete - e.Invoke).Microseconds()))
			} else {
				during.Errors++
			}
		}
	}
	faultOps := float64(faulty.OKBetween(faultAt, faulty.Elapsed+1)) / window.Seconds()
	b.ReportMetric(base.Throughput(), "base-ops/s")
	b.ReportMetric(faultOps, "fault-ops/s")
	b.ReportMetric(100*faultOps/base.Throughput(), "fault-share-%")
	b.ReportMetric(during.QuantileMS(99), "fault-p99-ms")
	b.ReportMetric(float64(during.Errors), "fault-errors")
	if d, ok := faulty.FirstOKInvokedAfter(faultAt); ok {
		b.ReportMetric(float64(d.Microseconds())/1000, "ttfo-ms")
	} else {
		b.ReportMetric(float64(window.Milliseconds()), "ttfo-ms")
		b.Logf("no op invoked during the %v fault succeeded (ttfo-ms reported as the whole window)", window.Round(time.Millisecond))
	}
	b.ReportMetric(float64(injectTook.Milliseconds()), "inject-ms")
	b.ReportMetric(0, "ns/op")
	if faulty.Errors > 0 {
		b.Logf("during the fault: %d errors, first: %v", faulty.Errors, faulty.FirstErr)
	}
}

func followerOf(c *docker.Cluster, leader string) string {
	for _, id := range c.Nodes() {
		if id != leader {
			return id
		}
	}
	return ""
}

func killFollower(ctx context.Context, c *docker.Cluster, leader string) error {
	return c.Kill(ctx, followerOf(c, leader))
}

// restartAll starts every killed node again.
func restartAll(ctx context.Context, c *docker.Cluster, _ string) error {
	for _, id := range c.Nodes() {
		if c.State(id) == "killed" {
			if err := c.Start(ctx, id); err != nil {
				return err
			}
		}
	}
	return nil
}

func exec(ctx context.Context, c *docker.Cluster, id string, args ...string) error {
	code, out, err := c.Exec(ctx, id, append([]string{engine.NetctlPath}, args...))
	if err == nil && code != 0 {
		err = fmt.Errorf("netctl %s on %s: exit %d: %s", strings.Join(args, " "), id, code, strings.TrimSpace(out))
	}
	return err
}

// isolateLeader cuts the leader off from every follower, both ways.
func isolateLeader(ctx context.Context, c *docker.Cluster, leader string) error {
	var others []string
	for _, id := range c.Nodes() {
		if id != leader {
			others = append(others, c.IP(id))
			if err := exec(ctx, c, id, "drop", "--from", c.IP(leader)); err != nil {
				return err
			}
		}
	}
	return exec(ctx, c, leader, "drop", "--from", strings.Join(others, ","))
}

func healAll(ctx context.Context, c *docker.Cluster, _ string) error {
	for _, id := range c.Nodes() {
		if err := exec(ctx, c, id, "heal"); err != nil {
			return err
		}
	}
	return nil
}
