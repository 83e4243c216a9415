package agent

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/syncbuf"
)

// serve starts a supervisor of cmd on a socket in a temporary directory.
func serve(t *testing.T, cmd ...string) (*Supervisor, string, *syncbuf.Buffer) {
	t.Helper()
	var out syncbuf.Buffer
	s := NewSupervisor(RunConfig{Command: cmd, UID: -1, GID: -1, Wait: true}, &out, &out, &out)
	s.hostsFile = filepath.Join(t.TempDir(), "hosts")
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.Serve(ln) })
	t.Cleanup(func() {
		s.Stop(15, time.Second)
		ln.Close()
		wg.Wait()
	})
	return s, sock, &out
}

func ctl(t *testing.T, sock, op string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return Ctl(ctx, sock, op, args...)
}

func mustCtl(t *testing.T, sock, op, want string, args ...string) {
	t.Helper()
	got, err := ctl(t, sock, op, args...)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	if got != want {
		t.Fatalf("%s: state %q, want %q", op, got, want)
	}
}

func TestLifecycle(t *testing.T) {
	s, sock, out := serve(t, "/bin/sleep", "300")
	mustCtl(t, sock, OpState, StateWaiting)
	mustCtl(t, sock, OpStart, StateRunning)
	pid := s.cmd.Process.Pid
	mustCtl(t, sock, OpPause, StatePaused)
	if st, _ := procStatus(pid); st != 'T' {
		t.Fatalf("paused process is in state %c, want T", st)
	}
	mustCtl(t, sock, OpResume, StateRunning)
	if st, _ := procStatus(pid); st == 'T' {
		t.Fatal("resumed process is still stopped")
	}
	// A paused node can be killed, as under docker.
	mustCtl(t, sock, OpPause, StatePaused)
	mustCtl(t, sock, OpKill, StateKilled)
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		if st, _ := procStatus(pid); st != 'Z' {
			t.Fatalf("killed process %d still exists in state %c", pid, st)
		}
	}
	mustCtl(t, sock, OpStart, StateRunning)
	if s.cmd.Process.Pid == pid {
		t.Fatal("start after kill reused the old process")
	}
	if !strings.Contains(out.String(), "signal killed") {
		t.Errorf("agent log does not say how the process ended:\n%s", out.String())
	}
}

func TestIllegalOperations(t *testing.T) {
	_, sock, _ := serve(t, "/bin/sleep", "300")
	for _, op := range []string{OpKill, OpPause, OpResume} {
		if _, err := ctl(t, sock, op); err == nil || !strings.Contains(err.Error(), "waiting") {
			t.Errorf("%s of a waiting node: err = %v, want one naming its state", op, err)
		}
	}
	mustCtl(t, sock, OpStart, StateRunning)
	if _, err := ctl(t, sock, OpStart); err == nil || !strings.Contains(err.Error(), "kill it first") {
		t.Errorf("start of a running node: err = %v", err)
	}
	if _, err := ctl(t, sock, "reboot"); err == nil || !strings.Contains(err.Error(), "unknown operation") {
		t.Errorf("unknown op: err = %v", err)
	}
}

func TestExitedByItself(t *testing.T) {
	_, sock, _ := serve(t, "/bin/sh", "-c", "exit 3")
	mustCtl(t, sock, OpStart, StateRunning)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := ctl(t, sock, OpState)
		if err != nil {
			t.Fatal(err)
		}
		if got == StateExited+" (exit status 3)" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("state %q, want exited with status 3", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// An exited node can be started again, or killed (a no-op).
	mustCtl(t, sock, OpStart, StateRunning)
	mustCtl(t, sock, OpKill, StateKilled)
}

func TestHosts(t *testing.T) {
	s, sock, _ := serve(t, "/bin/true")
	os.WriteFile(s.hostsFile, []byte("127.0.0.1\tlocalhost\n10.0.0.9\tn1\n"), 0o644)
	mustCtl(t, sock, OpHosts, StateWaiting, "n2=10.0.0.2", "n3=10.0.0.3")
	mustCtl(t, sock, OpHosts, StateWaiting, "n2=10.0.0.4")
	b, _ := os.ReadFile(s.hostsFile)
	want := "127.0.0.1\tlocalhost\n10.0.0.9\tn1\n10.0.0.4\tn2\t" + hostsMark + "\n"
	if string(b) != want {
		t.Fatalf("hosts file:\n%s\nwant:\n%s", b, want)
	}
	if _, err := ctl(t, sock, OpHosts, "n2=not-an-ip"); err == nil {
		t.Fatal("a bad address was accepted")
	}
}

func TestArgsRoundTrip(t *testing.T) {
	cfg := RunConfig{Command: []string{"/usr/local/bin/kvnode", "--id", "n1", "--wait"}, UID: 65532, GID: 65533, Wait: true}
	args := RunArgs(cfg)
	if args[0] != Path || args[1] != "run" {
		t.Fatalf("RunArgs = %q", args)
	}
	got, sock, err := parseRun(args[2:])
	if err != nil {
		t.Fatal(err)
	}
	if sock != Socket || !slices.Equal(got.Command, cfg.Command) || got.UID != cfg.UID || got.GID != cfg.GID || !got.Wait {
		t.Fatalf("parseRun(RunArgs(%+v)) = %+v, %q", cfg, got, sock)
	}
	if c := CtlArgs(OpHosts, "n1=10.0.0.1"); !slices.Equal(c, []string{Path, "ctl", "--socket", Socket, OpHosts, "n1=10.0.0.1"}) {
		t.Fatalf("CtlArgs = %q", c)
	}
}

func TestMainUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"agent"}, 2, "usage"},
		{[]string{"agent", "dance"}, 2, "unknown command"},
		{[]string{"agent", "run", "--uid", "x", "--", "/bin/true"}, 2, "takes a number"},
		{[]string{"agent", "run", "--"}, 2, "needs the node's command"},
		{[]string{"agent", "ctl"}, 2, "needs an operation"},
		{[]string{"agent", "ctl", "--socket", "/nonexistent/sock", "state"}, 1, "reach the agent"},
		{[]string{"agent", "install"}, 2, "one destination"},
	} {
		var stdout, stderr bytes.Buffer
		if code := Main(tc.args, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.msg) {
			t.Errorf("Main(%q) = %d, %q; want %d and a message with %q", tc.args, code, stderr.String(), tc.code, tc.msg)
		}
	}
}

func TestInstall(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "faultline-agent")
	if code := Main([]string{"agent", "install", dest}, &bytes.Buffer{}, os.Stderr); code != 0 {
		t.Fatalf("install exit code %d", code)
	}
	fi, err := os.Stat(dest)
	if err != nil || fi.Mode().Perm()&0o111 == 0 || fi.Size() == 0 {
		t.Fatalf("installed binary: %v, %v", fi, err)
	}
}

// A node leaves and joins again as a new member: its data directory is
// wiped while it is down (never while it runs), and it starts again with
// a new command line.
func TestWipeAndNewCommand(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(t.TempDir(), "marker")
	s, sock, _ := serve(t, "/bin/sleep", "300")
	os.MkdirAll(filepath.Join(dir, "member", "wal"), 0o755)
	os.WriteFile(filepath.Join(dir, "member", "wal", "0.wal"), []byte("x"), 0o644)
	mustCtl(t, sock, OpStart, StateRunning)
	if _, err := ctl(t, sock, OpWipe, dir); err == nil || !strings.Contains(err.Error(), "kill it first") {
		t.Fatalf("wipe of a running node's data: err = %v", err)
	}
	mustCtl(t, sock, OpKill, StateKilled)
	for _, bad := range [][]string{{"/"}, {"data"}, {dir, dir}} {
		if _, err := ctl(t, sock, OpWipe, bad...); err == nil {
			t.Errorf("wipe %q was accepted", bad)
		}
	}
	mustCtl(t, sock, OpWipe, StateKilled, dir)
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("%s holds %d entries after the wipe", dir, len(left))
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the wiped directory itself is gone: %v", err)
	}
	for _, bad := range [][]string{{"not-base64!"}, {CommandArg([]string{"relative"})}, {CommandArg(nil)}} {
		if _, err := ctl(t, sock, OpCommand, bad...); err == nil {
			t.Errorf("command %q was accepted", bad)
		}
	}
	mustCtl(t, sock, OpCommand, StateKilled, CommandArg([]string{"/bin/sh", "-c", "touch " + marker + " && exec sleep 300"}))
	mustCtl(t, sock, OpStart, StateRunning)
	if !slices.Equal(s.cmd.Args, []string{"/bin/sh", "-c", "touch " + marker + " && exec sleep 300"}) {
		t.Fatalf("started %q", s.cmd.Args)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new command line never ran")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
