package system

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// liveHeap is the Go heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// frameHeader is the 13-byte header of a frame whose length field claims
// size bytes.
func frameHeader(size uint32, id uint64, op Opcode) []byte {
	h := binary.BigEndian.AppendUint32(nil, size)
	h = binary.BigEndian.AppendUint64(h, id)
	return append(h, byte(op))
}

// 500 connections each send a header claiming a 4 MiB frame and stall.
// The node must not allocate for bytes that never came (it used to: 2 GB),
// and must keep serving everyone else.
func TestStalledHeadersCostLittleMemory(t *testing.T) {
	const conns = 500
	tc := newTestCluster(t, 1, fastConfig)
	tc.leader(30 * time.Second)
	c := tc.client(nil)
	ctx := ctxT(t, 60*time.Second)
	if err := c.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	before := liveHeap()
	n := tc.nodes[0]
	headers := n.metrics.headers.Load()
	for i := range conns {
		r := dialRaw(t, n.ClientAddr())
		if _, err := r.c.Write(frameHeader(DefaultMaxFrameSize, uint64(i), OpSet)); err != nil {
			t.Fatal(err)
		}
	}
	if !waitFor(30*time.Second, func() bool { return n.metrics.connsOpen.Load() >= conns+1 }) {
		t.Fatalf("%d connections open, want %d", n.metrics.connsOpen.Load(), conns+1)
	}
	// Everyone else is still served while the stalled frames wait.
	for i := range 20 {
		k := fmt.Sprintf("busy%d", i)
		if err := c.Put(ctx, k, []byte("x")); err != nil {
			t.Fatalf("put while %d connections stall: %v", conns, err)
		}
		if v, ok, err := c.Get(ctx, k); err != nil || !ok || string(v) != "x" {
			t.Fatalf("get while %d connections stall: %q %v %v", conns, v, ok, err)
		}
	}
	// Every stalled reader has its header (and the 40 requests above
	// theirs) before the heap is measured.
	if !waitFor(30*time.Second, func() bool { return n.metrics.headers.Load()-headers >= conns+40 }) {
		t.Fatalf("%d frame headers read, want %d", n.metrics.headers.Load()-headers, conns+40)
	}
	after := liveHeap()
	growth := int64(after) - int64(before)
	t.Logf("heap %d MiB -> %d MiB with %d stalled 4 MiB headers: %+.1f MiB (%.1f KiB per connection)",
		before>>20, after>>20, conns, float64(growth)/(1<<20), float64(growth)/conns/1024)
	if growth > 100<<20 {
		t.Fatalf("heap grew by %d MiB for %d stalled headers; frames must grow as their bytes arrive", growth>>20, conns)
	}
}

// Beyond --max-conns a connection gets BUSY for its first request (a
// definite failure for the Go client) and is closed; the served ones are
// unaffected, and a slot that frees up is usable again.
func TestConnectionLimit(t *testing.T) {
	tc := newTestCluster(t, 1, func(c *NodeConfig) { fastConfig(c); c.MaxConns = 2 })
	tc.leader(30 * time.Second)
	addr := tc.nodes[0].ClientAddr()
	r1, r2 := dialRaw(t, addr), dialRaw(t, addr)
	for i, r := range []*rawConn{r1, r2} {
		if resp := r.call(uint64(i), &Request{Op: OpGet, Key: "k"}); resp.Status != StatusNotFound {
			t.Fatalf("conn %d: %+v", i, resp)
		}
	}
	r3 := dialRaw(t, addr)
	resp := r3.call(7, &Request{Op: OpGet, Key: "k"})
	if resp.Status != StatusBusy || !strings.Contains(resp.Msg, "--max-conns") {
		t.Fatalf("third connection got %+v, want BUSY naming --max-conns", resp)
	}
	if _, err := r3.recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("refused connection not closed: %v", err)
	}
	c := tc.client(func(cfg *ClientConfig) { cfg.MaxAttempts = 3 })
	err := c.Put(ctxT(t, 10*time.Second), "k", []byte("v"))
	if !errors.Is(err, ErrBusy) || !IsDefinite(err) {
		t.Fatalf("Go client over the connection limit: %v (definite %v), want a definite BUSY", err, IsDefinite(err))
	}
	if resp := r1.call(8, &Request{Op: OpGet, Key: "k"}); resp.Status != StatusNotFound {
		t.Fatalf("a served connection after refusals: %+v", resp)
	}
	r2.c.Close()
	if !waitFor(10*time.Second, func() bool { return tc.nodes[0].metrics.connsOpen.Load() < 2 }) {
		t.Fatal("closed connection still counted")
	}
	if err := c.Put(ctxT(t, 10*time.Second), "k", []byte("v")); err != nil {
		t.Fatalf("put once a connection slot is free: %v", err)
	}
}

// Beyond --max-inflight-per-conn a request gets BUSY at once and the
// connection stays up; requests in flight are answered normally.
func TestInflightLimitPerConnection(t *testing.T) {
	tc := newTestCluster(t, 1, func(c *NodeConfig) { fastConfig(c); c.MaxInflightPerConn = 2 })
	tc.leader(30 * time.Second)
	r := dialRaw(t, tc.nodes[0].ClientAddr())
	if resp := r.call(1, &Request{Op: OpSet, Key: "k", Value: []byte("0")}); resp.Status != StatusOK {
		t.Fatal(resp)
	}
	// Hold the state machine: writes commit but cannot apply, so they
	// stay in flight.
	fsm := tc.nodes[0].fsm
	fsm.mu.Lock()
	locked := true
	defer func() {
		if locked {
			fsm.mu.Unlock()
		}
	}()
	for id := uint64(10); id < 13; id++ {
		r.send(id, OpSet, (&Request{Op: OpSet, Key: "k", Value: []byte(fmt.Sprint(id))}).AppendPayload(nil))
	}
	f, err := r.recv()
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := DecodeResponse(f.Op, f.Payload)
	if f.ID != 12 || resp.Status != StatusBusy || !strings.Contains(resp.Msg, "--max-inflight-per-conn") {
		t.Fatalf("third request in flight: id %d %+v, want id 12 BUSY", f.ID, resp)
	}
	fsm.mu.Unlock()
	locked = false
	got := map[uint64]Status{}
	for range 2 {
		f, err := r.recv()
		if err != nil {
			t.Fatal(err)
		}
		resp, _ := DecodeResponse(f.Op, f.Payload)
		got[f.ID] = resp.Status
	}
	if got[10] != StatusOK || got[11] != StatusOK {
		t.Fatalf("requests in flight answered %v, want OK", got)
	}
	// The two ran concurrently, in either order; the refused one did not.
	if resp := r.call(13, &Request{Op: OpGet, Key: "k"}); resp.Status != StatusOK || (string(resp.Value) != "10" && string(resp.Value) != "11") {
		t.Fatalf("after BUSY the connection serves %+v, want k=10 or 11", resp)
	}
}

// A connection that sends nothing, or stalls mid-frame, is closed after
// the idle timeout; a busy one is not.
func TestIdleConnectionsTimeOut(t *testing.T) {
	tc := newTestCluster(t, 1, func(c *NodeConfig) { fastConfig(c); c.IdleTimeout = time.Second })
	tc.leader(30 * time.Second)
	addr := tc.nodes[0].ClientAddr()
	silent, stalled, busy := dialRaw(t, addr), dialRaw(t, addr), dialRaw(t, addr)
	if _, err := stalled.c.Write(append(frameHeader(100, 1, OpSet), make([]byte, 20)...)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 8 {
		if resp := busy.call(uint64(i), &Request{Op: OpGet, Key: "k"}); resp.Status != StatusNotFound {
			t.Fatalf("busy connection: %+v", resp)
		}
		time.Sleep(300 * time.Millisecond)
	}
	for name, r := range map[string]*rawConn{"silent": silent, "stalled mid-frame": stalled} {
		if _, err := r.recv(); !errors.Is(err, io.EOF) {
			t.Fatalf("%s connection after %v: %v, want closed by the node (EOF)", name, time.Since(start), err)
		}
	}
	if n := tc.nodes[0].metrics.connsIdle.Load(); n != 2 {
		t.Fatalf("%d idle connections closed, want 2", n)
	}
}

// appendUntil grows the list at key past size bytes.
func appendUntil(t *testing.T, ctx context.Context, c *Client, key string, size int) {
	t.Helper()
	elem := []byte(strings.Repeat("e", 100))
	for i := 0; i*(len(elem)+4) <= size; i++ {
		if err := c.Append(ctx, key, elem); err != nil {
			t.Fatal(err)
		}
	}
}

// An answer over the node's frame limit is replaced by TOO_LARGE and the
// connection stays up; the Go client reports a read as failed, a mutation
// (which applied) as unknown.
func TestOversizedAnswerKeepsTheConnection(t *testing.T) {
	tc := newTestCluster(t, 1, func(c *NodeConfig) { fastConfig(c); c.MaxFrameSize = 1024 })
	tc.leader(30 * time.Second)
	c := tc.client(nil)
	ctx := ctxT(t, 30*time.Second)
	appendUntil(t, ctx, c, "big", 1024)
	r := dialRaw(t, tc.nodes[0].ClientAddr())
	resp := r.call(1, &Request{Op: OpGet, Key: "big"})
	if resp.Status != StatusTooLarge || !strings.Contains(resp.Msg, "--max-frame-size") {
		t.Fatalf("GET of a value over the frame limit: %+v, want TOO_LARGE", resp)
	}
	if resp := r.call(2, &Request{Op: OpGet, Key: "small"}); resp.Status != StatusNotFound {
		t.Fatalf("the connection after TOO_LARGE: %+v", resp)
	}
	_, _, err := c.Get(ctx, "big")
	if !errors.Is(err, ErrTooLarge) || !IsDefinite(err) {
		t.Fatalf("Go client GET: %v (definite %v), want a definite TOO_LARGE", err, IsDefinite(err))
	}
	_, err = c.Txn(ctx, []MicroOp{{Kind: MicroRead, Key: "big"}, {Kind: MicroRead, Key: "small"}})
	if !errors.Is(err, ErrTooLarge) || !IsDefinite(err) {
		t.Fatalf("Go client read-only TXN: %v (definite %v), want a definite TOO_LARGE", err, IsDefinite(err))
	}
	_, err = c.Txn(ctx, []MicroOp{{Kind: MicroAppend, Key: "big", Value: []byte("x")}, {Kind: MicroRead, Key: "big"}})
	if !errors.Is(err, ErrTooLarge) || IsDefinite(err) {
		t.Fatalf("Go client mutating TXN with a large answer: %v (definite %v), want an indeterminate TOO_LARGE", err, IsDefinite(err))
	}
	// It did apply: the list grew by one element.
	res, err := c.Txn(ctx, []MicroOp{{Kind: MicroWrite, Key: "probe", Value: []byte("1")}})
	if err != nil || len(res) != 1 {
		t.Fatalf("the client after TOO_LARGE: %v", err)
	}
	v := tc.nodes[0].fsm.Read(&Request{Op: OpGet, Key: "big"})
	if l, _ := DecodeList(v.Value); string(l[len(l)-1]) != "x" {
		t.Fatalf("the mutating TXN answered TOO_LARGE did not apply")
	}
}

// An answer over the client's own frame limit fails only its request: the
// client skips it and keeps the connection for the others.
func TestClientSkipsAnswersOverItsFrameLimit(t *testing.T) {
	tc := newTestCluster(t, 1, fastConfig)
	tc.leader(30 * time.Second)
	ctx := ctxT(t, 30*time.Second)
	appendUntil(t, ctx, tc.client(nil), "big", 4096)
	c := tc.client(func(cfg *ClientConfig) { cfg.MaxFrameSize = 1024 })
	if err := c.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	cc := c.conns["n1"]
	c.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := "k"
			if i%2 == 0 {
				key = "big"
			}
			_, _, errs[i] = c.Get(ctx, key)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i%2 == 0 && (!errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "ClientConfig.MaxFrameSize")) {
			t.Fatalf("GET big: %v, want TOO_LARGE from the client", err)
		}
		if i%2 == 1 && err != nil {
			t.Fatalf("GET k beside oversized answers: %v", err)
		}
	}
	c.mu.Lock()
	now := c.conns["n1"]
	c.mu.Unlock()
	if now != cc || cc.isDead() {
		t.Fatal("the client dropped its connection for an oversized answer")
	}
}
