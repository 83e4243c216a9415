// Package enginetest holds test helpers for code that needs a Docker
// engine: tests skip when it is absent, except in CI where they fail.
package enginetest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/engine"
)

// RequireDocker skips tb when the Docker engine is unreachable, or fails it
// when the environment variable CI is true (Docker is part of CI, so a
// missing engine there is a broken runner, not a reason to skip).
func RequireDocker(tb testing.TB) {
	tb.Helper()
	err := engine.Available(context.Background())
	if err == nil {
		return
	}
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		tb.Fatalf("Docker is required in CI (CI=%s) but unreachable: %v", os.Getenv("CI"), err)
	}
	tb.Skipf("skipping: Docker is unreachable (%v); set CI=true to make this a failure", err)
}

// Leftovers lists the containers and networks still labelled with runID
// (faultline.run); both are empty once the run's Close succeeded.
func Leftovers(ctx context.Context, runID string) (containers, networks []string, err error) {
	cli, err := engine.Client(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer cli.Close()
	f := make(client.Filters).Add("label", cluster.LabelRun+"="+runID)
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, nil, fmt.Errorf("list containers of run %s: %w", runID, err)
	}
	for _, ct := range cs.Items {
		name := ct.ID
		if len(ct.Names) > 0 {
			name = ct.Names[0]
		}
		containers = append(containers, strings.TrimPrefix(name, "/"))
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return containers, nil, fmt.Errorf("list networks of run %s: %w", runID, err)
	}
	for _, n := range ns.Items {
		networks = append(networks, n.Name)
	}
	return containers, networks, nil
}
