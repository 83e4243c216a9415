package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/engine"
)

// Reap removes containers and networks labelled faultline=1 whose owning
// process is gone (crashed or killed runs). Resources of live runs, in this
// or another process, are left alone.
func Reap(ctx context.Context) error {
	cli, err := engine.Client(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	return reap(ctx, cli, slog.Default())
}

func reap(ctx context.Context, cli client.APIClient, log *slog.Logger) error {
	f := make(client.Filters).Add("label", cluster.LabelFaultline+"=1")
	var errs []error
	if err := removeContainers(ctx, cli, f, func(name string, labels map[string]string, created time.Time) bool {
		if cluster.OwnerAlive(labels, created) {
			return false
		}
		log.Info("docker: reaping container of a dead run", "container", name, "run", labels[cluster.LabelRun], "pid", labels[cluster.LabelPID])
		return true
	}); err != nil {
		errs = append(errs, err)
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list faultline networks: %w", err))...)
	}
	for _, n := range ns.Items {
		if cluster.OwnerAlive(n.Labels, n.Created) {
			continue
		}
		log.Info("docker: reaping network of a dead run", "network", n.Name, "run", n.Labels[cluster.LabelRun], "pid", n.Labels[cluster.LabelPID])
		// Another reaper may still be removing the network's containers:
		// retry briefly while it has active endpoints.
		for try := 0; ; try++ {
			_, err := cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
			if err == nil || isNotFound(err) {
				break
			}
			if !strings.Contains(err.Error(), "active endpoints") || try == 20 || ctx.Err() != nil {
				errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	return errors.Join(errs...)
}

// removeContainers removes every container (running or not) matching f
// for which remove, told its name, labels and creation time, says yes.
func removeContainers(ctx context.Context, cli client.APIClient, f client.Filters, remove func(name string, labels map[string]string, created time.Time) bool) error {
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	var errs []error
	for _, ct := range cs.Items {
		if !remove(strings.TrimPrefix(firstOr(ct.Names, ct.ID), "/"), ct.Labels, time.Unix(ct.Created, 0)) {
			continue
		}
		if _, err := cli.ContainerRemove(ctx, ct.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !isNotFound(err) && !removing(err) {
			errs = append(errs, fmt.Errorf("remove container %.12s: %w", ct.ID, err))
		}
	}
	return errors.Join(errs...)
}

// removing reports an error saying another caller is already removing the
// container (two reapers at once): the outcome is the same.
func removing(err error) bool {
	return strings.Contains(err.Error(), "already in progress")
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}
