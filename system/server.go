package system

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// metrics are the node's plain counters (GET /metrics).
type metrics struct {
	connsOpen    atomic.Int64
	connsTotal   atomic.Uint64
	badFrames    atomic.Uint64
	requests     [OpTxn + 1]atomic.Uint64
	statuses     [StatusBadRequest + 1]atomic.Uint64
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

// serve accepts client connections until the listener closes.
func (n *Node) serve(ln net.Listener) {
	var delay time.Duration
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
		n.connMu.Lock()
		if n.ctx.Err() != nil {
			n.connMu.Unlock()
			c.Close()
			return
		}
		n.conns[c] = struct{}{}
		n.connMu.Unlock()
		n.metrics.connsOpen.Add(1)
		n.metrics.connsTotal.Add(1)
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.serveConn(c)
			n.connMu.Lock()
			delete(n.conns, c)
			n.connMu.Unlock()
			n.metrics.connsOpen.Add(-1)
		}()
	}
}

// outFrame is one response queued for the connection's writer.
type outFrame struct {
	buf   []byte
	close bool // close the connection after writing this
}

// serveConn reads frames, serves each in its own goroutine, and writes
// responses (in completion order) from a single writer goroutine that
// coalesces writes.
func (n *Node) serveConn(c net.Conn) {
	ctx, cancel := context.WithCancel(n.ctx)
	defer cancel()
	out := make(chan outFrame, 256)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		n.writeLoop(ctx, c, out)
	}()
	var handlers sync.WaitGroup
	sem := make(chan struct{}, n.cfg.MaxInflightPerConn)
	send := func(f outFrame) {
		select {
		case out <- f:
		case <-ctx.Done():
		}
	}
	br := bufio.NewReaderSize(c, 64<<10)
	for {
		f, err := ReadFrame(br, n.cfg.MaxFrameSize)
		if err != nil {
			if errors.Is(err, ErrFrameTooLarge) {
				n.metrics.badFrames.Add(1)
				n.metrics.statuses[StatusBadRequest].Add(1)
				resp := Response{Status: StatusBadRequest, Msg: err.Error() + "; closing the connection"}
				send(outFrame{buf: AppendFrame(nil, Frame{ID: f.ID, Op: f.Op, Payload: resp.AppendPayload(f.Op, nil)}), close: true})
			} else if errors.Is(err, ErrBadFrame) {
				n.metrics.badFrames.Add(1)
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && n.ctx.Err() == nil {
				n.log.Debug("client connection read failed", "remote", c.RemoteAddr().String(), "err", err)
			}
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		handlers.Add(1)
		go func() {
			defer handlers.Done()
			defer func() { <-sem }()
			resp := n.serveFrame(ctx, f)
			send(outFrame{buf: AppendFrame(nil, Frame{ID: f.ID, Op: f.Op, Payload: resp.AppendPayload(f.Op, nil)})})
		}()
	}
	// Let in-flight requests answer, unless the node is stopping or the
	// connection is being closed for a bad frame (the writer then exits).
	handlersDone := make(chan struct{})
	go func() { handlers.Wait(); close(handlersDone) }()
	select {
	case <-handlersDone:
		close(out)
		<-writerDone
	case <-writerDone:
		cancel()
		<-handlersDone
	}
	c.Close()
}

func (n *Node) writeLoop(ctx context.Context, c net.Conn, out <-chan outFrame) {
	bw := bufio.NewWriterSize(c, 64<<10)
	for {
		var f outFrame
		var ok bool
		select {
		case f, ok = <-out:
		case <-ctx.Done():
			return
		}
		if !ok {
			_ = bw.Flush()
			return
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

// serveFrame decodes and serves one frame; it never panics on bad input.
func (n *Node) serveFrame(ctx context.Context, f Frame) (resp Response) {
	defer func() {
		if r := recover(); r != nil {
			n.log.Error("request handler panicked", "op", f.Op.String(), "panic", r)
			resp = Response{Status: StatusUnavailable, Msg: fmt.Sprintf("internal error: %v", r)}
		}
		if int(resp.Status) < len(n.metrics.statuses) {
			n.metrics.statuses[resp.Status].Add(1)
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
