package main

import (
	"bytes"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/cmd/netctl/internal/delayer"
	"github.com/faultline/faultline/nemesis/netrule"
)

func TestDelayerArgs(t *testing.T) {
	for _, d := range []netrule.Delay{
		{Mean: 50 * time.Millisecond},
		{Mean: 100 * time.Millisecond, Jitter: 10 * time.Millisecond, Seed: 1<<64 - 1},
	} {
		args := delayerArgs(1234, d)
		if args[0] != "delayer" {
			t.Fatalf("delayerArgs = %q", args)
		}
		cfg, err := parseDelayerArgs(args[1:])
		if want := (delayer.Config{Queue: 1234, Delay: d}); err != nil || cfg != want {
			t.Errorf("parseDelayerArgs(%q) = %+v, %v; want %+v", args, cfg, err, want)
		}
	}
	for _, tc := range []struct {
		args, err string
	}{
		{"--queue 999 --ms 50", "--queue N with N in 1000..65535"},
		{"--queue 65536 --ms 50", "--queue N"},
		{"--queue 1000 --ms 0", "delay 0s out of range"},
		{"--queue 1000 --ms 50 --jitter-ms 10", "" /* seed 0 is a seed */},
		{"--queue 1000 --ms 50 --jitter-ms 60 --seed 1", "jitter 60ms out of range"},
		{"--queue 1000 --ms 50 extra", `unexpected argument "extra"`},
	} {
		_, err := parseDelayerArgs(strings.Fields(tc.args))
		if (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("parseDelayerArgs(%q) = %v, want %q", tc.args, err, tc.err)
		}
	}
}

func TestRTT(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	// A port nobody listens on: the connect is refused, which counts.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	for _, addr := range []string{ln.Addr().String(), closedAddr} {
		var out, errb bytes.Buffer
		ap := netip.MustParseAddrPort(addr)
		args := []string{"rtt", "--to", ap.Addr().String(), "--port", strconv.Itoa(int(ap.Port())), "--count", "3"}
		if code := run(args, &out, &errb); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errb.String())
		}
		r, err := netrule.ParseRTT(out.String())
		if err != nil {
			t.Fatalf("%v printed %q: %v", args, out.String(), err)
		}
		if r.To != ap || r.Count != 3 || r.Lost != 0 || r.Min <= 0 {
			t.Errorf("%v: %+v", args, r)
		}
	}
}
