package system

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// normReq / normResp make nil and empty slices compare equal.
func normBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func normReq(r Request) Request {
	r.Value, r.Expected = normBytes(r.Value), normBytes(r.Expected)
	if len(r.Ops) == 0 {
		r.Ops = nil
	}
	for i := range r.Ops {
		r.Ops[i].Value = normBytes(r.Ops[i].Value)
	}
	return r
}

func normResp(r Response) Response {
	r.Value = normBytes(r.Value)
	if len(r.Results) == 0 {
		r.Results = nil
	}
	for i := range r.Results {
		r.Results[i].Value = normBytes(r.Results[i].Value)
	}
	return r
}

func TestRequestRoundTrip(t *testing.T) {
	sess := func(r Request) Request { r.ClientID, r.Seq, r.Floor = 9, 42, 40; return r }
	tests := []struct {
		name string
		req  Request
	}{
		{"get", Request{Op: OpGet, Key: "k"}},
		{"get empty key", Request{Op: OpGet}},
		{"set", sess(Request{Op: OpSet, Key: "k", Value: []byte("v")})},
		{"set binary", sess(Request{Op: OpSet, Key: "\x00\xff", Value: []byte{0, 1, 2, 255}})},
		{"clear", sess(Request{Op: OpClear, Key: "k"})},
		{"cas", sess(Request{Op: OpCAS, Key: "k", Expected: []byte("a"), Value: []byte("b")})},
		{"append", sess(Request{Op: OpAppend, Key: "l", Value: []byte("e")})},
		{"txn empty", sess(Request{Op: OpTxn})},
		{"txn", sess(Request{Op: OpTxn, Ops: []MicroOp{
			{Kind: MicroRead, Key: "a"},
			{Kind: MicroWrite, Key: "b", Value: []byte("1")},
			{Kind: MicroAppend, Key: "c", Value: []byte("2")},
			{Kind: MicroCompare, Key: "d", Value: []byte("3")},
			{Kind: MicroCompare, Key: "e", Absent: true},
		}})},
		{"no session", Request{Op: OpSet, Key: "k", Value: []byte("v")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := AppendFrame(nil, Frame{ID: 77, Op: tt.req.Op, Payload: tt.req.AppendPayload(nil)})
			f, n, err := decodeFrame(frame, 0)
			if err != nil || n != len(frame) || f.ID != 77 || f.Op != tt.req.Op {
				t.Fatalf("decodeFrame = %+v, %d, %v", f, n, err)
			}
			got, err := DecodeRequest(f.Op, f.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normReq(got), normReq(tt.req)) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, tt.req)
			}
			// Every strict prefix of the payload is rejected, never panics.
			for i := 0; i < len(f.Payload); i++ {
				if _, err := DecodeRequest(f.Op, f.Payload[:i]); err == nil {
					t.Fatalf("prefix %d of %d decoded without error", i, len(f.Payload))
				}
			}
			if _, err := DecodeRequest(f.Op, append(bytes.Clone(f.Payload), 0)); err == nil {
				t.Fatal("trailing byte accepted")
			}
		})
	}
}

func TestResponseRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		op   Opcode
		resp Response
	}{
		{"get ok", OpGet, Response{Status: StatusOK, Value: []byte("v")}},
		{"get not found", OpGet, Response{Status: StatusNotFound, Msg: "no such key"}},
		{"set ok", OpSet, Response{Status: StatusOK}},
		{"cas mismatch", OpCAS, Response{Status: StatusCASMismatch, Msg: "m"}},
		{"not leader", OpSet, Response{Status: StatusNotLeader, Msg: "go away", LeaderID: "n2", LeaderAddr: "10.0.0.2:7001"}},
		{"timeout", OpAppend, Response{Status: StatusTimeout, Msg: "slow"}},
		{"unavailable", OpTxn, Response{Status: StatusUnavailable}},
		{"bad request", Opcode(99), Response{Status: StatusBadRequest, Msg: "unknown opcode"}},
		{"txn ok", OpTxn, Response{Status: StatusOK, Results: []MicroResult{{Value: []byte("x"), Found: true}, {}, {Found: true}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.resp.AppendPayload(tt.op, nil)
			got, err := DecodeResponse(tt.op, p)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normResp(got), normResp(tt.resp)) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, tt.resp)
			}
			err = got.Err()
			if (err == nil) != (tt.resp.Status == StatusOK) {
				t.Fatalf("Err() = %v for %v", err, tt.resp.Status)
			}
			if err != nil && IsDefinite(err) != tt.resp.Status.Definite() {
				t.Fatalf("IsDefinite(%v) wrong", err)
			}
		})
	}
}

func TestErrorsAndDefiniteness(t *testing.T) {
	e := &Error{Status: StatusCASMismatch, Msg: "x"}
	if !errors.Is(e, ErrCASMismatch) || errors.Is(e, ErrNotFound) || !IsDefinite(e) {
		t.Fatal("CAS mismatch classification")
	}
	if IsDefinite(&Error{Status: StatusTimeout}) || IsDefinite(errors.New("conn reset")) {
		t.Fatal("timeouts and plain errors must be indeterminate")
	}
}

func TestFrameErrors(t *testing.T) {
	good := AppendFrame(nil, Frame{ID: 1, Op: OpGet, Payload: []byte("abc")})
	for i := 0; i < len(good); i++ {
		if _, _, err := decodeFrame(good[:i], 0); !errors.Is(err, ErrShortFrame) {
			t.Fatalf("prefix %d: err %v, want ErrShortFrame", i, err)
		}
	}
	f, _, err := decodeFrame(good, 10)
	if !errors.Is(err, ErrFrameTooLarge) || f.ID != 1 {
		t.Fatalf("oversized: %v %+v", err, f)
	}
	if _, _, err := decodeFrame([]byte{0, 0, 0, 3, 1, 2, 3}, 0); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("length < 9: %v", err)
	}
	if _, err := ReadFrame(bytes.NewReader(good[:len(good)-1]), 0); err == nil {
		t.Fatal("ReadFrame of a truncated frame succeeded")
	}
	if _, err := ReadFrame(bytes.NewReader(good), 10); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("ReadFrame oversized: %v", err)
	}
	if _, err := DecodeRequest(Opcode(42), nil); err == nil || !strings.Contains(err.Error(), "unknown opcode") {
		t.Fatalf("unknown opcode: %v", err)
	}
	bad := (&Request{Op: OpTxn, ClientID: 1, Ops: []MicroOp{{Kind: 'z', Key: "k"}}}).AppendPayload(nil)
	if _, err := DecodeRequest(OpTxn, bad); err == nil {
		t.Fatal("unknown micro-op kind accepted")
	}
}

func TestListEncoding(t *testing.T) {
	for _, elems := range [][][]byte{nil, {[]byte("a")}, {[]byte("a"), {}, []byte("ccc")}} {
		got, err := DecodeList(encodeList(elems))
		if err != nil || len(got) != len(elems) {
			t.Fatalf("%q: %q %v", elems, got, err)
		}
		for i := range elems {
			if !bytes.Equal(got[i], elems[i]) {
				t.Fatalf("%q: element %d = %q", elems, i, got[i])
			}
		}
	}
	if _, err := DecodeList([]byte("plain")); err == nil {
		t.Fatal("a plain value decoded as a list")
	}
}

func FuzzDecodeFrame(f *testing.F) {
	f.Add(AppendFrame(nil, Frame{ID: 1, Op: OpGet, Payload: (&Request{Op: OpGet, Key: "k"}).AppendPayload(nil)}))
	f.Add(AppendFrame(nil, Frame{ID: 2, Op: OpTxn, Payload: (&Request{Op: OpTxn, ClientID: 1, Seq: 2, Ops: []MicroOp{{Kind: MicroAppend, Key: "x", Value: []byte("1")}}}).AppendPayload(nil)}))
	f.Add([]byte{0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1, 6, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		for len(b) > 0 {
			fr, n, err := decodeFrame(b, 1<<16)
			if err != nil {
				return
			}
			if n <= 0 || n > len(b) {
				t.Fatalf("consumed %d of %d", n, len(b))
			}
			req, err := DecodeRequest(fr.Op, fr.Payload)
			if err == nil {
				// A decodable request re-encodes to the same payload.
				if again := req.AppendPayload(nil); !bytes.Equal(again, fr.Payload) {
					t.Fatalf("re-encoding differs:\n%x\n%x", again, fr.Payload)
				}
			}
			_, _ = DecodeResponse(fr.Op, fr.Payload)
			_, _ = DecodeList(fr.Payload)
			// The stream reader agrees with the buffer decoder, however
			// the bytes arrive.
			for _, r := range []io.Reader{bytes.NewReader(b), iotest.OneByteReader(bytes.NewReader(b))} {
				if fr2, err := ReadFrame(r, 1<<16); err != nil || fr2.ID != fr.ID || !bytes.Equal(fr2.Payload, fr.Payload) {
					t.Fatalf("ReadFrame disagrees: %v", err)
				}
			}
			b = b[n:]
		}
	})
}
