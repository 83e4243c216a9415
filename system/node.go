package system

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/faultline/faultline/system/raftlog"
)

// Node is one running store node: raft, the FSM, the client server and the
// admin HTTP server.
type Node struct {
	cfg   NodeConfig
	log   *slog.Logger
	clock *Clock

	fsm       *FSM
	raft      *raft.Raft
	raftLog   *raftlog.Log // raft log and stable store
	stable    *stableGate  // raftLog as raft's stable store, closed before it
	transport *raft.NetworkTransport
	// rec and recTrans are set when the node started in recovery mode
	// (damage in its files); see recovery.go.
	rec      *recovery
	recTrans *recoveryTransport

	clientLn  net.Listener
	adminLn   net.Listener
	adminSrv  *http.Server
	clientIDs map[raft.ServerID]string // node id -> client address

	// readyTerm is the term in which this node, as leader, has committed
	// its own entry (linearizable reads wait for it).
	readyTerm atomic.Uint64
	readyMu   sync.Mutex // serializes the readiness no-op

	// leaseStart is the clock time (UnixNano) of the last successful quorum
	// verification (ReadLease).
	leaseStart atomic.Int64

	metrics metrics
	connSrv *connServer
	acks    *localAckStore // only with UnsafeAckBeforeCommit
	prop    *proposer

	// The ReadIndex round that reads join (nil until one does), and the
	// runner's wake-up.
	readMu   sync.Mutex
	readNext *readRound
	readKick chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	connMu sync.Mutex
	conns  map[net.Conn]struct{}

	closeOnce sync.Once
	closeErr  error
}

// StartNode opens the data dir, starts raft (bootstrapping from the static
// peer list when there is no state) and starts serving clients and admin
// requests. ctx bounds startup only; stop the node with Close.
func StartNode(ctx context.Context, cfg NodeConfig) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start node %s: %w", cfg.ID, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("node", cfg.ID)
	clock := cfg.Clock
	if clock == nil {
		clock = NewClock()
	}
	n := &Node{
		cfg:       cfg,
		log:       log,
		clock:     clock,
		fsm:       NewFSM(cfg.UnsafeNoDedup),
		clientIDs: map[raft.ServerID]string{},
		conns:     map[net.Conn]struct{}{},
		readKick:  make(chan struct{}, 1),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	for _, p := range cfg.Peers {
		n.clientIDs[raft.ServerID(p.ID)] = p.ClientAddr
	}
	if cfg.ReadMode.Unsafe() {
		log.Warn("UNSAFE read mode: reads may be stale; for checker validation only", "read_mode", cfg.ReadMode)
	}
	if u := cfg.UnsafeFlags(); len(u) > 0 {
		log.Warn("UNSAFE: planted bugs on (see kvnode --help); for checker validation only", "unsafe", u)
	}
	if err := n.startRaft(ctx); err != nil {
		n.shutdownRaft()
		return nil, fmt.Errorf("start node %s: %w", cfg.ID, err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.ClientAddr)
	if err != nil {
		n.shutdownRaft()
		return nil, fmt.Errorf("start node %s: listen for clients on %s: %w (is the port in use?)", cfg.ID, cfg.ClientAddr, err)
	}
	n.clientLn = ln
	if cfg.AdminAddr != "" {
		aln, err := lc.Listen(ctx, "tcp", cfg.AdminAddr)
		if err != nil {
			ln.Close()
			n.shutdownRaft()
			return nil, fmt.Errorf("start node %s: listen for admin HTTP on %s: %w (is the port in use?)", cfg.ID, cfg.AdminAddr, err)
		}
		n.adminLn = aln
		n.adminSrv = &http.Server{Handler: n.adminHandler(), ReadHeaderTimeout: 5 * time.Second}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if err := n.adminSrv.Serve(aln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				n.log.Error("admin HTTP server stopped", "err", err)
			}
		}()
	}
	n.prop = newProposer(n)
	n.connSrv = newConnServer(&n.cfg, &n.metrics, n.log, n.serveFrame)
	n.wg.Add(4)
	go func() { defer n.wg.Done(); n.prop.run() }()
	go func() { defer n.wg.Done(); n.runReadIndex() }()
	go func() { defer n.wg.Done(); n.serve(ln) }()
	go func() { defer n.wg.Done(); n.watchLeadership() }()
	log.Info("node started", "raft", cfg.RaftAddr, "client", ln.Addr().String(), "admin", cfg.AdminAddr, "read_mode", cfg.ReadMode, "data", cfg.DataDir)
	return n, nil
}

func (n *Node) startRaft(ctx context.Context) error {
	cfg := n.cfg
	hl := newHCLogger(n.log.With("component", "raft"), cfg.RaftLogLevel)
	// Every directory the node keeps state in is created durably: a
	// mkdir whose parent was never fsynced may be undone by a power
	// failure, with every log entry and snapshot below it.
	if err := raftlog.MkdirAll(filepath.Join(cfg.DataDir, snapshotsDir)); err != nil {
		return fmt.Errorf("create data dir %s: %w (check permissions / the volume mount)", cfg.DataDir, err)
	}
	// Our own segment log: one fdatasync per appended batch (raft-boltdb
	// took two, raft-wal v0.4.0 could not restart after a tail truncation
	// and a kill, hashicorp/raft-wal#31).
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "raft.db")); err == nil {
		return fmt.Errorf("%s holds a raft-boltdb log (raft.db) from an older kvnode, which this one does not read: "+
			"empty the directory so the node resyncs from the leader, or start it with the older kvnode", cfg.DataDir)
	}
	lcfg := raftlog.DefaultConfig()
	lcfg.Dir = filepath.Join(cfg.DataDir, "raftlog")
	lcfg.SegmentSize = cfg.LogSegmentSize
	lcfg.UnsafeNoSync = cfg.UnsafeNoFsync
	wal, err := raftlog.Open(lcfg)
	if err != nil {
		return fmt.Errorf("open raft log: %w", err)
	}
	n.raftLog = wal
	snaps, err := openSnapshots(cfg.DataDir, hl)
	if err != nil {
		return err
	}
	if err := n.checkSnapshots(snaps.FileSnapshotStore, wal); err != nil {
		return err
	}
	if damage := wal.Damage(); len(damage) > 0 {
		if err := n.enterRecovery(wal, damage); err != nil {
			return err
		}
	}
	self, _ := cfg.peer(cfg.ID)
	advStr := cfg.RaftAdvertise
	if advStr == "" {
		advStr = self.RaftAddr
	}
	adv, err := resolveTCP(ctx, advStr)
	if err != nil {
		return fmt.Errorf("resolve advertised raft address %s: %w (does the host name resolve on this node? set --raft-advertise to an IP:port)", advStr, err)
	}
	trans, err := raft.NewTCPTransportWithLogger(cfg.RaftAddr, adv, 8, 5*time.Second, hl)
	if err != nil {
		return fmt.Errorf("raft transport on %s (advertising %s): %w", cfg.RaftAddr, adv, err)
	}
	n.transport = trans
	var rtrans raft.Transport = trans
	if n.rec != nil {
		n.recTrans = newRecoveryTransport(trans, n.rec)
		rtrans = n.recTrans
	}

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.MaxAppendEntries = cfg.MaxAppendEntries
	rc.BatchApplyCh = true
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.TrailingLogs = cfg.TrailingLogs
	rc.Logger = hl
	if err := raft.ValidateConfig(rc); err != nil {
		return fmt.Errorf("raft config: %w", err)
	}
	has, err := raft.HasExistingState(wal, wal, snaps)
	if err != nil {
		return fmt.Errorf("inspect raft state in %s: %w", cfg.DataDir, err)
	}
	// Keep recent entries in memory so replication does not read them
	// back from disk.
	logs, err := raft.NewLogCache(4096, wal)
	if err != nil {
		return fmt.Errorf("raft log cache: %w", err)
	}
	var store raft.LogStore = logs
	if cfg.UnsafeAckBeforeCommit {
		n.acks = newLocalAckStore(logs)
		store = n.acks
	}
	n.stable = &stableGate{StableStore: wal}
	r, err := raft.NewRaft(rc, n.fsm, store, n.stable, snaps, rtrans)
	if err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	n.raft = r
	switch {
	case !has && cfg.Join:
		n.log.Info("joining a running cluster: waiting for its leader to add this node", "id", cfg.ID)
	case !has:
		var servers []raft.Server
		for _, p := range cfg.Peers {
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.RaftAddr)})
		}
		if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			return fmt.Errorf("bootstrap cluster from the peer list: %w", err)
		}
		n.log.Info("bootstrapped a new cluster from the static peer list", "peers", len(servers))
	}
	return nil
}

// raftCurrentTermKey is where hashicorp/raft keeps its current term in
// the stable store.
const raftCurrentTermKey = "CurrentTerm"

// enterRecovery starts the node in recovery mode (see the package
// documentation, Damaged storage). It raises the stored raft term by one
// before raft starts: the leader of the term the node had makes the node's
// higher term step it down, and the next leader, elected without this
// node, tracks what each follower holds afresh, instead of counting on
// what this node acknowledged before the damage.
func (n *Node) enterRecovery(wal *raftlog.Log, damage []raftlog.Damage) error {
	term, err := wal.GetUint64([]byte(raftCurrentTermKey))
	if err != nil && !errors.Is(err, raftlog.ErrKeyNotFound) {
		return fmt.Errorf("read the raft term: %w", err)
	}
	if err := wal.SetUint64([]byte(raftCurrentTermKey), term+1); err != nil {
		return fmt.Errorf("raise the raft term: %w", err)
	}
	termAt := func(index uint64) (uint64, error) {
		var e raft.Log
		if err := wal.GetLog(index, &e); err != nil {
			return 0, err
		}
		return e.Term, nil
	}
	n.rec = newRecovery(n.log, term, termAt, wal.ClearDamage)
	for _, d := range damage {
		n.log.Warn("damaged storage", "damage", d.String())
	}
	n.log.Warn("entering recovery: not voting until caught up with a leader of a later term",
		"term", term+1, "damage", len(damage))
	return nil
}

func (n *Node) shutdownRaft() {
	if n.raft != nil {
		if err := n.raft.Shutdown().Error(); err != nil {
			n.log.Warn("raft shutdown", "err", err)
		}
	}
	if n.recTrans != nil {
		n.recTrans.Close()
	}
	if n.transport != nil {
		n.transport.Close()
	}
	if n.stable != nil {
		n.stable.close()
	}
	if n.raftLog != nil {
		if err := n.raftLog.Close(); err != nil {
			n.log.Warn("close raft log", "err", err)
		}
	}
}

// Close stops serving, shuts raft down and closes the log. Safe to call
// more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.cancel()
		if n.clientLn != nil {
			n.clientLn.Close()
		}
		n.connMu.Lock()
		for c := range n.conns {
			c.Close()
		}
		n.connMu.Unlock()
		if n.adminSrv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = n.adminSrv.Shutdown(ctx)
			cancel()
		}
		n.shutdownRaft()
		n.wg.Wait()
		n.log.Info("node stopped")
	})
	return n.closeErr
}

// ID returns the node id.
func (n *Node) ID() string { return n.cfg.ID }

// ClientAddr returns the bound client address.
func (n *Node) ClientAddr() string { return n.clientLn.Addr().String() }

// AdminAddr returns the bound admin address, or "".
func (n *Node) AdminAddr() string {
	if n.adminLn == nil {
		return ""
	}
	return n.adminLn.Addr().String()
}

// Clock returns the node's clock.
func (n *Node) Clock() *Clock { return n.clock }

// FSM returns the node's state machine (tests, inspection).
func (n *Node) FSM() *FSM { return n.fsm }

// IsLeader reports whether raft thinks this node is the leader.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the leader's id and client address as far as this node
// knows ("" when unknown).
func (n *Node) Leader() (id, clientAddr string) {
	_, lid := n.raft.LeaderWithID()
	if lid == "" {
		return "", ""
	}
	return string(lid), n.clientAddrOf(lid)
}

// clientAddrOf is the client address of server id: from the peer list, or
// for a server that joined later, its raft host with this node's client
// port (as --peers derives client addresses); "" when unknown.
func (n *Node) clientAddrOf(id raft.ServerID) string {
	if a, ok := n.clientIDs[id]; ok {
		return a
	}
	_, port, err := net.SplitHostPort(n.cfg.ClientAddr)
	if err != nil {
		return ""
	}
	for _, s := range n.configuration().Servers {
		if s.ID == id {
			if host, _, err := net.SplitHostPort(string(s.Address)); err == nil {
				return net.JoinHostPort(host, port)
			}
		}
	}
	return ""
}

// Snapshot forces a raft snapshot now.
func (n *Node) Snapshot() error {
	if err := n.raft.Snapshot().Error(); err != nil {
		return fmt.Errorf("snapshot node %s: %w", n.cfg.ID, err)
	}
	return nil
}

// watchLeadership makes a fresh leader commit an entry of its term right
// away, so linearizable reads need not wait for the first write.
func (n *Node) watchLeadership() {
	ch := n.raft.LeaderCh()
	for {
		select {
		case <-n.ctx.Done():
			return
		case isLeader := <-ch:
			if !isLeader {
				continue
			}
			ctx, cancel := context.WithTimeout(n.ctx, n.cfg.RequestTimeout)
			if err := n.ensureReady(ctx); err != nil {
				n.log.Debug("leader readiness no-op failed", "err", err)
			} else {
				n.log.Info("became leader", "term", n.raft.CurrentTerm())
			}
			cancel()
		}
	}
}

// ensureReady commits a no-op in the current term if not done yet.
func (n *Node) ensureReady(ctx context.Context) error {
	term := n.raft.CurrentTerm()
	if n.readyTerm.Load() == term {
		return nil
	}
	n.readyMu.Lock()
	defer n.readyMu.Unlock()
	if n.readyTerm.Load() == term {
		return nil
	}
	f := n.raft.Apply([]byte{byte(opNoop)}, n.cfg.RequestTimeout)
	if err := waitFuture(ctx, f); err != nil {
		return err
	}
	if n.raft.CurrentTerm() == term {
		n.readyTerm.Store(term)
		return nil
	}
	return raft.ErrLeadershipLost
}

// resolveTCP resolves addr, retrying for a few seconds: a container's own
// name may not resolve the instant it starts.
func resolveTCP(ctx context.Context, addr string) (*net.TCPAddr, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err == nil && a.IP != nil && !a.IP.IsUnspecified() {
			return a, nil
		}
		if err == nil {
			err = fmt.Errorf("%s is not an advertisable address", addr)
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func waitFuture(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// notLeader builds a NOT_LEADER response naming the leader if known.
func (n *Node) notLeader(msg string) Response {
	id, addr := n.Leader()
	if id == n.cfg.ID {
		id, addr = "", ""
	}
	if id == "" {
		msg += "; no leader known yet (election in progress or no quorum): retry shortly"
	} else {
		msg += "; retry at the leader"
	}
	return Response{Status: StatusNotLeader, Msg: msg, LeaderID: id, LeaderAddr: addr}
}

// raftErr maps a raft error from a write to a response. Only ErrNotLeader
// (never dispatched) is definite.
func (n *Node) raftErr(err error) Response {
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		return n.notLeader("not the leader")
	case errors.Is(err, context.DeadlineExceeded):
		return Response{Status: StatusTimeout, Msg: "not committed in time (no quorum?); the request may still apply: retry with the same seq"}
	case errors.Is(err, raft.ErrLeadershipLost):
		return Response{Status: StatusUnavailable, Msg: "leadership lost while committing; the request may or may not apply: retry with the same seq"}
	case errors.Is(err, raft.ErrRaftShutdown), errors.Is(err, context.Canceled):
		return Response{Status: StatusUnavailable, Msg: "node shutting down; the request may or may not apply: retry elsewhere with the same seq"}
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return Response{Status: StatusUnavailable, Msg: "raft is overloaded; retry"}
	}
	return Response{Status: StatusUnavailable, Msg: "raft: " + err.Error()}
}

// handle serves one decoded request.
func (n *Node) handle(ctx context.Context, req *Request) Response {
	timeout := n.cfg.RequestTimeout
	if n.cfg.UnsafeDefiniteTimeouts {
		timeout = min(timeout, unsafeDefiniteTimeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp := n.dispatch(ctx, req)
	if n.cfg.UnsafeDefiniteTimeouts {
		resp = unsafeTimeoutAsBusy(resp)
	}
	return resp
}

// dispatch sends a request down the read path or to the proposer.
func (n *Node) dispatch(ctx context.Context, req *Request) Response {
	if req.ReadOnly() {
		return n.read(ctx, req)
	}
	if n.raft.State() != raft.Leader {
		return n.notLeader("not the leader")
	}
	switch {
	case n.cfg.UnsafeNonatomicTxn && req.Op == OpTxn:
		return n.unsafeTxnNonatomic(ctx, req)
	case n.cfg.UnsafeAckBeforeCommit && blindWrite(req):
		return n.unsafeAckBeforeCommit(ctx, req)
	}
	return n.prop.propose(ctx, encodeCommand(req))
}

// read serves a read-only request according to the read mode.
func (n *Node) read(ctx context.Context, req *Request) Response {
	if n.cfg.UnsafeRemovedServesReads && n.removed() {
		return n.unsafeRemovedRead(req)
	}
	switch n.cfg.ReadMode {
	case ReadStale:
		n.metrics.staleReads.Add(1)
		return n.fsm.Read(req)
	case ReadLease:
		// UNSAFE by design: trusts the (skewable) clock and does not
		// check whether this node is still the leader.
		start := n.leaseStart.Load()
		if start != 0 && n.clock.Now().Before(time.Unix(0, start).Add(n.cfg.LeaseDuration)) {
			n.metrics.leaseReads.Add(1)
			return n.fsm.Read(req)
		}
	}
	if n.raft.State() != raft.Leader {
		return n.notLeader("not the leader")
	}
	if err := n.readIndex(ctx); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return n.notLeader("leadership not confirmed")
		}
		return n.raftErr(err)
	}
	return n.fsm.Read(req)
}

// readIndex blocks until a read may be served linearizably from local
// state: leader of term T with an entry committed in T, commit index
// captured after the read arrived, leadership then confirmed by a quorum,
// and that index applied. Concurrent reads share one confirmation (see
// runReadIndex).
func (n *Node) readIndex(ctx context.Context) error {
	if err := n.ensureReady(ctx); err != nil {
		return err
	}
	r := n.joinReadRound()
	select {
	case <-r.done:
		if r.err != nil {
			return r.err
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	return n.waitApplied(ctx, r.index)
}

// readRound is one ReadIndex confirmation, shared by every read that
// joined it before it started.
type readRound struct {
	done  chan struct{} // closed once index and err are set
	index uint64
	err   error
}

// joinReadRound returns the round that starts next and makes sure the
// runner will start it.
func (n *Node) joinReadRound() *readRound {
	n.readMu.Lock()
	r := n.readNext
	if r == nil {
		r = &readRound{done: make(chan struct{})}
		n.readNext = r
	}
	n.readMu.Unlock()
	select {
	case n.readKick <- struct{}{}:
	default: // a kick is pending: the runner will take this round
	}
	return r
}

// runReadIndex runs ReadIndex rounds one at a time: it takes the round
// that reads have joined so far, captures the commit index (after they
// all arrived), asks a quorum to confirm leadership once, and releases
// them all with that index. Reads arriving during a round join the next.
func (n *Node) runReadIndex() {
	for {
		select {
		case <-n.readKick:
		case <-n.ctx.Done():
			return
		}
		n.readMu.Lock()
		r := n.readNext
		n.readNext = nil
		n.readMu.Unlock()
		if r == nil {
			continue
		}
		r.index, r.err = n.confirmRead()
		close(r.done)
	}
}

func (n *Node) confirmRead() (uint64, error) {
	term := n.raft.CurrentTerm()
	if n.readyTerm.Load() != term {
		return 0, raft.ErrLeadershipLost
	}
	idx := n.raft.CommitIndex()
	if n.cfg.UnsafeAckBeforeCommit {
		// Writes are acknowledged before they commit (UNSAFE): wait for
		// everything in the leader's log, so a read after an
		// acknowledged write observes it (once it commits).
		idx = n.raft.LastIndex()
	}
	leaseStart := n.clock.Now()
	// Not VerifyLeader().Error(): a verification raft queued just as it
	// shut down is never answered (hashicorp/raft#498, for every future),
	// which would hang Close on this goroutine.
	if err := waitFuture(n.ctx, n.raft.VerifyLeader()); err != nil {
		return 0, err
	}
	if n.raft.CurrentTerm() != term {
		return 0, raft.ErrLeadershipLost
	}
	n.leaseStart.Store(leaseStart.UnixNano())
	n.metrics.readRounds.Add(1)
	return idx, nil
}

// waitApplied waits for the FSM to apply idx. Every entry after the
// leader's readiness no-op is one the FSM sees, so its applied index
// normally reaches idx. When it does not within 100ms (a trailing entry
// that raft keeps from the FSM, a barrier or raft's own no-op), a no-op
// command goes through the log: the FSM applies it, which moves its
// applied index past idx for this read and every later one. (A raft
// Barrier would not: it never reaches the FSM, so it would itself become
// the trailing entry that the next read waits 100ms for.)
func (n *Node) waitApplied(ctx context.Context, idx uint64) error {
	if n.fsm.AppliedIndex() >= idx {
		return nil
	}
	fallback := time.NewTimer(100 * time.Millisecond)
	defer fallback.Stop()
	for {
		ch := n.fsm.appliedWait()
		if n.fsm.AppliedIndex() >= idx {
			return nil
		}
		select {
		case <-ch:
		case <-fallback.C:
			n.metrics.readFallbacks.Add(1)
			return n.syncNoop(ctx, idx)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// syncNoop commits a no-op command and waits until the FSM has applied
// it, which covers idx.
func (n *Node) syncNoop(ctx context.Context, idx uint64) error {
	f := n.raft.Apply([]byte{byte(opNoop)}, n.cfg.RequestTimeout)
	if err := waitFuture(ctx, f); err != nil {
		return err
	}
	if applied := n.fsm.AppliedIndex(); applied < idx {
		return fmt.Errorf("internal: FSM applied index %d is behind read index %d after a no-op at %d", applied, idx, f.Index())
	}
	return nil
}

// NodeStatus is the admin /status document.
type NodeStatus struct {
	ID            string `json:"id"`
	State         string `json:"state"`
	LeaderID      string `json:"leader_id"`
	LeaderAddr    string `json:"leader_addr"`
	Term          uint64 `json:"term"`
	CommitIndex   uint64 `json:"commit_index"`
	AppliedIndex  uint64 `json:"applied_index"`
	LastContactMS int64  `json:"last_contact_ms"`
	ReadMode      string `json:"read_mode"`
	ClockOffsetMS int64  `json:"clock_offset_ms"`
	UnsafeNoDedup bool   `json:"unsafe_no_dedup"`
	// Unsafe lists the planted bugs enabled on this node (flag names
	// without --unsafe-), empty when it is safe.
	Unsafe []string `json:"unsafe"`
	Keys   int      `json:"keys"`
	// Recovering: the node found damage in its files and neither grants
	// nor asks for votes until it has caught up with a leader of a later
	// term; RecoveryTarget is the leader's commit index it must reach (0
	// until such a leader has committed an entry of its own term).
	// Damage lists what was found, until the node has caught up.
	Recovering     bool     `json:"recovering"`
	RecoveryTarget uint64   `json:"recovery_target,omitempty"`
	Damage         []string `json:"damage,omitempty"`
	// Removed: the cluster's latest configuration, as this node has it,
	// no longer lists it (it was removed, see GET /membership).
	Removed bool `json:"removed,omitempty"`
}

// Status returns the node's current status.
func (n *Node) Status() NodeStatus {
	lid, laddr := n.Leader()
	st := NodeStatus{
		ID:             n.cfg.ID,
		State:          n.raft.State().String(),
		LeaderID:       lid,
		LeaderAddr:     laddr,
		Term:           n.raft.CurrentTerm(),
		CommitIndex:    n.raft.CommitIndex(),
		AppliedIndex:   n.fsm.AppliedIndex(),
		LastContactMS:  -1,
		ReadMode:       string(n.cfg.ReadMode),
		ClockOffsetMS:  n.clock.Offset().Milliseconds(),
		UnsafeNoDedup:  n.cfg.UnsafeNoDedup,
		Unsafe:         n.cfg.UnsafeFlags(),
		Keys:           n.fsm.Len(),
		Recovering:     n.rec.Recovering(),
		RecoveryTarget: n.rec.Target(),
		Removed:        n.removed(),
	}
	for _, d := range n.raftLog.Damage() {
		st.Damage = append(st.Damage, d.String())
	}
	if n.raft.State() == raft.Leader {
		st.LastContactMS = 0
	} else if lc := n.raft.LastContact(); !lc.IsZero() {
		st.LastContactMS = time.Since(lc).Milliseconds()
	}
	return st
}
