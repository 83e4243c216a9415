package system

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// fsmHarness applies requests to an FSM the way raft would.
type fsmHarness struct {
	t     *testing.T
	f     *FSM
	index uint64
}

func newHarness(t *testing.T, noDedup bool) *fsmHarness {
	return &fsmHarness{t: t, f: NewFSM(noDedup)}
}

func (h *fsmHarness) apply(req Request) Response {
	h.t.Helper()
	h.index++
	r := h.f.Apply(&raft.Log{Index: h.index, Type: raft.LogCommand, Data: encodeCommand(&req)})
	return *r.(*Response)
}

func (h *fsmHarness) get(key string) (string, bool) {
	r := h.f.Read(&Request{Op: OpGet, Key: key})
	return string(r.Value), r.Status == StatusOK
}

func TestFSMBasicOps(t *testing.T) {
	h := newHarness(t, false)
	tests := []struct {
		name string
		req  Request
		want Status
	}{
		{"set", Request{Op: OpSet, Key: "a", Value: []byte("1")}, StatusOK},
		{"cas ok", Request{Op: OpCAS, Key: "a", Expected: []byte("1"), Value: []byte("2")}, StatusOK},
		{"cas mismatch", Request{Op: OpCAS, Key: "a", Expected: []byte("1"), Value: []byte("3")}, StatusCASMismatch},
		{"cas missing", Request{Op: OpCAS, Key: "zz", Expected: []byte("1"), Value: []byte("3")}, StatusNotFound},
		{"append new", Request{Op: OpAppend, Key: "l", Value: []byte("x")}, StatusOK},
		{"append more", Request{Op: OpAppend, Key: "l", Value: []byte("y")}, StatusOK},
		{"append to plain value", Request{Op: OpAppend, Key: "a", Value: []byte("y")}, StatusBadRequest},
		{"clear", Request{Op: OpClear, Key: "gone"}, StatusOK},
	}
	for _, tt := range tests {
		if got := h.apply(tt.req); got.Status != tt.want {
			t.Fatalf("%s: status %v (%s), want %v", tt.name, got.Status, got.Msg, tt.want)
		}
	}
	if v, ok := h.get("a"); !ok || v != "2" {
		t.Fatalf("a = %q %v, want 2", v, ok)
	}
	v, _ := h.get("l")
	l, err := DecodeList([]byte(v))
	if err != nil || len(l) != 2 || string(l[0]) != "x" || string(l[1]) != "y" {
		t.Fatalf("list = %q %v", l, err)
	}
	h.apply(Request{Op: OpClear, Key: "a"})
	if _, ok := h.get("a"); ok {
		t.Fatal("a survived CLEAR")
	}
	if h.f.AppliedIndex() != h.index {
		t.Fatalf("applied index %d, want %d", h.f.AppliedIndex(), h.index)
	}
}

func TestFSMTxnAtomicity(t *testing.T) {
	h := newHarness(t, false)
	h.apply(Request{Op: OpSet, Key: "acct1", Value: []byte("100")})
	h.apply(Request{Op: OpSet, Key: "acct2", Value: []byte("0")})
	h.apply(Request{Op: OpAppend, Key: "l", Value: []byte("1")})

	// A failed compare anywhere aborts everything, including earlier writes
	// and appends in the same transaction.
	r := h.apply(Request{Op: OpTxn, Ops: []MicroOp{
		{Kind: MicroWrite, Key: "acct1", Value: []byte("50")},
		{Kind: MicroAppend, Key: "l", Value: []byte("2")},
		{Kind: MicroCompare, Key: "acct2", Value: []byte("999")},
		{Kind: MicroWrite, Key: "acct2", Value: []byte("50")},
	}})
	if r.Status != StatusCASMismatch {
		t.Fatalf("compare-abort status %v", r.Status)
	}
	if v, _ := h.get("acct1"); v != "100" {
		t.Fatalf("aborted txn leaked a write: acct1=%s", v)
	}
	if v, _ := h.get("l"); len(v) != 5 {
		t.Fatalf("aborted txn leaked an append: %q", v)
	}
	// Compare on absent.
	if r := h.apply(Request{Op: OpTxn, Ops: []MicroOp{{Kind: MicroCompare, Key: "acct1", Absent: true}}}); r.Status != StatusCASMismatch {
		t.Fatalf("absent compare on a present key: %v", r.Status)
	}
	// A successful transfer applies all of it; reads see earlier writes.
	r = h.apply(Request{Op: OpTxn, Ops: []MicroOp{
		{Kind: MicroCompare, Key: "acct1", Value: []byte("100")},
		{Kind: MicroCompare, Key: "acct2", Value: []byte("0")},
		{Kind: MicroCompare, Key: "new", Absent: true},
		{Kind: MicroWrite, Key: "acct1", Value: []byte("60")},
		{Kind: MicroWrite, Key: "acct2", Value: []byte("40")},
		{Kind: MicroRead, Key: "acct1"},
		{Kind: MicroAppend, Key: "l", Value: []byte("2")},
		{Kind: MicroAppend, Key: "l", Value: []byte("3")},
		{Kind: MicroRead, Key: "l"},
		{Kind: MicroRead, Key: "missing"},
	}})
	if r.Status != StatusOK || len(r.Results) != 10 {
		t.Fatalf("txn: %+v", r)
	}
	if string(r.Results[5].Value) != "60" || !r.Results[5].Found || r.Results[9].Found {
		t.Fatalf("txn reads: %+v", r.Results)
	}
	l, _ := DecodeList(r.Results[8].Value)
	if len(l) != 3 {
		t.Fatalf("txn list read %q", l)
	}
	if v, _ := h.get("acct2"); v != "40" {
		t.Fatalf("acct2=%s", v)
	}
	// The txn's earlier read result is not changed by later appends.
	h.apply(Request{Op: OpAppend, Key: "l", Value: []byte("4")})
	if l2, _ := DecodeList(r.Results[8].Value); len(l2) != 3 {
		t.Fatalf("a later append changed an earlier read result: %q", l2)
	}
}

func TestFSMDedup(t *testing.T) {
	for _, noDedup := range []bool{false, true} {
		t.Run(fmt.Sprintf("noDedup=%v", noDedup), func(t *testing.T) {
			h := newHarness(t, noDedup)
			app := Request{Op: OpAppend, ClientID: 5, Seq: 1, Floor: 1, Key: "l", Value: []byte("x")}
			for range 3 {
				h.apply(app)
			}
			v, _ := h.get("l")
			l, _ := DecodeList([]byte(v))
			want := 1
			if noDedup {
				want = 3
			}
			if len(l) != want {
				t.Fatalf("%d elements after a request retried 3 times, want %d", len(l), want)
			}
			if noDedup {
				return
			}
			// A retried CAS returns the original answer even though the
			// state changed since.
			h.apply(Request{Op: OpSet, ClientID: 5, Seq: 2, Floor: 1, Key: "k", Value: []byte("a")})
			cas := Request{Op: OpCAS, ClientID: 5, Seq: 3, Floor: 2, Key: "k", Expected: []byte("a"), Value: []byte("b")}
			if r := h.apply(cas); r.Status != StatusOK {
				t.Fatalf("cas: %v", r.Status)
			}
			if r := h.apply(cas); r.Status != StatusOK {
				t.Fatalf("retried cas got %v, want the cached OK", r.Status)
			}
			// Other clients are independent.
			if r := h.apply(Request{Op: OpCAS, ClientID: 6, Seq: 3, Floor: 1, Key: "k", Expected: []byte("a"), Value: []byte("c")}); r.Status != StatusCASMismatch {
				t.Fatalf("another client's cas: %v", r.Status)
			}
			// Below the floor: refused, not re-applied.
			h.apply(Request{Op: OpSet, ClientID: 5, Seq: 4, Floor: 4, Key: "k2", Value: []byte("z")})
			if r := h.apply(app); r.Status != StatusBadRequest {
				t.Fatalf("stale duplicate: %v", r.Status)
			}
			if v, _ := h.get("l"); len(v) != 5 {
				t.Fatal("stale duplicate applied")
			}
			if len(h.f.sessions[5].responses) != 1 {
				t.Fatalf("responses below the floor were not pruned: %d left", len(h.f.sessions[5].responses))
			}
		})
	}
}

func TestFSMSessionEviction(t *testing.T) {
	h := newHarness(t, false)
	h.f.maxSessions = 3
	for id := uint64(1); id <= 5; id++ {
		h.apply(Request{Op: OpSet, ClientID: id, Seq: 1, Floor: 1, Key: "k", Value: []byte("v")})
	}
	if len(h.f.sessions) != 3 || h.f.sessions[1] != nil || h.f.sessions[5] == nil {
		t.Fatalf("eviction kept %d sessions", len(h.f.sessions))
	}
}

type memSink struct {
	bytes.Buffer
	cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) Close() error  { return nil }

func snapshotBytes(t *testing.T, f *FSM) []byte {
	t.Helper()
	s, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := s.Persist(&sink); err != nil || sink.cancelled {
		t.Fatalf("persist: %v", err)
	}
	return sink.Bytes()
}

func TestFSMSnapshotRestore(t *testing.T) {
	h := newHarness(t, false)
	for i := range 100 {
		h.apply(Request{Op: OpSet, ClientID: uint64(i%7 + 1), Seq: uint64(i + 1), Floor: uint64(i - 2), Key: fmt.Sprintf("k%d", i%30), Value: []byte(fmt.Sprint(i))})
		h.apply(Request{Op: OpAppend, ClientID: 99, Seq: uint64(i + 1), Floor: 1, Key: fmt.Sprintf("l%d", i%5), Value: []byte(fmt.Sprint(i))})
	}
	h.apply(Request{Op: OpTxn, ClientID: 3, Seq: 1000, Floor: 1, Ops: []MicroOp{{Kind: MicroRead, Key: "k1"}, {Kind: MicroWrite, Key: "t", Value: nil}}})
	snap := snapshotBytes(t, h.f)
	// Mutating after the snapshot must not change the snapshot (copy-on-
	// snapshot), even appends that extend shared arrays.
	s, _ := h.f.Snapshot()
	h.apply(Request{Op: OpAppend, ClientID: 99, Seq: 5000, Floor: 1, Key: "l1", Value: []byte("late")})
	h.apply(Request{Op: OpSet, Key: "k1", Value: []byte("late")})
	var sink memSink
	s.Persist(&sink)
	if !bytes.Equal(sink.Bytes(), snap) {
		t.Fatal("a snapshot changed after later writes")
	}

	restored := NewFSM(false)
	restored.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: encodeCommand(&Request{Op: OpSet, Key: "junk", Value: []byte("x")})})
	if err := restored.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatal(err)
	}
	if got := snapshotBytes(t, restored); !bytes.Equal(got, snap) {
		t.Fatal("restore(snapshot(s)) != s")
	}
	if _, ok := (&fsmHarness{f: restored}).get("junk"); ok {
		t.Fatal("restore kept pre-existing state")
	}
	if restored.AppliedIndex() != 201 {
		t.Fatalf("restored applied index %d", restored.AppliedIndex())
	}
	// The dedup table survived: a retry after restore is not re-applied.
	rh := &fsmHarness{t: t, f: restored, index: 300}
	before, _ := rh.get("l0")
	rh.apply(Request{Op: OpAppend, ClientID: 99, Seq: 100, Floor: 1, Key: "l0", Value: []byte("99")})
	if after, _ := rh.get("l0"); after != before {
		t.Fatal("a retried append was re-applied after restore")
	}
	// Corrupt snapshots are rejected without panicking.
	for _, bad := range [][]byte{nil, []byte("nope"), snap[:len(snap)/2], append(bytes.Clone(snap), 1)} {
		if err := NewFSM(false).Restore(io.NopCloser(bytes.NewReader(bad))); err == nil {
			t.Fatalf("corrupt snapshot (%d bytes) accepted", len(bad))
		}
	}
}

func TestFSMTxnComparesSeePreTxnState(t *testing.T) {
	h := newHarness(t, false)
	h.apply(Request{Op: OpSet, Key: "a", Value: []byte("1")})
	// The compare follows a write of the same key but guards the old value.
	r := h.apply(Request{Op: OpTxn, Ops: []MicroOp{
		{Kind: MicroWrite, Key: "a", Value: []byte("2")},
		{Kind: MicroCompare, Key: "a", Value: []byte("1")},
	}})
	if r.Status != StatusOK {
		t.Fatalf("compare against the pre-txn state: %v %s", r.Status, r.Msg)
	}
	if v, _ := h.get("a"); v != "2" {
		t.Fatalf("a=%s", v)
	}
}

// A retry must carry the same command: the same (client, seq) with another
// command gets BAD_REQUEST instead of the first command's saved answer (an
// op that never ran would otherwise be acknowledged). The check survives a
// snapshot.
func TestFSMDedupChecksTheCommand(t *testing.T) {
	h := newHarness(t, false)
	set := Request{Op: OpSet, ClientID: 5, Seq: 1, Floor: 1, Key: "k", Value: []byte("a")}
	if r := h.apply(set); r.Status != StatusOK {
		t.Fatal(r)
	}
	tests := []struct {
		name string
		req  Request
		want Status
	}{
		{"another value", Request{Op: OpSet, ClientID: 5, Seq: 1, Floor: 1, Key: "k", Value: []byte("b")}, StatusBadRequest},
		{"another key", Request{Op: OpSet, ClientID: 5, Seq: 1, Floor: 1, Key: "j", Value: []byte("a")}, StatusBadRequest},
		{"another op, same body", Request{Op: OpAppend, ClientID: 5, Seq: 1, Floor: 1, Key: "k", Value: []byte("a")}, StatusBadRequest},
		{"a txn", Request{Op: OpTxn, ClientID: 5, Seq: 1, Floor: 1, Ops: []MicroOp{{Kind: MicroWrite, Key: "k", Value: []byte("c")}}}, StatusBadRequest},
		{"the same command, another floor", Request{Op: OpSet, ClientID: 5, Seq: 1, Floor: 0, Key: "k", Value: []byte("a")}, StatusOK},
		{"another client", Request{Op: OpSet, ClientID: 6, Seq: 1, Floor: 1, Key: "k", Value: []byte("d")}, StatusOK},
	}
	for _, tt := range tests {
		r := h.apply(tt.req)
		if r.Status != tt.want {
			t.Fatalf("%s: %v %s, want %v", tt.name, r.Status, r.Msg, tt.want)
		}
		if tt.want == StatusBadRequest && !strings.Contains(r.Msg, "different command") {
			t.Fatalf("%s: message %q does not say why", tt.name, r.Msg)
		}
	}
	if v, _ := h.get("k"); v != "d" {
		t.Fatalf("k = %q, want d (only client 6's write applied after the first)", v)
	}
	restored := NewFSM(false)
	if err := restored.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, h.f)))); err != nil {
		t.Fatal(err)
	}
	rh := &fsmHarness{t: t, f: restored, index: h.index}
	if r := rh.apply(tests[0].req); r.Status != StatusBadRequest {
		t.Fatalf("after restore, a reused seq with another command: %v", r.Status)
	}
	if r := rh.apply(set); r.Status != StatusOK {
		t.Fatalf("after restore, a true retry: %v", r.Status)
	}
}
