package faultfs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binDir holds the static binaries the tests build (removed by TestMain).
var (
	binDir   string
	binOnce  sync.Once
	binErr   error
	nodeUID  = 65532
	waitLong = 60 * time.Second // a generous bound for polled conditions
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binaries builds faultfs and the test writer, static (CGO_ENABLED=0, as
// the node image needs them), once per test run.
func binaries(t *testing.T) (faultfs, writer string) {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "faultfs-bin-")
		if binErr != nil {
			return
		}
		os.Chmod(binDir, 0o755) // the writer runs as another user
		for _, pkg := range []string{"./cmd/faultfs", "./faultfs/testdata/writer"} {
			cmd := exec.Command("go", "build", "-o", binDir+"/", pkg)
			cmd.Dir = ".."
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				binErr = errors.New("go build " + pkg + ": " + err.Error() + "\n" + string(out))
				return
			}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, "faultfs"), filepath.Join(binDir, "writer")
}

// waitFor polls cond until it holds, failing the test past waitLong.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// daemon is a running `faultfs mount` with the writer on it.
type daemon struct {
	cmd                        *exec.Cmd
	backing, mount, ctl, ready string
	out                        bytes.Buffer
	exited                     chan struct{}
}

// startDaemon runs `faultfs mount` over backing with the writer writing,
// as the node user, and waits until the writer is done writing.
func startDaemon(t *testing.T, backing, mount string) *daemon {
	t.Helper()
	requireFUSE(t)
	faultfs, writer := binaries(t)
	shared := nodeDir(t)
	d := &daemon{backing: backing, mount: mount, ctl: filepath.Join(shared, "ctl.sock"), ready: filepath.Join(shared, "ready"), exited: make(chan struct{})}
	d.cmd = exec.Command(faultfs, "mount", "--backing", backing, "--mount", mount, "--control", d.ctl,
		"--uid", strconv.Itoa(nodeUID), "--gid", strconv.Itoa(nodeUID), "--", writer, "write", mount, d.ready)
	d.cmd.Stdout, d.cmd.Stderr = &d.out, &d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.exited
		if err := UnmountStale(mount); err != nil {
			t.Error(err)
		}
	})
	waitFor(t, "the writer to finish writing", func() bool {
		select {
		case <-d.exited:
			t.Fatalf("faultfs mount exited early (%v):\n%s", d.cmd.ProcessState, d.out.String())
		default:
		}
		_, err := os.Stat(d.ready)
		return err == nil
	})
	return d
}

func (d *daemon) writerPid(t *testing.T) int {
	b, err := os.ReadFile(d.ready)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// nodeDir is a temporary directory the node user can use.
func nodeDir(t *testing.T) string {
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// alive: pid runs (a zombie left to a parent that does not reap is dead).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

func mounted(dir string) bool {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	return bytes.Contains(b, []byte(" "+dir+" "))
}

var (
	synced4K = strings.Repeat("A", 4096)
	written  = tree{TrashName + "/": "", "synced": synced4K + strings.Repeat("B", 4096), "unsynced": "never synced"}
)

// TestDaemonPowerFail: `faultfs powerfail` kills the node, drops what it
// never synced, prints what it dropped, and the daemon exits 137.
func TestDaemonPowerFail(t *testing.T) {
	backing, mount := nodeDir(t), filepath.Join(nodeDir(t), "data")
	d := startDaemon(t, backing, mount)
	pid := d.writerPid(t)
	faultfs, _ := binaries(t)
	out, err := exec.Command(faultfs, "status", "--control", d.ctl).Output()
	if err != nil {
		t.Fatalf("faultfs status: %v", err)
	}
	stats, err := ParseJournalStats(out)
	if err != nil {
		t.Fatal(err)
	}
	// synced has 4 KiB unsynced, unsynced everything; unsynced's create
	// is pending. Nothing durable was overwritten: no saved bytes.
	if stats.DirtyFiles != 2 || stats.PendingEntries != 1 || stats.WriteBytes != 8192+12 || stats.Bytes != 0 {
		t.Errorf("status: %s", out)
	}
	out, err = exec.Command(faultfs, "powerfail", "--control", d.ctl).Output()
	if err != nil {
		t.Fatalf("faultfs powerfail: %v\n%s", err, d.out.String())
	}
	rep, err := ParsePowerFailReport(out)
	if err != nil {
		t.Fatal(err)
	}
	<-d.exited
	if code := d.cmd.ProcessState.ExitCode(); code != PowerFailExit {
		t.Errorf("faultfs mount exited %d after the power failure, want %d", code, PowerFailExit)
	}
	if d := diffTrees(readTree(t, backing), tree{"synced": synced4K}); d != "" {
		t.Errorf("backing store after the power failure:\n%s", d)
	}
	want := []FileLoss{
		{Path: "synced", DurableSize: 4096, SizeBefore: 8192, BytesDropped: 4096},
		{Path: "unsynced", DurableSize: 0, SizeBefore: 12, BytesDropped: 12},
	}
	if len(rep.Files) != 2 || rep.Files[0] != want[0] || rep.Files[1] != want[1] || rep.EntriesUndone != 1 || rep.Model != PowerPOSIX {
		t.Errorf("report: %s", out)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(backing, "synced"), &st); err != nil || st.Uid != uint32(nodeUID) {
		t.Errorf("synced belongs to uid %d (%v), want the node's %d", st.Uid, err, nodeUID)
	}
	if alive(pid) {
		t.Errorf("the writer (pid %d) outlived the power failure", pid)
	}
	if mounted(mount) {
		t.Errorf("%s is still mounted", mount)
	}
	if out, err := exec.Command(faultfs, "powerfail", "--control", d.ctl).CombinedOutput(); err == nil {
		t.Errorf("a power failure with no daemon was confirmed: %s", out)
	}
}

// TestDaemonKilled: SIGKILL of the daemon (an ordinary kill of the node)
// keeps every write, kills the writer with it, and a new daemon on the
// same mount point replaces the dead mount and sees everything.
func TestDaemonKilled(t *testing.T) {
	backing, mount := nodeDir(t), filepath.Join(nodeDir(t), "data")
	d := startDaemon(t, backing, mount)
	pid := d.writerPid(t)
	d.cmd.Process.Kill()
	<-d.exited
	waitFor(t, "the writer to die with the daemon", func() bool { return !alive(pid) })
	if d := diffTrees(readTree(t, backing), written); d != "" {
		t.Errorf("backing store after the kill:\n%s", d)
	}
	if _, err := os.Stat(filepath.Join(mount, "synced")); err == nil {
		t.Fatalf("the dead mount still answers")
	}

	faultfs, writer := binaries(t)
	out, err := exec.Command(faultfs, "mount", "--backing", backing, "--mount", mount, "--control", filepath.Join(t.TempDir(), "ctl"),
		"--", writer, "list", mount).CombinedOutput()
	if err != nil {
		t.Fatalf("faultfs mount over the dead mount: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "synced 8192\n") || !strings.Contains(string(out), "unsynced 12\n") {
		t.Errorf("the new mount lists:\n%s", out)
	}
	delete(written, TrashName+"/")
	if d := diffTrees(readTree(t, backing), written); d != "" {
		t.Errorf("backing store after a clean exit:\n%s", d)
	}
	if mounted(mount) {
		t.Errorf("%s is still mounted", mount)
	}
}

// TestDaemonCommandStatus: the daemon exits with its command's status.
func TestDaemonCommandStatus(t *testing.T) {
	requireFUSE(t)
	for _, tc := range []struct {
		cmd  []string
		want int
	}{
		{[]string{"/bin/sh", "-c", "exit 3"}, 3},
		{[]string{"/bin/sh", "-c", "kill -TERM $$"}, 128 + 15},
		{[]string{"/bin/true"}, 0},
	} {
		cfg := DefaultDaemonConfig()
		cfg.Backing, cfg.Mountpoint, cfg.Control = t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "ctl")
		cfg.Command, cfg.Logger = tc.cmd, quiet
		code, err := RunDaemon(context.Background(), cfg)
		if err != nil || code != tc.want {
			t.Errorf("%q: exit %d (%v), want %d", tc.cmd, code, err, tc.want)
		}
	}
}
