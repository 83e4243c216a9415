package workload

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/history"
)

func newRecorder(t testing.TB) *history.Recorder {
	t.Helper()
	rec, err := history.NewRecorder("")
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// scripted is a workload whose ops return scripted outcomes: op value i
// gets outcome i.
type scripted struct {
	outcomes []error // nil ok; errSleep: sleep past the deadline
}

var (
	errSleep   = errors.New("sleep past the deadline")
	errTimeout = errors.New("timeout")
)

// storeError is a system client's error that says itself whether it is
// definite.
type storeError struct{ definite bool }

func (e storeError) Error() string  { return fmt.Sprintf("store error (definite %v)", e.definite) }
func (e storeError) Definite() bool { return e.definite }

func (s *scripted) Info() Info                      { return Info{Name: "scripted"} }
func (s *scripted) Setup(context.Context, KV) error { return nil }
func (s *scripted) Final() Generator                { return nil }
func (s *scripted) Generator() Generator {
	ops := make([]Op, len(s.outcomes))
	for i := range ops {
		ops[i] = Op{F: "op", Value: int64(i)}
	}
	return OnWorker(0, Once(ops...))
}
func (s *scripted) Invoke(ctx context.Context, _ KV, op Op) (any, error) {
	err := s.outcomes[op.Value.(int64)]
	if err == errSleep {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return "done", err
}

// multi is a workload whose op "big" takes requests requests; Invoke
// reports the deadline it was given.
type multi struct {
	scripted
	requests int
	got      chan time.Duration
}

func (m *multi) Requests(op Op) int { return m.requests }
func (m *multi) Invoke(ctx context.Context, _ KV, op Op) (any, error) {
	dl, _ := ctx.Deadline()
	m.got <- time.Until(dl)
	return "done", nil
}

// TestRequestsDeadline: an op of several requests gets the op timeout for
// each (the set's read), an op of one gets one.
func TestRequestsDeadline(t *testing.T) {
	for _, requests := range []int{0, 1, 64} {
		w := &multi{scripted: scripted{outcomes: []error{nil}}, requests: requests, got: make(chan time.Duration, 1)}
		cfg := DefaultRunConfig()
		cfg.Concurrency = 1
		cfg.OpTimeout = time.Minute
		r, err := NewRunner(cfg, w, func(int) (KV, error) { return NewMemKV(MemKVConfig{}), nil }, newRecorder(t))
		if err != nil {
			t.Fatal(err)
		}
		r.Do(context.Background(), 0, Op{F: "big"})
		got, want := <-w.got, time.Duration(max(1, requests))*time.Minute
		if got > want || got < want-30*time.Second {
			t.Errorf("%d requests: deadline in %v, want %v", requests, got, want)
		}
	}
}

func TestSetReadRequests(t *testing.T) {
	w, err := NewSet(DefaultSetConfig())
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Requests(Op{F: "read"}); got != 64 {
		t.Errorf("a read of 256 keys, 4 a transaction: %d requests, want 64", got)
	}
	if got := w.Requests(Op{F: "add", Value: int64(1)}); got != 1 {
		t.Errorf("an add: %d requests, want 1", got)
	}
}

func TestInfoStartsNewProcess(t *testing.T) {
	w := &scripted{outcomes: []error{
		nil,                 // ok, p0
		errTimeout,          // info, p0 -> p3
		storeError{true},    // fail (definite), p3
		&DefiniteError{"x"}, // fail, p3
		errSleep,            // info (deadline), p3 -> p6
		errors.New("conn reset"),
		nil,
	}}
	cfg := DefaultRunConfig()
	cfg.Concurrency = 3
	cfg.OpTimeout = 20 * time.Millisecond
	rec := newRecorder(t)
	r, err := NewRunner(cfg, w, func(int) (KV, error) { return NewMemKV(MemKVConfig{Node: "n2"}), nil }, rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		typ  history.Type
		proc int
	}{{history.OK, 0}, {history.Info, 0}, {history.Fail, 3}, {history.Fail, 3}, {history.Info, 3}, {history.Info, 6}, {history.OK, 9}}
	pairs := history.Pairs(rec.Ops())
	if len(pairs) != len(want) {
		t.Fatalf("%d pairs, want %d", len(pairs), len(want))
	}
	for i, p := range pairs {
		c := p.Complete
		if p.Open || c.Type != want[i].typ || c.Process != want[i].proc || p.Invoke.Process != want[i].proc {
			t.Errorf("op %d: got %v / %v, want %v on p%d", i, p.Invoke, c, want[i].typ, want[i].proc)
		}
		if c.Node != "n2" {
			t.Errorf("op %d: node %q", i, c.Node)
		}
		if c.Type != history.OK && (c.Value != int64(i) || c.Error == "") {
			t.Errorf("op %d: a failed op keeps its invoke value and says why: %v", i, c)
		}
	}
	if got := r.Counts(); got != (Counts{Invoked: 7, OK: 2, Fail: 2, Info: 3}) {
		t.Errorf("counts %+v", got)
	}
}

// checkWellFormed checks the history invariants every workload shares and
// the value shapes of history.Op's doc comment.
func checkWellFormed(t *testing.T, name string, ops []history.Op, workers int) {
	t.Helper()
	for i, o := range ops {
		if o.Index != int64(i) || (i > 0 && o.Time < ops[i-1].Time) {
			t.Fatalf("op %d: index %d time %d", i, o.Index, o.Time)
		}
	}
	pairs := history.Pairs(ops)
	if 2*len(pairs) != len(ops) {
		t.Fatalf("%d ops but %d pairs: a completion without invoke or vice versa", len(ops), len(pairs))
	}
	isInt := func(v any) bool { _, ok := v.(int64); return ok }
	intList := func(v any) bool {
		l, ok := v.([]any)
		return ok && !slices.ContainsFunc(l, func(e any) bool { return !isInt(e) })
	}
	for _, p := range pairs {
		if p.Open {
			t.Fatalf("invoke %v never completed", p.Invoke)
		}
		if p.Invoke.Process%workers != p.Complete.Process%workers || p.Invoke.F != p.Complete.F {
			t.Fatalf("mismatched pair %v / %v", p.Invoke, p.Complete)
		}
		for _, o := range []history.Op{p.Invoke, p.Complete} {
			completed := o.Type == history.OK
			var ok bool
			switch name + "/" + o.F {
			case "register/read", "register/write":
				l, isL := o.Value.([]any)
				ok = isL && len(l) == 2 && isInt(l[0]) && (isInt(l[1]) || (l[1] == nil && (o.F == "read")))
				if o.F == "read" && o.Type == history.Invoke {
					ok = ok && l[1] == nil
				}
			case "register/cas":
				l, isL := o.Value.([]any)
				ok = isL && len(l) == 2 && isInt(l[0])
				if ok {
					on, isL := l[1].([]any)
					ok = isL && len(on) == 2 && isInt(on[0]) && isInt(on[1])
				}
			case "bank/read":
				if completed {
					m, isM := o.Value.(map[string]any)
					ok = isM && len(m) == 5
					var sum int64
					for _, v := range m {
						b, _ := v.(int64)
						sum += b
						ok = ok && isInt(v) && b >= 0
					}
					ok = ok && sum == 100
				} else {
					ok = o.Value == nil
				}
			case "bank/transfer":
				m, isM := o.Value.(map[string]any)
				ok = isM && isInt(m["from"]) && isInt(m["to"]) && isInt(m["amount"]) && m["from"] != m["to"]
			case "list-append/txn":
				l, isL := o.Value.([]any)
				ok = isL && len(l) >= 1
				for _, m := range l {
					mop, isL := m.([]any)
					ok = ok && isL && len(mop) == 3 && isInt(mop[1])
					if !ok {
						break
					}
					switch mop[0] {
					case "append":
						ok = isInt(mop[2])
					case "r":
						if completed {
							ok = intList(mop[2])
						} else {
							ok = mop[2] == nil
						}
					default:
						ok = false
					}
				}
			case "set/add":
				ok = isInt(o.Value)
			case "set/read":
				ok = (completed && intList(o.Value)) || (!completed && o.Value == nil)
			case "queue/enqueue":
				ok = isInt(o.Value)
			case "queue/drain":
				ok = (completed && intList(o.Value)) || (!completed && isInt(o.Value)) || (o.Type != history.OK && isInt(o.Value))
			}
			if !ok {
				t.Fatalf("%s: op %v has the wrong value shape", name, o)
			}
		}
	}
}

func TestWorkloadsAgainstMemKV(t *testing.T) {
	for _, name := range Names() {
		for _, faults := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/faults=%v", name, faults), func(t *testing.T) {
				w := mustWorkload(t, name)
				kvCfg := MemKVConfig{Seed: 7, Latency: 200 * time.Microsecond}
				if faults {
					kvCfg.FailRate, kvCfg.InfoRate = 0.05, 0.05
				}
				kv := NewMemKV(kvCfg)
				cfg := DefaultRunConfig()
				cfg.Concurrency, cfg.Seed, cfg.Limit, cfg.FinalBackoff = 4, 11, 600, time.Millisecond
				r, ops, mainOps, final := runBothPhases(t, name, cfg, w, func(int) (KV, error) { return kv, nil })
				if mainOps != 2*600 {
					t.Errorf("main phase recorded %d ops, want 1200", mainOps)
				}
				c := r.Counts()
				if c.OK == 0 || (faults && (c.Fail == 0 || c.Info == 0)) || (!faults && c.Info > 0) {
					t.Errorf("counts %+v", c)
				}
				if !faults {
					checkSemantics(t, name, ops, final)
				}
			})
		}
	}
}

// runBothPhases runs the main and final phases of w into a fresh
// recorder, checks the history is well formed and that the final phase
// ends with an ok op, and returns the runner, the history, the number of
// main-phase ops and the last final completion.
func runBothPhases(t *testing.T, name string, cfg RunConfig, w Workload, clients func(int) (KV, error)) (*Runner, []history.Op, int, history.Op) {
	t.Helper()
	rec := newRecorder(t)
	r, err := NewRunner(cfg, w, clients, rec)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	mainOps := rec.Len()
	if err := r.RunFinal(ctx); err != nil {
		t.Fatal(err)
	}
	ops := rec.Ops()
	checkWellFormed(t, name, ops, cfg.Concurrency)
	final := history.Pairs(ops[mainOps:])
	if len(final) == 0 || final[len(final)-1].Complete.Type != history.OK {
		t.Fatalf("final phase: %v", final)
	}
	return r, ops, mainOps, final[len(final)-1].Complete
}

// checkSemantics spot-checks a fault-free history against the workload's
// invariants (a tiny stand-in for the checkers).
func checkSemantics(t *testing.T, name string, ops []history.Op, final history.Op) {
	t.Helper()
	switch name {
	case "queue":
		read := map[int64]bool{}
		for _, e := range final.Value.([]any) {
			read[e.(int64)] = true
		}
		for _, o := range ops {
			if o.F == "enqueue" && o.Type == history.OK && !read[o.Value.(int64)] {
				t.Fatalf("acknowledged enqueue %v missing from the last drain", o.Value)
			}
		}
	case "set":
		read := map[int64]bool{}
		for _, e := range final.Value.([]any) {
			read[e.(int64)] = true
		}
		adds := 0
		for _, o := range ops {
			if o.F == "add" && o.Type == history.OK {
				adds++
				if !read[o.Value.(int64)] {
					t.Fatalf("acknowledged add %v lost", o.Value)
				}
			}
		}
		if len(read) != adds {
			t.Errorf("final read has %d elements, want the %d added", len(read), adds)
		}
	case "register":
		written := map[string]bool{}
		okCAS := 0
		for _, o := range ops {
			l := o.Value.([]any)
			switch {
			case o.Type == history.Invoke && o.F == "write":
				written[fmt.Sprint(l)] = true
			case o.Type == history.Invoke && o.F == "cas":
				written[fmt.Sprint([]any{l[0], l[1].([]any)[1]})] = true
			case o.Type == history.OK && o.F == "cas":
				okCAS++
			}
		}
		for _, o := range ops {
			if o.F == "read" && o.Type == history.OK && o.Value.([]any)[1] != nil && !written[fmt.Sprint(o.Value)] {
				t.Fatalf("read %v of a value never written", o.Value)
			}
		}
		if okCAS == 0 {
			t.Error("no cas succeeded")
		}
	case "list-append":
		longest := map[int64][]any{}
		for _, o := range ops {
			if o.Type != history.OK {
				continue
			}
			for _, m := range o.Value.([]any) {
				mop := m.([]any)
				if mop[0] != "r" {
					continue
				}
				k, l := mop[1].(int64), mop[2].([]any)
				prev := longest[k]
				short, long := prev, l
				if len(l) < len(prev) {
					short, long = l, prev
				}
				if !slices.Equal(short, long[:len(short)]) {
					t.Fatalf("key %d: reads %v and %v are not prefixes of each other", k, prev, l)
				}
				longest[k] = long
			}
		}
		if len(longest) < 5 {
			t.Errorf("only %d keys read: keys do not rotate", len(longest))
		}
	}
}

func TestRunCancelCompletesEveryInvoke(t *testing.T) {
	kv := NewMemKV(MemKVConfig{Latency: 5 * time.Millisecond})
	cfg := DefaultRunConfig()
	cfg.Concurrency = 5
	rec := newRecorder(t)
	r, err := NewRunner(cfg, mustWorkload(t, "register"), func(int) (KV, error) { return kv, nil }, rec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	checkWellFormed(t, "register", rec.Ops(), cfg.Concurrency)
	if rec.Len() < 20 {
		t.Errorf("only %d ops in 100ms", rec.Len())
	}
}

func TestRunnerDeterministicPerWorker(t *testing.T) {
	run := func() map[int][]string {
		cfg := DefaultRunConfig()
		cfg.Concurrency, cfg.Seed, cfg.Limit = 3, 99, 300
		rec := newRecorder(t)
		kv := NewMemKV(MemKVConfig{Latency: 200 * time.Microsecond})
		r, err := NewRunner(cfg, mustWorkload(t, "list-append"), func(int) (KV, error) { return kv, nil }, rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		out := map[int][]string{}
		for _, o := range rec.Ops() {
			if o.Type == history.Invoke {
				out[o.Process%3] = append(out[o.Process%3], fmt.Sprint(o.Value))
			}
		}
		return out
	}
	a, b := run(), run()
	for w := range 3 {
		n := min(len(a[w]), len(b[w]))
		if n < 20 || !slices.Equal(a[w][:n], b[w][:n]) {
			t.Errorf("worker %d: op sequences differ (or too short: %d)", w, n)
		}
	}
}

// flakyKV fails its first n calls indeterminately.
type flakyKV struct {
	*MemKV
	mu sync.Mutex
	n  int
}

func (f *flakyKV) Txn(ctx context.Context, ops []MicroOp) ([]MicroResult, error) {
	f.mu.Lock()
	fail := f.n > 0
	f.n--
	f.mu.Unlock()
	if fail {
		return nil, storeError{false}
	}
	return f.MemKV.Txn(ctx, ops)
}

func TestBankSetupRetriesAndOverdraft(t *testing.T) {
	kv := &flakyKV{MemKV: NewMemKV(MemKVConfig{}), n: 2}
	opts := DefaultOptions()
	opts.Bank.Total = 3 // most transfers would overdraw
	w, err := ByName("bank", opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultRunConfig()
	cfg.Concurrency, cfg.Limit = 2, 100
	rec := newRecorder(t)
	r, err := NewRunner(cfg, w, func(int) (KV, error) { return kv, nil }, rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	overdrafts := 0
	for _, o := range rec.Ops() {
		if o.Type == history.Fail && strings.Contains(o.Error, "insufficient funds") {
			overdrafts++
		}
		if o.Type == history.OK && o.F == "read" {
			var sum int64
			for _, v := range o.Value.(map[string]any) {
				sum += v.(int64)
			}
			if sum != 3 {
				t.Fatalf("read %v sums to %d", o.Value, sum)
			}
		}
	}
	if overdrafts == 0 {
		t.Error("no transfer failed for insufficient funds")
	}
	if info := w.Info(); info.Total != 3 || len(info.Accounts) != 5 || info.Accounts[4] != "4" {
		t.Errorf("info %+v", info)
	}
}

func TestInvokeErrors(t *testing.T) {
	ctx := context.Background()
	kv := NewMemKV(MemKVConfig{})
	reg := mustWorkload(t, "register")
	for _, tc := range []struct {
		name     string
		w        Workload
		op       Op
		definite bool
		errText  string
	}{
		{"cas on missing key", reg, Op{F: "cas", Value: []any{int64(1), []any{int64(1), int64(2)}}}, true, "not found"},
		{"bad register value", reg, Op{F: "write", Value: "x"}, true, "not a pair"},
		{"unknown f", mustWorkload(t, "set"), Op{F: "nope"}, true, "unknown f"},
		{"bad micro-op", mustWorkload(t, "list-append"), Op{F: "txn", Value: []any{[]any{"w", int64(1), int64(1)}}}, true, "not r or append"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.w.Invoke(ctx, kv, tc.op)
			if err == nil || IsDefinite(err) != tc.definite || !strings.Contains(err.Error(), tc.errText) {
				t.Errorf("err = %v (definite %v)", err, IsDefinite(err))
			}
		})
	}
	// A cas that matches succeeds.
	if _, err := reg.Invoke(ctx, kv, Op{F: "write", Value: []any{int64(1), int64(1)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Invoke(ctx, kv, Op{F: "cas", Value: []any{int64(1), []any{int64(1), int64(2)}}}); err != nil {
		t.Fatal(err)
	}
	if v, err := reg.Invoke(ctx, kv, Op{F: "read", Value: []any{int64(1), nil}}); err != nil || v.([]any)[1] != int64(2) {
		t.Fatalf("read after cas: %v %v", v, err)
	}
}

func TestByNameAndValidate(t *testing.T) {
	for _, name := range []string{"register", "bank", "list-append", "set", "queue"} {
		w, err := ByName(name, DefaultOptions())
		if err != nil || w.Info().Name != name || w.Info().Model == "" {
			t.Errorf("%s: %v %v", name, w, err)
		}
	}
	if _, err := ByName("stack", DefaultOptions()); err == nil || !strings.Contains(err.Error(), "bank, list-append, queue, register, set") {
		t.Errorf("unknown workload: %v", err)
	}
	bad := DefaultOptions()
	bad.ListAppend.MaxTxnLength = 0
	if _, err := ByName("list-append", bad); err == nil || bad.Validate() == nil {
		t.Error("invalid list-append config accepted")
	}
	cfg := DefaultRunConfig()
	cfg.Concurrency = 0
	if _, err := NewRunner(cfg, mustWorkload(t, "set"), func(int) (KV, error) { return nil, nil }, newRecorder(t)); err == nil {
		t.Error("concurrency 0 accepted")
	}
	if DefaultMemKVConfig().Validate() != nil || (MemKVConfig{FailRate: 0.6, InfoRate: 0.6}).Validate() == nil {
		t.Error("MemKVConfig.Validate")
	}
	if _, err := NewRunner(DefaultRunConfig(), mustWorkload(t, "set"), func(int) (KV, error) { return nil, errors.New("dial") }, newRecorder(t)); err == nil || !strings.Contains(err.Error(), "dial") {
		t.Errorf("client error: %v", err)
	}
}
