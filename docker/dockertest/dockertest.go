// Package dockertest holds test helpers for code that needs a Docker
// engine: tests skip when it is absent, except in CI where they fail.
package dockertest

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/faultline/faultline/docker"
)

// RequireDocker skips tb when the Docker engine is unreachable, or fails it
// when the environment variable CI is true (Docker is part of CI, so a
// missing engine there is a broken runner, not a reason to skip).
func RequireDocker(tb testing.TB) {
	tb.Helper()
	err := docker.Available(context.Background())
	if err == nil {
		return
	}
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		tb.Fatalf("Docker is required in CI (CI=%s) but unreachable: %v", os.Getenv("CI"), err)
	}
	tb.Skipf("skipping: Docker is unreachable (%v); set CI=true to make this a failure", err)
}
