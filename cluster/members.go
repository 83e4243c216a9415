package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/faultline/faultline/sut"
)

// These serve a runtime's membership changes (the nemesis's
// MemberCluster): the system's own API (sut.Membership) removes and adds
// members, the runtime (Core.Wipe, Core.Renew) takes a node's process and
// data away and starts it afresh under its next identity.

// promoteTimeout bounds how long Join waits for a learner to catch up.
const promoteTimeout = time.Minute

// CanChangeMembership reports whether the system's members can change
// (sut.Info.Membership) and the runtime can give a node a fresh identity.
func (c *Core) CanChangeMembership() bool {
	return c.System.Info().Membership && c.Wipe != nil && c.Renew != nil
}

// membership returns the system's Membership, or why there is none.
func (c *Core) membership() (sut.Membership, error) {
	if c.Wipe == nil || c.Renew == nil {
		return nil, fmt.Errorf("%s: this runtime cannot give a node a fresh identity: %w", c.Runtime, sut.ErrNoMembership)
	}
	m, err := sut.MembershipOf(c.System)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Runtime, err)
	}
	return m, nil
}

// layout returns a copy of the current layout.
func (c *Core) layout() sut.Layout {
	c.layoutMu.Lock()
	defer c.layoutMu.Unlock()
	l := c.Layout
	l.Nodes, l.Incarnations, l.Members = slices.Clone(l.Nodes), maps.Clone(l.Incarnations), slices.Clone(l.Members)
	if l.Nodes == nil {
		l.Nodes = slices.Clone(c.IDs)
	}
	return l
}

// reach is how membership calls reach the nodes that run, in layout l.
func (c *Core) reach(l sut.Layout) sut.Reach {
	addrs := map[string]map[string]string{}
	for _, id := range c.IDs {
		if c.State(id) == StateRunning {
			addrs[id] = c.AddrsOf(id)
		}
	}
	return sut.Reach{Layout: l, Addrs: addrs}
}

// Members lists the system's current members through the nodes that run,
// by name (sut.Member.String: a learner's marked).
func (c *Core) Members(ctx context.Context) ([]string, error) {
	ms, err := c.membership()
	if err != nil {
		return nil, err
	}
	list, err := ms.Members(ctx, c.reach(c.layout()))
	if err != nil {
		return nil, fmt.Errorf("%s: members: %w", c.Runtime, err)
	}
	out := make([]string, len(list))
	for i, m := range list {
		out[i] = m.String()
	}
	return out, nil
}

// RemoveMember removes node id's member from the cluster through the
// system's API and returns its name; the node keeps running (Leave stops
// it).
func (c *Core) RemoveMember(ctx context.Context, id string) (string, error) {
	if err := c.Known(id); err != nil {
		return "", err
	}
	ms, err := c.membership()
	if err != nil {
		return "", err
	}
	m, err := ms.Remove(ctx, c.reach(c.layout()), id)
	if err != nil {
		return m.Name, fmt.Errorf("%s: remove the member of node %s: %w", c.Runtime, id, err)
	}
	c.Log.Info(c.Runtime+": member removed", "node", id, "member", m.Name)
	return m.Name, nil
}

// Leave stops node id for good and wipes its data (Wipe): it is out of
// the cluster (StateLeft) until Join.
func (c *Core) Leave(ctx context.Context, id string) error {
	if err := c.Known(id); err != nil {
		return err
	}
	if _, err := c.membership(); err != nil {
		return err
	}
	if st := c.State(id); st == StateLeft || st == StateRemoved {
		return fmt.Errorf("%s: leave: node %s is %s", c.Runtime, id, st)
	}
	if err := c.Wipe(ctx, id); err != nil {
		return fmt.Errorf("%s: leave: node %s: %w", c.Runtime, id, err)
	}
	return nil
}

// Join brings node id, which left, back as a new member with a fresh
// identity, as its system's operators add one, and returns the new
// member's name: its next incarnation is added through the system's API
// as a learner, the node starts on an empty data directory (Renew) with
// that incarnation's spec, and once it has caught up it is promoted to a
// voter (bounded by a minute). A failed add or start leaves the node out
// and takes the learner back out.
func (c *Core) Join(ctx context.Context, id string) (string, error) {
	m, err := c.join(ctx, id)
	return m.Name, err
}

func (c *Core) join(ctx context.Context, id string) (sut.Member, error) {
	if err := c.Known(id); err != nil {
		return sut.Member{}, err
	}
	ms, err := c.membership()
	if err != nil {
		return sut.Member{}, err
	}
	if st := c.State(id); st != StateLeft {
		return sut.Member{}, fmt.Errorf("%s: join: node %s is %s: only a node that left joins", c.Runtime, id, st)
	}
	l := c.layout()
	if l.Incarnations == nil {
		l.Incarnations = map[string]int{}
	}
	l.Incarnations[id] = l.Incarnation(id) + 1
	current, err := ms.Members(ctx, c.reach(l))
	if err != nil {
		return sut.Member{}, fmt.Errorf("%s: join node %s: the current members: %w", c.Runtime, id, err)
	}
	l.Members = nil
	for _, n := range l.Nodes {
		if n == id || slices.ContainsFunc(current, func(m sut.Member) bool { return m.Node == n }) {
			l.Members = append(l.Members, n)
		}
	}
	m, err := ms.Add(ctx, c.reach(l), id)
	if err != nil {
		return m, fmt.Errorf("%s: join node %s: add %s: %w", c.Runtime, id, l.Name(id), err)
	}
	if err := c.Renew(ctx, id, c.System.Node(l, c.Options, id)); err != nil {
		_, rerr := ms.Remove(context.WithoutCancel(ctx), c.reach(l), id)
		if rerr != nil {
			rerr = fmt.Errorf("and its learner stays a member: %w", rerr)
		}
		return m, errors.Join(fmt.Errorf("%s: join node %s: start %s: %w", c.Runtime, id, l.Name(id), err), rerr)
	}
	c.layoutMu.Lock()
	c.Layout.Incarnations = maps.Clone(l.Incarnations)
	c.layoutMu.Unlock()
	pctx, cancel := context.WithTimeout(ctx, promoteTimeout)
	defer cancel()
	for {
		m, err = ms.Promote(pctx, c.reach(l), id)
		if err == nil {
			c.Log.Info(c.Runtime+": member joined", "node", id, "member", m.Name)
			return m, nil
		}
		select {
		case <-pctx.Done():
			return m, fmt.Errorf("%s: join node %s: promote %s (waited up to %v): %w", c.Runtime, id, l.Name(id), promoteTimeout, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
