package faultline_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline"
	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/engine/enginetest"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/internal/syncbuf"
	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/runstore"
)

// buildCLI builds the faultline command into a temporary directory.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "faultline")
	var out []byte
	var err error
	for range 2 { // one retry: a shared build cache has been seen to fail an import once
		build := exec.Command("go", "build", "-o", bin, "./cmd/faultline")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err = build.CombinedOutput(); err == nil {
			return bin
		}
	}
	t.Fatalf("go build ./cmd/faultline: %v\n%s", err, out)
	return ""
}

// harness is a faultline CLI process under test.
type harness struct {
	cmd   *exec.Cmd
	out   *syncbuf.Buffer // stdout and stderr
	done  chan struct{}
	err   error  // Wait's result, once done is closed
	label string // the label on everything the process creates
	runRE *regexp.Regexp
	tb    *testing.T
}

// startHarness starts the faultline binary with args. Whatever happens,
// the process is killed and the containers and networks it created are
// removed when the test ends.
func startHarness(t *testing.T, bin string, args ...string) *harness {
	t.Helper()
	h := &harness{out: &syncbuf.Buffer{}, done: make(chan struct{}), tb: t,
		runRE: regexp.MustCompile(`docker: starting cluster\b.*\brun=(\S+)`)}
	h.cmd = exec.Command(bin, args...)
	h.cmd.Stdout, h.cmd.Stderr = h.out, h.out
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("start faultline: %v", err)
	}
	h.label = cluster.LabelPID + "=" + strconv.Itoa(h.cmd.Process.Pid)
	t.Cleanup(func() { removeLabelled(t, h.label) })
	t.Cleanup(func() {
		select {
		case <-h.done:
		default:
			_ = h.cmd.Process.Kill()
			<-h.done
		}
		if t.Failed() {
			t.Logf("faultline output:\n%s", h.out.String())
		}
	})
	go func() {
		h.err = h.cmd.Wait()
		close(h.done)
	}()
	return h
}

// startRun starts `faultline run` with args on the prebuilt node image
// into a fresh store, which it returns.
func startRun(t *testing.T, args ...string) (*harness, string) {
	t.Helper()
	bin := buildCLI(t)
	store := storeDir(t)
	args = append([]string{"run", "--store", store, "--image", nodeImage(t), "--quiet"}, args...)
	return startHarness(t, bin, args...), store
}

// exited reports whether the process has exited.
func (h *harness) exited() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// waitFor polls cond every 100 ms until it holds; it fails the test when
// the process exits first or timeout passes.
func (h *harness) waitFor(what string, timeout time.Duration, cond func() bool) {
	h.tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if h.exited() {
			h.tb.Fatalf("faultline exited (%v) before %s", h.err, what)
		}
		if time.Now().After(deadline) {
			h.tb.Fatalf("no %s within %v", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// wait waits up to timeout for the process to exit and returns its exit
// code (-1 when it was killed by a signal).
func (h *harness) wait(timeout time.Duration) int {
	h.tb.Helper()
	select {
	case <-h.done:
	case <-time.After(timeout):
		h.tb.Fatalf("faultline did not exit within %v", timeout)
	}
	var ee *exec.ExitError
	switch {
	case h.err == nil:
		return 0
	case errors.As(h.err, &ee):
		return ee.ExitCode()
	default:
		h.tb.Fatalf("faultline: %v", h.err)
		return 0
	}
}

// runID returns the cluster's run id from the harness's log.
func (h *harness) runID() string {
	h.tb.Helper()
	m := h.runRE.FindStringSubmatch(h.out.String())
	if m == nil {
		h.tb.Fatalf("no run id in the output:\n%s", h.out.String())
	}
	return m[1]
}

// countLines counts the complete lines of path (0 if it does not exist).
func countLines(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	r := bufio.NewReader(f)
	for {
		_, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return n
		}
		n++
	}
}

// lastNemesisOK returns the f of the last nemesis completion marked ok in
// the history at path, or "".
func lastNemesisOK(path string) string {
	ops, err := history.ReadFile(path)
	if err != nil {
		return ""
	}
	for i := len(ops) - 1; i >= 0; i-- {
		if ops[i].IsNemesis() && ops[i].Type == history.OK {
			return ops[i].F
		}
	}
	return ""
}

// TestCrashSafety kills the harness with SIGKILL in the middle of a run
// (with a node paused, in one case): what it streamed must be an
// analysable history, and the containers it could not remove must be
// reaped by the next start.
func TestCrashSafety(t *testing.T) {
	requireE2E(t)
	tests := []struct {
		name   string
		args   []string
		what   string
		ready  func(hist string) bool
		paused bool // a node is paused when the harness dies
	}{
		{"set", []string{"--workload", "set", "--time-limit", "30s", "--seed", "3"},
			"300 lines in history.jsonl", func(hist string) bool { return countLines(hist) >= 300 }, false},
		{"register with a node paused", []string{"--workload", "register", "--nemesis", "pause", "--nemesis-interval", "3s",
			"--time-limit", "30s", "--seed", "5"},
			"a pause in effect", func(hist string) bool { return lastNemesisOK(hist) == nemesis.FPause }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { crashAndReap(t, tc.args, tc.what, tc.ready, tc.paused) })
	}
}

func crashAndReap(t *testing.T, args []string, what string, ready func(hist string) bool, paused bool) {
	h, store := startRun(t, args...)
	hist := filepath.Join(store, "latest", runstore.HistoryJSONL)
	h.waitFor(what, 2*time.Minute, func() bool { return ready(hist) })
	runID := h.runID()
	runDir, err := filepath.EvalSymlinks(filepath.Join(store, "latest"))
	if err != nil {
		t.Fatal(err)
	}

	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL: %v", err)
	}
	if code := h.wait(30 * time.Second); code != -1 {
		t.Fatalf("after SIGKILL the exit code is %d, want death by signal", code)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The killed harness could not tear its cluster down.
	cs, ns := labelled(ctx, t, h.label)
	if len(cs) < 3 || len(ns) < 1 {
		t.Errorf("after SIGKILL: containers %v, networks %v; want the 3 nodes and the network left behind", cs, ns)
	}
	if paused {
		if n := countPaused(ctx, t, h.label); n == 0 {
			t.Errorf("no container is paused although the harness died during a pause")
		}
	}
	if _, err := os.Stat(filepath.Join(runDir, runstore.ResultsJSON)); err == nil {
		t.Errorf("results.json exists although the harness was killed before checking")
	}

	// The streamed history is readable, torn last line or not, and holds
	// what had been flushed.
	ops, err := history.ReadFile(filepath.Join(runDir, runstore.HistoryJSONL))
	if err != nil {
		t.Fatalf("read the killed run's history: %v", err)
	}
	if len(ops) < 100 {
		t.Errorf("history has only %d ops", len(ops))
	}
	for i, o := range ops {
		if o.Index != int64(i) {
			t.Fatalf("op %d has index %d", i, o.Index)
		}
	}
	// A line torn by the kill is tolerated on read.
	b, err := os.ReadFile(filepath.Join(runDir, runstore.HistoryJSONL))
	if err != nil {
		t.Fatal(err)
	}
	torn := filepath.Join(t.TempDir(), "torn.jsonl")
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	}
	full, err := history.ReadJSONL(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(torn, append(b, `{"index":`+strconv.Itoa(len(full))+`,"time":1,"type":"inv`...), 0o644); err != nil {
		t.Fatal(err)
	}
	if tops, err := history.ReadFile(torn); err != nil || len(tops) != len(full) {
		t.Errorf("torn last line: %d ops, %v; want %d ops and no error", len(tops), err, len(full))
	}

	// `faultline analyze` re-checks it: results.json, history.edn and the
	// report appear, and a history cut short (even in a pause) is no
	// evidence of a bug.
	res, err := faultline.Analyze(ctx, runDir, time.Minute)
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	t.Logf("analyze: %v, %d ops (%d ok, %d fail, %d info)", res.Valid, res.Ops, res.OK, res.Fail, res.Info)
	for _, f := range []string{runstore.ResultsJSON, runstore.HistoryEDN, runstore.ReportHTML} {
		if fi, err := os.Stat(filepath.Join(runDir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("after analyze, %s: %v", f, err)
		}
	}
	if res.Valid == checker.Invalid {
		for _, c := range res.Checkers.Checkers {
			t.Logf("checker %s: %v: %s", c.Checker, c.Valid, c.Explanation)
		}
		t.Errorf("a killed run of the safe configuration is judged invalid")
	}
	if res.Ops == 0 {
		t.Errorf("analyze counted no ops")
	}
	var stored checker.Results
	readJSON(t, filepath.Join(runDir, runstore.ResultsJSON), &stored)
	if stored.Valid != res.Valid || len(stored.Checkers) == 0 {
		t.Errorf("results.json says %v with %d checkers; Analyze returned %v", stored.Valid, len(stored.Checkers), res.Valid)
	}

	// The next start reaps what the dead harness left behind. Another
	// process starting a cluster meanwhile reaps too (and Reap reports the
	// removal it races with as an error), so retry a few times.
	for i := 0; ; i++ {
		err := docker.Reap(ctx)
		cs, ns := labelled(ctx, t, h.label)
		if len(cs)+len(ns) == 0 {
			if err != nil {
				t.Logf("Reap (raced with another reaper, everything is gone): %v", err)
			}
			break
		}
		if i == 4 {
			t.Fatalf("after Reap (%v), the dead harness's containers %v and networks %v remain", err, cs, ns)
		}
		time.Sleep(time.Second)
	}
	if cs, ns, err := enginetest.Leftovers(ctx, runID); err != nil || len(cs)+len(ns) > 0 {
		t.Errorf("Leftovers(%s) after Reap: containers %v, networks %v, err %v", runID, cs, ns, err)
	}
}

// TestInterrupt interrupts the main phase of a long run. One SIGINT: the
// harness must stop the workload, heal, check what was recorded, tear the
// cluster down and exit with a verdict by itself. Two: it aborts at once,
// tears down, keeps the history and says how to analyze it (exit 255).
func TestInterrupt(t *testing.T) {
	requireE2E(t)
	tests := []struct {
		name    string
		signals int
		code    int
		checked bool     // results.json and report.html are written
		say     []string // in the output
	}{
		{"one SIGINT", 1, 0, true, []string{"interrupted: stopping the workload"}},
		{"two SIGINTs", 2, 255, false, []string{"interrupted again", "run aborted", "faultline analyze"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			h, store := startRun(t, "--workload", "register", "--time-limit", "60s")
			h.waitFor("main phase", 2*time.Minute, func() bool { return strings.Contains(h.out.String(), "main phase") })
			runID := h.runID()
			hist := filepath.Join(store, "latest", runstore.HistoryJSONL)
			h.waitFor("100 ops in history.jsonl", time.Minute, func() bool { return countLines(hist) >= 100 })

			for i := range tc.signals {
				if i > 0 {
					// The next signal once the harness has taken the first
					// (two at once may arrive as one).
					h.waitFor("the first interrupt taken", time.Minute, func() bool {
						return strings.Contains(h.out.String(), "interrupted: stopping the workload")
					})
				}
				if err := h.cmd.Process.Signal(os.Interrupt); err != nil {
					t.Fatalf("SIGINT: %v", err)
				}
			}
			interrupted := time.Now()
			code := h.wait(60 * time.Second)
			t.Logf("exit %d, %v after SIGINT, %v in all", code, time.Since(interrupted).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
			if code != tc.code {
				t.Errorf("exit code %d after %d SIGINT(s), want %d", code, tc.signals, tc.code)
			}
			for _, s := range tc.say {
				if !strings.Contains(h.out.String(), s) {
					t.Errorf("the harness did not say %q", s)
				}
			}
			checkInterrupted(t, store, code, tc.checked)

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if cs, ns := labelled(ctx, t, h.label); len(cs)+len(ns) > 0 {
				t.Errorf("after SIGINT, containers %v and networks %v remain", cs, ns)
			}
			if cs, ns, err := enginetest.Leftovers(ctx, runID); err != nil || len(cs)+len(ns) > 0 {
				t.Errorf("Leftovers(%s): containers %v, networks %v, err %v", runID, cs, ns, err)
			}
		})
	}
}

// TestInterruptDuringStart interrupts the harness while it starts the
// cluster: it must tear down what it created, say so (not that it is
// healing), and exit 255 with nothing left behind.
func TestInterruptDuringStart(t *testing.T) {
	requireE2E(t)
	h, _ := startRun(t, "--workload", "register", "--time-limit", "60s")
	h.waitFor("cluster start", 2*time.Minute, func() bool { return h.runRE.MatchString(h.out.String()) })
	runID := h.runID()
	if err := h.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("SIGINT: %v", err)
	}
	code := h.wait(60 * time.Second)
	out := h.out.String()
	if strings.Contains(out, "main phase") {
		t.Skip("the cluster came up before the interrupt landed; nothing to test this time")
	}
	if code != 255 {
		t.Errorf("exit code %d after SIGINT during start, want %d", code, 255)
	}
	for _, say := range []string{"interrupted during cluster start", "removed"} {
		if !strings.Contains(out, say) {
			t.Errorf("the harness did not say %q", say)
		}
	}
	if strings.Contains(out, "healing") {
		t.Error("the harness says it is healing a cluster it never started")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if cs, ns := labelled(ctx, t, h.label); len(cs)+len(ns) > 0 {
		t.Errorf("after SIGINT during start, containers %v and networks %v remain", cs, ns)
	}
	if cs, ns, err := enginetest.Leftovers(ctx, runID); err != nil || len(cs)+len(ns) > 0 {
		t.Errorf("Leftovers(%s): containers %v, networks %v, err %v", runID, cs, ns, err)
	}
}

// checkInterrupted checks the stored run of an interrupted harness.
func checkInterrupted(t *testing.T, store string, code int, checked bool) {
	t.Helper()
	runDir, err := filepath.EvalSymlinks(filepath.Join(store, "latest"))
	if err != nil {
		t.Fatal(err)
	}
	ops, err := history.ReadFile(filepath.Join(runDir, runstore.HistoryJSONL))
	if err != nil {
		t.Fatal(err)
	}
	// The main phase stopped at the interrupt, not at the time limit.
	if len(ops) == 0 {
		t.Fatal("empty history")
	}
	if end := time.Duration(ops[len(ops)-1].Time); end > 50*time.Second {
		t.Errorf("history ends at %v: the workload was not stopped by SIGINT", end)
	}
	_, rerr := os.Stat(filepath.Join(runDir, runstore.ResultsJSON))
	_, herr := os.Stat(filepath.Join(runDir, runstore.ReportHTML))
	if !checked {
		if rerr == nil || herr == nil {
			t.Errorf("an aborted run was checked anyway (results.json: %v, report.html: %v)", rerr, herr)
		}
		return
	}
	if rerr != nil || herr != nil {
		t.Fatalf("after SIGINT: results.json: %v, report.html: %v", rerr, herr)
	}
	var results checker.Results
	readJSON(t, filepath.Join(runDir, runstore.ResultsJSON), &results)
	if want := map[checker.Verdict]int{checker.Valid: 0, checker.Invalid: 1, checker.Unknown: 2}[results.Valid]; want != code {
		t.Errorf("results.json says %v, the exit code is %d", results.Valid, code)
	}
}

// TestUnrecoveredKeepsSchedule: a run whose cluster does not recover in
// the final heal (here, a recovery timeout too short for any cluster)
// ends as a harness error (255), and keeps its history and the schedule
// of the faults that happened, to replay or shrink; nothing is left
// behind.
func TestUnrecoveredKeepsSchedule(t *testing.T) {
	requireE2E(t)
	h, store := startRun(t, "--workload", "register", "--nemesis", "pause", "--nemesis-interval", "2s",
		"--time-limit", "7s", "--recovery-timeout", "1ms")
	if code := h.wait(3 * time.Minute); code != 255 {
		t.Fatalf("exit code %d, want 255 (the cluster did not recover)", code)
	}
	if out := h.out.String(); !strings.Contains(out, "did not recover") || !strings.Contains(out, "history kept in") {
		t.Errorf("the harness did not say the cluster did not recover and where the history is")
	}
	runDir, err := filepath.EvalSymlinks(filepath.Join(store, "latest"))
	if err != nil {
		t.Fatal(err)
	}
	if ops, err := history.ReadFile(filepath.Join(runDir, runstore.HistoryJSONL)); err != nil || len(ops) == 0 {
		t.Fatalf("history: %d ops, %v", len(ops), err)
	}
	s, err := nemesis.ReadScheduleFile(filepath.Join(runDir, runstore.ScheduleJSON))
	if err != nil {
		t.Fatalf("the unrecovered run's schedule: %v", err)
	}
	if len(s.Faults) == 0 || s.Faults[0].Kind != nemesis.FaultPause {
		t.Errorf("schedule %+v: want the pause that happened", s.Faults)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if cs, ns := labelled(ctx, t, h.label); len(cs)+len(ns) > 0 {
		t.Errorf("containers %v and networks %v remain", cs, ns)
	}
}
