package sut

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

var _ Membership = Etcd{}

// etcdCluster returns a client of every member that runs but those of
// the nodes in except, for one membership call (a member forwards changes
// to the leader).
func etcdCluster(r Reach, except ...string) (*clientv3.Client, error) {
	var endpoints []string
	for _, id := range r.Nodes() {
		if !slices.Contains(except, id) {
			endpoints = append(endpoints, "http://"+r.Addrs[id][PortClient])
		}
	}
	if len(endpoints) == 0 {
		return nil, errors.New("etcd: no member runs to ask")
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("etcd: client for %v: %w", endpoints, err)
	}
	return c, nil
}

// etcdPeerURL is node's peer URL, as its member advertises it.
func etcdPeerURL(l Layout, node string) string {
	return fmt.Sprintf("http://%s:%d", l.Host(node), etcdPeerPort)
}

// etcdMember is m as a Member, on the node of its peer URL's host. A
// member added and not started yet has no name: it is named after its
// node's incarnation in l.
func etcdMember(l Layout, m *etcdserverpb.Member) Member {
	out := Member{ID: strconv.FormatUint(m.ID, 16), Name: m.Name, Learner: m.IsLearner}
	for _, p := range m.PeerURLs {
		if u, err := url.Parse(p); err == nil && l.NodeOfHost(u.Hostname()) != "" {
			out.Node = l.NodeOfHost(u.Hostname())
			break
		}
	}
	if out.Name == "" && out.Node != "" {
		out.Name = l.Name(out.Node)
	}
	return out
}

// etcdMembers lists the members through c.
func etcdMembers(ctx context.Context, c *clientv3.Client, l Layout) ([]Member, []*etcdserverpb.Member, error) {
	resp, err := c.MemberList(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("etcd: member list: %w", err)
	}
	out := make([]Member, len(resp.Members))
	for i, m := range resp.Members {
		out[i] = etcdMember(l, m)
	}
	return out, resp.Members, nil
}

// etcdCall runs f with a client of r's members but except's, bounded by
// memberTimeout.
func etcdCall[T any](ctx context.Context, r Reach, f func(ctx context.Context, c *clientv3.Client) (T, error), except ...string) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, memberTimeout)
	defer cancel()
	c, err := etcdCluster(r, except...)
	if err != nil {
		var zero T
		return zero, err
	}
	defer c.Close()
	return f(ctx, c)
}

// memberID is the etcd member id of node's member.
func etcdMemberID(ctx context.Context, c *clientv3.Client, l Layout, node string) (Member, uint64, error) {
	ms, raw, err := etcdMembers(ctx, c, l)
	if err != nil {
		return Member{}, 0, err
	}
	m, err := memberOf(ms, node)
	if err != nil {
		return m, 0, fmt.Errorf("etcd: %w", err)
	}
	for i := range ms {
		if ms[i].Node == node {
			return m, raw[i].ID, nil
		}
	}
	return m, 0, nil
}

// Members implements Membership: MemberList.
func (Etcd) Members(ctx context.Context, r Reach) ([]Member, error) {
	return etcdCall(ctx, r, func(ctx context.Context, c *clientv3.Client) ([]Member, error) {
		ms, _, err := etcdMembers(ctx, c, r.Layout)
		return ms, err
	})
}

// Remove implements Membership: MemberRemove, asked of the other members
// (the removed one stops as soon as it applies its removal, and would
// answer "server stopped" whether or not it was done). etcd refuses to
// remove a member while fewer than a quorum of the others have been
// connected for its health interval (5 s; "unhealthy cluster",
// --strict-reconfig-check): Remove asks again until it agrees, as an
// operator would.
func (Etcd) Remove(ctx context.Context, r Reach, node string) (Member, error) {
	return etcdCall(ctx, r, func(ctx context.Context, c *clientv3.Client) (Member, error) {
		m, id, err := etcdMemberID(ctx, c, r.Layout, node)
		if err != nil {
			return m, err
		}
		for {
			_, err := c.MemberRemove(ctx, id)
			if err == nil {
				return m, nil
			}
			if !errors.Is(err, rpctypes.ErrUnhealthy) || !sleepCtx(ctx, 500*time.Millisecond) {
				return m, fmt.Errorf("etcd: member remove %s (%s): %w", m.Name, m.ID, err)
			}
		}
	}, node)
}

// sleepCtx waits d; false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Add implements Membership: MemberAddAsLearner, as etcd recommends for a
// new member; the node then starts with --initial-cluster-state existing
// (Node).
func (Etcd) Add(ctx context.Context, r Reach, node string) (Member, error) {
	return etcdCall(ctx, r, func(ctx context.Context, c *clientv3.Client) (Member, error) {
		resp, err := c.MemberAddAsLearner(ctx, []string{etcdPeerURL(r.Layout, node)})
		if err != nil {
			return Member{Name: r.Layout.Name(node), Node: node, Learner: true}, fmt.Errorf("etcd: member add --learner %s: %w", r.Layout.Name(node), err)
		}
		m := etcdMember(r.Layout, resp.Member)
		m.Name = r.Layout.Name(node)
		return m, nil
	})
}

// Promote implements Membership: MemberPromote, which etcd refuses until
// the learner is in sync with the leader (ErrNotCaughtUp).
func (Etcd) Promote(ctx context.Context, r Reach, node string) (Member, error) {
	return etcdCall(ctx, r, func(ctx context.Context, c *clientv3.Client) (Member, error) {
		m, id, err := etcdMemberID(ctx, c, r.Layout, node)
		if err != nil {
			return m, err
		}
		if _, err := c.MemberPromote(ctx, id); err != nil {
			if errors.Is(err, rpctypes.ErrMemberLearnerNotReady) {
				err = fmt.Errorf("%w: %w", ErrNotCaughtUp, err)
			}
			return m, fmt.Errorf("etcd: member promote %s (%s): %w", m.Name, m.ID, err)
		}
		m.Learner = false
		return m, nil
	})
}
