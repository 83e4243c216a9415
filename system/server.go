package system

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// metrics are the node's plain counters (GET /metrics).
type metrics struct {
	connsOpen    atomic.Int64
	connsTotal   atomic.Uint64
	connsRefused atomic.Uint64 // over MaxConns
	connsIdle    atomic.Uint64 // closed by IdleTimeout
	badFrames    atomic.Uint64
	headers      atomic.Uint64 // frame headers read (payloads may still be on the way)
	requests     [OpTxn + 1]atomic.Uint64
	statuses     [maxStatus + 1]atomic.Uint64
	leaseReads   atomic.Uint64
	staleReads   atomic.Uint64
	clockChanges atomic.Uint64
	// proposals counts client mutations proposed; proposalEntries the raft
	// log entries they went out in (their ratio is the batching factor).
	proposals       atomic.Uint64
	proposalEntries atomic.Uint64
	// readRounds counts ReadIndex leadership confirmations;
	// readFallbacks the reads whose index the FSM did not reach within
	// 100ms (a no-op went through the log for them).
	readRounds    atomic.Uint64
	readFallbacks atomic.Uint64
}

// connBufSize is the read buffer of a client connection, and the write
// buffer once it has answered something: small, because an idle or
// stalled connection must cost little.
const connBufSize = 16 << 10

// refuseTimeout bounds the life of a connection over MaxConns: the time
// to read its first request header and answer BUSY.
const refuseTimeout = time.Second

// serve accepts client connections until the listener closes.
func (n *Node) serve(ln net.Listener) {
	var delay time.Duration
	var refusing atomic.Int64
	for {
		c, err := ln.Accept()
		if err != nil {
			if n.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary (e.g. EMFILE): back off and keep serving.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			n.log.Warn("accept failed; backing off", "err", err, "delay", delay)
			select {
			case <-time.After(delay):
			case <-n.ctx.Done():
				return
			}
			continue
		}
		delay = 0
		n.metrics.connsTotal.Add(1)
		n.connMu.Lock()
		if n.ctx.Err() != nil {
			n.connMu.Unlock()
			c.Close()
			return
		}
		over := n.metrics.connsOpen.Load() >= int64(n.cfg.MaxConns)
		if over && refusing.Load() >= int64(n.cfg.MaxConns) {
			// Refusing politely costs a goroutine for a second; past
			// that many, just close.
			n.connMu.Unlock()
			n.metrics.connsRefused.Add(1)
			c.Close()
			continue
		}
		n.conns[c] = struct{}{}
		if over {
			refusing.Add(1)
		} else {
			n.metrics.connsOpen.Add(1)
		}
		n.connMu.Unlock()
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if over {
				n.metrics.connsRefused.Add(1)
				n.connSrv.refuse(c, fmt.Sprintf("node %s has %d client connections open, its limit (--max-conns): not applied; retry later or use fewer connections", n.cfg.ID, n.cfg.MaxConns))
				refusing.Add(-1)
			} else {
				n.connSrv.serve(n.ctx, c)
			}
			n.connMu.Lock()
			delete(n.conns, c)
			if !over {
				n.metrics.connsOpen.Add(-1)
			}
			n.connMu.Unlock()
		}()
	}
}

// connServer serves the client protocol on one connection at a time (any
// number concurrently): frames are read with memory growing only as bytes
// arrive, each request is served by handle in its own goroutine up to
// maxInflight at once, and answers are written, in completion order, by
// one writer goroutine that coalesces writes.
type connServer struct {
	maxFrame    int
	maxInflight int
	idle        time.Duration // 0: never
	handle      func(ctx context.Context, f Frame) Response
	m           *metrics
	log         *slog.Logger
}

func newConnServer(cfg *NodeConfig, m *metrics, log *slog.Logger, handle func(context.Context, Frame) Response) *connServer {
	return &connServer{maxFrame: cfg.MaxFrameSize, maxInflight: cfg.MaxInflightPerConn, idle: cfg.IdleTimeout, handle: handle, m: m, log: log}
}

// outFrame is one response queued for the connection's writer.
type outFrame struct {
	buf   []byte
	close bool // close the connection after writing this
}

// encode builds the answer frame to f. An answer over the frame limit is
// replaced by TOO_LARGE, so the client's stream stays intact.
func (s *connServer) encode(f Frame, resp Response) []byte {
	payload := resp.AppendPayload(f.Op, nil)
	if minFrameLen+len(payload) > s.maxFrame {
		size := minFrameLen + len(payload)
		resp = Response{Status: StatusTooLarge, Msg: fmt.Sprintf(
			"the answer to %s is %d bytes, over the max frame size %d (--max-frame-size); a read applied nothing, a mutation applied but its results are lost (outcome unknown); read fewer or smaller keys",
			f.Op, size, s.maxFrame)}
		payload = resp.AppendPayload(f.Op, payload[:0])
	}
	if int(resp.Status) < len(s.m.statuses) {
		s.m.statuses[resp.Status].Add(1)
	}
	return AppendFrame(nil, Frame{ID: f.ID, Op: f.Op, Payload: payload})
}

// idleReader keeps pushing the connection's read deadline ahead of its
// reads, so a client that sends nothing (not even the rest of a frame)
// for the idle timeout loses its connection. The deadline moves only when
// an eighth of the timeout has passed since it last moved: a connection
// is closed after between 7/8 of the timeout and the timeout of silence,
// and the hot path rarely pays for SetReadDeadline.
type idleReader struct {
	c     net.Conn
	idle  time.Duration
	moved time.Time
}

func (r *idleReader) Read(p []byte) (int, error) {
	if r.idle > 0 {
		if now := time.Now(); now.Sub(r.moved) > r.idle/8 {
			_ = r.c.SetReadDeadline(now.Add(r.idle))
			r.moved = now
		}
	}
	return r.c.Read(p)
}

// serve serves c until the client closes it, a bad frame or the idle
// timeout ends it, or ctx ends; then it closes c.
func (s *connServer) serve(ctx context.Context, c net.Conn) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make(chan outFrame, 256)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.writeLoop(ctx, c, out)
	}()
	var handlers sync.WaitGroup
	inflight := make(chan struct{}, s.maxInflight)
	send := func(o outFrame) {
		select {
		case out <- o:
		case <-ctx.Done():
		}
	}
	var last outFrame // sent after every other answer, if set
	br := bufio.NewReaderSize(&idleReader{c: c, idle: s.idle}, connBufSize)
	for {
		// A frame's header in hand (its payload may still be on the way).
		if _, err := br.Peek(frameHeaderLen); err == nil {
			s.m.headers.Add(1)
		}
		f, err := ReadFrame(br, s.maxFrame)
		if err != nil {
			switch {
			case errors.Is(err, ErrFrameTooLarge):
				s.m.badFrames.Add(1)
				last = outFrame{buf: s.encode(f, Response{Status: StatusBadRequest, Msg: err.Error() + "; closing the connection"}), close: true}
			case errors.Is(err, ErrBadFrame):
				s.m.badFrames.Add(1)
			case errors.Is(err, os.ErrDeadlineExceeded):
				s.m.connsIdle.Add(1)
				s.log.Debug("closing an idle client connection", "remote", c.RemoteAddr().String(), "idle_timeout", s.idle)
			case !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && ctx.Err() == nil:
				s.log.Debug("client connection read failed", "remote", c.RemoteAddr().String(), "err", err)
			}
			break
		}
		select {
		case inflight <- struct{}{}:
		default:
			send(outFrame{buf: s.encode(f, Response{Status: StatusBusy, Msg: fmt.Sprintf(
				"%d requests already in flight on this connection, the limit (--max-inflight-per-conn): not applied; wait for answers or open another connection", s.maxInflight)})})
			continue
		}
		handlers.Add(1)
		go func() {
			defer handlers.Done()
			defer func() { <-inflight }()
			send(outFrame{buf: s.encode(f, s.handle(ctx, f))})
		}()
	}
	// Let in-flight requests answer (then the last word, if any), unless
	// the node is stopping or the writer failed.
	handlersDone := make(chan struct{})
	go func() { handlers.Wait(); close(handlersDone) }()
	select {
	case <-handlersDone:
		if last.buf != nil {
			send(last)
		}
		close(out)
		<-writerDone
	case <-writerDone:
		cancel()
		<-handlersDone
	}
	c.Close()
}

func (s *connServer) writeLoop(ctx context.Context, c net.Conn, out <-chan outFrame) {
	var bw *bufio.Writer // allocated by the first answer
	var moved time.Time  // when the write deadline last moved (see idleReader)
	for {
		var f outFrame
		var ok bool
		select {
		case f, ok = <-out:
		case <-ctx.Done():
			return
		}
		if !ok {
			if bw != nil {
				_ = bw.Flush()
			}
			return
		}
		if bw == nil {
			bw = bufio.NewWriterSize(c, connBufSize)
		}
		if now := time.Now(); s.idle > 0 && now.Sub(moved) > s.idle/8 {
			// A client that stops reading its answers is idle too.
			_ = c.SetWriteDeadline(now.Add(s.idle))
			moved = now
		}
		if _, err := bw.Write(f.buf); err != nil {
			c.Close()
			return
		}
		if len(out) == 0 && !f.close {
			// Responses of one raft batch complete together: let the
			// other handlers queue theirs so one write carries them all.
			runtime.Gosched()
		}
		if f.close || len(out) == 0 {
			if err := bw.Flush(); err != nil {
				c.Close()
				return
			}
		}
		if f.close {
			// Half-close so the client reads the error before EOF.
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			c.Close()
			return
		}
	}
}

// refuse answers the first request on c with BUSY (msg) and closes c: the
// node is over its connection limit. It reads only the request's header,
// and gives up after refuseTimeout.
func (s *connServer) refuse(c net.Conn, msg string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(refuseTimeout))
	var hdr [frameHeaderLen]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil || binary.BigEndian.Uint32(hdr[:]) < minFrameLen {
		return
	}
	f := Frame{ID: binary.BigEndian.Uint64(hdr[4:]), Op: Opcode(hdr[12])}
	if _, err := c.Write(s.encode(f, Response{Status: StatusBusy, Msg: msg})); err != nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	// Drain until the client closes (or the deadline), so that closing
	// with unread bytes does not reset the connection before the client
	// has read the answer.
	_, _ = io.Copy(io.Discard, c)
}

// serveFrame decodes and serves one frame; it never panics on bad input.
func (n *Node) serveFrame(ctx context.Context, f Frame) (resp Response) {
	defer func() {
		if r := recover(); r != nil {
			n.log.Error("request handler panicked", "op", f.Op.String(), "panic", r)
			resp = Response{Status: StatusUnavailable, Msg: fmt.Sprintf("internal error: %v", r)}
		}
	}()
	if !ValidOpcode(f.Op) {
		n.metrics.badFrames.Add(1)
		return Response{Status: StatusBadRequest, Msg: fmt.Sprintf("unknown opcode %d: valid opcodes are 1 (GET) .. 6 (TXN)", uint8(f.Op))}
	}
	n.metrics.requests[f.Op].Add(1)
	req, err := DecodeRequest(f.Op, f.Payload)
	if err != nil {
		n.metrics.badFrames.Add(1)
		return Response{Status: StatusBadRequest, Msg: err.Error()}
	}
	return n.handle(ctx, &req)
}
