package docker_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/engine/enginetest"
)

// TestReap: a network of a dead owner is reaped, one of a live owner (this
// process) is kept.
func TestReap(t *testing.T) {
	enginetest.RequireDocker(t)
	ctx := context.Background()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	host, _ := os.Hostname()
	mk := func(pid int) string {
		run := fmt.Sprintf("reaptest-%d-%d", pid, time.Now().UnixNano())
		_, err := cli.NetworkCreate(ctx, "faultline-"+run, client.NetworkCreateOptions{Labels: map[string]string{
			cluster.LabelFaultline: "1", cluster.LabelRun: run, cluster.LabelPID: strconv.Itoa(pid), cluster.LabelHost: host,
		}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.NetworkRemove(context.Background(), "faultline-"+run, client.NetworkRemoveOptions{}) })
		return run
	}
	dead := mk(1 << 30) // beyond pid_max: never alive
	live := mk(os.Getpid())
	if err := docker.Reap(ctx); err != nil {
		t.Fatalf("Reap: %v", err)
	}
	if _, ns, _ := enginetest.Leftovers(ctx, dead); len(ns) != 0 {
		t.Errorf("network of a dead run survived: %v", ns)
	}
	if _, ns, _ := enginetest.Leftovers(ctx, live); len(ns) != 1 {
		t.Errorf("network of a live run was reaped: %v", ns)
	}
}
