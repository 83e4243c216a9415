package system

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestClientConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*ClientConfig)
		want string
	}{
		{"ok", func(*ClientConfig) {}, ""},
		{"no addrs", func(c *ClientConfig) { c.Addrs = nil }, "no node addresses"},
		{"bad addr", func(c *ClientConfig) { c.Addrs = map[string]string{"n1": "nohost"} }, "bad address"},
		{"zero timeout", func(c *ClientConfig) { c.RequestTimeout = 0 }, "RequestTimeout"},
		{"zero attempts", func(c *ClientConfig) { c.MaxAttempts = 0 }, "MaxAttempts"},
		{"backoff", func(c *ClientConfig) { c.BackoffMax = c.BackoffMin / 2 }, "Backoff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultClientConfig()
			cfg.Addrs = map[string]string{"n1": "127.0.0.1:1"}
			tt.mod(&cfg)
			err := cfg.Validate()
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

// Nothing listening: the client gives up with an indeterminate error, in
// bounded time, and a closed client fails fast.
func TestClientUnreachableIsIndeterminate(t *testing.T) {
	addrs := freeAddrs(t, 2)
	cfg := DefaultClientConfig()
	cfg.Addrs = map[string]string{"n1": addrs[0], "n2": addrs[1]}
	cfg.MaxAttempts = 4
	cfg.BackoffMax = 20 * time.Millisecond
	c, err := NewClient(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.ClientID() == 0 {
		t.Fatal("random client id is 0")
	}
	start := time.Now()
	err = c.Put(context.Background(), "k", []byte("v"))
	if err == nil || IsDefinite(err) {
		t.Fatalf("Put to nowhere = %v, want indeterminate", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
	cfg.MaxAttempts = 1 << 20
	c2, err := NewClient(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := c2.Get(ctx, "k"); err == nil || IsDefinite(err) || !strings.Contains(err.Error(), "TIMEOUT") {
		t.Fatalf("Get with a short deadline = %v, want an indeterminate TIMEOUT", err)
	}
	c.Close()
	if err := c.Put(context.Background(), "k", nil); err == nil || IsDefinite(err) {
		t.Fatalf("Put on a closed client = %v", err)
	}
}

// fakeNode answers every frame on addr with answer(), until the test ends.
// Answers to frames read together go out in one write.
func fakeNode(t testing.TB, answer func() Response) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				bw := bufio.NewWriter(c)
				for {
					f, err := ReadFrame(br, 0)
					if err != nil {
						return
					}
					resp := answer()
					_, _ = bw.Write(AppendFrame(nil, Frame{ID: f.ID, Op: f.Op, Payload: resp.AppendPayload(f.Op, nil)}))
					if br.Buffered() == 0 && bw.Flush() != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// During an election a follower keeps naming the deposed leader, which
// answers NOT_LEADER without a hint until a new leader is elected. The
// client must back off while bouncing between the two rather than spend
// its attempts in a few milliseconds: with the default attempts and
// backoff it waits out an election of ~700ms (it used to give up after
// ~200ms).
func TestClientBacksOffOnStaleLeaderHints(t *testing.T) {
	start := time.Now()
	var calls atomic.Int64
	electedAt := 700 * time.Millisecond
	var oldLeaderAddr string
	oldLeaderAddr = fakeNode(t, func() Response {
		calls.Add(1)
		if time.Since(start) < electedAt {
			return Response{Status: StatusNotLeader, Msg: "not the leader; no leader known yet"}
		}
		return Response{Status: StatusOK}
	})
	follower := fakeNode(t, func() Response {
		calls.Add(1)
		// Still names the deposed leader (its heartbeat timeout has
		// not fired yet).
		return Response{Status: StatusNotLeader, Msg: "not the leader; retry at the leader", LeaderID: "n1", LeaderAddr: oldLeaderAddr}
	})
	cfg := DefaultClientConfig()
	cfg.Addrs = map[string]string{"n1": oldLeaderAddr, "n2": follower}
	c, err := NewClient(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.mu.Lock()
	c.leader = "n2"
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("Put across a %v election with stale hints: %v (after %v, %d attempts)", electedAt, err, time.Since(start), calls.Load())
	}
	if c.LastNode() != "n1" {
		t.Fatalf("LastNode = %q, want the elected n1", c.LastNode())
	}
	if n := calls.Load(); n > int64(cfg.MaxAttempts) {
		t.Fatalf("%d attempts, more than MaxAttempts %d", n, cfg.MaxAttempts)
	}
}
