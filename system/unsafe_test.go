package system

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
)

// The planted bugs (unsafe.go) must really break the store, in a way the
// harness's checkers see, and only when their flag is on. Each test runs
// the same scenario with the flag off (the default) and on.

// opLog records a history for the checkers, as the harness's recorder
// does: an invoke, then ok, fail (definite error) or info.
type opLog struct {
	mu    sync.Mutex
	start time.Time
	ops   []history.Op
}

func newOpLog() *opLog { return &opLog{start: time.Now()} }

func (l *opLog) add(p int, typ history.Type, f string, v any, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	o := history.Op{Index: int64(len(l.ops)), Time: time.Since(l.start).Nanoseconds(), Type: typ, Process: p, F: f, Value: v}
	if err != nil {
		o.Error = err.Error()
	}
	l.ops = append(l.ops, o)
}

func (l *opLog) invoke(p int, f string, v any) { l.add(p, history.Invoke, f, v, nil) }

// complete records the completion of p's op and returns its type.
func (l *opLog) complete(p int, f string, v any, err error) history.Type {
	typ := history.OK
	switch {
	case err != nil && IsDefinite(err):
		typ = history.Fail
	case err != nil:
		typ = history.Info
	}
	l.add(p, typ, f, v, err)
	return typ
}

func (l *opLog) history() []history.Op {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]history.Op(nil), l.ops...)
}

// anomalyTypes counts the anomalies of r by type.
func anomalyTypes(r checker.Result) map[string]int {
	out := map[string]int{}
	for _, a := range r.Anomalies {
		out[a.Type]++
	}
	return out
}

// check runs c and requires the verdict want.
func check(t *testing.T, c checker.Checker, ops []history.Op, want checker.Verdict) checker.Result {
	t.Helper()
	r := c.Check(context.Background(), ops)
	if r.Valid != want {
		t.Fatalf("%s checker: %v (%s), want %v; anomalies %v", c.Name(), r.Valid, r.Explanation, want, anomalyTypes(r))
	}
	t.Logf("%s checker: %v %v", c.Name(), r.Valid, anomalyTypes(r))
	return r
}

// workers runs fn(worker, process) concurrently until d passes; a worker
// whose op ended as info continues as a fresh process (fn returns true).
func workers(n int, d time.Duration, fn func(w, p int, r *rand.Rand) (info bool)) {
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for p := w; time.Now().Before(stop); {
				if fn(w, p, r) {
					p += n
				}
			}
		}()
	}
	wg.Wait()
}

// offAndOn runs scenario with a planted bug off (the default, which it
// checks) and on; want is the verdict the checkers must then give.
func offAndOn(t *testing.T, onByDefault bool, scenario func(t *testing.T, unsafe bool, want checker.Verdict)) {
	if onByDefault {
		t.Fatal("the planted bug is on by default")
	}
	for _, unsafe := range []bool{false, true} {
		want := checker.Valid
		if unsafe {
			want = checker.Invalid
		}
		t.Run(fmt.Sprintf("unsafe=%v", unsafe), func(t *testing.T) { scenario(t, unsafe, want) })
	}
}

const bankTotal = 300

var bankAccounts = []string{"acct0", "acct1", "acct2"}

// runBank runs the bank workload (as workload/bank.go does it: reads of
// every account; transfers that read two balances, then write both under
// compare guards) and returns the history.
func runBank(t *testing.T, tc *testCluster, d time.Duration) []history.Op {
	ctx := ctxT(t, 60*time.Second)
	setup := make([]MicroOp, len(bankAccounts))
	for i, a := range bankAccounts {
		setup[i] = MicroOp{Kind: MicroWrite, Key: a, Value: []byte(strconv.Itoa(bankTotal / len(bankAccounts)))}
	}
	if _, err := tc.client(nil).Txn(ctx, setup); err != nil {
		t.Fatal(err)
	}
	const n = 6
	clients := make([]*Client, n)
	for i := range clients {
		clients[i] = tc.client(nil)
	}
	l := newOpLog()
	workers(n, d, func(w, p int, r *rand.Rand) bool {
		c := clients[w]
		octx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if r.IntN(2) == 0 {
			reads := make([]MicroOp, len(bankAccounts))
			for i, a := range bankAccounts {
				reads[i] = MicroOp{Kind: MicroRead, Key: a}
			}
			l.invoke(p, "read", nil)
			res, err := c.Txn(octx, reads)
			var bal map[string]any
			if err == nil {
				bal = map[string]any{}
				for i, a := range bankAccounts {
					v, _ := strconv.ParseInt(string(res[i].Value), 10, 64)
					bal[a] = v
				}
			}
			return l.complete(p, "read", bal, err) == history.Info
		}
		from := r.IntN(len(bankAccounts))
		to := (from + 1 + r.IntN(len(bankAccounts)-1)) % len(bankAccounts)
		amount := int64(1 + r.IntN(5))
		fk, tk := bankAccounts[from], bankAccounts[to]
		v := map[string]any{"from": fk, "to": tk, "amount": amount}
		l.invoke(p, "transfer", v)
		res, err := c.Txn(octx, []MicroOp{{Kind: MicroRead, Key: fk}, {Kind: MicroRead, Key: tk}})
		if err == nil {
			fb, _ := strconv.ParseInt(string(res[0].Value), 10, 64)
			tb, _ := strconv.ParseInt(string(res[1].Value), 10, 64)
			if fb < amount {
				return l.complete(p, "transfer", v, ErrCASMismatch) == history.Info
			}
			_, err = c.Txn(octx, []MicroOp{
				{Kind: MicroCompare, Key: fk, Value: res[0].Value},
				{Kind: MicroCompare, Key: tk, Value: res[1].Value},
				{Kind: MicroWrite, Key: fk, Value: []byte(strconv.FormatInt(fb-amount, 10))},
				{Kind: MicroWrite, Key: tk, Value: []byte(strconv.FormatInt(tb+amount, 10))},
			})
		}
		return l.complete(p, "transfer", v, err) == history.Info
	})
	return l.history()
}

// runListAppend runs list-append transactions (1-4 micro-ops, appends of
// values unique per key, reads) over a few keys and returns the history.
func runListAppend(t *testing.T, tc *testCluster, d time.Duration) []history.Op {
	ctx := ctxT(t, 60*time.Second)
	const n, keys = 6, 3
	clients := make([]*Client, n)
	for i := range clients {
		clients[i] = tc.client(nil)
	}
	var next [keys]atomic.Int64
	l := newOpLog()
	workers(n, d, func(w, p int, r *rand.Rand) bool {
		mops := make([]MicroOp, 1+r.IntN(4))
		inv := make([]any, len(mops))
		for i := range mops {
			k := int64(r.IntN(keys))
			key := fmt.Sprintf("la%d", k)
			if r.IntN(2) == 0 {
				v := next[k].Add(1)
				mops[i] = MicroOp{Kind: MicroAppend, Key: key, Value: []byte(strconv.FormatInt(v, 10))}
				inv[i] = []any{"append", k, v}
			} else {
				mops[i] = MicroOp{Kind: MicroRead, Key: key}
				inv[i] = []any{"r", k, nil}
			}
		}
		l.invoke(p, "txn", inv)
		octx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		res, err := clients[w].Txn(octx, mops)
		out := make([]any, len(inv))
		for i, m := range inv {
			mop := append([]any(nil), m.([]any)...)
			if err == nil && mop[0] == "r" {
				read := []any{}
				if res[i].Found {
					elems, derr := DecodeList(res[i].Value)
					if derr != nil {
						t.Errorf("list-append read: %v", derr)
					}
					for _, e := range elems {
						v, _ := strconv.ParseInt(string(e), 10, 64)
						read = append(read, v)
					}
				}
				mop[2] = read
			}
			out[i] = mop
		}
		return l.complete(p, "txn", out, err) == history.Info
	})
	return l.history()
}

// --unsafe-nonatomic-txn: transactions interleave, so bank reads see
// totals that are off and list-append histories have G0/G1/G2 anomalies.
func TestUnsafeNonatomicTxn(t *testing.T) {
	offAndOn(t, DefaultNodeConfig().UnsafeNonatomicTxn, func(t *testing.T, unsafe bool, want checker.Verdict) {
		tc := newTestCluster(t, 3, func(c *NodeConfig) { fastConfig(c); c.UnsafeNonatomicTxn = unsafe })
		tc.leader(30 * time.Second)
		r := check(t, checker.NewBank(checker.BankConfig{Total: bankTotal, Accounts: bankAccounts}), runBank(t, tc, 2*time.Second), want)
		if unsafe && anomalyTypes(r)["wrong-total"] == 0 {
			t.Fatalf("bank anomalies %v lack wrong-total", anomalyTypes(r))
		}
		r = check(t, checker.NewListAppend(checker.ListAppendConfig{}), runListAppend(t, tc, 2*time.Second), want)
		if unsafe {
			t.Logf("list-append anomalies: %v", anomalyTypes(r))
			g := false
			for a := range anomalyTypes(r) {
				g = g || strings.HasPrefix(a, "G1") || strings.HasPrefix(a, "G2") || strings.HasPrefix(a, "G-single")
			}
			if !g {
				t.Fatalf("list-append anomalies %v include no G1/G2-class one", anomalyTypes(r))
			}
		}
	})
}

// --unsafe-ack-before-commit: a leader cut off from its followers still
// acknowledges writes; a new leader is elected without them and the old
// leader's copy is truncated when it rejoins, so acknowledged writes are
// lost (set: lost; register: not linearizable). While the leader is
// healthy, a read after an acknowledged write observes it.
func TestUnsafeAckBeforeCommit(t *testing.T) {
	offAndOn(t, DefaultNodeConfig().UnsafeAckBeforeCommit, func(t *testing.T, unsafe bool, want checker.Verdict) {
		tc := newTestCluster(t, 3, func(c *NodeConfig) {
			fastConfig(c)
			// A leader that loses its followers keeps leading for
			// two seconds or more, long enough to take the writes.
			c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = 2*time.Second, 2*time.Second, 2*time.Second
			c.RequestTimeout = time.Second
			c.UnsafeAckBeforeCommit = unsafe
		})
		var li int
		var r *rawConn
		id := uint64(0)
		call := func(req Request) Response {
			id++
			req.ClientID, req.Seq, req.Floor = 99, id, id
			if !Mutating(req.Op) {
				req.ClientID, req.Seq, req.Floor = 0, 0, 0
			}
			return r.call(id, &req)
		}
		regs, set := newOpLog(), newOpLog()
		write := func(v int64) history.Type {
			regs.invoke(0, "write", []any{int64(0), v})
			resp := call(Request{Op: OpSet, Key: "reg", Value: []byte(strconv.FormatInt(v, 10))})
			return regs.complete(0, "write", []any{int64(0), v}, resp.Err())
		}
		add := func(e int64) history.Type {
			set.invoke(0, "add", e)
			resp := call(Request{Op: OpAppend, Key: "set", Value: []byte(strconv.FormatInt(e, 10))})
			return set.complete(0, "add", e, resp.Err())
		}
		// Healthy: the acknowledged write is observed by the next read.
		tc.onLeader(30*time.Second, func(l int) error {
			li, r = l, dialRaw(t, tc.nodes[l].ClientAddr())
			if write(1) != history.OK || add(1) != history.OK {
				return fmt.Errorf("healthy writes failed: %v", regs.history())
			}
			return nil
		})
		regs.invoke(0, "read", []any{int64(0), nil})
		if resp := call(Request{Op: OpGet, Key: "reg"}); resp.Status != StatusOK || string(resp.Value) != "1" {
			t.Fatalf("read after an acknowledged write: %+v", resp)
		}
		regs.complete(0, "read", []any{int64(0), int64(1)}, nil)

		// Cut the leader off (its followers stop) and write to it.
		var stops sync.WaitGroup
		for i := range tc.nodes {
			if i != li {
				stops.Add(1)
				go func() { defer stops.Done(); tc.stop(i) }()
			}
		}
		stops.Wait()
		w2, a2 := write(2), add(2)
		if !unsafe && (w2 == history.OK || a2 == history.OK) {
			t.Fatalf("a leader without a quorum acknowledged a write: %v %v", regs.history(), set.history())
		}
		if unsafe && (w2 != history.OK || a2 != history.OK) {
			t.Fatalf("the cut-off leader did not acknowledge the writes (the bug is gone, or it stepped down too soon): %v %v", regs.history(), set.history())
		}

		// The old leader dies; the others elect a leader without its
		// log tail; then it rejoins and its tail is truncated.
		tc.stop(li)
		for i := range tc.nodes {
			if i != li {
				tc.start(i)
			}
		}
		tc.leader(60 * time.Second)
		tc.start(li)
		tc.leader(60 * time.Second)
		c := tc.client(nil)
		ctx := ctxT(t, 60*time.Second)
		regs.invoke(0, "read", []any{int64(0), nil})
		v, _, err := c.Get(ctx, "reg")
		got, _ := strconv.ParseInt(string(v), 10, 64)
		regs.complete(0, "read", []any{int64(0), got}, err)
		set.invoke(0, "read", nil)
		lv, _, err := c.Get(ctx, "set")
		elems, _ := DecodeList(lv)
		read := []any{}
		for _, e := range elems {
			x, _ := strconv.ParseInt(string(e), 10, 64)
			read = append(read, x)
		}
		set.complete(0, "read", read, err)
		if !waitFor(30*time.Second, func() bool {
			return string(tc.nodes[li].fsm.Read(&Request{Op: OpGet, Key: "reg"}).Value) == string(v)
		}) {
			t.Fatalf("the old leader did not converge to reg=%s", v)
		}
		t.Logf("after the old leader was cut off: reg=%s, set=%v", v, read)

		lin, err := checker.NewLinearizable(checker.LinearizableConfig{})
		if err != nil {
			t.Fatal(err)
		}
		check(t, lin, regs.history(), want)
		res := check(t, checker.NewSet(checker.SetConfig{}), set.history(), want)
		if unsafe && anomalyTypes(res)["lost"] == 0 {
			t.Fatalf("set anomalies %v lack lost", anomalyTypes(res))
		}
	})
}

// --unsafe-definite-timeouts: a request that times out on the node is
// answered BUSY ("not applied") though its entry commits, so a failed
// transaction's append is observed (G1a, aborted read). The commit is made
// slow by holding the leader's state machine, as a slow disk would.
func TestUnsafeDefiniteTimeouts(t *testing.T) {
	offAndOn(t, DefaultNodeConfig().UnsafeDefiniteTimeouts, func(t *testing.T, unsafe bool, want checker.Verdict) {
		tc := newTestCluster(t, 3, func(c *NodeConfig) {
			fastConfig(c)
			c.RequestTimeout = 300 * time.Millisecond
			c.UnsafeDefiniteTimeouts = unsafe
		})
		c := tc.client(func(cfg *ClientConfig) { cfg.RequestTimeout = 5 * time.Second })
		l := newOpLog()
		tc.onLeader(30*time.Second, func(li int) error {
			// Warm up: the client finds the leader.
			if _, err := c.Txn(ctxT(t, 30*time.Second), []MicroOp{{Kind: MicroWrite, Key: "warm", Value: []byte("1")}}); err != nil {
				return err
			}
			if c.LastNode() != tc.nodes[li].ID() {
				return fmt.Errorf("answered by %s, not the leader %s", c.LastNode(), tc.nodes[li].ID())
			}
			fsm := tc.nodes[li].fsm
			fsm.mu.Lock()
			l.invoke(0, "txn", []any{[]any{"append", int64(1), int64(1)}})
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			_, err := c.Txn(ctx, []MicroOp{{Kind: MicroAppend, Key: "la1", Value: []byte("1")}})
			cancel()
			fsm.mu.Unlock()
			typ := l.complete(0, "txn", []any{[]any{"append", int64(1), int64(1)}}, err)
			if want := map[bool]history.Type{false: history.Info, true: history.Fail}[unsafe]; typ != want {
				return fmt.Errorf("append while the commit is slow: %v (%v), want %v", typ, err, want)
			}
			return nil
		})
		l.invoke(1, "txn", []any{[]any{"r", int64(1), nil}})
		res, err := c.Txn(ctxT(t, 30*time.Second), []MicroOp{{Kind: MicroRead, Key: "la1"}})
		if err != nil {
			t.Fatal(err)
		}
		elems, _ := DecodeList(res[0].Value)
		if len(elems) != 1 {
			t.Fatalf("the append that timed out did not apply: %q", elems)
		}
		l.complete(1, "txn", []any{[]any{"r", int64(1), []any{int64(1)}}}, nil)
		r := check(t, checker.NewListAppend(checker.ListAppendConfig{}), l.history(), want)
		if unsafe && anomalyTypes(r)["G1a"] == 0 {
			t.Fatalf("list-append anomalies %v lack G1a", anomalyTypes(r))
		}
	})
}

// Every planted bug is off by default, and each switch turns on exactly
// its own bug.
func TestPlantedBugsOffByDefault(t *testing.T) {
	if u := DefaultNodeConfig(); len(u.UnsafeFlags()) != 0 || u.ReadMode.Unsafe() {
		t.Fatalf("the default config runs UNSAFE: %v, read mode %s", u.UnsafeFlags(), u.ReadMode)
	}
	for _, b := range PlantedBugs() {
		cfg := DefaultNodeConfig()
		*b.Switch(&cfg) = true
		if got := cfg.UnsafeFlags(); len(got) != 1 || got[0] != b.Name || !strings.HasPrefix(b.Help, "UNSAFE") {
			t.Fatalf("%s: switch turns on %v; help %q", b.Name, got, b.Help)
		}
	}
}

// TestUnsafeNoFsync: with the planted bug the store's raft log never
// syncs; without it, every acknowledged write was synced. (Only a power
// failure, which the harness's file system injects, turns the missing
// syncs into lost writes.)
func TestUnsafeNoFsync(t *testing.T) {
	for _, unsafe := range []bool{false, true} {
		t.Run(fmt.Sprintf("unsafe=%v", unsafe), func(t *testing.T) {
			tc := newTestCluster(t, 3, func(c *NodeConfig) { fastConfig(c); c.UnsafeNoFsync = unsafe })
			tc.leader(30 * time.Second)
			ctx := ctxT(t, 30*time.Second)
			c := tc.client(nil)
			for i := range 20 {
				if err := c.Put(ctx, fmt.Sprintf("k%d", i), []byte("v")); err != nil {
					t.Fatal(err)
				}
			}
			for _, n := range tc.nodes {
				syncs := n.raftLog.Syncs()
				if unsafe != (syncs == 0) || unsafe != slices.Contains(n.Status().Unsafe, "no-fsync") {
					t.Fatalf("%s with --unsafe-no-fsync=%v: %d syncs, unsafe %v", n.ID(), unsafe, syncs, n.Status().Unsafe)
				}
			}
		})
	}
}
