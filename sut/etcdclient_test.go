package sut

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/faultline/faultline/workload"
)

// TestEtcdErrorMapping: Jepsen's classification of etcd's errors.
func TestEtcdErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		err      error
		definite bool
	}{
		// May have applied: info.
		{context.DeadlineExceeded, false},
		{fmt.Errorf("txn: %w", context.Canceled), false},
		{rpctypes.ErrTimeout, false},       // etcdserver: request timed out
		{rpctypes.ErrLeaderChanged, false}, // etcdserver: leader changed
		{rpctypes.ErrNoLeader, false},      // etcdserver: no leader
		{rpctypes.ErrTimeoutDueToLeaderFail, false},
		{rpctypes.ErrStopped, false},
		{rpctypes.ErrGRPCTimeoutDueToConnectionLost, false},
		{status.Error(codes.Unavailable, "connection error: desc = transport is closing"), false},
		{status.Error(codes.DeadlineExceeded, "context deadline exceeded"), false},
		{errors.New("something else"), false},
		// Refused before applying: fail.
		{rpctypes.ErrCompacted, true},
		{rpctypes.ErrFutureRev, true},
		{rpctypes.ErrTooManyRequests, true},
		{rpctypes.ErrNoSpace, true},
		{rpctypes.ErrDuplicateKey, true},
		{rpctypes.ErrGRPCRequestTooLarge, true},
		{rpctypes.ErrPermissionDenied, true},
	} {
		err := etcdErr(tc.err)
		if got := workload.IsDefinite(err); got != tc.definite {
			t.Errorf("%v: definite = %v, want %v", tc.err, got, tc.definite)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("%v: the mapped error %v does not wrap it", tc.err, err)
		}
	}
	if etcdErr(nil) != nil {
		t.Error("etcdErr(nil) != nil")
	}
}

func TestEtcdList(t *testing.T) {
	var l []byte
	want := [][]byte{[]byte("1"), {}, []byte("a longer element than one byte of length")}
	for _, e := range want {
		l = appendEtcdList(l, e)
	}
	got, err := decodeEtcdList(l)
	if err != nil || len(got) != len(want) {
		t.Fatalf("decode = %q, %v", got, err)
	}
	for i := range want {
		if string(got[i]) != string(want[i]) {
			t.Errorf("element %d = %q, want %q", i, got[i], want[i])
		}
	}
	if l, err := decodeEtcdList(nil); err != nil || len(l) != 0 {
		t.Errorf("empty list = %q, %v", l, err)
	}
	if _, err := decodeEtcdList([]byte{5, 'a'}); err == nil {
		t.Error("a truncated element decoded")
	}
	if _, err := decodeEtcdList([]byte{0x80, 0x00}); err == nil {
		t.Error("a length in a longer varint form than its shortest decoded")
	}
}

// FuzzEtcdList: decoding never panics, and what decodes re-encodes to the
// same bytes.
func FuzzEtcdList(f *testing.F) {
	f.Add(appendEtcdList(appendEtcdList(nil, []byte("1")), []byte("22")))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := decodeEtcdList(b)
		if err != nil {
			return
		}
		var re []byte
		for _, e := range l {
			re = appendEtcdList(re, e)
		}
		if len(b) > 0 && string(re) != string(b) {
			t.Fatalf("%x decodes to %q, which encodes to %x", b, l, re)
		}
	})
}

// TestApplyLocally: the local half of a guarded Txn: compares against the
// read state, reads see earlier writes and appends, one put per key.
func TestApplyLocally(t *testing.T) {
	list := func(es ...string) []byte {
		var l []byte
		for _, e := range es {
			l = appendEtcdList(l, []byte(e))
		}
		return l
	}
	seen := map[string]etcdValue{
		"a": {value: list("1"), found: true, modRev: 7},
		"b": {}, // missing
		"v": {value: []byte("x"), found: true, modRev: 3},
	}
	ops := []workload.MicroOp{
		{Kind: workload.MicroCompare, Key: "v", Value: []byte("x")},
		{Kind: workload.MicroCompare, Key: "b", Absent: true},
		{Kind: workload.MicroReadList, Key: "a"},
		{Kind: workload.MicroAppend, Key: "a", Value: []byte("2")},
		{Kind: workload.MicroReadList, Key: "a"},
		{Kind: workload.MicroReadList, Key: "b"},
		{Kind: workload.MicroAppend, Key: "b", Value: []byte("9")},
		{Kind: workload.MicroAppend, Key: "a", Value: []byte("3")},
		{Kind: workload.MicroWrite, Key: "v", Value: []byte("y")},
		{Kind: workload.MicroRead, Key: "v"},
	}
	res, puts, err := applyLocally(ops, seen)
	if err != nil {
		t.Fatal(err)
	}
	lists := func(r workload.MicroResult) []string {
		var out []string
		for _, e := range r.List {
			out = append(out, string(e))
		}
		return out
	}
	if got := lists(res[2]); !slices.Equal(got, []string{"1"}) || !res[2].Found {
		t.Errorf("first read of a = %v", got)
	}
	if got := lists(res[4]); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("read of a after an append = %v", got)
	}
	if res[5].Found || len(res[5].List) != 0 {
		t.Errorf("read of missing b = %+v", res[5])
	}
	if string(res[9].Value) != "y" || !res[9].Found {
		t.Errorf("read of v after a write = %+v", res[9])
	}
	var keys []string
	for _, p := range puts {
		keys = append(keys, string(p.KeyBytes()))
		if string(p.KeyBytes()) == "a" && string(p.ValueBytes()) != string(list("1", "2", "3")) {
			t.Errorf("put of a = %q", p.ValueBytes())
		}
	}
	if !slices.Equal(keys, []string{"a", "b", "v"}) {
		t.Errorf("puts of %v, want one per written key in order", keys)
	}
	if seen["a"].modRev != 7 || string(seen["a"].value) != string(list("1")) {
		t.Error("applyLocally changed the read state")
	}

	for _, bad := range []workload.MicroOp{
		{Kind: workload.MicroCompare, Key: "v", Value: []byte("z")},
		{Kind: workload.MicroCompare, Key: "v", Absent: true},
		{Kind: workload.MicroCompare, Key: "b", Value: []byte("x")},
	} {
		_, _, err := applyLocally([]workload.MicroOp{bad, ops[3]}, seen)
		if err == nil || !workload.IsDefinite(err) {
			t.Errorf("failed compare %+v: err %v, want a definite error", bad, err)
		}
	}
}
