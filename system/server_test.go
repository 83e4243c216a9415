package system

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"testing"
	"testing/iotest"
	"time"
)

// A header claiming a large frame allocates for the bytes that follow it,
// not for the claim (at most about four times them, doubling as they come).
func TestReadFrameGrowsAsBytesArrive(t *testing.T) {
	for _, tt := range []struct {
		name   string
		follow int // payload bytes that really arrive
	}{
		{"header only", 0},
		{"a few bytes", 100},
		{"64 KiB", 64 << 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := append(frameHeader(DefaultMaxFrameSize, 1, OpSet), make([]byte, tt.follow)...)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := ReadFrame(bytes.NewReader(in), 0)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("truncated frame: %v, want io.ErrUnexpectedEOF", err)
			}
			if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(4*tt.follow+2*growChunk+4096); got > limit {
				t.Fatalf("allocated %d bytes for a 4 MiB claim followed by %d bytes (limit %d)", got, tt.follow, limit)
			}
		})
	}
	// A whole large frame still arrives intact, in any chunking.
	want := Frame{ID: 9, Op: OpSet, Payload: bytes.Repeat([]byte("0123456789"), 10000)}
	for _, r := range []io.Reader{
		bytes.NewReader(AppendFrame(nil, want)),
		iotest.HalfReader(bytes.NewReader(AppendFrame(nil, want))),
		iotest.DataErrReader(bytes.NewReader(AppendFrame(nil, want))),
	} {
		got, err := ReadFrame(r, 0)
		if err != nil || got.ID != want.ID || !bytes.Equal(got.Payload, want.Payload) {
			t.Fatalf("large frame: %v, %d payload bytes", err, len(got.Payload))
		}
	}
	// An oversized frame can be skipped, leaving the stream at the next.
	next := Frame{ID: 2, Op: OpGet, Payload: []byte("k")}
	r := bytes.NewReader(append(AppendFrame(nil, want), AppendFrame(nil, next)...))
	_, err := ReadFrame(r, 1024)
	var big *FrameSizeError
	if !errors.As(err, &big) || !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	if err := SkipPayload(r, big); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadFrame(r, 1024); err != nil || got.ID != 2 || string(got.Payload) != "k" {
		t.Fatalf("frame after a skipped one: %+v %v", got, err)
	}
}

// streamConn is a net.Conn reading a fixed input (then EOF) and collecting
// what is written; deadlines are ignored.
type streamConn struct {
	r   io.Reader
	mu  sync.Mutex
	out bytes.Buffer
}

var _ net.Conn = (*streamConn)(nil)

func (c *streamConn) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *streamConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}
func (c *streamConn) Close() error                     { return nil }
func (c *streamConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *streamConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *streamConn) SetDeadline(time.Time) error      { return nil }
func (c *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (c *streamConn) SetWriteDeadline(time.Time) error { return nil }

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	r io.Reader
	n int
}

func (c chunkReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

// FuzzServeConn feeds arbitrary bytes, in arbitrary chunks, to the server's
// connection loop with a handler that decodes requests as the node does.
// Whatever comes in: the loop ends, every answer is a well-formed frame
// within the frame limit carrying a decodable response, and every complete
// request frame (and an oversized header) gets exactly one answer.
func FuzzServeConn(f *testing.F) {
	get := (&Request{Op: OpGet, Key: "key"}).AppendPayload(nil)
	long := (&Request{Op: OpGet, Key: string(bytes.Repeat([]byte("k"), 150))}).AppendPayload(nil)
	f.Add(AppendFrame(nil, Frame{ID: 1, Op: OpGet, Payload: get}), uint8(0))
	f.Add(AppendFrame(AppendFrame(nil, Frame{ID: 1, Op: OpGet, Payload: long}), Frame{ID: 2, Op: OpGet, Payload: get}), uint8(3))
	f.Add(append(AppendFrame(nil, Frame{ID: 3, Op: OpSet, Payload: []byte("x")}), frameHeader(1<<20, 4, OpSet)...), uint8(1))
	f.Add(append(AppendFrame(nil, Frame{ID: 5, Op: 99}), 0, 0, 0, 1), uint8(7))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		const maxFrame = 256
		handle := func(_ context.Context, f Frame) Response {
			req, err := DecodeRequest(f.Op, f.Payload)
			if err != nil {
				return Response{Status: StatusBadRequest, Msg: err.Error()}
			}
			if req.Op == OpGet {
				// Twice the key: long keys give answers over the limit.
				return Response{Status: StatusOK, Value: []byte(req.Key + req.Key)}
			}
			return Response{Status: StatusNotFound, Msg: "no"}
		}
		s := &connServer{maxFrame: maxFrame, maxInflight: 2, handle: handle, m: &metrics{}, log: slog.New(slog.DiscardHandler)}
		conn := &streamConn{r: chunkReader{r: bytes.NewReader(in), n: int(chunk%16) + 1}}
		s.serve(context.Background(), conn)

		want := map[uint64]int{} // request id -> answers expected
		for b := in; ; {
			fr, n, err := decodeFrame(b, maxFrame)
			if errors.Is(err, ErrFrameTooLarge) && len(b) >= frameHeaderLen {
				want[fr.ID]++ // BAD_REQUEST, then the connection closes
			}
			if err != nil {
				break
			}
			want[fr.ID]++
			b = b[n:]
		}
		for out := conn.out.Bytes(); len(out) > 0; {
			fr, n, err := decodeFrame(out, maxFrame)
			if err != nil {
				t.Fatalf("answer stream: %v", err)
			}
			if _, err := DecodeResponse(fr.Op, fr.Payload); err != nil {
				t.Fatalf("answer to %d: %v", fr.ID, err)
			}
			if want[fr.ID] == 0 {
				t.Fatalf("unexpected answer to request %d", fr.ID)
			}
			want[fr.ID]--
			out = out[n:]
		}
		for id, n := range want {
			if n != 0 {
				t.Fatalf("request %d: %d answers missing", id, n)
			}
		}
	})
}
