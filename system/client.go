package system

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ClientConfig configures a Client. Start from DefaultClientConfig().
type ClientConfig struct {
	// Addrs maps node id -> client address reachable from the caller, e.g.
	// "n1" -> "127.0.0.1:49153". Leader hints are looked up here by id.
	Addrs map[string]string
	// ClientID identifies this client's sessions for exactly-once
	// mutations; 0 picks a random one. Never share one between clients.
	ClientID uint64
	// RequestTimeout is the per-attempt deadline when ctx has none shorter.
	RequestTimeout time.Duration
	// MaxAttempts bounds attempts per request (NOT_LEADER redirects,
	// reconnects and indeterminate retries included).
	MaxAttempts int
	// BackoffMin and BackoffMax bound the jittered exponential backoff
	// between attempts that did not get a leader hint, and between
	// redirects after the first one of a request (hints go stale during an
	// election).
	BackoffMin, BackoffMax time.Duration
	// DialTimeout bounds connecting to one node.
	DialTimeout time.Duration
	// MaxFrameSize bounds response frames.
	MaxFrameSize int
	// Home, if set, is the node every request is sent to first, as a
	// Jepsen client is bound to one node: reads are answered there (which
	// is what exposes the unsafe stale and lease read modes), other
	// requests follow NOT_LEADER to the leader for that request only.
	// Empty sends every request to the last known leader.
	Home string
}

// DefaultClientConfig returns the defaults; set Addrs.
func DefaultClientConfig() ClientConfig {
	return ClientConfig{
		RequestTimeout: 2 * time.Second,
		MaxAttempts:    10,
		BackoffMin:     10 * time.Millisecond,
		BackoffMax:     500 * time.Millisecond,
		DialTimeout:    time.Second,
		MaxFrameSize:   DefaultMaxFrameSize,
	}
}

// Validate checks the config and says how to fix it.
func (c *ClientConfig) Validate() error {
	if len(c.Addrs) == 0 {
		return errors.New("kv client: no node addresses: set ClientConfig.Addrs (node id -> host:port)")
	}
	if _, ok := c.Addrs[c.Home]; c.Home != "" && !ok {
		return fmt.Errorf("kv client: home node %q is not in Addrs: use one of the node ids", c.Home)
	}
	for id, a := range c.Addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("kv client: node %s: bad address %q: %w", id, a, err)
		}
	}
	if c.RequestTimeout <= 0 || c.DialTimeout <= 0 {
		return errors.New("kv client: RequestTimeout and DialTimeout must be positive (start from DefaultClientConfig())")
	}
	if c.MaxAttempts < 1 {
		return errors.New("kv client: MaxAttempts must be >= 1 (start from DefaultClientConfig())")
	}
	if c.BackoffMin <= 0 || c.BackoffMax < c.BackoffMin {
		return errors.New("kv client: need 0 < BackoffMin <= BackoffMax (start from DefaultClientConfig())")
	}
	if c.MaxFrameSize < 64 {
		return errors.New("kv client: MaxFrameSize must be >= 64")
	}
	return nil
}

// Client talks to a cluster. It is safe for concurrent use; requests are
// pipelined over one connection per node. Mutations carry the client id and
// a sequence number, reused on every retry, so each applies at most once.
type Client struct {
	cfg ClientConfig
	ids []string // sorted node ids

	mu     sync.Mutex
	conns  map[string]*clientConn
	leader string // best guess
	closed bool

	seqs     seqs
	reqID    atomic.Uint64
	lastNode atomic.Value // string
}

// NewClient returns a client; connections are dialed lazily.
func NewClient(ctx context.Context, cfg ClientConfig) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kv client: %w", err)
	}
	addrs := make(map[string]string, len(cfg.Addrs))
	for k, v := range cfg.Addrs {
		addrs[k] = v
	}
	cfg.Addrs = addrs
	for cfg.ClientID == 0 {
		var b [8]byte
		_, _ = cryptoRead(b[:])
		cfg.ClientID = binary.BigEndian.Uint64(b[:])
	}
	c := &Client{cfg: cfg, conns: map[string]*clientConn{}, seqs: seqs{low: 1, inflight: map[uint64]struct{}{}}}
	for id := range addrs {
		c.ids = append(c.ids, id)
	}
	slices.Sort(c.ids)
	c.leader = c.ids[rand.IntN(len(c.ids))]
	c.lastNode.Store("")
	return c, nil
}

var cryptoRead = crand.Read

// ClientID returns the client's session id.
func (c *Client) ClientID() uint64 { return c.cfg.ClientID }

// LastNode returns the id of the node that answered the last request.
func (c *Client) LastNode() string { return c.lastNode.Load().(string) }

// Close closes every connection; in-flight requests fail indeterminate.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	conns := c.conns
	c.conns = map[string]*clientConn{}
	c.mu.Unlock()
	for _, cc := range conns {
		cc.close(errClientClosed)
	}
	return nil
}

var errClientClosed = errors.New("kv client: closed")

// Get reads key. A missing key gives found=false and a nil error.
func (c *Client) Get(ctx context.Context, key string) ([]byte, bool, error) {
	resp, err := c.do(ctx, &Request{Op: OpGet, Key: key})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return resp.Value, true, nil
}

// Put sets key to value.
func (c *Client) Put(ctx context.Context, key string, value []byte) error {
	_, err := c.do(ctx, &Request{Op: OpSet, Key: key, Value: value})
	return err
}

// Delete removes key; deleting a missing key succeeds.
func (c *Client) Delete(ctx context.Context, key string) error {
	_, err := c.do(ctx, &Request{Op: OpClear, Key: key})
	return err
}

// CAS sets key to value if it currently holds expected. It returns
// ErrCASMismatch or ErrNotFound (definite: nothing applied) otherwise.
func (c *Client) CAS(ctx context.Context, key string, expected, value []byte) error {
	_, err := c.do(ctx, &Request{Op: OpCAS, Key: key, Expected: expected, Value: value})
	return err
}

// Append appends elem to the list at key (creating it).
func (c *Client) Append(ctx context.Context, key string, elem []byte) error {
	_, err := c.do(ctx, &Request{Op: OpAppend, Key: key, Value: elem})
	return err
}

// Txn applies ops atomically and returns one result per op. Compares are
// evaluated first, against the state before the transaction; a failed one
// gives ErrCASMismatch and nothing is applied. The other micro-ops run in
// order, reads seeing the transaction's earlier writes. A TXN of only reads
// and compares takes the read path (--read-mode applies to it).
func (c *Client) Txn(ctx context.Context, ops []MicroOp) ([]MicroResult, error) {
	resp, err := c.do(ctx, &Request{Op: OpTxn, Ops: ops})
	if err != nil {
		return nil, err
	}
	if len(resp.Results) != len(ops) {
		return nil, &Error{Status: StatusUnavailable, Msg: fmt.Sprintf("server returned %d results for %d micro-ops; treat the outcome as unknown", len(resp.Results), len(ops))}
	}
	return resp.Results, nil
}

// seqs hands out a client's mutation sequence numbers and knows the
// lowest one still awaiting an answer (the floor each request carries) in
// amortized constant time per request: low only moves up, past seqs done.
type seqs struct {
	mu       sync.Mutex
	last     uint64              // the last seq handed out
	low      uint64              // no seq below is in flight
	inflight map[uint64]struct{} // seqs taken and not done
}

// take returns the next seq; it is in flight until done.
func (s *seqs) take() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last++
	s.inflight[s.last] = struct{}{}
	return s.last
}

// done marks seq finished.
func (s *seqs) done(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inflight, seq)
	for s.low <= s.last {
		if _, ok := s.inflight[s.low]; ok {
			return
		}
		s.low++
	}
}

// floor is the lowest seq in flight (the next one when none is).
func (s *seqs) floor() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.low
}

// do sends req, following NOT_LEADER and retrying indeterminate failures
// with the same sequence number until ctx ends or attempts run out.
func (c *Client) do(ctx context.Context, req *Request) (Response, error) {
	mut := Mutating(req.Op) && !req.ReadOnly()
	if Mutating(req.Op) {
		req.ClientID = c.cfg.ClientID
		// A seq counts as in flight from the moment it is taken, so the
		// floor never passes one that is about to be sent.
		req.Seq = c.seqs.take()
		defer c.seqs.done(req.Seq)
	}
	maybeApplied := false // an earlier attempt of a mutation may have applied
	var lastErr error
	target := c.currentLeader()
	if c.cfg.Home != "" {
		target = c.cfg.Home
	}
	last := target
	backoff := c.cfg.BackoffMin
	redirects := 0
	for attempt := 0; attempt < c.cfg.MaxAttempts; attempt++ {
		if target == "" {
			// No hint: wait (except first), then try the next node
			// round-robin.
			if attempt > 0 {
				if err := sleepCtx(ctx, jitter(backoff)); err != nil {
					break
				}
				backoff = min(2*backoff, c.cfg.BackoffMax)
			}
			target = c.nextNode(last)
		}
		last = target
		if ctx.Err() != nil {
			break
		}
		if Mutating(req.Op) {
			req.Floor = c.seqs.floor()
		}
		resp, sent, err := c.attempt(ctx, target, req)
		if err != nil {
			lastErr = err
			if sent && mut {
				maybeApplied = true
			}
			if errors.Is(err, errClientClosed) {
				return Response{}, &Error{Status: StatusUnavailable, Msg: fmt.Sprintf("%s: %v; the outcome is unknown", req.Op, err)}
			}
			c.dropLeader(target)
			target = ""
			continue
		}
		c.lastNode.Store(target)
		switch resp.Status {
		case StatusOK, StatusNotFound, StatusCASMismatch, StatusBadRequest:
			return resp, resp.Err()
		case StatusBusy, StatusTooLarge:
			// Not retried: the node sheds load, or the answer will not
			// fit next time either. BUSY means this attempt did not
			// apply, an earlier one may have; a mutation answered
			// TOO_LARGE applied.
			return resp, &Error{Status: resp.Status, Msg: resp.Msg, LeaderID: resp.LeaderID, LeaderAddr: resp.LeaderAddr,
				MaybeApplied: maybeApplied || (resp.Status == StatusTooLarge && mut)}
		case StatusNotLeader:
			lastErr = resp.Err()
			next := ""
			if resp.LeaderID != "" {
				// A leader that joined again as a new member ("n3.2")
				// is reached at its node's address.
				if id := NodeOfMember(resp.LeaderID); c.cfg.Addrs[id] != "" {
					next = id
				}
			}
			if next == "" && resp.LeaderAddr != "" {
				next = c.idForAddr(resp.LeaderAddr)
			}
			if next == target {
				next = ""
			}
			c.setLeader(next)
			target = next
			redirects++
			if next != "" && redirects > 1 {
				// Hints can be stale during an election: a follower
				// still names a deposed leader, which answers with no
				// hint, and the client bounces between the two. Back
				// off as for an attempt without a hint, so the bouncing
				// does not spend every attempt before the election
				// ends.
				if err := sleepCtx(ctx, jitter(backoff)); err != nil {
					break
				}
				backoff = min(2*backoff, c.cfg.BackoffMax)
			}
		default: // TIMEOUT, UNAVAILABLE
			lastErr = resp.Err()
			if mut {
				maybeApplied = true
			}
			target = ""
		}
	}
	if err := ctx.Err(); err != nil {
		return Response{}, &Error{Status: StatusTimeout, Msg: fmt.Sprintf("%s: %v (last error: %v); the outcome is unknown", req.Op, err, lastErr)}
	}
	msg := fmt.Sprintf("%s: gave up after %d attempts (last error: %v)", req.Op, c.cfg.MaxAttempts, lastErr)
	if maybeApplied {
		msg += "; an earlier attempt may have applied"
	}
	return Response{}, &Error{Status: StatusUnavailable, Msg: msg + "; the outcome is unknown: retry later"}
}

func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) currentLeader() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leader
}

func (c *Client) setLeader(id string) {
	if id == "" {
		return
	}
	c.mu.Lock()
	c.leader = id
	c.mu.Unlock()
}

func (c *Client) dropLeader(id string) {
	c.mu.Lock()
	if c.leader == id {
		c.leader = ""
	}
	c.mu.Unlock()
}

// nextNode picks the node after `after` (round-robin) as the new guess.
func (c *Client) nextNode(after string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if after == "" {
		after = c.leader
	}
	i, found := slices.BinarySearch(c.ids, after)
	if found {
		i++
	}
	c.leader = c.ids[i%len(c.ids)]
	return c.leader
}

func (c *Client) idForAddr(addr string) string {
	for id, a := range c.cfg.Addrs {
		if a == addr {
			return id
		}
	}
	return ""
}

// attempt sends one request to node and waits for its answer. sent reports
// whether the request may have reached the server.
func (c *Client) attempt(ctx context.Context, node string, req *Request) (Response, bool, error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	cc, err := c.conn(actx, node)
	if err != nil {
		return Response{}, false, err
	}
	id := c.reqID.Add(1)
	buf := AppendFrame(nil, Frame{ID: id, Op: req.Op, Payload: req.AppendPayload(nil)})
	ch, err := cc.send(id, buf)
	if err != nil {
		return Response{}, true, fmt.Errorf("send %s to %s: %w", req.Op, node, err)
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return Response{}, true, fmt.Errorf("%s on %s: %w", req.Op, node, r.err)
		}
		if r.frame.Op != req.Op {
			return Response{}, true, fmt.Errorf("%s on %s: response has opcode %s", req.Op, node, r.frame.Op)
		}
		resp, err := DecodeResponse(req.Op, r.frame.Payload)
		if err != nil {
			return Response{}, true, fmt.Errorf("%s on %s: %w", req.Op, node, err)
		}
		return resp, true, nil
	case <-actx.Done():
		cc.forget(id)
		return Response{}, true, fmt.Errorf("%s on %s: no answer: %w", req.Op, node, actx.Err())
	}
}

func (c *Client) conn(ctx context.Context, node string) (*clientConn, error) {
	addr, ok := c.cfg.Addrs[node]
	if !ok {
		return nil, fmt.Errorf("unknown node %q (not in ClientConfig.Addrs)", node)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errClientClosed
	}
	if cc := c.conns[node]; cc != nil && !cc.isDead() {
		c.mu.Unlock()
		return cc, nil
	}
	c.mu.Unlock()
	d := net.Dialer{Timeout: c.cfg.DialTimeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial node %s at %s: %w", node, addr, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	cc := newClientConn(nc, c.cfg.MaxFrameSize)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		cc.close(errClientClosed)
		return nil, errClientClosed
	}
	if old := c.conns[node]; old != nil && !old.isDead() {
		cc.close(errors.New("duplicate connection"))
		return old, nil
	}
	c.conns[node] = cc
	return cc, nil
}

type result struct {
	frame Frame
	err   error
}

// clientConn is one pipelined connection: writes under a mutex, one reader
// goroutine routing responses by request id.
type clientConn struct {
	nc net.Conn

	// Flush combining: senders append to wbuf; the first one finding no
	// flusher writes everything queued (its own and later senders'), so
	// concurrent requests share write syscalls.
	wmu      sync.Mutex
	wbuf     []byte
	flushing bool

	mu      sync.Mutex
	pending map[uint64]chan result
	err     error // set once dead
}

func newClientConn(nc net.Conn, maxFrame int) *clientConn {
	cc := &clientConn{nc: nc, pending: map[uint64]chan result{}}
	go cc.readLoop(maxFrame)
	return cc
}

func (cc *clientConn) isDead() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.err != nil
}

func (cc *clientConn) send(id uint64, buf []byte) (<-chan result, error) {
	ch := make(chan result, 1)
	cc.mu.Lock()
	if cc.err != nil {
		err := cc.err
		cc.mu.Unlock()
		return nil, err
	}
	cc.pending[id] = ch
	cc.mu.Unlock()
	cc.wmu.Lock()
	cc.wbuf = append(cc.wbuf, buf...)
	if cc.flushing {
		cc.wmu.Unlock()
		return ch, nil
	}
	cc.flushing = true
	var spare []byte
	for len(cc.wbuf) > 0 {
		// Senders woken by the same batch of answers are runnable now:
		// let them queue their frames, so one write carries them all.
		cc.wmu.Unlock()
		runtime.Gosched()
		cc.wmu.Lock()
		out := cc.wbuf
		cc.wbuf = spare[:0]
		cc.wmu.Unlock()
		_, err := cc.nc.Write(out)
		cc.wmu.Lock()
		spare = out
		if err != nil {
			cc.wbuf = nil
			cc.flushing = false
			cc.wmu.Unlock()
			// Fails every pending request (ours included) on its channel.
			cc.close(fmt.Errorf("write: %w", err))
			return ch, nil
		}
	}
	cc.flushing = false
	cc.wmu.Unlock()
	return ch, nil
}

func (cc *clientConn) forget(id uint64) {
	cc.mu.Lock()
	delete(cc.pending, id)
	cc.mu.Unlock()
}

func (cc *clientConn) close(err error) {
	cc.mu.Lock()
	if cc.err == nil {
		cc.err = err
	}
	pending := cc.pending
	cc.pending = map[uint64]chan result{}
	cc.mu.Unlock()
	cc.nc.Close()
	for _, ch := range pending {
		ch <- result{err: fmt.Errorf("connection lost: %w", err)}
	}
}

func (cc *clientConn) readLoop(maxFrame int) {
	br := bufio.NewReaderSize(cc.nc, 64<<10)
	for {
		f, err := ReadFrame(br, maxFrame)
		var big *FrameSizeError
		if errors.As(err, &big) {
			// Skip the answer and fail only its request: the stream
			// stays usable for the others.
			if err = SkipPayload(br, big); err == nil {
				resp := Response{Status: StatusTooLarge, Msg: fmt.Sprintf(
					"the answer is %d bytes, over the client's max frame size %d (ClientConfig.MaxFrameSize); a read applied nothing, a mutation applied but its results are lost", big.Size, big.Max)}
				f.Payload = resp.AppendPayload(f.Op, nil)
			}
		}
		if err != nil {
			cc.close(fmt.Errorf("read: %w", err))
			return
		}
		cc.mu.Lock()
		ch := cc.pending[f.ID]
		delete(cc.pending, f.ID)
		cc.mu.Unlock()
		if ch != nil {
			ch <- result{frame: f}
		}
	}
}
