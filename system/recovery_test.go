package system

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// fakeTransport is the transport under a recoveryTransport in tests: it
// delivers what the test puts on in and counts outbound vote requests.
type fakeTransport struct {
	raft.Transport // nil: the methods the tests use are below
	in             chan raft.RPC
	votes          atomic.Int64
}

func (f *fakeTransport) Consumer() <-chan raft.RPC { return f.in }

func (f *fakeTransport) RequestVote(raft.ServerID, raft.ServerAddress, *raft.RequestVoteRequest, *raft.RequestVoteResponse) error {
	f.votes.Add(1)
	return nil
}

func (f *fakeTransport) RequestPreVote(raft.ServerID, raft.ServerAddress, *raft.RequestPreVoteRequest, *raft.RequestPreVoteResponse) error {
	f.votes.Add(1)
	return nil
}

// deliver sends cmd in through the transport and returns its answer if
// the transport answered it itself, or the RPC raft received.
func deliver(t *testing.T, f *fakeTransport, rt *recoveryTransport, cmd any) (*raft.RPCResponse, *raft.RPC, chan raft.RPCResponse) {
	t.Helper()
	resp := make(chan raft.RPCResponse, 1)
	f.in <- raft.RPC{Command: cmd, RespChan: resp}
	select {
	case r := <-resp:
		return &r, nil, resp
	case rpc := <-rt.Consumer():
		return nil, &rpc, resp
	case <-time.After(10 * time.Second):
		t.Fatalf("%T neither answered nor passed on", cmd)
	}
	return nil, nil, nil
}

// TestRecoveryTransport: a recovering node grants no vote, asks for none
// and takes no leadership transfer; it leaves recovery only once a
// leader of a later term has committed an entry of its own term that
// the node's log reaches, and then passes everything through.
func TestRecoveryTransport(t *testing.T) {
	terms := map[uint64]uint64{7: 5, 8: 6} // the node's log, index -> term
	cleared := 0
	rec := newRecovery(testLogger(), 5, func(i uint64) (uint64, error) {
		if term, ok := terms[i]; ok {
			return term, nil
		}
		return 0, raft.ErrLogNotFound
	}, func() error { cleared++; return nil })
	f := &fakeTransport{in: make(chan raft.RPC)}
	rt := newRecoveryTransport(f, rec)
	defer rt.Close()

	vote := &raft.RequestVoteRequest{Term: 6}
	if r, _, _ := deliver(t, f, rt, vote); r == nil || r.Response.(*raft.RequestVoteResponse).Granted || r.Response.(*raft.RequestVoteResponse).Term != 6 {
		t.Fatalf("vote request in recovery: %+v, want refused by the transport", r)
	}
	if r, _, _ := deliver(t, f, rt, &raft.RequestPreVoteRequest{Term: 6}); r == nil || r.Response.(*raft.RequestPreVoteResponse).Granted {
		t.Fatalf("pre-vote request in recovery: %+v, want refused by the transport", r)
	}
	if r, _, _ := deliver(t, f, rt, &raft.TimeoutNowRequest{}); r == nil || r.Error == nil {
		t.Fatalf("leadership transfer in recovery: %+v, want refused", r)
	}
	err1 := rt.RequestVote("n2", "a", &raft.RequestVoteRequest{}, &raft.RequestVoteResponse{})
	err2 := rt.RequestPreVote("n2", "a", &raft.RequestPreVoteRequest{}, &raft.RequestPreVoteResponse{})
	for _, err := range []error{err1, err2} {
		// raft takes "unexpected command" for a granted pre-vote.
		if err == nil || strings.Contains(err.Error(), "unexpected command") {
			t.Fatalf("outbound vote request in recovery: %v", err)
		}
	}
	if f.votes.Load() != 0 || rec.Refused() != 4 {
		t.Fatalf("%d vote requests went out, %d refused; want 0 and 4", f.votes.Load(), rec.Refused())
	}

	ent := func(i, term uint64) *raft.Log { return &raft.Log{Index: i, Term: term} }
	steps := []struct {
		name    string
		req     *raft.AppendEntriesRequest
		success bool
		leaves  bool
		target  uint64
	}{
		{"leader of the term the node had", &raft.AppendEntriesRequest{Term: 5, PrevLogEntry: 6, PrevLogTerm: 5,
			Entries: []*raft.Log{ent(7, 5)}, LeaderCommitIndex: 7}, true, false, 0},
		{"later leader, commit index of an earlier term", &raft.AppendEntriesRequest{Term: 6, PrevLogEntry: 7, PrevLogTerm: 5,
			Entries: []*raft.Log{ent(8, 6)}, LeaderCommitIndex: 7}, true, false, 0},
		{"later leader, own term committed, refused", &raft.AppendEntriesRequest{Term: 6, PrevLogEntry: 8, PrevLogTerm: 6,
			LeaderCommitIndex: 8}, false, false, 0},
		{"later leader, own term committed past what was sent", &raft.AppendEntriesRequest{Term: 6, PrevLogEntry: 7, PrevLogTerm: 5,
			Entries: []*raft.Log{ent(8, 6)}, LeaderCommitIndex: 9}, true, false, 0},
		{"later leader, own term committed, node's log reaches it", &raft.AppendEntriesRequest{Term: 6, PrevLogEntry: 9, PrevLogTerm: 6,
			LeaderCommitIndex: 8}, true, true, 8},
	}
	for _, st := range steps {
		_, rpc, resp := deliver(t, f, rt, st.req)
		if rpc == nil {
			t.Fatalf("%s: AppendEntries not passed on to raft", st.name)
		}
		rpc.Respond(&raft.AppendEntriesResponse{Success: st.success}, nil)
		if r := <-resp; r.Response.(*raft.AppendEntriesResponse).Success != st.success {
			t.Fatalf("%s: the answer did not reach the leader", st.name)
		}
		if rec.Recovering() == st.leaves || rec.Target() != st.target {
			t.Fatalf("%s: recovering %v target %d; want recovering %v target %d", st.name, rec.Recovering(), rec.Target(), !st.leaves, st.target)
		}
	}
	if cleared != 1 {
		t.Fatalf("damage cleared %d times, want once", cleared)
	}
	// Caught up: votes flow again, both ways.
	if _, rpc, _ := deliver(t, f, rt, vote); rpc == nil {
		t.Fatal("vote request after recovery not passed on to raft")
	}
	if err := rt.RequestVote("n2", "a", &raft.RequestVoteRequest{}, &raft.RequestVoteResponse{}); err != nil || f.votes.Load() != 1 {
		t.Fatalf("outbound vote after recovery: %v, %d sent", err, f.votes.Load())
	}
}

// flipIn flips a bit in the first record of path's segments holding
// marker, and returns the file it changed.
func flipIn(t *testing.T, dir string, marker []byte) string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no segments in %s (%v)", dir, err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(b, marker); i >= 0 {
			b[i] ^= 0x01
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	t.Fatalf("%q is in no segment of %s", marker, dir)
	return ""
}

// TestCorruptFollowerLosesNoAcknowledgedWrite is the scenario: a
// write is acknowledged by the leader and one follower while the other
// follower is down; then everything stops, a bit flips in the follower's
// log before the write, and the follower and the node that missed the
// write come back without the leader. The follower cuts its log at the
// damage and so forgets the write. Voting then would let the node that
// never had the write lead and lose it; in recovery the follower votes
// for no one, no leader is elected until the old leader returns, and the
// write survives.
func TestCorruptFollowerLosesNoAcknowledgedWrite(t *testing.T) {
	tc := newTestCluster(t, 3, fastConfig)
	li := tc.leader(30 * time.Second)
	a, b := (li+1)%3, (li+2)%3
	c := tc.client(nil)
	ctx := ctxT(t, 90*time.Second)
	if err := c.Put(ctx, "before", []byte("1")); err != nil {
		t.Fatal(err)
	}
	tc.stop(b) // the write now needs both li and a, whichever of them leads
	marker := []byte("acknowledged-then-forgotten")
	if err := c.Put(ctx, "w", marker); err != nil {
		t.Fatal(err)
	}
	tc.stopAll()
	flipIn(t, filepath.Join(tc.cfgs[a].DataDir, "raftlog"), marker)

	tc.start(a)
	tc.start(b)
	na, nb := tc.nodes[a], tc.nodes[b]
	if !na.Status().Recovering || len(na.Status().Damage) == 0 {
		t.Fatalf("n%d found no damage: %+v", a+1, na.Status())
	}
	// Both campaign in vain: neither can win without the other's vote,
	// and the recovering node gives none.
	if !waitFor(60*time.Second, func() bool { return na.rec.Refused() >= 6 }) {
		t.Fatalf("n%d refused %d vote requests", a+1, na.rec.Refused())
	}
	for _, n := range []*Node{na, nb} {
		if n.IsLeader() {
			t.Fatalf("%s leads without the recovering node's vote", n.ID())
		}
	}
	tc.start(li)
	var got []byte
	if err := retryRead(ctx, c, "w", &got); err != nil || !bytes.Equal(got, marker) {
		t.Fatalf("acknowledged write: %q, %v; want %q", got, err, marker)
	}
	if !waitFor(60*time.Second, func() bool { return !na.Status().Recovering }) {
		t.Fatalf("n%d never left recovery: %+v", a+1, na.Status())
	}
	if st := na.Status(); len(st.Damage) != 0 {
		t.Fatalf("damage still recorded after recovery: %v", st.Damage)
	}
	// Recovered, it votes again: with the old leader gone the other two
	// elect a leader, which has the write.
	tc.stop(li)
	if err := retryRead(ctx, c, "w", &got); err != nil || !bytes.Equal(got, marker) {
		t.Fatalf("acknowledged write after the old leader left: %q, %v", got, err)
	}
}

// retryRead reads key until it is found or ctx ends.
func retryRead(ctx context.Context, c *Client, key string, out *[]byte) error {
	for {
		v, found, err := c.Get(ctx, key)
		if err == nil && found {
			*out = v
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("read %s: found %v, %v (%w)", key, found, err, ctx.Err())
		}
		if err == nil {
			return errors.New("not found")
		}
	}
}

// TestDamagedSnapshotOrLogBelowIt: a follower whose snapshots fail their
// checks starts anyway (raft alone refuses to, or panics: none of its
// snapshots restores, or one claims entries it lacks), with them moved
// aside and its log emptied (it no longer follows a snapshot). A follower
// whose log is cut below its snapshot's index by damage has its log
// emptied too (raft's appends past the snapshot would be refused as a
// gap). Both stay in recovery until the leader has sent them everything
// again.
func TestDamagedSnapshotOrLogBelowIt(t *testing.T) {
	flipFile := func(t *testing.T, path string, at func(b []byte) int) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b[at(b)] ^= 0x01
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		// damage damages the stopped follower's files: its snapshots
		// and log, and below, an entry of its log before the snapshot.
		damage    func(t *testing.T, snaps []string, log string, below []byte)
		snapshots bool // the damage is to the snapshots (else the log)
	}{
		{"state fails its CRC", func(t *testing.T, snaps []string, _ string, _ []byte) {
			for _, s := range snaps {
				flipFile(t, filepath.Join(s, "state.bin"), func(b []byte) int { return len(b) / 2 })
			}
		}, true},
		{"meta.json names another index", func(t *testing.T, snaps []string, _ string, _ []byte) {
			for _, s := range snaps {
				flipFile(t, filepath.Join(s, "meta.json"), func(b []byte) int {
					i := bytes.Index(b, []byte(`"Index":`))
					if i < 0 {
						t.Fatalf("no index in %s", b)
					}
					return i + len(`"Index":`) // a digit stays a digit
				})
			}
		}, true},
		{"log cut below the snapshot", func(t *testing.T, _ []string, log string, below []byte) {
			flipIn(t, log, below)
		}, false},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			tc := newTestCluster(t, 3, func(c *NodeConfig) {
				fastConfig(c)
				c.SnapshotThreshold = 50
				c.SnapshotInterval = 50 * time.Millisecond
				c.TrailingLogs = 10
				c.LogSegmentSize = 32 << 10
			})
			li := tc.leader(30 * time.Second)
			a := (li + 1) % 3
			c := tc.client(nil)
			ctx := ctxT(t, 90*time.Second)
			for i := range 150 {
				if err := c.Append(ctx, "l", fmt.Appendf(nil, "element-%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			na := tc.nodes[a]
			var snapIndex uint64
			if !waitFor(30*time.Second, func() bool {
				_ = na.Snapshot()
				first, _ := na.raftLog.FirstIndex()
				snapIndex, _ = strconv.ParseUint(na.raft.Stats()["last_snapshot_index"], 10, 64)
				return first > 2 && snapIndex >= first+3
			}) {
				t.Fatalf("n%d did not snapshot and compact its log", a+1)
			}
			var below raft.Log
			if err := na.raftLog.GetLog(snapIndex-2, &below); err != nil {
				t.Fatal(err)
			}
			tc.stop(a)
			dir := tc.cfgs[a].DataDir
			snaps, err := filepath.Glob(filepath.Join(dir, "snapshots", "*"))
			if err != nil || len(snaps) == 0 {
				t.Fatalf("no snapshots (%v)", err)
			}
			tt.damage(t, snaps, filepath.Join(dir, "raftlog"), below.Data)
			tc.start(a)
			na = tc.nodes[a]
			st := na.Status()
			aside, _ := filepath.Glob(filepath.Join(dir, damagedDir, "*"))
			first, _ := na.raftLog.FirstIndex()
			want := 1
			if tt.snapshots {
				want = len(snaps)
			}
			if !st.Recovering || len(st.Damage) != want || tt.snapshots != strings.Contains(st.Damage[0], string(reasonSnapshot)) {
				t.Fatalf("after the damage: %+v", st)
			}
			if tt.snapshots != (len(aside) == len(snaps)) || first != 0 {
				t.Fatalf("%d of %d snapshots moved aside, log starts at %d; want them moved aside: %v, the log empty", len(aside), len(snaps), first, tt.snapshots)
			}
			if !waitFor(60*time.Second, func() bool { return !na.Status().Recovering }) {
				t.Fatalf("n%d never left recovery: %+v", a+1, na.Status())
			}
			if err := c.Append(ctx, "l", []byte("last")); err != nil {
				t.Fatal(err)
			}
			li = tc.leader(30 * time.Second)
			if !waitFor(30*time.Second, func() bool {
				return bytes.Equal(snapshotBytes(t, na.FSM())[16:], snapshotBytes(t, tc.nodes[li].FSM())[16:])
			}) {
				t.Fatal("the recovered follower's state differs from the leader's")
			}
		})
	}
}
