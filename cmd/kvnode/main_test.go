package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/syncbuf"
	"github.com/faultline/faultline/system"
)

func TestBadFlagsExit2(t *testing.T) {
	base := []string{"--id", "n1", "--peers", "n1=127.0.0.1:7000", "--data", t.TempDir()}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", append(base, "--bogus"), "not defined"},
		{"missing id", []string{"--peers", "n1=127.0.0.1:7000", "--data", "/tmp/x"}, "--id"},
		{"id not in peers", []string{"--id", "n9", "--peers", "n1=127.0.0.1:7000", "--data", "/tmp/x"}, "not in the peer list"},
		{"missing data", []string{"--id", "n1", "--peers", "n1=127.0.0.1:7000"}, "--data"},
		{"bad peers", []string{"--id", "n1", "--peers", "n1", "--data", "/tmp/x"}, "bad peer"},
		{"bad read mode", append(base, "--read-mode", "fast"), "unknown read mode"},
		{"bad log level", append(base, "--log-level", "loud"), "--log-level"},
		{"bad client addr", append(base, "--client-addr", "nope"), "--client-addr"},
		{"positional arg", append(base, "extra"), "unexpected arguments"},
		{"lease timeout", append(base, "--leader-lease-timeout", "2s"), "lease timeout"},
		{"max conns", append(base, "--max-conns", "0"), "max connections"},
		{"max in-flight", append(base, "--max-inflight-per-conn", "0"), "max in-flight"},
		{"idle timeout", append(base, "--idle-timeout", "10ms"), "idle timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(tt.args, &stderr); code != 2 {
				t.Fatalf("exit code %d, want 2; stderr:\n%s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("stderr lacks %q:\n%s", tt.want, stderr.String())
			}
		})
	}
}

func TestHelpMentionsUnsafe(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"--help"}, &stderr); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, flag := range []string{"-read-mode", "-unsafe-no-dedup", "-lease-duration", "-unsafe-nonatomic-txn", "-unsafe-ack-before-commit", "-unsafe-definite-timeouts", "-unsafe-no-fsync"} {
		i := strings.Index(stderr.String(), flag)
		if i < 0 || !strings.Contains(stderr.String()[i:min(len(stderr.String()), i+250)], "UNSAFE") {
			t.Errorf("help for %s does not say UNSAFE", flag)
		}
	}
	// And every planted bug is off unless asked for.
	cfg, _, err := parseFlags([]string{"--id", "n1", "--peers", "n1=127.0.0.1:7000", "--data", t.TempDir()}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if u := cfg.UnsafeFlags(); len(u) > 0 || cfg.ReadMode.Unsafe() {
		t.Fatalf("default kvnode runs UNSAFE: %v, read mode %s", u, cfg.ReadMode)
	}
}

func TestParsePeersDockerForm(t *testing.T) {
	cfg, _, err := parseFlags([]string{"--id", "n2", "--peers", "n1=n1:7000,n2=n2:7000,n3=n3:7000", "--data", "/data",
		"--client-addr", "0.0.0.0:7001", "--read-mode", "lease", "--lease-duration", "3s", "--unsafe-no-dedup",
		"--max-conns", "64", "--max-inflight-per-conn", "8", "--idle-timeout", "30s",
		"--unsafe-nonatomic-txn", "--unsafe-ack-before-commit", "--unsafe-definite-timeouts", "--unsafe-no-fsync"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Peers) != 3 || cfg.Peers[1] != (system.Peer{ID: "n2", RaftAddr: "n2:7000", ClientAddr: "n2:7001"}) {
		t.Fatalf("peers %+v", cfg.Peers)
	}
	if cfg.ReadMode != system.ReadLease || cfg.LeaseDuration != 3*time.Second || !cfg.UnsafeNoDedup ||
		cfg.MaxConns != 64 || cfg.MaxInflightPerConn != 8 || cfg.IdleTimeout != 30*time.Second ||
		!cfg.UnsafeNonatomicTxn || !cfg.UnsafeAckBeforeCommit || !cfg.UnsafeDefiniteTimeouts || !cfg.UnsafeNoFsync {
		t.Fatalf("cfg %+v", cfg)
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServeAndSIGTERM runs a one-node cluster through run(), writes and
// reads through the client, then stops it with SIGTERM.
func TestServeAndSIGTERM(t *testing.T) {
	raftA, clientA, adminA := freeAddr(t), freeAddr(t), freeAddr(t)
	var stderr syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"--id", "n1", "--peers", fmt.Sprintf("n1=%s/%s", raftA, clientA), "--data", t.TempDir(),
			"--raft-addr", raftA, "--client-addr", clientA, "--admin-addr", adminA, "--read-mode", "stale"}, &stderr)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + adminA + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case code := <-done:
			t.Fatalf("kvnode exited early with %d:\n%s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("kvnode never became healthy:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cfg := system.DefaultClientConfig()
	cfg.Addrs = map[string]string{"n1": clientA}
	// Healthy is not yet leader: on a loaded machine the election can take
	// longer than the default attempts; the deadline bounds the request.
	cfg.MaxAttempts = 1 << 20
	c, err := system.NewClient(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := c.Get(ctx, "k"); err != nil || !ok || string(v) != "v" {
		t.Fatalf("get: %q %v %v", v, ok, err)
	}
	if !strings.Contains(stderr.String(), "UNSAFE") {
		t.Fatalf("unsafe read mode logged no warning:\n%s", stderr.String())
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after SIGTERM:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("kvnode did not stop on SIGTERM")
	}
}
