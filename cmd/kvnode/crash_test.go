package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/system"
)

// childEnv makes the test binary run as kvnode (TestMain), so that tests
// can run nodes as processes and SIGKILL them.
const childEnv = "KVNODE_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stderr))
	}
	os.Exit(m.Run())
}

// procCluster is a cluster of kvnode processes on loopback ports.
type procCluster struct {
	t     *testing.T
	args  [][]string
	logs  []string
	cmds  []*exec.Cmd
	addrs map[string]string // id -> client address
	admin []string
}

func newProcCluster(t *testing.T, n int) *procCluster {
	pc := &procCluster{t: t, addrs: map[string]string{}, cmds: make([]*exec.Cmd, n)}
	var raft, client []string
	var peers []string
	for i := range n {
		raft, client = append(raft, freeAddr(t)), append(client, freeAddr(t))
		pc.admin = append(pc.admin, freeAddr(t))
		id := fmt.Sprintf("n%d", i+1)
		peers = append(peers, fmt.Sprintf("%s=%s/%s", id, raft[i], client[i]))
		pc.addrs[id] = client[i]
	}
	dir := t.TempDir()
	for i := range n {
		pc.args = append(pc.args, []string{"--id", fmt.Sprintf("n%d", i+1), "--peers", strings.Join(peers, ","),
			"--data", filepath.Join(dir, fmt.Sprintf("n%d", i+1)), "--raft-addr", raft[i], "--client-addr", client[i],
			"--admin-addr", pc.admin[i], "--log-level", "warn",
			// Snapshots as well as the log tail are recovered.
			"--snapshot-threshold", "100", "--snapshot-interval", "200ms"})
		pc.logs = append(pc.logs, filepath.Join(dir, fmt.Sprintf("n%d.log", i+1)))
	}
	t.Cleanup(func() {
		pc.killAll()
		if t.Failed() {
			for _, l := range pc.logs {
				b, _ := os.ReadFile(l)
				t.Logf("%s:\n%s", filepath.Base(l), b)
			}
		}
	})
	return pc
}

// start starts node i (again) and waits for its admin port.
func (pc *procCluster) start(i int) {
	t := pc.t
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.OpenFile(pc.logs[i], os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(exe, pc.args[i]...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start n%d: %v", i+1, err)
	}
	pc.cmds[i] = cmd
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + pc.admin[i] + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("n%d never became healthy", i+1)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// killAll sends SIGKILL to every node at once, then reaps them.
func (pc *procCluster) killAll() {
	for _, c := range pc.cmds {
		if c != nil {
			_ = c.Process.Signal(syscall.SIGKILL)
		}
	}
	for i, c := range pc.cmds {
		if c != nil {
			_ = c.Wait()
			pc.cmds[i] = nil
		}
	}
}

// status reads node i's /status.
func (pc *procCluster) status(i int) system.NodeStatus {
	resp, err := http.Get("http://" + pc.admin[i] + "/status")
	if err != nil {
		pc.t.Fatalf("n%d /status: %v", i+1, err)
	}
	defer resp.Body.Close()
	var st system.NodeStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		pc.t.Fatalf("n%d /status: %v", i+1, err)
	}
	return st
}

func (pc *procCluster) client() *system.Client {
	cfg := system.DefaultClientConfig()
	cfg.Addrs = pc.addrs
	cfg.MaxAttempts = 1 << 20 // bounded by the context instead
	c, err := system.NewClient(context.Background(), cfg)
	if err != nil {
		pc.t.Fatal(err)
	}
	pc.t.Cleanup(func() { c.Close() })
	return c
}

// "Every acknowledged write is fsynced on a quorum before the answer; a
// kill -9 of every node at once loses no acknowledged write." Writers run
// against three kvnode processes, all three get SIGKILL at the same moment
// while writes are in flight, and after a restart every acknowledged PUT
// holds its value and every acknowledged APPEND is in the list, once. Three
// cycles: each restart recovers logs whose tails the previous kill cut,
// and later cycles write on top of them.
// (A SIGKILL leaves the kernel's page cache alone, so this proves the
// answer-after-commit, log and snapshot recovery path, not the fsync
// itself, which only a power cut would test; system/raftlog's torn-tail
// tests stand in for that.)
func TestKillAllNodesLosesNoAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three kvnode processes")
	}
	pc := newProcCluster(t, 3)
	for i := range pc.cmds {
		pc.start(i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := pc.client().Put(ctx, "ready", []byte("1")); err != nil {
		t.Fatalf("no leader: %v", err)
	}
	var mu sync.Mutex
	puts := 0
	// key -> the last acknowledged value, and the values written after it
	// whose outcome is unknown (a failed PUT may still have applied).
	acked := map[string]string{}
	maybe := map[string][]string{}
	appended := map[string]bool{}
	for cycle := range 3 {
		wctx, stopWriters := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for w := range 8 {
			c := pc.client()
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; wctx.Err() == nil; i++ {
					k, v := fmt.Sprintf("w%d-%d", w, i%100), fmt.Sprintf("%d.%d", cycle, i)
					actx, cancel := context.WithTimeout(wctx, 2*time.Second)
					err := c.Put(actx, k, []byte(v))
					mu.Lock()
					if err == nil {
						puts++
						acked[k] = v
						delete(maybe, k)
					} else {
						maybe[k] = append(maybe[k], v)
					}
					mu.Unlock()
					e := fmt.Sprintf("%d/%d/%d", cycle, w, i)
					if err := c.Append(actx, "log", []byte(e)); err == nil {
						mu.Lock()
						appended[e] = true
						mu.Unlock()
					}
					cancel()
				}
			}()
		}
		time.Sleep(2 * time.Second)
		mu.Lock()
		before := len(appended)
		mu.Unlock()
		pc.killAll() // mid-write: requests are in flight on every node
		time.Sleep(500 * time.Millisecond)
		stopWriters()
		wg.Wait()
		if before == 0 {
			t.Fatalf("cycle %d: no write was acknowledged before the kill", cycle)
		}
		t.Logf("cycle %d: killed all nodes after %d acknowledged puts (%d keys) and %d appends", cycle, puts, len(acked), len(appended))

		restart := time.Now()
		for i := range pc.cmds {
			pc.start(i)
		}
		// A kill is never damage: a node that took it for damage would
		// not vote, and a kill of every node would leave no quorum.
		for i := range pc.cmds {
			if st := pc.status(i); st.Recovering {
				t.Fatalf("cycle %d: n%d took the kill for damaged storage: %v", cycle, i+1, st.Damage)
			}
		}
		c := pc.client()
		for k, v := range acked {
			got, found, err := c.Get(ctx, k)
			if err != nil || !found || (string(got) != v && !slices.Contains(maybe[k], string(got))) {
				t.Fatalf("cycle %d: after kill -9 of every node: %s = %q (found %v, %v), acknowledged %q (later, unacknowledged: %q)",
					cycle, k, got, found, err, v, maybe[k])
			}
			if string(got) != v { // an unacknowledged write applied: it is the value now
				acked[k] = string(got)
				delete(maybe, k)
			}
		}
		t.Logf("cycle %d: every acknowledged put read back %v after the restart", cycle, time.Since(restart).Round(time.Millisecond))
		lv, _, err := c.Get(ctx, "log")
		if err != nil {
			t.Fatal(err)
		}
		elems, err := system.DecodeList(lv)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, e := range elems {
			seen[string(e)]++
		}
		for e := range appended {
			if seen[e] != 1 {
				t.Fatalf("cycle %d: acknowledged append %s is in the list %d times after kill -9 of every node", cycle, e, seen[e])
			}
		}
	}
}
