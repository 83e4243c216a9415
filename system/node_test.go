package system

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// rawConn speaks the wire protocol directly.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *rawConn) send(id uint64, op Opcode, payload []byte) {
	r.t.Helper()
	if _, err := r.c.Write(AppendFrame(nil, Frame{ID: id, Op: op, Payload: payload})); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func (r *rawConn) recv() (Frame, error) {
	r.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	return ReadFrame(r.br, 0)
}

func (r *rawConn) call(id uint64, req *Request) Response {
	r.t.Helper()
	r.send(id, req.Op, req.AppendPayload(nil))
	f, err := r.recv()
	if err != nil {
		r.t.Fatalf("read response: %v", err)
	}
	if f.ID != id {
		r.t.Fatalf("response id %d, want %d", f.ID, id)
	}
	resp, err := DecodeResponse(req.Op, f.Payload)
	if err != nil {
		r.t.Fatalf("decode response: %v", err)
	}
	return resp
}

func TestClusterOpsAndLinearizableReads(t *testing.T) {
	tc := newTestCluster(t, 3, fastConfig)
	tc.leader(30 * time.Second)
	c := tc.client(nil)
	ctx := ctxT(t, 30*time.Second)

	if _, found, err := c.Get(ctx, "missing"); err != nil || found {
		t.Fatalf("Get missing = found %v err %v, want not found", found, err)
	}
	for i := range 20 {
		k, v := fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)
		if err := c.Put(ctx, k, []byte(v)); err != nil {
			t.Fatalf("Put %s: %v", k, err)
		}
		// Linearizable: a read after an acknowledged write sees it.
		got, found, err := c.Get(ctx, k)
		if err != nil || !found || string(got) != v {
			t.Fatalf("Get %s = %q %v %v, want %q", k, got, found, err, v)
		}
	}
	if err := c.CAS(ctx, "k1", []byte("nope"), []byte("x")); !errors.Is(err, ErrCASMismatch) || !IsDefinite(err) {
		t.Fatalf("CAS mismatch err = %v", err)
	}
	if err := c.CAS(ctx, "absent", []byte("a"), []byte("x")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("CAS on absent key err = %v, want ErrNotFound", err)
	}
	if err := c.CAS(ctx, "k1", []byte("v1"), []byte("x")); err != nil {
		t.Fatalf("CAS: %v", err)
	}
	if err := c.Delete(ctx, "k2"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "k2"); err != nil {
		t.Fatalf("Delete of a missing key must be a no-op: %v", err)
	}
	for _, e := range []string{"a", "b", "c"} {
		if err := c.Append(ctx, "list", []byte(e)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := c.Txn(ctx, []MicroOp{
		{Kind: MicroRead, Key: "list"},
		{Kind: MicroAppend, Key: "list", Value: []byte("d")},
		{Kind: MicroRead, Key: "list"},
		{Kind: MicroRead, Key: "k1"},
		{Kind: MicroRead, Key: "k2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	l0, _ := DecodeList(res[0].Value)
	l2, _ := DecodeList(res[2].Value)
	if len(l0) != 3 || len(l2) != 4 || string(l2[3]) != "d" || string(res[3].Value) != "x" || res[4].Found {
		t.Fatalf("txn results wrong: %q %q %+v %+v", l0, l2, res[3], res[4])
	}
	// Read-only txn goes through the read path.
	res, err = c.Txn(ctx, []MicroOp{{Kind: MicroRead, Key: "list"}})
	if err != nil || !res[0].Found {
		t.Fatalf("read-only txn: %v %+v", err, res)
	}
	if c.LastNode() == "" {
		t.Fatal("LastNode empty after a successful request")
	}
	// Every node converges to the same state.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var sums []string
		for _, n := range tc.nodes {
			var buf bytes.Buffer
			s, _ := n.FSM().Snapshot()
			s.(*fsmSnapshot).applied = 0
			s.(*fsmSnapshot).writeTo(&buf)
			sums = append(sums, buf.String())
		}
		if sums[0] == sums[1] && sums[1] == sums[2] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("replicas did not converge")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestLeaderFailover(t *testing.T) {
	tc := newTestCluster(t, 3, fastConfig)
	old := tc.leader(30 * time.Second)
	c := tc.client(nil)
	ctx := ctxT(t, 30*time.Second)
	if err := c.Put(ctx, "before", []byte("1")); err != nil {
		t.Fatal(err)
	}
	tc.stop(old)
	start := time.Now()
	nl := tc.leader(30 * time.Second)
	if nl == old {
		t.Fatal("stopped node still leader")
	}
	t.Logf("new leader n%d after %v", nl+1, time.Since(start))
	for i := range 10 {
		if err := c.Put(ctx, fmt.Sprintf("after%d", i), []byte("2")); err != nil {
			t.Fatalf("write after failover: %v", err)
		}
	}
	v, found, err := c.Get(ctx, "before")
	if err != nil || !found || string(v) != "1" {
		t.Fatalf("acknowledged write lost after failover: %q %v %v", v, found, err)
	}
	// The client found the new leader (which may have changed again under
	// load: check against the leader of the moment).
	tc.onLeader(30*time.Second, func(li int) error {
		if err := c.Put(ctx, "final", []byte("3")); err != nil {
			return err
		}
		if c.LastNode() != tc.nodes[li].ID() {
			return fmt.Errorf("LastNode = %q, want the new leader %q", c.LastNode(), tc.nodes[li].ID())
		}
		return nil
	})
}

func TestRestartAllKeepsAcknowledgedWrites(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *NodeConfig) {
		fastConfig(c)
		c.SnapshotThreshold = 200 // exercise snapshot + restore on restart
		c.SnapshotInterval = 100 * time.Millisecond
		c.TrailingLogs = 50
	})
	tc.leader(30 * time.Second)
	ctx := ctxT(t, 40*time.Second)
	var mu sync.Mutex
	acked := map[string]string{}
	var appends atomic.Int64
	var wg sync.WaitGroup
	stopAt := time.Now().Add(1500 * time.Millisecond)
	for w := range 8 {
		c := tc.client(nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stopAt); i++ {
				k, v := fmt.Sprintf("w%d-%d", w, i%50), fmt.Sprintf("%d", i)
				if err := c.Put(ctx, k, []byte(v)); err == nil {
					mu.Lock()
					acked[k] = v
					mu.Unlock()
				}
				if err := c.Append(ctx, "log", []byte(k)); err == nil {
					appends.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if err := tc.nodes[0].Snapshot(); err != nil {
		t.Logf("forced snapshot: %v", err)
	}
	tc.stopAll()
	for i := range tc.nodes {
		tc.start(i)
	}
	tc.leader(30 * time.Second)
	ctx = ctxT(t, 60*time.Second)
	c := tc.client(nil)
	for k, v := range acked {
		got, found, err := c.Get(ctx, k)
		if err != nil || !found || string(got) != v {
			t.Fatalf("after restart %s = %q %v %v, want %q", k, got, found, err, v)
		}
	}
	lv, _, err := c.Get(ctx, "log")
	if err != nil {
		t.Fatal(err)
	}
	l, err := DecodeList(lv)
	if err != nil || int64(len(l)) < appends.Load() {
		t.Fatalf("list has %d elements (%v), %d appends acknowledged", len(l), err, appends.Load())
	}
	seen := map[string]int{}
	for _, e := range l {
		seen[string(e)]++
	}
	t.Logf("%d keys, %d appends survived restart", len(acked), len(l))
}

func TestFollowerRedirects(t *testing.T) {
	tc := newTestCluster(t, 3, fastConfig)
	tc.onLeader(30*time.Second, func(li int) error {
		fi := (li + 1) % 3
		leaderID := tc.nodes[li].ID()
		// Wait until the follower knows the leader.
		if !waitFor(10*time.Second, func() bool { id, _ := tc.nodes[fi].Leader(); return id == leaderID }) {
			return fmt.Errorf("follower %s never learned the leader %s", tc.nodes[fi].ID(), leaderID)
		}
		r := dialRaw(t, tc.nodes[fi].ClientAddr())
		resp := r.call(1, &Request{Op: OpSet, Key: "k", Value: []byte("v")})
		if err := resp.Err(); resp.Status == StatusNotLeader && !IsDefinite(err) {
			t.Fatalf("NOT_LEADER must be definite: %v", err)
		}
		if resp.Status != StatusNotLeader || resp.LeaderID != leaderID || resp.LeaderAddr != tc.addrs[leaderID] {
			return fmt.Errorf("follower answered %+v, want NOT_LEADER naming %s at %s", resp, leaderID, tc.addrs[leaderID])
		}
		// A client that starts at the follower follows the hint.
		c := tc.client(nil)
		c.mu.Lock()
		c.leader = tc.nodes[fi].ID()
		c.mu.Unlock()
		if err := c.Put(ctxT(t, 30*time.Second), "k", []byte("v")); err != nil {
			return err
		}
		if c.LastNode() != leaderID {
			return fmt.Errorf("LastNode = %q, want leader %q", c.LastNode(), leaderID)
		}
		return nil
	})
}

func TestNoQuorumIsIndeterminate(t *testing.T) {
	tc := newTestCluster(t, 3, fastConfig)
	tc.leader(30 * time.Second)
	c := tc.client(func(cfg *ClientConfig) { cfg.RequestTimeout = 500 * time.Millisecond; cfg.MaxAttempts = 6 })
	// Warm the client up (it then sends to the leader first). Its small
	// attempt budget may run out in an election: SET is idempotent, retry.
	warm := time.Now().Add(30 * time.Second)
	for {
		err := c.Put(ctxT(t, 10*time.Second), "k", []byte("v"))
		if err == nil {
			break
		}
		if time.Now().After(warm) {
			t.Fatal(err)
		}
	}
	li := tc.leader(30 * time.Second)
	// Keep the leader, stop both followers: it loses quorum.
	for i := range tc.nodes {
		if i != li {
			tc.stop(i)
		}
	}
	ctx := ctxT(t, 4*time.Second)
	err := c.Put(ctx, "k", []byte("w"))
	if err == nil || IsDefinite(err) {
		t.Fatalf("Put without quorum = %v, want an indeterminate error", err)
	}
	t.Logf("put without quorum: %v", err)
	v, found, err := c.Get(ctxT(t, 4*time.Second), "k")
	if err == nil {
		t.Fatalf("Get without quorum answered %q %v; a linearizable read needs a quorum", v, found)
	}
	if IsDefinite(err) {
		t.Fatalf("Get without quorum = %v, want indeterminate", err)
	}
}

func TestBadInputGetsBadRequestAndServerLives(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *NodeConfig) { fastConfig(c); c.MaxFrameSize = 1024 })
	li := tc.leader(30 * time.Second)
	term := tc.nodes[li].raft.CurrentTerm()
	addr := tc.nodes[li].ClientAddr()
	r := dialRaw(t, addr)

	// Unknown opcode: BAD_REQUEST, connection stays.
	r.send(7, Opcode(99), []byte("junk"))
	f, err := r.recv()
	if err != nil || f.ID != 7 {
		t.Fatalf("unknown opcode: %v %+v", err, f)
	}
	if resp, _ := DecodeResponse(f.Op, f.Payload); resp.Status != StatusBadRequest {
		t.Fatalf("unknown opcode answered %v", resp.Status)
	}
	// Malformed payload (truncated string).
	r.send(8, OpGet, []byte{0, 0, 0, 9, 'x'})
	f, err = r.recv()
	if err != nil || f.ID != 8 {
		t.Fatalf("malformed: %v", err)
	}
	if resp, _ := DecodeResponse(OpGet, f.Payload); resp.Status != StatusBadRequest || !strings.Contains(resp.Msg, "truncated") {
		t.Fatalf("malformed payload answered %+v", resp)
	}
	// Still serving on the same connection. A node deposed meanwhile (an
	// election under load) serves it too, with NOT_LEADER.
	if resp := r.call(9, &Request{Op: OpGet, Key: "k"}); resp.Status != StatusNotFound &&
		(resp.Status != StatusNotLeader || tc.maxTerm() == term) {
		t.Fatalf("after bad input: %+v", resp)
	}

	// Oversized frame: BAD_REQUEST and the connection closes.
	big := make([]byte, 4+8+1)
	binary.BigEndian.PutUint32(big, 1<<20)
	binary.BigEndian.PutUint64(big[4:], 42)
	big[12] = byte(OpSet)
	r.c.Write(big)
	r.c.Write(make([]byte, 2000))
	f, err = r.recv()
	if err != nil || f.ID != 42 {
		t.Fatalf("oversized frame: %v %+v", err, f)
	}
	if resp, _ := DecodeResponse(f.Op, f.Payload); resp.Status != StatusBadRequest {
		t.Fatalf("oversized frame answered %+v", resp)
	}
	if _, err := r.recv(); err == nil {
		t.Fatal("connection still open after an oversized frame")
	}
	// Garbage header (length < 9): connection closed, node fine.
	r2 := dialRaw(t, addr)
	r2.c.Write([]byte{0, 0, 0, 1, 0xff})
	if _, err := r2.recv(); err == nil {
		t.Fatal("expected the connection to close on a corrupt header")
	}
	// Everyone else is still served.
	c := tc.client(nil)
	ctx := ctxT(t, 30*time.Second)
	if err := c.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("server stopped serving after bad input: %v", err)
	}
	// Client-side: a value too large for the server's limit is BAD_REQUEST.
	err = c.Put(ctx, "big", make([]byte, 2048))
	if !IsDefinite(err) && !strings.Contains(fmt.Sprint(err), "BAD_REQUEST") {
		t.Fatalf("oversized put: %v", err)
	}
}

func TestExactlyOnceRetriedAppend(t *testing.T) {
	for _, noDedup := range []bool{false, true} {
		t.Run(fmt.Sprintf("noDedup=%v", noDedup), func(t *testing.T) {
			tc := newTestCluster(t, 3, func(c *NodeConfig) { fastConfig(c); c.UnsafeNoDedup = noDedup })
			conns := map[int]*rawConn{}
			raw := func(li int) *rawConn {
				if conns[li] == nil {
					conns[li] = dialRaw(t, tc.nodes[li].ClientAddr())
				}
				return conns[li]
			}
			req := &Request{Op: OpAppend, ClientID: 77, Seq: 1, Floor: 1, Key: "l", Value: []byte("x")}
			// The same request, retried until three tries are
			// acknowledged. Under load leadership may move: NOT_LEADER
			// is definite (not applied); UNAVAILABLE or TIMEOUT may
			// have applied, which only the noDedup count must allow.
			oks, maybe := 0, 0
			id := uint64(0)
			deadline := time.Now().Add(30 * time.Second)
			for oks < 3 {
				if time.Now().After(deadline) {
					t.Fatalf("only %d of 3 tries of the append acknowledged in 30s", oks)
				}
				li := tc.leader(30 * time.Second)
				term := tc.nodes[li].raft.CurrentTerm()
				id++
				resp := raw(li).call(id, req)
				if resp.Status == StatusOK {
					oks++
					continue
				}
				if tc.nodes[li].IsLeader() && tc.maxTerm() == term {
					t.Fatalf("append at the unchallenged leader: %+v", resp)
				}
				switch resp.Status {
				case StatusNotLeader:
				case StatusUnavailable, StatusTimeout:
					maybe++
				default:
					t.Fatalf("append: %+v", resp)
				}
			}
			var l [][]byte
			tc.onLeader(30*time.Second, func(li int) error {
				id++
				resp := raw(li).call(id, &Request{Op: OpGet, Key: "l"})
				if resp.Status != StatusOK {
					return fmt.Errorf("get: %+v", resp)
				}
				l, _ = DecodeList(resp.Value)
				return nil
			})
			if !noDedup && len(l) != 1 {
				t.Fatalf("list has %d elements after %d acknowledged tries of one append, want 1", len(l), oks)
			}
			if noDedup && (len(l) < oks || len(l) > oks+maybe) {
				t.Fatalf("list has %d elements after %d acknowledged (+%d unknown) tries of one append, want %d", len(l), oks, maybe, oks)
			}
		})
	}
}

func TestAdminHTTP(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *NodeConfig) {
		fastConfig(c)
		c.EnableFaultInjection = c.ID == "n1"
	})
	get := func(addr, path string) (int, []byte) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.Bytes()
	}
	var body []byte
	tc.onLeader(30*time.Second, func(li int) error {
		var code int
		code, body = get(tc.nodes[li].AdminAddr(), "/status")
		var st NodeStatus
		if err := json.Unmarshal(body, &st); code != 200 || err != nil || st.State != "Leader" || st.LeaderID != tc.nodes[li].ID() || st.ReadMode != "linearizable" {
			return fmt.Errorf("/status %d %s", code, body)
		}
		return nil
	})
	var raw map[string]any
	json.Unmarshal(body, &raw)
	for _, k := range []string{"id", "state", "leader_id", "leader_addr", "term", "commit_index", "applied_index", "last_contact_ms", "read_mode", "clock_offset_ms", "unsafe_no_dedup", "recovering"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("/status lacks %q", k)
		}
	}
	if code, _ := get(tc.nodes[0].AdminAddr(), "/healthz"); code != 200 {
		t.Fatalf("/healthz %d", code)
	}
	if code, body := get(tc.nodes[0].AdminAddr(), "/metrics"); code != 200 || !bytes.Contains(body, []byte("raft_commit_index")) {
		t.Fatalf("/metrics %d %s", code, body)
	}
	post := func(addr, body string) (int, string) {
		resp, err := http.Post("http://"+addr+"/fault/clock", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	if code, body := post(tc.nodes[1].AdminAddr(), `{"op":"bump","delta_ms":-5000}`); code != 403 || !strings.Contains(body, "--enable-fault-injection") {
		t.Fatalf("fault on a node without the flag: %d %s", code, body)
	}
	if code, body := post(tc.nodes[0].AdminAddr(), `{"op":"bump","delta_ms":-5000}`); code != 200 || !strings.Contains(body, `"clock_offset_ms":-5000`) {
		t.Fatalf("bump: %d %s", code, body)
	}
	if off := tc.nodes[0].Clock().Offset(); off != -5*time.Second {
		t.Fatalf("offset %v", off)
	}
	if code, _ := post(tc.nodes[0].AdminAddr(), `{"op":"strobe","delta_ms":100,"period_ms":10,"duration_ms":1000}`); code != 200 {
		t.Fatalf("strobe: %d", code)
	}
	if code, _ := post(tc.nodes[0].AdminAddr(), `{"op":"warp"}`); code != 400 {
		t.Fatalf("unknown op: %d", code)
	}
	if code, body := post(tc.nodes[0].AdminAddr(), `{"op":"reset"}`); code != 200 || !strings.Contains(body, `"clock_offset_ms":0`) {
		t.Fatalf("reset: %d %s", code, body)
	}
}

// The UNSAFE read modes must actually be unsafe (the chaos suite relies on
// it to prove the checkers can fail).
func TestUnsafeReadModes(t *testing.T) {
	t.Run("stale: a follower answers from local state", func(t *testing.T) {
		tc := newTestCluster(t, 3, func(c *NodeConfig) { fastConfig(c); c.ReadMode = ReadStale })
		li := tc.leader(30 * time.Second)
		fi := (li + 1) % 3
		r := dialRaw(t, tc.nodes[fi].ClientAddr())
		if resp := r.call(1, &Request{Op: OpGet, Key: "k"}); resp.Status != StatusNotFound {
			t.Fatalf("stale follower read: %+v, want a local NOT_FOUND", resp)
		}
	})
	t.Run("lease: a deposed leader with a slow clock keeps serving", func(t *testing.T) {
		tc := newTestCluster(t, 3, func(c *NodeConfig) {
			fastConfig(c)
			c.ReadMode = ReadLease
			c.LeaseDuration = 500 * time.Millisecond
		})
		// A first read at the leader confirms leadership and starts its
		// lease.
		var li int
		var r *rawConn
		tc.onLeader(30*time.Second, func(l int) error {
			li, r = l, dialRaw(t, tc.nodes[l].ClientAddr())
			if resp := r.call(1, &Request{Op: OpGet, Key: "k"}); resp.Status != StatusNotFound {
				return fmt.Errorf("first read: %+v", resp)
			}
			return nil
		})
		tc.nodes[li].Clock().Bump(-time.Minute)
		for i := range tc.nodes {
			if i != li {
				tc.stop(i)
			}
		}
		time.Sleep(time.Second) // > lease duration, > raft leader lease
		if !waitFor(20*time.Second, func() bool { return !tc.nodes[li].IsLeader() }) {
			t.Fatal("node without quorum still leader")
		}
		if resp := r.call(2, &Request{Op: OpGet, Key: "k"}); resp.Status != StatusNotFound {
			t.Fatalf("deposed leader with a skewed clock answered %+v; the planted lease bug is gone", resp)
		}
	})
}

// lossyProxy forwards TCP to target; on the first connection it swallows
// the server's answer and cuts the connection (the client cannot know
// whether its request applied).
func lossyProxy(t *testing.T, target string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var first atomic.Bool
	first.Store(true)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			lossy := first.Swap(false)
			go func() {
				defer s.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						s.Write(buf[:n])
					}
					if err != nil {
						return
					}
				}
			}()
			go func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := s.Read(buf)
					if n > 0 {
						if lossy {
							return // applied, but the answer is lost
						}
						c.Write(buf[:n])
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// A mutation whose answer is lost is retried by the client with the same
// sequence number and applies exactly once (and twice with the planted
// --unsafe-no-dedup bug, proving the test can fail).
func TestClientRetryAfterLostAnswerAppliesOnce(t *testing.T) {
	for _, noDedup := range []bool{false, true} {
		t.Run(fmt.Sprintf("noDedup=%v", noDedup), func(t *testing.T) {
			tc := newTestCluster(t, 3, func(c *NodeConfig) { fastConfig(c); c.UnsafeNoDedup = noDedup })
			try := 0
			// The client only knows the leader (through the proxy): if
			// leadership moves under load, start over with a new key.
			tc.onLeader(60*time.Second, func(li int) error {
				try++
				key := fmt.Sprintf("l%d", try)
				id := tc.nodes[li].ID()
				proxy := lossyProxy(t, tc.nodes[li].ClientAddr())
				c := tc.client(func(cfg *ClientConfig) { cfg.Addrs = map[string]string{id: proxy}; cfg.MaxAttempts = 10 })
				ctx := ctxT(t, 30*time.Second)
				if err := c.Append(ctx, key, []byte("once")); err != nil {
					return fmt.Errorf("append through a lossy link: %v", err)
				}
				v, _, err := tc.client(nil).Get(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				l, _ := DecodeList(v)
				want := 1
				if noDedup {
					want = 2
				}
				if len(l) != want {
					return fmt.Errorf("list %q has %d elements, want %d", l, len(l), want)
				}
				return nil
			})
		})
	}
}

// A follower that missed more than the retained log catches up through
// InstallSnapshot (FSM restore), dedup table included.
func TestLaggingFollowerCatchesUpFromSnapshot(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *NodeConfig) {
		fastConfig(c)
		c.SnapshotThreshold = 50
		c.SnapshotInterval = 50 * time.Millisecond
		c.TrailingLogs = 10
		// Small segments, so compaction unlinks whole segment files.
		c.LogSegmentSize = 32 << 10
	})
	li := tc.leader(30 * time.Second)
	fi := (li + 1) % 3
	fiLast := tc.nodes[fi].raft.LastIndex()
	tc.stop(fi)
	c := tc.client(nil)
	ctx := ctxT(t, 30*time.Second)
	for i := range 200 {
		if err := c.Append(ctx, "l", fmt.Appendf(bytes.Repeat([]byte{'x'}, 1000), "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Whichever live node leads when the follower returns must no longer
	// hold the entries after the follower's last one: snapshot and compact
	// both (periodic snapshots may lag on a loaded machine).
	for i, n := range tc.nodes {
		if n == nil {
			continue
		}
		if !waitFor(30*time.Second, func() bool {
			_ = n.Snapshot() // fails if a periodic one has just run
			first, err := n.raftLog.FirstIndex()
			return err == nil && first > fiLast+1
		}) {
			t.Fatalf("n%d kept the log after index %d, which the stopped follower lacks", i+1, fiLast)
		}
	}
	li = tc.leader(30 * time.Second)
	want := snapshotBytes(t, tc.nodes[li].FSM())
	tc.start(fi)
	// Raft restores the FSM before it records the installed snapshot, so
	// wait for both.
	deadline := time.Now().Add(30 * time.Second)
	for {
		v := tc.nodes[fi].FSM().Read(&Request{Op: OpGet, Key: "l"})
		l, _ := DecodeList(v.Value)
		snap := tc.nodes[fi].raft.Stats()["last_snapshot_index"]
		if len(l) == 200 && snap != "0" {
			break
		}
		if time.Now().After(deadline) {
			for i, n := range tc.nodes {
				st := n.raft.Stats()
				first, _ := n.raftLog.FirstIndex()
				t.Logf("n%d: %s term %s, log %d..%s, last snapshot %s", i+1, st["state"], st["term"], first, st["last_log_index"], st["last_snapshot_index"])
			}
			if len(l) == 200 {
				t.Fatalf("the follower n%d caught up without installing a snapshot; the test did not exercise restore", fi+1)
			}
			t.Fatalf("restarted follower did not catch up: %d of 200 elements", len(l))
		}
		time.Sleep(50 * time.Millisecond)
	}
	got := snapshotBytes(t, tc.nodes[fi].FSM())
	// Compare states without the applied index (bytes 8..16).
	if !bytes.Equal(got[16:], want[16:]) {
		t.Fatal("follower state (data + sessions) differs from the leader's after catching up")
	}
}
