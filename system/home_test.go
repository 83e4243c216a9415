package system

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// A client bound to a home node sends every request there first: under the
// unsafe stale mode a follower answers reads itself, while writes follow
// NOT_LEADER to the leader and the next request starts at home again.
func TestClientHomeNode(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *NodeConfig) { fastConfig(c); c.ReadMode = ReadStale })
	li := tc.leader(30 * time.Second)
	home := tc.cfgs[(li+1)%3].ID
	c := tc.client(func(cfg *ClientConfig) { cfg.Home = home })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := 0; i < 3; i++ {
		// Writes are answered by the leader of the moment (which may
		// change under load, even to home itself).
		tc.onLeader(30*time.Second, func(li int) error {
			if err := c.Put(ctx, "k", []byte("v")); err != nil {
				return fmt.Errorf("put via home %s: %v", home, err)
			}
			if got := c.LastNode(); got != tc.cfgs[li].ID {
				return fmt.Errorf("put answered by %s, want the leader %s", got, tc.cfgs[li].ID)
			}
			return nil
		})
		if _, _, err := c.Get(ctx, "k"); err != nil {
			t.Fatalf("get via home: %v", err)
		}
		if got := c.LastNode(); got != home {
			t.Fatalf("stale read answered by %s, want home %s", got, home)
		}
	}
	bad := DefaultClientConfig()
	bad.Addrs, bad.Home = tc.addrs, "n9"
	if err := bad.Validate(); err == nil {
		t.Fatal("home outside Addrs accepted")
	}
}
