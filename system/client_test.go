package system

import (
	"context"
	"strings"
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
