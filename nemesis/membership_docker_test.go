package nemesis

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/cluster/clustertest"
	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/engine/enginetest"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/sut"
)

// TestDockerMembership changes the members of a real 3-node cluster of
// each system that can: a leave (the member list loses the node, which
// is out of the cluster and wiped), a join (back under a fresh identity,
// a voter), a replace (out and back under the next identity). Then the
// rejoined members carry the cluster: with one of the original nodes
// killed, writes still commit, which takes a rejoined member's vote; and
// a rejoined node restarts after a kill under its new identity, with its
// data.
func TestDockerMembership(t *testing.T) {
	enginetest.RequireDocker(t)
	for _, sys := range []sut.System{sut.KVNode{}, sut.Etcd{}} {
		t.Run(sys.Info().Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()
			spec := cluster.DefaultSpec()
			spec.System = sys
			cl, err := docker.Start(ctx, spec)
			if err != nil {
				t.Fatalf("docker.Start: %v", err)
			}
			clustertest.Cleanup(t, cl, nil)
			cfg, err := DefaultConfig().WithSpec("membership,kill")
			if err != nil {
				t.Fatal(err)
			}
			cfg.LeaveGrace = 500 * time.Millisecond
			nem, err := New(cl, cfg)
			if err != nil {
				t.Fatal(err)
			}
			rec := &memRecorder{}
			apply := func(op history.Op) map[string]any {
				t.Helper()
				t0 := time.Now()
				c, err := Apply(ctx, nem, rec, op)
				if err != nil || c.Type != history.OK {
					t.Fatalf("%s %v: %v", op.F, op.Value, c)
				}
				t.Logf("%s (%v)", c, time.Since(t0).Round(time.Millisecond))
				return val(c)
			}
			healthy := func() {
				t.Helper()
				wctx, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				if err := cl.WaitHealthy(wctx); err != nil {
					t.Fatalf("cluster not healthy: %v", err)
				}
			}
			kv, err := sys.NewClient(ctx, sut.ClientConfig{Addrs: cl.ClientAddrs(), AttemptTimeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer kv.Close()
			// write puts key until a put is ok (an election may time out
			// the first ones).
			write := func(key, value string) {
				t.Helper()
				deadline := time.Now().Add(time.Minute)
				for {
					wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					err := kv.Put(wctx, key, []byte(value))
					cancel()
					if err == nil {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("put %s: %v", key, err)
					}
					t.Logf("put %s: %v (again)", key, err)
				}
			}
			members := func() []string {
				t.Helper()
				ms, err := cl.Members(ctx)
				if err != nil {
					t.Fatal(err)
				}
				slices.Sort(ms)
				return ms
			}
			write("before", "1")

			v := apply(history.Op{F: FLeave, Value: map[string]any{"mode": MemberLeave}})
			left := v["node"].(string)
			if got := members(); len(got) != 2 || slices.Contains(got, left) || cl.State(left) != StateLeft {
				t.Fatalf("after %s left: members %v, state %s", left, got, cl.State(left))
			}
			write("while-out", "2")
			healthy() // the members serve; the node that left is not waited for

			v = apply(history.Op{F: FJoin})
			name := left + ".2"
			if !reflect.DeepEqual(v["joined"], map[string]any{left: name}) || !slices.Contains(members(), name) {
				t.Fatalf("join: %v; members %v", v, members())
			}
			v = apply(history.Op{F: FReplace, Value: map[string]any{"mode": MemberReplace}})
			replaced := v["node"].(string)
			if got := members(); len(got) != 3 || slices.Contains(got, replaced) || !slices.Contains(got, fmt.Sprint(v["joined"])) {
				t.Fatalf("replace %s: %v; members %v", replaced, v, got)
			}
			healthy()

			// A rejoined node restarts with its data, under its new
			// identity.
			rejoined := name
			if replaced == left {
				rejoined = fmt.Sprint(v["joined"])
			}
			if err := cl.Kill(ctx, left); err != nil {
				t.Fatal(err)
			}
			if err := cl.Start(ctx, left); err != nil {
				t.Fatal(err)
			}
			healthy()
			if got := members(); !slices.Contains(got, rejoined) {
				t.Fatalf("after %s restarted: members %v, want %s", left, got, rejoined)
			}
			// With an original node down, only the rejoined members'
			// votes make a quorum.
			var original string
			for _, n := range cl.Nodes() {
				if n != left && n != replaced {
					original = n
				}
			}
			if original != "" {
				if err := cl.Kill(ctx, original); err != nil {
					t.Fatal(err)
				}
				write("rejoined-quorum", "3")
				if err := cl.Start(ctx, original); err != nil {
					t.Fatal(err)
				}
				healthy()
			}
			if err := HealAll(ctx, cl, rec, []string{FaultMembership, FaultKill}, time.Minute); err != nil {
				t.Fatal(err)
			}
			if got := Happened(rec.all()); !slices.Contains(got, Fault{FaultMembership, MemberLeave}) || !slices.Contains(got, Fault{FaultMembership, MemberReplace}) {
				t.Fatalf("Happened = %v", got)
			}
		})
	}
}
