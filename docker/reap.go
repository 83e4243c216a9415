package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/client"
)

// foreignHostMaxAge is how old a leftover created on another host (another
// container sharing the engine, another CI job) must be before it is reaped:
// its owner's pid cannot be checked from here.
const foreignHostMaxAge = 6 * time.Hour

// Reap removes containers and networks labelled faultline=1 whose owning
// process is gone (crashed or killed runs). Resources of live runs, in this
// or another process, are left alone.
func Reap(ctx context.Context) error {
	cli, err := newClient(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	return reap(ctx, cli, slog.Default())
}

func reap(ctx context.Context, cli client.APIClient, log *slog.Logger) error {
	host, _ := os.Hostname()
	f := make(client.Filters).Add("label", LabelFaultline+"=1")
	var errs []error
	if err := removeContainers(ctx, cli, f, func(name string, labels map[string]string, created time.Time) bool {
		if ownerAlive(labels, host, created) {
			return false
		}
		log.Info("docker: reaping container of a dead run", "container", name, "run", labels[LabelRun], "pid", labels[LabelPID])
		return true
	}); err != nil {
		errs = append(errs, err)
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list faultline networks: %w", err))...)
	}
	for _, n := range ns.Items {
		if ownerAlive(n.Labels, host, n.Created) {
			continue
		}
		log.Info("docker: reaping network of a dead run", "network", n.Name, "run", n.Labels[LabelRun], "pid", n.Labels[LabelPID])
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

// ownerAlive reports whether the process that created a resource with
// these labels may still be running, so the resource must be kept.
func ownerAlive(labels map[string]string, host string, created time.Time) bool {
	pid, err := strconv.Atoi(labels[LabelPID])
	if err != nil || pid <= 0 {
		return true // not ours to judge
	}
	if labels[LabelHost] != host {
		return time.Since(created) < foreignHostMaxAge
	}
	if !pidAlive(pid) {
		return false
	}
	// The pid exists; it is the owner unless it was reused by a process
	// started at another time.
	want := labels[LabelPIDStart]
	return want == "" || want == procStart(pid)
}

// pidAlive reports whether a process with this pid exists.
func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// procStart is the process start time from /proc/<pid>/stat (clock ticks
// since boot), or "" when unavailable.
func procStart(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // comm may contain spaces
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	// After comm: state is field 3, starttime is field 22.
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

// Leftovers lists the containers and networks still labelled with runID
// (faultline.run); both are empty once the run's Close succeeded.
func Leftovers(ctx context.Context, runID string) (containers, networks []string, err error) {
	cli, err := newClient(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer cli.Close()
	f := make(client.Filters).Add("label", LabelRun+"="+runID)
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, nil, fmt.Errorf("docker: list containers of run %s: %w", runID, err)
	}
	for _, ct := range cs.Items {
		containers = append(containers, strings.TrimPrefix(firstOr(ct.Names, ct.ID), "/"))
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return containers, nil, fmt.Errorf("docker: list networks of run %s: %w", runID, err)
	}
	for _, n := range ns.Items {
		networks = append(networks, n.Name)
	}
	return containers, networks, nil
}
