// Package clustertest holds the test helpers both runtimes' tests share:
// a started cluster's removal, with its nodes' logs when the test failed.
package clustertest

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Cluster is what Cleanup needs of a runtime's cluster.
type Cluster interface {
	Nodes() []string
	Logs(ctx context.Context, id string) (string, error)
	Close(ctx context.Context) error
}

// Cleanup registers c's removal with t: the tail of every node's log when
// t failed, then Close, twice (the second must be a no-op), then check,
// if set, for what must not survive the close.
func Cleanup(t *testing.T, c Cluster, check func(ctx context.Context)) {
	t.Helper()
	t.Cleanup(func() {
		ctx := context.Background()
		if t.Failed() {
			for _, id := range c.Nodes() {
				if l, err := c.Logs(ctx, id); err == nil {
					t.Logf("---- %s log (tail) ----\n%s", id, Tail(l, 30))
				}
			}
		}
		t0 := time.Now()
		if err := c.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		t.Logf("closed in %v", time.Since(t0).Round(time.Millisecond))
		if err := c.Close(ctx); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if check != nil {
			check(ctx)
		}
	})
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Start starts a cluster with start, bounded by timeout, fails t when it
// cannot, and registers its removal (Cleanup, with check).
func Start[C Cluster](t *testing.T, timeout time.Duration, start func(ctx context.Context) (C, error), check func(ctx context.Context)) C {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	t0 := time.Now()
	c, err := start(ctx)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("cluster up in %v", time.Since(t0).Round(time.Millisecond))
	Cleanup(t, c, check)
	return c
}
