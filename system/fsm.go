package system

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// DefaultMaxSessions bounds the dedup session table. When a new client
// would exceed it, the session that was used least recently (by log index,
// so every replica evicts the same one) is dropped.
const DefaultMaxSessions = 50000

// entry is one stored value. list marks values built by APPEND; their bytes
// are the encodeList encoding. Bytes [0:len(val)] are never modified once
// stored, so readers and snapshots may share them; APPEND only writes
// beyond len.
type entry struct {
	val  []byte
	list bool
}

// session is one client's dedup state.
type session struct {
	floor     uint64            // seqs below are finished; their responses forgotten
	responses map[uint64]cached // seq -> response, for seq >= floor
	lastIndex uint64            // log index of the last request (for eviction)
}

// cached is the saved answer to one (client, seq), with a hash of the
// command it answered: a retry must carry the same command.
type cached struct {
	hash uint64
	resp Response
}

// commandHash hashes what a mutation does (opcode and body, not the
// session fields, whose floor changes between retries). cmd is a log
// command: u8 opcode | session | body.
func commandHash(cmd []byte) uint64 {
	h := sha256.New()
	h.Write(cmd[:1])
	h.Write(cmd[1+sessionLen:])
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint64(h.Sum(sum[:0]))
}

// FSM is the replicated state machine: keys, list values and the dedup
// session table. It implements raft.FSM and raft.BatchingFSM.
type FSM struct {
	mu          sync.RWMutex
	data        map[string]entry
	sessions    map[uint64]*session
	noDedup     bool
	maxSessions int

	applied   atomic.Uint64 // last log index applied
	appliedMu sync.Mutex
	appliedCh chan struct{} // closed and replaced on every apply

	dedupHits atomic.Uint64
}

// NewFSM returns an empty state machine. noDedup is the UNSAFE mode that
// ignores client ids and sequence numbers (retried appends duplicate).
func NewFSM(noDedup bool) *FSM {
	return &FSM{
		data:        make(map[string]entry),
		sessions:    make(map[uint64]*session),
		noDedup:     noDedup,
		maxSessions: DefaultMaxSessions,
		appliedCh:   make(chan struct{}),
	}
}

// AppliedIndex returns the index of the last log entry applied.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// appliedWait returns a channel closed when the applied index next moves.
func (f *FSM) appliedWait() <-chan struct{} {
	f.appliedMu.Lock()
	defer f.appliedMu.Unlock()
	return f.appliedCh
}

func (f *FSM) setApplied(idx uint64) {
	f.applied.Store(idx)
	f.appliedMu.Lock()
	close(f.appliedCh)
	f.appliedCh = make(chan struct{})
	f.appliedMu.Unlock()
}

// Apply implements raft.FSM. The result is a *Response.
func (f *FSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	resp := f.applyEntry(l.Index, l.Data)
	f.mu.Unlock()
	f.setApplied(l.Index)
	return resp
}

// ApplyBatch implements raft.BatchingFSM.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	var last uint64
	f.mu.Lock()
	for i, l := range logs {
		if l.Type == raft.LogCommand {
			out[i] = f.applyEntry(l.Index, l.Data)
		}
		last = l.Index
	}
	f.mu.Unlock()
	if last != 0 {
		f.setApplied(last)
	}
	return out
}

// encodeCommand builds a log entry for req: u8 opcode | request payload.
func encodeCommand(req *Request) []byte {
	return req.AppendPayload([]byte{byte(req.Op)})
}

// encodeBatch builds one log entry holding several commands:
// u8 opBatch | u32 n | n * (u32 len | command).
func encodeBatch(cmds [][]byte) []byte {
	n := 5
	for _, c := range cmds {
		n += 4 + len(c)
	}
	b := make([]byte, 0, n)
	b = append(b, byte(opBatch))
	b = binary.BigEndian.AppendUint32(b, uint32(len(cmds)))
	for _, c := range cmds {
		b = appendBytes(b, c)
	}
	return b
}

func decodeBatch(b []byte) ([][]byte, error) {
	d := decoder{b: b, off: 1}
	n := d.u32()
	if d.err == nil && uint64(n)*4 > uint64(len(b)) {
		d.fail("batch count %d exceeds entry", n)
	}
	var out [][]byte
	for i := uint32(0); i < n && d.err == nil; i++ {
		out = append(out, d.bytes())
	}
	if d.err == nil && d.off != len(b) {
		d.fail("%d trailing bytes", len(b)-d.off)
	}
	if d.err != nil {
		return nil, fmt.Errorf("malformed batch log entry: %w", d.err)
	}
	return out, nil
}

// applyEntry applies one log entry: a single command (result *Response)
// or a batch (result []Response, one per command, in order).
func (f *FSM) applyEntry(index uint64, cmd []byte) any {
	if len(cmd) > 0 && Opcode(cmd[0]) == opBatch {
		cmds, err := decodeBatch(cmd)
		if err != nil {
			return &Response{Status: StatusBadRequest, Msg: err.Error()}
		}
		out := make([]Response, len(cmds))
		for i, c := range cmds {
			out[i] = *f.applyLocked(index, c)
		}
		return out
	}
	return f.applyLocked(index, cmd)
}

func (f *FSM) applyLocked(index uint64, cmd []byte) *Response {
	if len(cmd) == 0 {
		return &Response{Status: StatusBadRequest, Msg: "empty log command"}
	}
	op := Opcode(cmd[0])
	if op == opNoop {
		return &Response{Status: StatusOK}
	}
	req, err := DecodeRequest(op, cmd[1:])
	if err != nil {
		return &Response{Status: StatusBadRequest, Msg: err.Error()}
	}
	if f.noDedup || req.ClientID == 0 || !Mutating(op) {
		r := f.exec(&req)
		return &r
	}
	s := f.sessions[req.ClientID]
	if s == nil {
		if len(f.sessions) >= f.maxSessions {
			f.evictOldestLocked()
		}
		s = &session{responses: make(map[uint64]cached)}
		f.sessions[req.ClientID] = s
	}
	s.lastIndex = index
	if req.Floor > s.floor {
		s.floor = req.Floor
		for seq := range s.responses {
			if seq < s.floor {
				delete(s.responses, seq)
			}
		}
	}
	if req.Seq < s.floor {
		f.dedupHits.Add(1)
		return &Response{Status: StatusBadRequest, Msg: fmt.Sprintf(
			"client %d seq %d is older than its acknowledged floor %d: a stale duplicate, not applied", req.ClientID, req.Seq, s.floor)}
	}
	hash := commandHash(cmd)
	if c, ok := s.responses[req.Seq]; ok {
		if c.hash != hash {
			return &Response{Status: StatusBadRequest, Msg: fmt.Sprintf(
				"client %d seq %d was first used for a different command: not applied (a retry must resend the same command; a new command needs a new seq)", req.ClientID, req.Seq)}
		}
		f.dedupHits.Add(1)
		r := c.resp
		return &r
	}
	r := f.exec(&req)
	s.responses[req.Seq] = cached{hash: hash, resp: r}
	return &r
}

func (f *FSM) evictOldestLocked() {
	var oldID uint64
	oldIdx := ^uint64(0)
	for id, s := range f.sessions {
		if s.lastIndex < oldIdx || (s.lastIndex == oldIdx && id < oldID) {
			oldID, oldIdx = id, s.lastIndex
		}
	}
	delete(f.sessions, oldID)
}

// exec applies one request to the state (caller holds the write lock).
// Values are copied: the request aliases the log entry.
func (f *FSM) exec(req *Request) Response {
	switch req.Op {
	case OpSet:
		f.data[req.Key] = entry{val: bytes.Clone(nonNil(req.Value))}
		return Response{Status: StatusOK}
	case OpClear:
		delete(f.data, req.Key)
		return Response{Status: StatusOK}
	case OpCAS:
		e, ok := f.data[req.Key]
		if !ok {
			return Response{Status: StatusNotFound, Msg: fmt.Sprintf("CAS: key %q does not exist; nothing applied", req.Key)}
		}
		if !bytes.Equal(e.val, req.Expected) {
			return Response{Status: StatusCASMismatch, Msg: fmt.Sprintf("CAS: key %q does not hold the expected value; nothing applied", req.Key)}
		}
		f.data[req.Key] = entry{val: bytes.Clone(nonNil(req.Value))}
		return Response{Status: StatusOK}
	case OpAppend:
		e, ok := f.data[req.Key]
		ne, err := appendEntry(e, ok, req.Value)
		if err != nil {
			return Response{Status: StatusBadRequest, Msg: fmt.Sprintf("APPEND to %q: %v; nothing applied", req.Key, err)}
		}
		f.data[req.Key] = ne
		return Response{Status: StatusOK}
	case OpTxn:
		return f.execTxn(req.Ops, true)
	case OpGet:
		return f.get(req.Key)
	}
	return Response{Status: StatusBadRequest, Msg: fmt.Sprintf("opcode %s cannot be applied", req.Op)}
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func appendEntry(e entry, exists bool, elem []byte) (entry, error) {
	if exists && !e.list {
		if !validList(e.val) {
			return e, errors.New("the key holds a plain value, not a list (use a fresh key for lists)")
		}
	}
	val := binary.BigEndian.AppendUint32(e.val, uint32(len(elem)))
	val = append(val, elem...)
	return entry{val: val, list: true}, nil
}

func (f *FSM) get(key string) Response {
	e, ok := f.data[key]
	if !ok {
		// Not fmt: a read of a missing key is a hot path (the register
		// workload's first reads), and fmt grew every handler's stack.
		return Response{Status: StatusNotFound, Msg: "key " + strconv.Quote(key) + " does not exist"}
	}
	return Response{Status: StatusOK, Value: e.val[:len(e.val):len(e.val)]}
}

// Read serves a read-only request (GET or read-only TXN) from local state.
func (f *FSM) Read(req *Request) Response {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if req.Op == OpGet {
		return f.get(req.Key)
	}
	return f.execTxn(req.Ops, false)
}

// execTxn checks every compare against the current state (a mismatch
// aborts with CAS_MISMATCH, nothing applied), then runs the other micro-ops
// in order against an overlay, reads seeing earlier writes. commit=false never writes
// (read-only execution under a read lock).
func (f *FSM) execTxn(ops []MicroOp, commit bool) Response {
	overlay := map[string]*entry{} // nil *entry = deleted (unused today)
	lookup := func(k string) (entry, bool) {
		if e, ok := overlay[k]; ok {
			if e == nil {
				return entry{}, false
			}
			return *e, true
		}
		e, ok := f.data[k]
		return e, ok
	}
	// Compares are guards evaluated first, against the state before the
	// transaction (etcd's If/Then): any mismatch aborts everything.
	for i, m := range ops {
		if m.Kind != MicroCompare {
			continue
		}
		e, ok := f.data[m.Key]
		if match := (m.Absent && !ok) || (!m.Absent && ok && bytes.Equal(e.val, m.Value)); !match {
			return Response{Status: StatusCASMismatch, Msg: fmt.Sprintf("TXN op %d: compare on %q failed; nothing applied", i, m.Key)}
		}
	}
	results := make([]MicroResult, len(ops))
	for i, m := range ops {
		switch m.Kind {
		case MicroRead:
			if e, ok := lookup(m.Key); ok {
				results[i] = MicroResult{Value: e.val[:len(e.val):len(e.val)], Found: true}
			}
		case MicroWrite:
			if !commit {
				return Response{Status: StatusBadRequest, Msg: "write in a read-only transaction"}
			}
			overlay[m.Key] = &entry{val: bytes.Clone(nonNil(m.Value))}
		case MicroAppend:
			if !commit {
				return Response{Status: StatusBadRequest, Msg: "append in a read-only transaction"}
			}
			e, ok := lookup(m.Key)
			if ok {
				// Never append into an array shared with the committed
				// state if we might abort: clone first.
				e.val = slices.Clip(e.val)
			}
			ne, err := appendEntry(e, ok, m.Value)
			if err != nil {
				return Response{Status: StatusBadRequest, Msg: fmt.Sprintf("TXN op %d: APPEND to %q: %v; nothing applied", i, m.Key, err)}
			}
			overlay[m.Key] = &ne
		case MicroCompare: // checked above
		default:
			return Response{Status: StatusBadRequest, Msg: fmt.Sprintf("TXN op %d: unknown micro-op kind %q", i, rune(m.Kind))}
		}
	}
	for k, e := range overlay {
		if e == nil {
			delete(f.data, k)
		} else {
			f.data[k] = *e
		}
	}
	return Response{Status: StatusOK, Results: results}
}

// Len returns the number of keys (for tests and metrics).
func (f *FSM) Len() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.data)
}

// Snapshot implements raft.FSM. It copies the maps (values are shared
// immutably), so Persist can run concurrently with Apply.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	s := &fsmSnapshot{
		applied:  f.applied.Load(),
		data:     maps.Clone(f.data),
		sessions: make(map[uint64]session, len(f.sessions)),
	}
	for id, ss := range f.sessions {
		s.sessions[id] = session{floor: ss.floor, lastIndex: ss.lastIndex, responses: maps.Clone(ss.responses)}
	}
	return s, nil
}

// snapshotMagic names the snapshot format; version 2 added the command
// hash of each saved response.
const snapshotMagic = "FLKVSNP2"

type fsmSnapshot struct {
	applied  uint64
	data     map[string]entry
	sessions map[uint64]session
}

// Persist implements raft.FSMSnapshot. Keys and sessions are written in
// sorted order so equal states give equal bytes.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.writeTo(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist kv snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) writeTo(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	var buf []byte
	buf = append(buf, snapshotMagic...)
	buf = binary.BigEndian.AppendUint64(buf, s.applied)
	buf = binary.BigEndian.AppendUint64(buf, uint64(len(s.data)))
	for _, k := range slices.Sorted(maps.Keys(s.data)) {
		e := s.data[k]
		buf = appendStr(buf, k)
		if e.list {
			buf = append(buf, 1)
		} else {
			buf = append(buf, 0)
		}
		buf = appendBytes(buf, e.val)
		if len(buf) > 128<<10 {
			if _, err := bw.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	buf = binary.BigEndian.AppendUint64(buf, uint64(len(s.sessions)))
	for _, id := range slices.Sorted(maps.Keys(s.sessions)) {
		ss := s.sessions[id]
		buf = binary.BigEndian.AppendUint64(buf, id)
		buf = binary.BigEndian.AppendUint64(buf, ss.floor)
		buf = binary.BigEndian.AppendUint64(buf, ss.lastIndex)
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(ss.responses)))
		for _, seq := range slices.Sorted(maps.Keys(ss.responses)) {
			c := ss.responses[seq]
			buf = binary.BigEndian.AppendUint64(buf, seq)
			buf = binary.BigEndian.AppendUint64(buf, c.hash)
			// Cached responses are never GET/TXN-with-values... except TXN
			// reads: encode as a TXN response, which covers every shape.
			buf = appendBytes(buf, c.resp.AppendPayload(OpTxn, nil))
		}
		if len(buf) > 128<<10 {
			if _, err := bw.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if _, err := bw.Write(buf); err != nil {
		return err
	}
	return bw.Flush()
}

// Release implements raft.FSMSnapshot.
func (s *fsmSnapshot) Release() {}

// Restore implements raft.FSM: it replaces the whole state.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("restore kv snapshot: read: %w", err)
	}
	applied, data, sessions, err := decodeSnapshot(b)
	if err != nil {
		return fmt.Errorf("restore kv snapshot: %w (the snapshot file is corrupt; remove the node's data dir to resync it from the leader)", err)
	}
	f.mu.Lock()
	f.data = data
	f.sessions = sessions
	f.mu.Unlock()
	f.setApplied(applied)
	return nil
}

func decodeSnapshot(b []byte) (uint64, map[string]entry, map[uint64]*session, error) {
	if !bytes.HasPrefix(b, []byte(snapshotMagic)) {
		return 0, nil, nil, fmt.Errorf("bad magic: not a %s snapshot (written by an older kvnode?)", snapshotMagic)
	}
	d := decoder{b: b, off: len(snapshotMagic)}
	applied := d.u64()
	n := d.u64()
	if d.err == nil && n > uint64(len(b)) {
		d.fail("key count %d too large", n)
	}
	data := make(map[string]entry, int(min(n, 1<<20)))
	for i := uint64(0); i < n && d.err == nil; i++ {
		k := d.str()
		list := d.u8() == 1
		v := bytes.Clone(nonNil(d.bytes()))
		data[k] = entry{val: v, list: list}
	}
	ns := d.u64()
	if d.err == nil && ns > uint64(len(b)) {
		d.fail("session count %d too large", ns)
	}
	sessions := make(map[uint64]*session)
	for i := uint64(0); i < ns && d.err == nil; i++ {
		id := d.u64()
		s := &session{floor: d.u64(), lastIndex: d.u64(), responses: map[uint64]cached{}}
		nr := d.u32()
		for j := uint32(0); j < nr && d.err == nil; j++ {
			seq := d.u64()
			hash := d.u64()
			rb := d.bytes()
			if d.err != nil {
				break
			}
			r, err := DecodeResponse(OpTxn, bytes.Clone(rb))
			if err != nil {
				d.fail("session %d seq %d: %v", id, seq, err)
				break
			}
			s.responses[seq] = cached{hash: hash, resp: r}
		}
		sessions[id] = s
	}
	if d.err == nil && d.off != len(b) {
		d.fail("%d trailing bytes", len(b)-d.off)
	}
	if d.err != nil {
		return 0, nil, nil, d.err
	}
	return applied, data, sessions, nil
}
