package system

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/checker"
)

// adminCall sends method path (with a JSON body, if any) to a node's admin
// address and returns the status code and the body.
func adminCall(t *testing.T, addr, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes()
}

// change posts a membership change to the leader, following 409 answers
// (leadership moved) until one commits it.
func (tc *testCluster) change(t *testing.T, path string, c MemberChange) Membership {
	t.Helper()
	body, _ := json.Marshal(c)
	deadline := time.Now().Add(30 * time.Second)
	for {
		li := tc.leader(30 * time.Second)
		code, out := adminCall(t, tc.nodes[li].AdminAddr(), "POST", path, string(body))
		if code == http.StatusOK {
			var m Membership
			if err := json.Unmarshal(out, &m); err != nil {
				t.Fatalf("%s: %v: %s", path, err, out)
			}
			return m
		}
		if code != http.StatusConflict || time.Now().After(deadline) {
			t.Fatalf("%s %s on the leader %s: %d %s", path, body, tc.nodes[li].ID(), code, out)
		}
	}
}

// servers renders a configuration as "id" (voter) and "id~" (non-voter),
// sorted.
func servers(m Membership) []string {
	var out []string
	for _, s := range m.Servers {
		if s.Voter {
			out = append(out, s.ID)
		} else {
			out = append(out, s.ID+"~")
		}
	}
	slices.Sort(out)
	return out
}

// A node removed through the leader's admin endpoint leaves the
// configuration; while it still runs, a safe node answers reads with
// NOT_LEADER, and the planted bug --unsafe-removed-serves-reads answers
// from the state it was removed with (stale).
func TestRemovedNodeReads(t *testing.T) {
	offAndOn(t, DefaultNodeConfig().UnsafeRemovedServesReads, func(t *testing.T, unsafe bool, _ checker.Verdict) {
		tc := newTestCluster(t, 3, func(c *NodeConfig) {
			fastConfig(c)
			c.UnsafeRemovedServesReads = unsafe
		})
		ctx := ctxT(t, 60*time.Second)
		c := tc.client(nil)
		if err := c.Put(ctx, "k", []byte("1")); err != nil {
			t.Fatal(err)
		}
		li := tc.leader(30 * time.Second)
		vi := (li + 1) % 3
		victim := tc.nodes[vi]
		if !waitFor(10*time.Second, func() bool { return string(victim.FSM().Read(&Request{Op: OpGet, Key: "k"}).Value) == "1" }) {
			t.Fatal("the follower never applied k=1")
		}
		// Only the leader changes the configuration; a follower names it.
		if fi := (li + 2) % 3; !tc.nodes[fi].IsLeader() {
			code, out := adminCall(t, tc.nodes[fi].AdminAddr(), "POST", "/membership/remove", `{"id":"nX"}`)
			if code != http.StatusConflict || !strings.Contains(string(out), "not the leader") {
				t.Fatalf("remove on a follower: %d %s, want 409 naming the leader", code, out)
			}
		}
		if code, out := adminCall(t, tc.nodes[li].AdminAddr(), "POST", "/membership/remove", `{"id":""}`); code != http.StatusBadRequest {
			t.Fatalf("remove without an id: %d %s, want 400", code, out)
		}
		m := tc.change(t, "/membership/remove", MemberChange{ID: victim.ID()})
		if got := servers(m); slices.Contains(got, victim.ID()) || len(got) != 2 {
			t.Fatalf("after removing %s the configuration is %v", victim.ID(), got)
		}
		if !waitFor(10*time.Second, victim.removed) {
			t.Fatalf("%s never learned of its removal: /status removed = %v", victim.ID(), victim.Status().Removed)
		}
		// A write the removed node never sees.
		others := map[string]string{}
		for id, a := range tc.addrs {
			if id != victim.ID() {
				others[id] = a
			}
		}
		c2 := tc.client(func(cc *ClientConfig) { cc.Addrs = others })
		if err := c2.Put(ctx, "k", []byte("2")); err != nil {
			t.Fatal(err)
		}
		resp := dialRaw(t, victim.ClientAddr()).call(1, &Request{Op: OpGet, Key: "k"})
		switch {
		case !unsafe && resp.Status != StatusNotLeader:
			t.Fatalf("a removed node answered a read %s %q, want NOT_LEADER", resp.Status, resp.Value)
		case unsafe && (resp.Status != StatusOK || string(resp.Value) != "1"):
			t.Fatalf("a removed node with the planted bug answered %s %q, want its stale value 1", resp.Status, resp.Value)
		}
		t.Logf("removed node %s answered a read of k (now 2): %s %q", victim.ID(), resp.Status, resp.Value)
	})
}

// A node that left joins again under a new identity (MemberID): started
// with Join on an empty data directory it waits; the leader adds it as a
// non-voter, it catches up, and once promoted it votes: the cluster
// commits with it and one of the others down.
func TestRejoinAsNewMember(t *testing.T) {
	tc := newTestCluster(t, 3, fastConfig)
	ctx := ctxT(t, 90*time.Second)
	c := tc.client(nil)
	for i := range 20 {
		if err := c.Put(ctx, fmt.Sprintf("k%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	li := tc.leader(30 * time.Second)
	vi := (li + 1) % 3
	old := tc.nodes[vi].ID()
	tc.change(t, "/membership/remove", MemberChange{ID: old})
	tc.stop(vi)

	fresh := MemberID(old, 2)
	if fresh != old+".2" || NodeOfMember(fresh) != old || NodeOfMember(old) != old || NodeOfMember("n.x") != "n.x" {
		t.Fatalf("MemberID(%s, 2) = %s, NodeOfMember = %s", old, fresh, NodeOfMember(fresh))
	}
	cfg := tc.cfgs[vi]
	cfg.ID, cfg.Join, cfg.DataDir = fresh, true, filepath.Join(t.TempDir(), fresh)
	cfg.Peers = slices.Clone(cfg.Peers)
	for i := range cfg.Peers {
		if cfg.Peers[i].ID == old {
			cfg.Peers[i].ID = fresh
		}
	}
	tc.cfgs[vi] = cfg
	tc.start(vi)
	n := tc.nodes[vi]
	if st := n.Status(); st.Removed || st.LeaderID != "" || len(n.membership().Servers) != 0 {
		t.Fatalf("a joining node before it is added: %+v, servers %v", st, n.membership().Servers)
	}
	m := tc.change(t, "/membership/add", MemberChange{ID: fresh, Address: cfg.Peers[vi].RaftAddr})
	if got := servers(m); !slices.Contains(got, fresh+"~") {
		t.Fatalf("after adding %s as a non-voter the configuration is %v", fresh, got)
	}
	li = tc.leader(30 * time.Second)
	if !waitFor(30*time.Second, func() bool { return n.FSM().Len() == 20 }) {
		t.Fatalf("%s holds %d keys, want 20: it never caught up", fresh, n.FSM().Len())
	}
	m = tc.change(t, "/membership/add", MemberChange{ID: fresh, Address: cfg.Peers[vi].RaftAddr, Voter: true})
	if got, want := servers(m), []string{tc.cfgs[(vi+1)%3].ID, tc.cfgs[(vi+2)%3].ID, fresh}; !slices.Equal(got, sorted(want)) {
		t.Fatalf("after promoting %s the configuration is %v, want %v", fresh, got, sorted(want))
	}
	// With one of the two others down, only the new member's vote makes a
	// quorum.
	li = tc.leader(30 * time.Second)
	down := (vi + 1) % 3
	if down == li {
		down = (vi + 2) % 3
	}
	tc.stop(down)
	if err := c.Put(ctx, "after", []byte("promoted")); err != nil {
		t.Fatalf("a write with %s down and %s promoted: %v", tc.cfgs[down].ID, fresh, err)
	}
}

func sorted(s []string) []string { slices.Sort(s); return s }

// A NOT_LEADER hint that names a member which joined again under a new
// identity ("n1.2") sends the client to that member's node; a hint naming
// no node of the client's is no hint.
func TestClientFollowsRejoinedLeader(t *testing.T) {
	for _, tt := range []struct {
		hint string
		want bool
	}{{"n1.2", true}, {"n1", true}, {"n9.2", false}} {
		t.Run(tt.hint, func(t *testing.T) {
			leader := fakeNode(t, func() Response { return Response{Status: StatusOK} })
			follower := fakeNode(t, func() Response {
				return Response{Status: StatusNotLeader, Msg: "not the leader", LeaderID: tt.hint, LeaderAddr: "n1:7001"}
			})
			cfg := DefaultClientConfig()
			// Without a hint the client tries the next node, n3: a
			// follower too.
			cfg.Addrs = map[string]string{"n1": leader, "n2": follower, "n3": follower}
			cfg.Home, cfg.MaxAttempts = "n2", 2
			c, err := NewClient(ctxT(t, 10*time.Second), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = c.Put(ctxT(t, 10*time.Second), "k", []byte("v"))
			if got := err == nil && c.LastNode() == "n1"; got != tt.want {
				t.Fatalf("hint %s: err %v, last node %q; want reached n1: %v", tt.hint, err, c.LastNode(), tt.want)
			}
		})
	}
}
