package docker

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/moby/moby/client"
)

// checkExited fails when a node this package believes running has exited
// by itself (it crashed or rejected its flags), with its exit code and
// log.
func (c *Cluster) checkExited(ctx context.Context) error {
	for _, id := range c.IDs {
		if c.State(id) != StateRunning.String() {
			continue
		}
		n, _ := c.node(id)
		n.Lock()
		cid := containerOf(n.st)
		n.Unlock()
		res, err := c.cli.ContainerInspect(ctx, cid, client.ContainerInspectOptions{})
		if err != nil || res.Container.State == nil || res.Container.State.Running {
			continue
		}
		logs, _ := c.Logs(ctx, id)
		return fmt.Errorf("docker: node %s exited by itself with code %d; its log:\n%s",
			id, res.Container.State.ExitCode, abridge(logs, 8, 12))
	}
	return nil
}

// abridge keeps the first head and last tail lines of s.
func abridge(s string, head, tail int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) <= head+tail {
		return strings.Join(lines, "\n")
	}
	out := append(slices.Clone(lines[:head]), fmt.Sprintf("... (%d lines) ...", len(lines)-head-tail))
	return strings.Join(append(out, lines[len(lines)-tail:]...), "\n")
}
