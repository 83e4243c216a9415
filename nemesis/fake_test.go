package nemesis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/faultfs"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/nemesis/netrule"
)

// fakeCluster emulates a cluster: container states, netctl rules per node
// (drop/loss/heal/list), a clock offset per node behind a real HTTP admin
// endpoint, and a configurable leader. It records every call.
type fakeCluster struct {
	mu        sync.Mutex
	nodes     []string
	state     map[string]string
	rules     map[string][]netrule.Rule
	offsets   map[string]int64
	leader    string
	leaderErr error
	calls     []string
	execErr   map[string]error // node -> Exec error
	stuck     map[string]bool  // node -> Kill/Pause/Start/Resume have no effect
	unhealthy error            // WaitHealthy's answer once everything runs
	admin     map[string]*httptest.Server
	// ipv6 gives the nodes IPv6 addresses, written long-hand by IP
	// ("fd00:0:0:0:0:0:0:2") while netctl lists them short ("fd00::2").
	ipv6 bool
	// mangle, when set, is applied to every rule the fake netctl
	// installs: a netctl that does something other than what it was told.
	mangle func(netrule.Rule) netrule.Rule
	// powerKilled makes faultfs powerfail exit 137 (killed with its node)
	// after printing the first powerKilled bytes of its report (all of
	// it when that is more).
	powerKilled int
	// listExtra is appended to every netctl list output.
	listExtra string
	// crashed nodes died by themselves: their process is down while the
	// bookkeeping (state) still says running. Kill records them as killed.
	crashed map[string]bool
	// killBarrier, when > 0, makes each Kill wait until that many Kills
	// are in progress at once (or fail after a second): it shows whether
	// nodes are killed concurrently.
	killBarrier int
	killing     int
	killCond    *sync.Cond
}

func newFake(t *testing.T, n int) *fakeCluster {
	t.Helper()
	f := &fakeCluster{state: map[string]string{}, rules: map[string][]netrule.Rule{}, offsets: map[string]int64{},
		execErr: map[string]error{}, stuck: map[string]bool{}, admin: map[string]*httptest.Server{},
		crashed: map[string]bool{}}
	f.killCond = sync.NewCond(&f.mu)
	for i := 1; i <= n; i++ {
		node := fmt.Sprintf("n%d", i)
		f.nodes = append(f.nodes, node)
		f.state[node] = StateRunning
		srv := httptest.NewServer(f.handler(node))
		t.Cleanup(srv.Close)
		f.admin[node] = srv
	}
	f.leader = "n1"
	return f
}

func (f *fakeCluster) handler(node string) http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter) {
		_ = json.NewEncoder(w).Encode(map[string]any{"id": node, "clock_offset_ms": f.offsets[node]})
	}
	// up locks f and answers 503 unless the node runs; the caller unlocks.
	up := func(w http.ResponseWriter) bool {
		f.mu.Lock()
		if f.state[node] != StateRunning {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return false
		}
		return true
	}
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		defer f.mu.Unlock()
		if !up(w) {
			return
		}
		reply(w)
	})
	mux.HandleFunc("POST /fault/clock", func(w http.ResponseWriter, r *http.Request) {
		defer f.mu.Unlock()
		if !up(w) {
			return
		}
		var req clockRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.calls = append(f.calls, fmt.Sprintf("clock %s %s %d", node, req.Op, req.DeltaMs))
		switch req.Op {
		case "bump":
			f.offsets[node] += req.DeltaMs
		case "strobe":
			f.offsets[node] = req.DeltaMs
		case "reset":
			f.offsets[node] = 0
		default:
			http.Error(w, "bad op", http.StatusBadRequest)
			return
		}
		reply(w)
	})
	return mux
}

func (f *fakeCluster) Nodes() []string { return slices.Clone(f.nodes) }

func (f *fakeCluster) IP(node string) string {
	i := slices.Index(f.nodes, node)
	if i < 0 {
		return ""
	}
	if f.ipv6 {
		return fmt.Sprintf("fd00:0:0:0:0:0:0:%d", i+2)
	}
	return fmt.Sprintf("10.0.0.%d", i+2)
}

func (f *fakeCluster) node(ip netip.Addr) string {
	for _, n := range f.nodes {
		if a, err := netip.ParseAddr(f.IP(n)); err == nil && a == ip {
			return n
		}
	}
	return "?" + ip.String()
}

func (f *fakeCluster) transition(op, node, to string, from ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.transitionLocked(op, node, to, from...)
}

func (f *fakeCluster) transitionLocked(op, node, to string, from ...string) error {
	f.calls = append(f.calls, op+" "+node)
	if !slices.Contains(from, f.state[node]) {
		return fmt.Errorf("%s %s: node is %s", op, node, f.state[node])
	}
	if !f.stuck[node] {
		f.state[node] = to
	}
	return nil
}

// Kill kills a running or paused node, as Docker does; a crashed node is
// recorded as killed. Its netctl rules die with it.
func (f *fakeCluster) Kill(_ context.Context, n string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.killBarrier > 0 {
		f.killing++
		f.killCond.Broadcast()
		deadline := time.Now().Add(time.Second)
		go func() { time.Sleep(time.Second); f.killCond.Broadcast() }()
		for f.killing < f.killBarrier && time.Now().Before(deadline) {
			f.killCond.Wait()
		}
		if f.killing < f.killBarrier {
			return fmt.Errorf("kill %s: only %d of %d kills in progress at once", n, f.killing, f.killBarrier)
		}
	}
	if err := f.transitionLocked("kill", n, StateKilled, StateRunning, StatePaused); err != nil {
		return err
	}
	if f.state[n] == StateKilled {
		delete(f.crashed, n)
		delete(f.rules, n)
	}
	return nil
}
func (f *fakeCluster) Start(_ context.Context, n string) error {
	return f.transition("start", n, StateRunning, StateKilled)
}
func (f *fakeCluster) Pause(_ context.Context, n string) error {
	return f.transition("pause", n, StatePaused, StateRunning)
}
func (f *fakeCluster) Resume(_ context.Context, n string) error {
	return f.transition("resume", n, StateRunning, StatePaused)
}

func (f *fakeCluster) State(n string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state[n]
}

func (f *fakeCluster) Leader(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leader, f.leaderErr
}

func (f *fakeCluster) AdminAddr(n string) string {
	return strings.TrimPrefix(f.admin[n].URL, "http://")
}

func (f *fakeCluster) WaitHealthy(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.nodes {
		if f.state[n] != StateRunning {
			return fmt.Errorf("%s is %s", n, f.state[n])
		}
		if f.crashed[n] {
			return fmt.Errorf("%s does not answer", n)
		}
	}
	return f.unhealthy
}

// Exec emulates netctl with its rule format (package netrule): drop,
// loss, heal (--tag too), list. It fails like docker exec when the container is not
// running.
func (f *fakeCluster) Exec(_ context.Context, node string, cmd []string) (int, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "exec "+node+" "+strings.Join(cmd, " "))
	if err := f.execErr[node]; err != nil {
		return -1, "", err
	}
	if f.crashed[node] {
		return -1, "", fmt.Errorf("container %s is not running (crashed)", node)
	}
	if f.state[node] != StateRunning {
		return -1, "", fmt.Errorf("container %s is %s", node, f.state[node])
	}
	if len(cmd) >= 2 && cmd[0] == faultfsPath {
		return f.faultfs(node, cmd[1:])
	}
	if len(cmd) < 2 || cmd[0] != NetctlPaths[0] {
		return 127, "not found", nil
	}
	switch cmd[1] {
	case "drop", "loss":
		rules, err := netrule.ParseArgs(cmd[1:])
		if err != nil {
			return 2, err.Error(), nil
		}
		for _, r := range rules {
			if f.mangle != nil {
				r = f.mangle(r)
			}
			f.rules[node] = append(f.rules[node], r)
		}
	case "heal":
		tag, err := netrule.ParseHealArgs(cmd[1:])
		if err != nil {
			return 2, err.Error(), nil
		}
		f.rules[node] = slices.DeleteFunc(f.rules[node], func(r netrule.Rule) bool { return tag == "" || r.Tag == tag })
	case "list":
		var list strings.Builder
		for _, r := range f.rules[node] {
			list.WriteString(r.String() + "\n")
		}
		return 0, list.String() + f.listExtra, nil
	default:
		return 2, "usage", nil
	}
	return 0, "", nil
}

// faultfs answers the faultfs commands the disk faults run in a node: a
// power failure drops 10 bytes of one file and undoes a create; a
// corruption changes one file as its mode says. f.mu is held.
func (f *fakeCluster) faultfs(node string, args []string) (int, string, error) {
	switch args[0] {
	case "powerfail":
		if _, err := faultfs.ParseControlArgs(args[0], args[1:]); err != nil {
			return 2, err.Error(), nil
		}
		rep := faultfs.PowerFailReport{BytesDropped: 10, FilesChanged: 1, EntriesUndone: 1,
			Files:   []faultfs.FileLoss{{Path: "raftlog/1.seg", DurableSize: 100, SizeBefore: 110, BytesDropped: 10}},
			Entries: []faultfs.EntryUndone{{Op: "create", Path: "raftlog/2.seg"}}}
		f.crashed[node] = true // its processes are gone with the power
		out := "time=... level=INFO msg=log line\n" + string(rep.Encode())
		if f.powerKilled > 0 {
			return 137, out[:min(len(out), f.powerKilled)], nil
		}
		return 0, out, nil
	case "corrupt", "aside":
		cfg, err := faultfs.ParseCorruptArgs(args[0], args[1:])
		if err != nil {
			return 2, err.Error(), nil
		}
		rep := faultfs.CorruptReport{Mode: cfg.Mode, Root: cfg.Root, Seed: cfg.Seed, Patterns: cfg.Patterns}
		switch cfg.Mode {
		case faultfs.ModeBitflip:
			rep.Flips = []faultfs.BitFlip{{File: "raftlog/1.seg", Offset: 42, Bit: 3}}
		case faultfs.ModeTruncate:
			rep.Truncations = []faultfs.Truncation{{File: "raftlog/1.seg", OldSize: 100, NewSize: 60}}
		default:
			rep.Chunks = []faultfs.Chunk{{File: "raftlog/1.seg", Offset: 0, Length: 50, Data: "chunk-0"}}
		}
		return 0, string(rep.Encode()), nil
	}
	return 2, "usage", nil
}

// diskFake is a fake cluster whose runtime reaches a down node's disk.
type diskFake struct{ *fakeCluster }

// DiskExec runs a faultfs command against a killed node's disk.
func (f diskFake) DiskExec(_ context.Context, node string, cmd []string) (int, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "disk-exec "+node+" "+strings.Join(cmd, " "))
	if f.state[node] != StateKilled {
		return -1, "", fmt.Errorf("node %s is %s, not down", node, f.state[node])
	}
	if len(cmd) < 2 || cmd[0] != faultfsPath {
		return 127, "not found", nil
	}
	return f.faultfs(node, cmd[1:])
}

// dropsFrom returns the nodes whose packets node drops, per its rules.
func (f *fakeCluster) dropsFrom(node string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.rules[node] {
		out = append(out, f.node(r.Peer))
	}
	slices.Sort(out)
	return out
}

func (f *fakeCluster) set(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

// memRecorder is an in-memory Recorder.
type memRecorder struct {
	mu  sync.Mutex
	ops []history.Op
}

func (r *memRecorder) Record(op history.Op) history.Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	op.Index = int64(len(r.ops))
	op.Time = op.Index
	r.ops = append(r.ops, op)
	return op
}

func (r *memRecorder) all() []history.Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ops)
}

var errBoom = errors.New("boom")
