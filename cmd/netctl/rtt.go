package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"golang.org/x/sys/unix"

	"github.com/faultline/faultline/nemesis/netrule"
)

// rtt times p.Count TCP connects to p.To one after another and prints
// their summary (netrule.RTT). A connect answered by a SYN-ACK or a RST is
// a round trip; one without an answer within p.Timeout is lost. It fails
// when every probe is lost.
func rtt(ctx context.Context, p netrule.Probe, stdout io.Writer) error {
	var (
		times   []time.Duration
		lost    int
		lastErr error
	)
	for range p.Count {
		d, err := connectTime(ctx, p)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			lost++
			lastErr = err
			continue
		}
		times = append(times, d)
	}
	r, err := netrule.Summarize(p.To, times, lost)
	if err != nil {
		return fmt.Errorf("no answer from %s to any of %d probes (%v each): %w", p.To, p.Count, p.Timeout, lastErr)
	}
	fmt.Fprintln(stdout, r)
	return nil
}

// connectTime times one TCP connect to p.To. A refused connect counts: the
// RST came back. An established connection is reset at once rather than
// closed, so that probes leave no TIME_WAIT behind.
func connectTime(ctx context.Context, p netrule.Probe) (time.Duration, error) {
	d := net.Dialer{Timeout: p.Timeout}
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp", p.To.String())
	elapsed := time.Since(start)
	if errors.Is(err, unix.ECONNREFUSED) {
		return elapsed, nil
	}
	if err != nil {
		return 0, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
	return elapsed, nil
}
