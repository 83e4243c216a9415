package docker

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/client"

	"github.com/faultline/faultline/sut"
)

// wipe implements cluster.Core.Wipe: node id leaves the cluster. Its
// container and volume are removed (its data is gone; its log is kept
// for Logs); it keeps its alias and host ports for the identity it joins
// as next.
func (c *Cluster) wipe(ctx context.Context, id string) error {
	return c.transition(ctx, id, "leave", func(ctx context.Context, n *node, cid string) (nodeState, error) {
		logs, err := c.containerLogs(ctx, cid)
		if err != nil {
			logs += fmt.Sprintf("(docker: the rest of the log of container %.12s is lost: %v)\n", cid, err)
		}
		if _, err := c.cli.ContainerRemove(ctx, cid, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !isNotFound(err) {
			return nil, fmt.Errorf("docker: leave: remove node %s (container %.12s): %w", id, cid, err)
		}
		n.pastLogs += logs + fmt.Sprintf("---- docker: node %s left the cluster at %s; its data was wiped ----\n",
			id, time.Now().UTC().Format(time.RFC3339Nano))
		return stLeft{since: time.Now()}, nil
	})
}

// renew implements cluster.Core.Renew: a new container for node id, which
// left, under the same name, network alias and host ports, with a fresh
// volume and spec; then it starts. On failure the node is still out of
// the cluster.
func (c *Cluster) renew(ctx context.Context, id string, spec sut.NodeSpec) error {
	err := c.transition(ctx, id, "join", func(_ context.Context, n *node, _ string) (nodeState, error) {
		n.Spec = spec
		return stCreated{}, nil
	})
	if err != nil {
		return err
	}
	n, err := c.node(id)
	if err != nil {
		return err
	}
	err = c.createContainer(ctx, n)
	if err == nil {
		err = c.Start(ctx, id)
	}
	if err != nil {
		// Out of the cluster still, without a half-made container.
		n.Lock()
		if cid := containerOf(n.st); cid != "" {
			c.cli.ContainerRemove(context.WithoutCancel(ctx), cid, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		}
		n.st = stLeft{since: time.Now()}
		n.Unlock()
	}
	return err
}
