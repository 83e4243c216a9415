package docker

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/faultline/faultline/cluster"
)

// DiskExec runs cmd as root against the disk of node id while it is down
// (a killed container cannot exec): in a short-lived container of the
// node's image that has the node's volumes and no network, removed after.
// It returns cmd's exit code and its output; err is set only when cmd
// could not be run.
func (c *Cluster) DiskExec(ctx context.Context, id string, cmd []string) (int, string, error) {
	n, err := c.node(id)
	if err != nil {
		return -1, "", err
	}
	n.Lock()
	defer n.Unlock() // the node stays down meanwhile
	if st := n.st.state(); st != StateKilled {
		return -1, "", fmt.Errorf("docker: disk exec on node %s: it is %s; its disk is reached while it is down (kill it first)", id, st)
	}
	cid := containerOf(n.st)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), createTimeout)
	defer cancel()
	created, err := c.cli.ContainerCreate(cctx, client.ContainerCreateOptions{
		Name: fmt.Sprintf("faultline-%s-%s-disk-%d", c.RunID, id, time.Now().UnixNano()),
		Config: &container.Config{Image: c.image, Entrypoint: cmd, User: "0",
			Labels: cluster.Labels(c.cfg.Labels, c.RunID, id)},
		HostConfig: &container.HostConfig{VolumesFrom: []string{cid}, NetworkMode: "none"},
	})
	if err != nil {
		return -1, "", fmt.Errorf("docker: disk exec on node %s: create: %w", id, err)
	}
	defer c.cli.ContainerRemove(context.WithoutCancel(ctx), created.ID, client.ContainerRemoveOptions{Force: true})
	wait := c.cli.ContainerWait(ctx, created.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := c.cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		return -1, "", fmt.Errorf("docker: disk exec on node %s: start %q: %w", id, cmd, err)
	}
	var code int
	select {
	case res := <-wait.Result:
		code = int(res.StatusCode)
	case err := <-wait.Error:
		return -1, "", fmt.Errorf("docker: disk exec on node %s: wait for %q: %w", id, cmd, err)
	}
	out, err := c.containerLogs(ctx, created.ID)
	if err != nil {
		return code, out, fmt.Errorf("docker: disk exec on node %s: output of %q: %w", id, cmd, err)
	}
	return code, out, nil
}
