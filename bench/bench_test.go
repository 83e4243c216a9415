package bench

import (
	"context"
	"errors"
	"flag"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/sut"
)

func TestDefaultConfigValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidateSaysWhatToFix(t *testing.T) {
	c := DefaultConfig()
	c.Nodes, c.Concurrency, c.Duration, c.Systems = 0, nil, time.Millisecond, []string{"kvnode", "zookeeper", "kvnode"}
	err := c.Validate()
	for _, want := range []string{"-bench.nodes=0", "-bench.concurrency is empty", "-bench.duration=1ms",
		`unknown system "zookeeper"`, "names kvnode twice"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
}

func TestRegisterFlags(t *testing.T) {
	c := DefaultConfig()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	c.RegisterFlags(fs)
	err := fs.Parse([]string{"-bench.nodes=5", "-bench.concurrency=2, 8", "-bench.duration=250ms",
		"-bench.checker-sizes=1_000,20000", "-bench.value-size=1024", "-bench.conns=4", "-bench.systems=etcd, kvnode"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Nodes != 5 || !slices.Equal(c.Concurrency, []int{2, 8}) || c.Duration != 250*time.Millisecond ||
		!slices.Equal(c.CheckerSizes, []int{1000, 20000}) || c.ValueSize != 1024 || c.Conns != 4 ||
		!slices.Equal(c.Systems, []string{"etcd", "kvnode"}) {
		t.Errorf("flags not bound: %+v", c)
	}
	if got := (*IntList)(&c.Concurrency).String(); got != "2,8" {
		t.Errorf("IntList.String() = %q", got)
	}
	if err := fs.Parse([]string{"-bench.concurrency=x"}); err == nil {
		t.Error("a non-integer concurrency was accepted")
	}
	if got := c.ConnsFor(2); got != 2 {
		t.Errorf("ConnsFor(2) with -bench.conns=4 = %d, want 2", got)
	}
}

// TestLoadWindow: a window counts its ops, errors and events, whatever
// the machine's speed: the test ends the window itself (its context) once
// every worker has done a few ops, rather than timing it.
func TestLoadWindow(t *testing.T) {
	errOdd := errors.New("odd")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const conc, each = 4, 3
	var mu sync.Mutex
	done := map[int]int{}
	l := Load{Concurrency: conc, Duration: time.Hour, Events: true,
		Op: func(_ context.Context, w int, i int64) error {
			mu.Lock()
			done[w]++
			if len(done) == conc && slices.Min(slices.Collect(maps.Values(done))) >= each {
				cancel()
			}
			mu.Unlock()
			if w == 3 {
				return errOdd
			}
			return nil
		}}
	r := l.Run(ctx)
	// An op that returns after the window ended, with an error, is not
	// counted: each worker's last op may be missing.
	if r.OK < (conc-1)*(each-1) || r.Errors < each-1 || !errors.Is(r.FirstErr, errOdd) {
		t.Fatalf("ok %d errors %d first %v, want at least %d, %d and %v", r.OK, r.Errors, r.FirstErr, (conc-1)*(each-1), each-1, errOdd)
	}
	if r.Elapsed <= 0 || r.Elapsed >= l.Duration {
		t.Errorf("window lasted %v, want it ended by its context, before %v", r.Elapsed, l.Duration)
	}
	if p := r.QuantileMS(50); p <= 0 {
		t.Errorf("p50 = %vms", p)
	}
	if int64(len(r.Events)) != r.OK+r.Errors {
		t.Errorf("%d events for %d ops", len(r.Events), r.OK+r.Errors)
	}
	if n := r.OKBetween(0, r.Elapsed+1); n != r.OK {
		t.Errorf("OKBetween(whole window) = %d, want %d", n, r.OK)
	}
	var total Result
	total.Add(r)
	total.Add(r)
	if total.OK != 2*r.OK || total.Elapsed != 2*r.Elapsed || total.Latency.TotalCount() != 2*r.Latency.TotalCount() {
		t.Errorf("Add: %+v", total)
	}

	capped := Load{Concurrency: 3, Duration: time.Minute, MaxOps: 10,
		Op: func(context.Context, int, int64) error { return nil }}.Run(context.Background())
	if capped.OK != 10 {
		t.Errorf("MaxOps 10: %d ops", capped.OK)
	}
}

func TestFirstOKInvokedAfter(t *testing.T) {
	ms := time.Millisecond
	r := Result{Events: []Event{
		{Invoke: 0, Complete: 50 * ms, OK: true},          // in flight at 10ms: ignored
		{Invoke: 20 * ms, Complete: 900 * ms, OK: true},   // first invoked after, completes late
		{Invoke: 30 * ms, Complete: 40 * ms, OK: false},   // failed
		{Invoke: 100 * ms, Complete: 300 * ms, OK: true},  // earliest ok completion
		{Invoke: 200 * ms, Complete: 1000 * ms, OK: true}, // later
	}}
	if d, ok := r.FirstOKInvokedAfter(10 * ms); !ok || d != 290*ms {
		t.Errorf("FirstOKInvokedAfter(10ms) = %v, %v; want 290ms", d, ok)
	}
	if _, ok := r.FirstOKInvokedAfter(time.Second); ok {
		t.Error("found an ok op invoked after every op")
	}
	if n := r.OKBetween(40*ms, 301*ms); n != 2 {
		t.Errorf("OKBetween = %d, want 2", n)
	}
}

// TestStoreOpsInProcess runs every op kind briefly against an in-process
// cluster (no Docker).
func TestStoreOpsInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node in-process cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := StartInProcess(ctx, 3, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	small := DefaultConfig()
	small.Keys = 50
	s, err := NewStore(ctx, Target{System: sut.KVNode{}, Addrs: c.ClientAddrs()}, 2, small)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, kind := range OpKinds {
		op, err := s.Op(ctx, kind, 4)
		if err != nil {
			t.Fatal(err)
		}
		r := Load{Concurrency: 4, Duration: 300 * time.Millisecond, Op: op}.Run(ctx)
		if r.OK == 0 || r.Errors > 0 {
			t.Errorf("%s: %d ok, %d errors, first: %v", kind, r.OK, r.Errors, r.FirstErr)
		}
	}
	if _, err := s.Op(ctx, "scan", 1); err == nil {
		t.Error("an unknown op kind was accepted")
	}
}
