package faultline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/faultline/faultline"
	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/docker"
	"github.com/faultline/faultline/engine"
	"github.com/faultline/faultline/engine/enginetest"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/runstore"
	"github.com/faultline/faultline/workload"
)

// The end-to-end tests run real clusters, one at a time (2 cores).

var (
	imageOnce sync.Once
	imageTag  string
	imageErr  error
)

// requireE2E skips t without Docker (failing it instead in CI, see
// enginetest.RequireDocker) and under -short.
func requireE2E(t *testing.T) {
	t.Helper()
	enginetest.RequireDocker(t)
	if testing.Short() {
		t.Skip("end-to-end: runs clusters for a minute or more; -short skips it")
	}
}

// nodeImage builds the node image once per test binary and returns its tag,
// so that each run does not compile kvnode and netctl again.
func nodeImage(t *testing.T) string {
	t.Helper()
	imageOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		imageTag, imageErr = engine.BuildImage(ctx, engine.DefaultBuildConfig())
	})
	if imageErr != nil {
		t.Fatalf("build node image: %v", imageErr)
	}
	return imageTag
}

// e2eTest is a short run of w on 3 nodes into a fresh store.
func e2eTest(t *testing.T, w string) faultline.Test {
	tc := faultline.DefaultTest()
	tc.Workload = workload.Name(w)
	tc.Nemesis = nemesis.None
	tc.TimeLimit = 8 * time.Second
	tc.Store = storeDir(t)
	tc.Image = nodeImage(t)
	tc.Quiet = true
	tc.Seed = 7
	return tc
}

// storeDir returns a fresh store directory, removed when the test passes
// and kept (and named in the log) when it fails, for the post-mortem.
func storeDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "faultline-e2e-store-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("store kept for the post-mortem: %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

// labelled lists the containers and networks carrying label (key=value).
func labelled(ctx context.Context, t *testing.T, label string) (containers, networks []string) {
	t.Helper()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	defer cli.Close()
	f := make(client.Filters).Add("label", label)
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatalf("list containers %s: %v", label, err)
	}
	for _, c := range cs.Items {
		containers = append(containers, firstName(c.Names, c.ID))
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		t.Fatalf("list networks %s: %v", label, err)
	}
	for _, n := range ns.Items {
		networks = append(networks, n.Name)
	}
	return containers, networks
}

// countPaused counts the paused containers carrying label.
func countPaused(ctx context.Context, t *testing.T, label string) int {
	t.Helper()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	defer cli.Close()
	f := make(client.Filters).Add("label", label).Add("status", "paused")
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatalf("list containers %s: %v", label, err)
	}
	return len(cs.Items)
}

// removeLabelled force-removes every container and network carrying
// label; it is the tests' last line of defence against leftovers.
func removeLabelled(t *testing.T, label string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		t.Logf("cleanup: docker client: %v", err)
		return
	}
	defer cli.Close()
	f := make(client.Filters).Add("label", label)
	if cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f}); err == nil {
		for _, c := range cs.Items {
			t.Logf("cleanup: removing leftover container %s", firstName(c.Names, c.ID))
			_, _ = cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		}
	}
	if ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f}); err == nil {
		for _, n := range ns.Items {
			t.Logf("cleanup: removing leftover network %s", n.Name)
			_, _ = cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
		}
	}
}

func firstName(names []string, id string) string {
	if len(names) > 0 {
		return names[0]
	}
	return id
}

// ownLabel is the label on every container and network this process
// (the test binary, running faultline.Run in-process) creates.
func ownLabel() string { return cluster.LabelPID + "=" + strconv.Itoa(os.Getpid()) }

// assertNoLeftovers fails t if anything labelled label still exists.
func assertNoLeftovers(t *testing.T, label string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, ns := labelled(ctx, t, label)
	if len(cs)+len(ns) > 0 {
		t.Errorf("left behind (label %s): containers %v, networks %v", label, cs, ns)
	}
}

// dockerRuntime starts the end-to-end tests' clusters on the local engine.
func dockerRuntime(ctx context.Context, spec cluster.Spec) (faultline.Cluster, error) {
	return docker.Start(ctx, spec)
}

// runE2E runs tc in-process, making sure nothing survives it.
func runE2E(t *testing.T, tc faultline.Test, timeout time.Duration) faultline.Result {
	t.Helper()
	t.Cleanup(func() { removeLabelled(t, ownLabel()) })
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	res, err := faultline.Run(ctx, tc, faultline.Env{Runtime: dockerRuntime})
	t.Logf("%s: %v in %v: %d ops (%d ok, %d fail, %d info), faults %v",
		tc.TestName(), res.Valid, time.Since(start).Round(time.Millisecond), res.Ops, res.OK, res.Fail, res.Info, res.Faults)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	assertNoLeftovers(t, ownLabel())
	return res
}

// checkRunDir asserts that res.Dir holds every file of a stored run and
// that they agree with each other and with res; it returns the history.
func checkRunDir(t *testing.T, tc faultline.Test, res faultline.Result) []history.Op {
	t.Helper()
	if res.Dir == "" {
		t.Fatal("Result.Dir is empty")
	}
	for _, f := range []string{runstore.HistoryJSONL, runstore.HistoryEDN, runstore.ResultsJSON,
		runstore.TestJSON, runstore.ReportHTML, runstore.SummaryJSON, runstore.ScheduleJSON} {
		if fi, err := os.Stat(filepath.Join(res.Dir, f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		} else if fi.Size() == 0 {
			t.Errorf("%s is empty", f)
		}
	}
	for i := 1; i <= tc.Nodes; i++ {
		p := filepath.Join(res.Dir, runstore.LogsDir, fmt.Sprintf("n%d.log", i))
		if fi, err := os.Stat(p); err != nil {
			t.Errorf("node log missing: %v", err)
		} else if fi.Size() == 0 {
			t.Errorf("node log %s is empty", p)
		}
	}
	if res.Report != filepath.Join(res.Dir, runstore.ReportHTML) {
		t.Errorf("Result.Report = %q, want the run's report.html", res.Report)
	}

	// store/latest and store/<test>/latest point at this run.
	want, err := filepath.EvalSymlinks(res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{filepath.Join(tc.Store, "latest"), filepath.Join(tc.Store, tc.TestName(), "latest")} {
		got, err := filepath.EvalSymlinks(l)
		if err != nil {
			t.Errorf("%s: %v", l, err)
		} else if got != want {
			t.Errorf("%s -> %s, want %s", l, got, want)
		}
	}

	// test.json is the configuration that ran.
	var stored faultline.Test
	readJSON(t, filepath.Join(res.Dir, runstore.TestJSON), &stored)
	stored.Quiet = tc.Quiet
	if !reflect.DeepEqual(stored, tc) {
		t.Errorf("test.json = %+v, want %+v", stored, tc)
	}

	// history.jsonl: dense indexes, monotonic times, and the counts the
	// run reported; history.edn holds the same ops.
	ops, err := history.ReadFile(filepath.Join(res.Dir, runstore.HistoryJSONL))
	if err != nil {
		t.Fatalf("read history.jsonl: %v", err)
	}
	var invokes, oks, fails, infos int
	for i, o := range ops {
		if o.Index != int64(i) {
			t.Fatalf("op %d has index %d", i, o.Index)
		}
		if i > 0 && o.Time < ops[i-1].Time {
			t.Fatalf("time goes back at op %d: %d < %d", i, o.Time, ops[i-1].Time)
		}
		if o.IsNemesis() {
			continue
		}
		switch o.Type {
		case history.Invoke:
			invokes++
		case history.OK:
			oks++
		case history.Fail:
			fails++
		case history.Info:
			infos++
		}
	}
	if invokes != res.Ops || oks != res.OK || fails != res.Fail || infos != res.Info {
		t.Errorf("history.jsonl has %d invokes (%d ok, %d fail, %d info); the run reported %d (%d ok, %d fail, %d info)",
			invokes, oks, fails, infos, res.Ops, res.OK, res.Fail, res.Info)
	}
	if res.Ops == 0 || res.OK == 0 {
		t.Errorf("the run did nothing: %d ops, %d ok", res.Ops, res.OK)
	}
	if oks+fails+infos > invokes {
		t.Errorf("%d completions for %d invocations", oks+fails+infos, invokes)
	}
	// Jepsen's process semantics: a finished run leaves no invocation
	// open, a process has one op in flight at a time, and after an info
	// its worker goes on under a fresh process id.
	for _, p := range history.Pairs(ops) {
		if p.Open {
			t.Errorf("invocation never completed in a finished run: %v", p.Invoke)
		}
	}
	inFlight, crashed := map[int]bool{}, map[int]bool{}
	for _, o := range ops {
		if o.IsNemesis() {
			continue
		}
		if t.Failed() {
			break // one broken process is enough to read
		}
		switch {
		case crashed[o.Process]:
			t.Errorf("process %d acts after its info completion: %v", o.Process, o)
		case o.Type == history.Invoke && inFlight[o.Process]:
			t.Errorf("process %d invokes with an op in flight: %v", o.Process, o)
		case o.Type != history.Invoke && !inFlight[o.Process]:
			t.Errorf("completion without an invocation: %v", o)
		}
		inFlight[o.Process] = o.Type == history.Invoke
		if o.Type == history.Info {
			crashed[o.Process] = true
		}
	}

	edn, err := history.ReadFile(filepath.Join(res.Dir, runstore.HistoryEDN))
	if err != nil {
		t.Fatalf("read history.edn: %v", err)
	}
	if len(edn) != len(ops) {
		t.Errorf("history.edn has %d ops, history.jsonl %d", len(edn), len(ops))
	} else {
		for i := range ops {
			a, b := ops[i], edn[i]
			if a.Index != b.Index || a.Time != b.Time || a.Type != b.Type || a.Process != b.Process || a.F != b.F {
				t.Errorf("op %d differs: jsonl %v, edn %v", i, a, b)
				break
			}
		}
	}

	// results.json: one entry per checker the workload wants, composed
	// into the verdict the run returned.
	plan, err := tc.Plan()
	if err != nil {
		t.Fatal(err)
	}
	var results checker.Results
	readJSON(t, filepath.Join(res.Dir, runstore.ResultsJSON), &results)
	cs, err := plan.Checkers(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var names, wantNames []string
	for _, c := range cs {
		wantNames = append(wantNames, c.Name())
	}
	for _, c := range results.Checkers {
		names = append(names, c.Checker)
		if c.Valid != checker.Valid && c.Explanation == "" {
			t.Errorf("checker %s says %v without an explanation", c.Checker, c.Valid)
		}
	}
	if !slices.Equal(names, wantNames) {
		t.Errorf("results.json checkers %v, want one per checker of the run: %v", names, wantNames)
	}
	if results.Valid != res.Valid {
		t.Errorf("results.json says %v, the run returned %v", results.Valid, res.Valid)
	}
	return ops
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
}

// requireValid fails t unless every checker said valid, naming those that
// did not.
func requireValid(t *testing.T, res faultline.Result) {
	t.Helper()
	if res.Valid == checker.Valid {
		return
	}
	for _, c := range res.Checkers.Checkers {
		if c.Valid != checker.Valid {
			t.Errorf("checker %s: %v: %s %s", c.Checker, c.Valid, c.Explanation, c.Error)
		}
	}
	t.Fatalf("verdict %v, want valid; run directory %s", res.Valid, res.Dir)
}

// TestRunWorkloads runs every workload without faults on 3 nodes: each
// run must be valid and store a complete, self-consistent run directory.
func TestRunWorkloads(t *testing.T) {
	requireE2E(t)
	for _, w := range []string{"register", "bank", "list-append", "set"} {
		t.Run(w, func(t *testing.T) {
			tc := e2eTest(t, w)
			res := runE2E(t, tc, 3*time.Minute)
			requireValid(t, res)
			checkRunDir(t, tc, res)
			if len(res.Faults) != 0 {
				t.Errorf("faults %v in a run without nemesis", res.Faults)
			}
		})
	}
}

// faultKind maps a nemesis start op to its fault kind ("" for other ops).
func faultKind(f string) string {
	if k, starts, ok := nemesis.KindOfOp(f); ok && starts {
		return k.Name
	}
	return ""
}

// TestRunEveryFault is issue 5's end to end: the register workload on the
// safe configuration under partitions, packet loss, kills, pauses and clock
// skew must stay valid, and its history must show every fault kind applied
// (an ok completion for each) and healed.
func TestRunEveryFault(t *testing.T) {
	requireE2E(t)
	kinds := []string{nemesis.FaultPartition, nemesis.FaultKill, nemesis.FaultPause, nemesis.FaultClock, nemesis.FaultLoss}
	tc := e2eTest(t, "register")
	tc.Nemesis = nemesis.MustParseSpec("partition,kill,pause,clock,loss")
	tc.NemesisInterval = 2 * time.Second
	// The fifth fault stops at 20 s plus what its ten ops took (each
	// waits the interval after the previous one completed); the rest is
	// room for ops that take seconds each on a loaded machine.
	tc.TimeLimit = 45 * time.Second
	// Any seed runs every kind: the schedule is a rotation.

	res := runE2E(t, tc, 4*time.Minute)
	ops := checkRunDir(t, tc, res)
	requireValid(t, res)

	okKinds := map[string]int{}
	for _, p := range history.Pairs(ops) {
		if !p.Invoke.IsNemesis() {
			continue
		}
		k := faultKind(p.Invoke.F)
		if k == "" {
			continue
		}
		if p.Open || p.Complete.Type != history.OK {
			t.Logf("fault not confirmed: %v -> %v", p.Invoke, p.Complete)
			continue
		}
		if p.Complete.Value == nil {
			t.Errorf("completion of %s does not say what was done: %v", p.Invoke.F, p.Complete)
		}
		okKinds[k]++
	}
	missing := false
	for _, k := range kinds {
		if okKinds[k] == 0 {
			missing = true
			t.Errorf("no %s fault completed ok in the history (ok faults by kind: %v)", k, okKinds)
		}
	}
	if missing {
		for _, o := range ops {
			if o.IsNemesis() {
				t.Logf("nemesis op at %v: %v", time.Duration(o.Time).Round(time.Millisecond), o)
			}
		}
	}
	if len(res.MissingFaults) > 0 {
		t.Errorf("Result.MissingFaults = %v, want every named fault to have happened (happened: %v)", res.MissingFaults, res.Faults)
	}
	for _, k := range kinds {
		if !slices.ContainsFunc(res.Faults, func(f nemesis.Fault) bool { return f.Kind == k }) {
			t.Errorf("Result.Faults = %v lacks %s", res.Faults, k)
		}
	}

	// The final heal is recorded after the last fault: nothing is started
	// after the last stop of the heal.
	lastStart, lastHeal := -1, -1
	for i, o := range ops {
		if !o.IsNemesis() || o.Type != history.OK {
			continue
		}
		switch o.F {
		case nemesis.FStopPartition, nemesis.FStopLoss, nemesis.FStart, nemesis.FResume, nemesis.FResetClock:
			lastHeal = i
		default:
			if faultKind(o.F) != "" {
				lastStart = i
			}
		}
	}
	if lastHeal < lastStart {
		t.Errorf("the last fault (op %d) was never healed (last heal op %d)", lastStart, lastHeal)
	}
}
