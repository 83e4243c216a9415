package docker_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/docker/dockertest"
)

// TestCloseOnSignal runs a 1-node cluster in a child process, SIGTERMs it
// mid-run and checks that the cluster was removed.
func TestCloseOnSignal(t *testing.T) {
	if os.Getenv("FAULTLINE_SIGNAL_CHILD") == "1" {
		signalChild()
		return
	}
	dockertest.RequireDocker(t)
	ctx := context.Background()
	image, err := docker.BuildImage(ctx, docker.DefaultBuildConfig())
	if err != nil {
		t.Fatal(err)
	}
	runID := fmt.Sprintf("sigtest-%d", time.Now().UnixNano())
	cmd := exec.Command(os.Args[0], "-test.run=^TestCloseOnSignal$", "-test.v")
	cmd.Env = append(os.Environ(), "FAULTLINE_SIGNAL_CHILD=1", "FAULTLINE_TEST_IMAGE="+image, "FAULTLINE_TEST_RUN="+runID)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		// Whatever happened, leave nothing behind (the child may have died
		// before tearing down).
		docker.Reap(context.Background())
	})
	ready := make(chan struct{})
	var lines []string
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if sc.Text() == "CHILD-READY" {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		t.Fatalf("child did not start its cluster:\n%s", strings.Join(lines, "\n"))
	}
	if cs, _, _ := docker.Leftovers(ctx, runID); len(cs) != 1 {
		t.Fatalf("child cluster not found: %v", cs)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	werr := make(chan error, 1)
	go func() { werr <- cmd.Wait() }()
	select {
	case <-werr:
	case <-time.After(40 * time.Second):
		t.Fatal("child did not exit after SIGTERM")
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("child exit = %v; want death by the re-raised SIGTERM", cmd.ProcessState)
	}
	cs, ns, err := docker.Leftovers(ctx, runID)
	if err != nil || len(cs)+len(ns) > 0 {
		t.Errorf("after SIGTERM: containers %v networks %v (%v)", cs, ns, err)
	}
}

func signalChild() {
	cfg := docker.DefaultConfig()
	cfg.Nodes = 1
	cfg.Image = os.Getenv("FAULTLINE_TEST_IMAGE")
	cfg.RunID = os.Getenv("FAULTLINE_TEST_RUN")
	c, err := docker.Start(context.Background(), cfg)
	if err != nil {
		fmt.Println("child start:", err)
		os.Exit(3)
	}
	docker.CloseOnSignal(c)
	fmt.Println("CHILD-READY")
	time.Sleep(time.Minute)
	os.Exit(4)
}
