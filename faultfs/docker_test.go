package faultfs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// requireDocker skips without a reachable Docker engine; on CI (CI=true)
// it fails instead.
func requireDocker(t *testing.T) {
	t.Helper()
	out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("docker is needed on CI: %v: %s", err, out)
	}
	t.Skipf("no Docker engine: %v: %s", err, strings.TrimSpace(string(out)))
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestDockerPowerFail: in a FROM scratch container (--device /dev/fuse
// --cap-add SYS_ADMIN, nothing pulled), faultfs mounts the node's data
// directory, and a power failure asked for with docker exec drops the
// write the node never synced and stops the container.
func TestDockerPowerFail(t *testing.T) {
	requireDocker(t)
	requireFUSE(t)
	faultfs, writer := binaries(t)
	build := t.TempDir()
	for _, bin := range []string{faultfs, writer} {
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(build, filepath.Base(bin)), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dockerfile := fmt.Sprintf(`FROM scratch
COPY faultfs writer /
ENTRYPOINT ["/faultfs", "mount", "--backing", "/backing", "--mount", "/data", "--control", "/faultfs.sock", "--uid", "%[1]d", "--gid", "%[1]d", "--", "/writer", "write", "/data", "/ready/pid"]
`, nodeUID)
	if err := os.WriteFile(filepath.Join(build, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("faultfs-smoke-%d", time.Now().UnixNano())
	docker(t, "build", "-q", "-t", name, build)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", name).Run() })

	backing, ready := nodeDir(t), nodeDir(t)
	docker(t, "run", "-d", "--name", name, "--label", "faultline-test=faultfs",
		"--device", "/dev/fuse", "--cap-add", "SYS_ADMIN",
		"-v", backing+":/backing", "-v", ready+":/ready", name)
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", name).Run() })
	waitFor(t, "the writer in the container", func() bool {
		if _, err := os.Stat(filepath.Join(ready, "pid")); err == nil {
			return true
		}
		if state := docker(t, "inspect", "-f", "{{.State.Status}}", name); state == "exited" {
			t.Fatalf("the container exited early:\n%s", docker(t, "logs", name))
		}
		return false
	})

	out, err := exec.Command("docker", "exec", name, "/faultfs", "powerfail", "--control", "/faultfs.sock").Output()
	if err != nil {
		t.Fatalf("faultfs powerfail in the container: %v\n%s\nlogs:\n%s", err, out, docker(t, "logs", name))
	}
	rep, err := ParsePowerFailReport(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if code := docker(t, "wait", name); code != fmt.Sprint(PowerFailExit) {
		t.Errorf("the container exited %s, want %d", code, PowerFailExit)
	}
	if d := diffTrees(readTree(t, backing), tree{"synced": synced4K}); d != "" {
		t.Errorf("backing store after the power failure:\n%s", d)
	}
	if rep.BytesDropped != 4096+12 {
		t.Errorf("report: %d bytes dropped, want %d:\n%s", rep.BytesDropped, 4096+12, out)
	}
}
