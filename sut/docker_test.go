package sut_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/engine"
	"github.com/faultline/faultline/engine/enginetest"
	"github.com/faultline/faultline/sut"
	"github.com/faultline/faultline/workload"
)

// startCluster starts a 3-node cluster of sys in Docker (building its
// image) and removes it when t ends.
func startCluster(t *testing.T, sys sut.System) *docker.Cluster {
	t.Helper()
	enginetest.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cfg := cluster.DefaultSpec()
	cfg.System = sys
	t0 := time.Now()
	c, err := docker.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start a %s cluster: %v", sys.Info().Name, err)
	}
	t.Logf("%s cluster up in %v (image build included)", sys.Info().Name, time.Since(t0).Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			for _, id := range c.Nodes() {
				if l, err := c.Logs(context.Background(), id); err == nil {
					t.Logf("---- %s log ----\n%s", id, tail(l, 20))
				}
			}
		}
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func newClient(t *testing.T, sys sut.System, c *docker.Cluster, home string, opts sut.Options) sut.Client {
	t.Helper()
	kv, err := sys.NewClient(context.Background(), sut.ClientConfig{
		Addrs: c.ClientAddrs(), Home: home, AttemptTimeout: time.Second, Options: opts})
	if err != nil {
		t.Fatalf("%s client: %v", sys.Info().Name, err)
	}
	t.Cleanup(func() { kv.Close() })
	return kv
}

func list(t *testing.T, r workload.MicroResult) []string {
	t.Helper()
	var out []string
	for _, e := range r.List {
		out = append(out, string(e))
	}
	return out
}

// TestClientContract holds every system's client to the workloads'
// contract (workload.KV): the same operations give the same results, and
// failures are classified the Jepsen way.
func TestClientContract(t *testing.T) {
	for _, name := range sut.Names() {
		t.Run(name, func(t *testing.T) {
			sys, _ := sut.ByName(name)
			c := startCluster(t, sys)
			kv := newClient(t, sys, c, "n1", sut.Options{})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			clientContract(ctx, t, c, kv)
		})
	}
}

func clientContract(ctx context.Context, t *testing.T, c *docker.Cluster, kv sut.Client) {
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	definite := func(what string, err error) {
		t.Helper()
		if err == nil || !workload.IsDefinite(err) {
			t.Errorf("%s: err = %v, want a definite error (fail)", what, err)
		}
	}
	txn := func(ops ...workload.MicroOp) []workload.MicroResult {
		t.Helper()
		res, err := kv.Txn(ctx, ops)
		if err != nil {
			t.Fatalf("Txn %+v: %v", ops, err)
		}
		if len(res) != len(ops) {
			t.Fatalf("Txn: %d results for %d ops", len(res), len(ops))
		}
		return res
	}
	r := func(k string) workload.MicroOp { return workload.MicroOp{Kind: workload.MicroRead, Key: k} }
	rl := func(k string) workload.MicroOp { return workload.MicroOp{Kind: workload.MicroReadList, Key: k} }
	w := func(k, v string) workload.MicroOp {
		return workload.MicroOp{Kind: workload.MicroWrite, Key: k, Value: []byte(v)}
	}
	app := func(k, v string) workload.MicroOp {
		return workload.MicroOp{Kind: workload.MicroAppend, Key: k, Value: []byte(v)}
	}
	cmp := func(k, v string) workload.MicroOp {
		return workload.MicroOp{Kind: workload.MicroCompare, Key: k, Value: []byte(v)}
	}

	// Registers.
	if _, found, err := kv.Get(ctx, "missing"); err != nil || found {
		t.Errorf("Get(missing) = found %v, %v", found, err)
	}
	must(kv.Put(ctx, "r", []byte("1")))
	if v, found, err := kv.Get(ctx, "r"); err != nil || !found || string(v) != "1" {
		t.Errorf("Get(r) = %q, %v, %v; want 1", v, found, err)
	}
	must(kv.CAS(ctx, "r", []byte("1"), []byte("2")))
	definite("CAS with a stale expected value", kv.CAS(ctx, "r", []byte("1"), []byte("3")))
	definite("CAS on a missing key", kv.CAS(ctx, "missing", []byte("1"), []byte("3")))
	if v, _, err := kv.Get(ctx, "r"); err != nil || string(v) != "2" {
		t.Errorf("Get(r) after CAS = %q, %v; want 2", v, err)
	}

	// Lists.
	for _, e := range []string{"a", "b", "c"} {
		must(kv.Append(ctx, "l", []byte(e)))
	}
	res := txn(rl("l"), rl("missing-list"))
	if got := list(t, res[0]); !slices.Equal(got, []string{"a", "b", "c"}) || !res[0].Found {
		t.Errorf("list after appends = %v (found %v)", got, res[0].Found)
	}
	if res[1].Found || len(res[1].List) != 0 {
		t.Errorf("missing list = %+v", res[1])
	}
	res = txn(rl("l"), app("l", "d"), rl("l"), app("l2", "x"))
	if got := list(t, res[0]); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("list read before an append in the txn = %v", got)
	}
	if got := list(t, res[2]); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Errorf("list read after an append in the txn = %v", got)
	}

	// Transactions: reads see earlier writes, compares guard everything.
	res = txn(w("x", "1"), r("x"), w("y", "1"), w("y", "2"), r("y"))
	if string(res[1].Value) != "1" || string(res[4].Value) != "2" {
		t.Errorf("reads after writes in a txn = %q, %q; want 1, 2", res[1].Value, res[4].Value)
	}
	txn(cmp("x", "1"), workload.MicroOp{Kind: workload.MicroCompare, Key: "missing", Absent: true}, w("z", "ok"))
	_, err := kv.Txn(ctx, []workload.MicroOp{cmp("x", "2"), w("z", "bad")})
	definite("txn with a failing compare", err)
	_, err = kv.Txn(ctx, []workload.MicroOp{{Kind: workload.MicroCompare, Key: "x", Absent: true}, w("z", "bad")})
	definite("txn with a failing absence compare", err)
	if v, _, err := kv.Get(ctx, "z"); err != nil || string(v) != "ok" {
		t.Errorf("z = %q, %v: a failed compare applied writes", v, err)
	}

	// Concurrent appends to one key: every element exactly once.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 5 {
				if err := kv.Append(ctx, "hot", []byte(strconv.Itoa(10*g+i))); err != nil {
					errs[g] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		must(err)
	}
	if got := list(t, txn(rl("hot"))[0]); len(got) != 40 || len(slices.Compact(slices.Sorted(slices.Values(got)))) != 40 {
		t.Errorf("40 concurrent appends gave %d elements: %v", len(got), got)
	}

	// A cluster that cannot answer: indeterminate (info), not fail.
	for _, id := range c.Nodes() {
		must(c.Pause(ctx, id))
	}
	short, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	err = kv.Put(short, "r", []byte("paused"))
	cancel()
	for _, id := range c.Nodes() {
		must(c.Resume(ctx, id))
	}
	if err == nil || workload.IsDefinite(err) {
		t.Errorf("Put to a paused cluster: err = %v, want an indefinite error (info)", err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	must(c.WaitHealthy(wctx))
}

// TestEtcdSerializableReadsAreStale shows the planted bug the etcd
// scenarios rely on: a member cut off from the others still answers
// serializable reads from its own state, while linearizable reads there
// fail as info.
func TestEtcdSerializableReadsAreStale(t *testing.T) {
	sys := sut.Etcd{}
	c := startCluster(t, sys)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var victim string
	for _, id := range c.Nodes() {
		if id != leader {
			victim = id
			break
		}
	}
	writer := newClient(t, sys, c, leader, sut.Options{})
	stale := newClient(t, sys, c, victim, sut.Options{ReadMode: sut.EtcdReadSerializable})
	linear := newClient(t, sys, c, victim, sut.Options{})
	if err := writer.Put(ctx, "k", []byte("old")); err != nil {
		t.Fatal(err)
	}
	// The victim has applied "old" once its own serializable read sees it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, _, err := stale.Get(ctx, "k")
		if err == nil && string(v) == "old" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never saw the write: %q, %v", victim, v, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	netctl := func(node string, args ...string) {
		code, out, err := c.Exec(ctx, node, append([]string{engine.NetctlPath}, args...))
		if err != nil || code != 0 {
			t.Fatalf("netctl %v on %s: exit %d, %v: %s", args, node, code, err, out)
		}
	}
	var others []string
	for _, id := range c.Nodes() {
		if id != victim {
			others = append(others, c.IP(id))
			netctl(id, "drop", "--from", c.IP(victim))
		}
	}
	netctl(victim, "drop", "--from", strings.Join(others, ","))
	defer func() {
		for _, id := range c.Nodes() {
			netctl(id, "heal")
		}
	}()
	if err := writer.Put(ctx, "k", []byte("new")); err != nil {
		t.Fatalf("write on the majority side: %v", err)
	}
	v, _, err := stale.Get(ctx, "k")
	if err != nil || string(v) != "old" {
		t.Errorf("serializable read on the cut-off %s = %q, %v; want the stale %q", victim, v, err, "old")
	}
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	v, _, err = linear.Get(short, "k")
	cancelShort()
	if err == nil || workload.IsDefinite(err) {
		t.Errorf("linearizable read on the cut-off %s = %q, %v; want an indefinite error", victim, v, err)
	}
}
