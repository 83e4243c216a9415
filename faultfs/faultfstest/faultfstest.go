// Package faultfstest mounts faultfs in tests of the code that runs on it:
// a store whose durability a power failure (Mounted.PowerFail) checks.
package faultfstest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/faultline/faultline/faultfs"
)

// Mount mounts backing through faultfs on a fresh directory, unmounted at
// cleanup. Mounting needs root and /dev/fuse: without them the test is
// skipped, or fails under CI=true, where both must be there.
func Mount(t testing.TB, backing string) *faultfs.Mounted {
	t.Helper()
	if why := faultfs.CanMount(); why != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mounting faultfs needs root and /dev/fuse (%v); CI must provide both", why)
		}
		t.Skipf("mounting faultfs needs root and /dev/fuse: %v", why)
	}
	cfg := faultfs.DefaultMountConfig()
	cfg.Backing, cfg.Mountpoint = backing, t.TempDir()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := faultfs.Mount(context.Background(), cfg)
	if err != nil {
		t.Fatalf("mount faultfs over %s: %v", backing, err)
	}
	t.Cleanup(func() { _ = m.Unmount() })
	return m
}
