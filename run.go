package faultline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/cluster"
	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/nemesis"
	"github.com/faultline/faultline/reports"
	"github.com/faultline/faultline/runstore"
	"github.com/faultline/faultline/sut"
	"github.com/faultline/faultline/workload"
)

// ErrAborted is returned when a run was aborted (a second interrupt): the
// cluster was torn down without healing or checking. The history recorded
// so far is on disk; `faultline analyze DIR` checks it.
var ErrAborted = errors.New("run aborted")

// ErrInterruptedStart is returned when an interrupt came while the cluster
// was starting: what was created so far has been removed, and nothing was
// recorded.
var ErrInterruptedStart = errors.New("interrupted during cluster start")

// The phases of a run: entering each flushes the history (Recorder.Phase).
const (
	PhaseSetup = "setup"
	PhaseMain  = "main"
	PhaseHeal  = "heal"
	PhaseFinal = "final"
	PhaseCheck = "check"
)

// Cluster is what a run needs from a started cluster, whatever runtime
// hosts it (Docker or Kubernetes): the nemesis's view of the nodes, where
// clients connect, the nodes' logs, and teardown.
type Cluster interface {
	nemesis.Cluster
	// ClientAddrs maps each node to the host:port the harness dials.
	ClientAddrs() map[string]string
	// SaveLogs writes each node's log to dir/<node>.log.
	SaveLogs(ctx context.Context, dir string) error
	// Close removes every node and network of the cluster.
	Close(ctx context.Context) error
}

// Runtime starts a run's cluster as spec says: docker.Start, or
// kubernetes.Start with a kubeconfig, behind a small closure (the
// command line's are in cmd/faultline). The cluster is not used when the
// error is not nil.
type Runtime func(ctx context.Context, spec cluster.Spec) (Cluster, error)

// Env is what a run uses besides its configuration.
type Env struct {
	// Runtime starts the cluster; it must match Test.Runtime.
	Runtime Runtime
	// Abort, when cancelled (a second interrupt), tears the cluster down
	// at once and ends the run with ErrAborted, the history saved. Nil:
	// never.
	Abort context.Context
	// Progress, if set, is started with the main phase and stopped when
	// it ends (the command line's progress line).
	Progress func(ctx context.Context, m MainPhase) (stop func())
}

// MainPhase is what a progress display reads while the main phase runs.
type MainPhase struct {
	// Test is the run's configuration (its time limit, Quiet).
	Test Test
	// Counts returns the client ops so far by outcome.
	Counts func() workload.Counts
	// Fault names the last nemesis op recorded, e.g. "nemesis: kill ok".
	Fault func() string
}

// Run runs t: build the node image, start the cluster on env's runtime,
// run the workload and the nemesis for t.TimeLimit, heal, run the final
// reads, check and report, and tear everything down. When ctx is
// cancelled (first interrupt) the main phase stops early and the run still
// heals, checks what was recorded and reports. A harness failure returns
// an error; a verdict never does.
func Run(ctx context.Context, t Test, env Env) (res Result, err error) {
	plan, err := t.Plan()
	if err != nil {
		return Result{}, fmt.Errorf("invalid test: %w", err)
	}
	if env.Runtime == nil {
		return Result{}, fmt.Errorf("no runtime to start the %s cluster on: set Env.Runtime", t.Runtime)
	}
	abort := env.Abort
	if abort == nil {
		abort = context.Background()
	}
	start := time.Now()
	res.Test = t
	run, err := runstore.Create(t.Store, t.TestName(), start)
	if err != nil {
		return res, err
	}
	res.Dir = run.Dir
	if err := runstore.WriteJSON(run.Path(runstore.TestJSON), t); err != nil {
		return res, err
	}
	log := slog.With("test", t.TestName())
	log.Info("run starting", "dir", run.Dir, "seed", t.Seed, "rerun", t.RerunCommand())

	cl, err := startCluster(ctx, abort, env.Runtime, plan.Spec(log), log)
	if err != nil {
		if ctx.Err() != nil || abort.Err() != nil {
			return res, fmt.Errorf("%w: the nodes created so far were removed; nothing was recorded (%s holds only the configuration)",
				ErrInterruptedStart, run.Dir)
		}
		return res, fmt.Errorf("start cluster: %w", err)
	}
	closeCluster := closer(cl, run, t.Runtime, log)
	defer closeCluster()

	// The history's clock starts once the cluster is up: time 0 is when
	// the run begins to exercise it, so "how far into the run" counts no
	// image build or cluster start.
	histStart := time.Now()
	rec, err := history.NewRecorder(run.Path(runstore.HistoryJSONL), history.WithStart(histStart))
	if err != nil {
		return res, fmt.Errorf("open history: %w", err)
	}
	defer func() {
		if cerr := rec.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close history: %w", cerr)
		}
	}()
	defer context.AfterFunc(abort, closeCluster)()
	defer context.AfterFunc(ctx, func() {
		log.Warn("interrupted: stopping the workload, then healing, checking what was recorded and reporting (interrupt again to abort)")
	})()

	aborted := func() error {
		return fmt.Errorf("%w: history kept in %s (check it with: faultline analyze %s)", ErrAborted, run.Dir, run.Dir)
	}
	var down []string
	var phases phaseTimes
	err = exercise(ctx, abort, plan, cl, rec, env.Progress, &down, &phases, log)
	// The faults that happened, once the main phase ran: a run whose
	// cluster did not recover keeps its schedule too, to replay or shrink.
	writeSchedule := func(ops []history.Op) error {
		realised := nemesis.Realise(ops, phases.main.Sub(histStart), phases.heal.Sub(histStart), t.TimeLimit, cl.Nodes())
		realised.Leader = phases.leader
		return realised.Write(run.Path(runstore.ScheduleJSON))
	}
	if abort.Err() != nil {
		return res, aborted()
	}
	if err != nil {
		if !phases.heal.IsZero() {
			if werr := writeSchedule(rec.Ops()); werr != nil {
				log.Warn("write the realised schedule", "err", werr)
			}
		}
		return res, fmt.Errorf("%w (history kept in %s)", err, run.Dir)
	}
	closeCluster()
	// A second interrupt during the teardown still skips the check.
	if abort.Err() != nil {
		return res, aborted()
	}
	_ = rec.Phase(PhaseCheck)
	if err := rec.Flush(); err != nil {
		return res, fmt.Errorf("flush history: %w", err)
	}
	ops := rec.Ops()
	if err := writeSchedule(ops); err != nil {
		return res, err
	}
	return checkRun(context.WithoutCancel(ctx), run, plan, ops, history.ReadStats{Read: int64(len(ops))}, down, start, time.Since(start))
}

// startCluster starts the run's cluster; an interrupt (ctx) or an abort
// during the start removes what was created so far.
func startCluster(ctx, abort context.Context, rt Runtime, spec cluster.Spec, log *slog.Logger) (Cluster, error) {
	startCtx, cancel := mergeCancel(ctx, abort)
	defer cancel()
	defer context.AfterFunc(startCtx, func() {
		log.Warn("interrupted during cluster start: removing what was created so far")
	})()
	return rt(startCtx, spec)
}

// closer returns the function that saves the nodes' logs (they explain a
// failed run best) and removes the cluster, once, on any exit path.
func closer(cl Cluster, run runstore.Run, runtime string, log *slog.Logger) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			lctx, cancelLogs := context.WithTimeout(context.Background(), 30*time.Second)
			if err := cl.SaveLogs(lctx, run.Path(runstore.LogsDir)); err != nil {
				log.Warn("save node logs", "err", err)
			}
			cancelLogs()
			cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := cl.Close(cctx); err != nil {
				log.Error("tear down cluster", "err", err, "hint", "remove the leftovers with: faultline reap --runtime "+runtime)
			}
		})
	}
}

// phaseTimes are when the main phase and the final heal began: the
// realised schedule counts from the first, and stops from the second on
// are the heal's. leader is the cluster's leader as the main phase began
// (leaderAtStart).
type phaseTimes struct {
	main, heal time.Time
	leader     string
}

// exercise runs setup, the main phase with the nemesis, the heal and the
// final phase against cl, recording into rec; down receives the nodes
// that stayed down after the heal, phases when the main phase and the
// heal began.
func exercise(ctx, abort context.Context, plan Plan, cl Cluster, rec *history.Recorder,
	progress func(context.Context, MainPhase) func(), down *[]string, phases *phaseTimes, log *slog.Logger) error {
	runner, rebind, closeClients, err := newRunner(ctx, plan, cl, rec)
	if err != nil {
		return err
	}
	defer closeClients()
	_ = rec.Phase(PhaseSetup)
	setupCtx, cancelSetup := mergeCancel(ctx, abort)
	err = runner.Setup(setupCtx)
	cancelSetup()
	if err != nil {
		return fmt.Errorf("workload setup: %w", err)
	}
	phases.main = time.Now()
	plan, phases.leader = leaderAtStart(ctx, plan, cl, log)
	nem, err := mainPhase(ctx, plan, cl, rec, runner, progress, log)
	if err != nil {
		return err
	}
	if abort.Err() != nil {
		return ErrAborted
	}

	// Heal everything and wait for recovery, even after an interrupt.
	_ = rec.Phase(PhaseHeal)
	phases.heal = time.Now()
	healCtx, cancelHeal := mergeCancel(context.WithoutCancel(ctx), abort)
	defer cancelHeal()
	log.Info("healing: resuming, restarting, removing firewall rules, resetting clocks")
	healErr := nemesis.HealAll(healCtx, cl, rec, plan.Nemesis.Faults, plan.Test.RecoveryTimeout)
	if nem != nil {
		if err := nem.Teardown(healCtx); err != nil {
			log.Warn("nemesis teardown", "err", err)
		}
	}
	var partial *nemesis.PartialHeal
	switch {
	case errors.As(healErr, &partial):
		// A node that will not start on its damaged disk: the final reads
		// go to the majority that serves, and the result says it.
		log.Warn("final heal: some nodes stayed down; a majority serves, the final reads go to it", "down", partial.Down, "err", partial.Err)
		*down = partial.Down
		if err := rebind(partial.Down); err != nil {
			return fmt.Errorf("final phase: rebind the clients of %v: %w", partial.Down, err)
		}
	case healErr != nil:
		return fmt.Errorf("final heal: %w", healErr)
	}
	_ = rec.Phase(PhaseFinal)
	log.Info("final phase: final reads")
	finalCtx, cancelFinal := context.WithTimeout(healCtx, plan.Test.RecoveryTimeout)
	defer cancelFinal()
	if err := runner.RunFinal(finalCtx); err != nil && abort.Err() == nil {
		return fmt.Errorf("final reads: %w", err)
	}
	return nil
}

// newRunner returns the workload's runner with a client per worker, the
// function that binds the workers of nodes that stayed down to a node
// that serves, and the function that closes every client.
func newRunner(ctx context.Context, plan Plan, cl Cluster, rec *history.Recorder) (*workload.Runner, func(down []string) error, func(), error) {
	var mu sync.Mutex
	var clients []sut.Client
	closeAll := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range clients {
			_ = c.Close()
		}
	}
	nodes := cl.Nodes()
	t := plan.Test
	client := func(home string) (sut.Client, error) {
		c, err := plan.System.NewClient(ctx, sut.ClientConfig{
			Addrs: cl.ClientAddrs(),
			Home:  home,
			// An attempt gets a third of the op's deadline, so a request
			// hung on a dead or paused node is retried elsewhere before
			// the op gives up as info.
			AttemptTimeout: max(t.OpTimeout/3, 200*time.Millisecond),
			Options:        plan.Options,
		})
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		mu.Lock()
		clients = append(clients, c)
		mu.Unlock()
		return c, nil
	}
	// Worker i is bound to node i mod N, as Jepsen binds clients.
	home := func(worker int) string { return nodes[worker%len(nodes)] }
	rcfg := workload.DefaultRunConfig()
	rcfg.Concurrency, rcfg.Seed, rcfg.OpTimeout, rcfg.Rate, rcfg.TimeLimit = t.Workers(), t.Seed, t.OpTimeout, t.Rate, t.TimeLimit
	runner, err := workload.NewRunner(rcfg, plan.Workload, func(w int) (workload.KV, error) { return client(home(w)) }, rec)
	rebind := func(down []string) error {
		live := slices.DeleteFunc(slices.Clone(nodes), func(n string) bool { return slices.Contains(down, n) })
		for w := range rcfg.Concurrency {
			if !slices.Contains(down, home(w)) || len(live) == 0 {
				continue
			}
			c, err := client(live[w%len(live)])
			if err != nil {
				return err
			}
			if err := runner.Rebind(w, c); err != nil {
				return err
			}
		}
		return nil
	}
	return runner, rebind, closeAll, err
}

// leaderAtStart returns the cluster's leader as the main phase begins
// ("" without faults, or when no leader answers within
// nemesis.LeaderWait), which the realised schedule records, and plan
// with a replayed schedule relabelled so that this run's leader plays the
// recorded leader's part (ScheduleFile.Relabel): which node wins the
// first election is chance, and a bug that needs the leader cut off
// should not need the same node to win it again.
func leaderAtStart(ctx context.Context, plan Plan, cl Cluster, log *slog.Logger) (Plan, string) {
	if len(plan.Nemesis.Faults) == 0 {
		return plan, ""
	}
	lctx, cancel := context.WithTimeout(ctx, nemesis.LeaderWait)
	defer cancel()
	leader, err := cl.Leader(lctx)
	if err != nil {
		log.Warn("no leader as the main phase begins: the schedule records none, and a replay keeps its nodes as recorded", "err", err)
		return plan, ""
	}
	if r := plan.Nemesis.Replay; r != nil && r.Leader != "" && r.Leader != leader {
		relabelled := r.Relabel(leader)
		plan.Nemesis.Replay = &relabelled
		log.Info("replay: nodes relabelled so that this run's leader plays the recorded leader's part", "recorded_leader", r.Leader, "leader", leader)
	}
	return plan, leader
}

// mainPhase runs the workload and the nemesis side by side until the time
// limit or the first interrupt, and returns the nemesis (nil without
// faults) for the heal's teardown.
func mainPhase(ctx context.Context, plan Plan, cl Cluster, rec *history.Recorder, runner *workload.Runner,
	progress func(context.Context, MainPhase) func(), log *slog.Logger) (nemesis.Nemesis, error) {
	t := plan.Test
	var nem nemesis.Nemesis
	var sched nemesis.Schedule
	if len(plan.Nemesis.Faults) > 0 {
		var err error
		if nem, err = nemesis.New(cl, plan.Nemesis); err != nil {
			return nil, fmt.Errorf("nemesis: %w", err)
		}
		if sched, err = nemesis.NewSchedule(plan.Nemesis, t.TimeLimit); err != nil {
			return nil, fmt.Errorf("nemesis schedule: %w", err)
		}
	}
	_ = rec.Phase(PhaseMain)
	log.Info("main phase", "time_limit", t.TimeLimit, "workers", t.Workers(), "nemesis", t.Nemesis)
	mainCtx, cancelMain := context.WithTimeout(ctx, t.TimeLimit)
	defer cancelMain()
	nrec := &nemesisRecorder{rec: rec}
	stopProgress := func() {}
	if progress != nil {
		stopProgress = progress(mainCtx, MainPhase{Test: t, Counts: runner.Counts, Fault: nrec.current})
	}
	var wg sync.WaitGroup
	if nem != nil {
		wg.Go(func() {
			if err := nemesis.Run(mainCtx, sched, nem, nrec); err != nil {
				// An interrupt ends the schedule early; the result says
				// which required faults never happened.
				log.Warn("nemesis worker", "err", err)
			}
		})
	}
	// The runner ends the phase itself at its TimeLimit and lets ops in
	// flight finish within their own deadline, as Jepsen does; only an
	// interrupt (ctx) cuts them short.
	runErr := runner.Run(ctx)
	cancelMain()
	wg.Wait()
	stopProgress()
	if runErr != nil && !errors.Is(runErr, context.Canceled) && !errors.Is(runErr, context.DeadlineExceeded) {
		return nem, fmt.Errorf("workload: %w", runErr)
	}
	return nem, nil
}

// nemesisRecorder records nemesis ops and remembers the last one, so the
// progress line can show the current fault without copying the history.
type nemesisRecorder struct {
	rec  *history.Recorder
	mu   sync.Mutex
	last history.Op
	seen bool
}

// Record implements nemesis.Recorder.
func (n *nemesisRecorder) Record(op history.Op) history.Op {
	op = n.rec.Record(op)
	n.mu.Lock()
	n.last, n.seen = op, true
	n.mu.Unlock()
	return op
}

// current names the last nemesis op recorded, e.g. "nemesis: kill ok".
func (n *nemesisRecorder) current() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.seen {
		return "nemesis: -"
	}
	return fmt.Sprintf("nemesis: %s %s", n.last.F, n.last.Type)
}

// checkRun checks ops, writes results.json, history.edn and the report,
// and refreshes the store index; read says how ops were read, down which
// nodes stayed down after the final heal.
func checkRun(ctx context.Context, run runstore.Run, plan Plan, ops []history.Op, read history.ReadStats, down []string,
	start time.Time, took time.Duration) (Result, error) {
	t := plan.Test
	res := Result{Test: t, Dir: run.Dir, Duration: took, Faults: nemesis.Happened(ops), History: read, StayedDown: down}
	res.MissingFaults = nemesis.Missing(plan.Nemesis.Required(), res.Faults)
	if err := runstore.WriteStream(run.Path(runstore.HistoryEDN), func(w io.Writer) error { return history.WriteEDN(w, ops) }); err != nil {
		return res, err
	}
	cs, err := plan.Checkers(run.Dir)
	if err != nil {
		return res, err
	}
	slog.Info("checking", "ops", len(ops), "checkers", len(cs))
	results := checker.Run(ctx, cs, ops)
	res.Valid, res.Checkers = results.Valid, results
	res.FirstAnomaly, res.Detected = firstAnomaly(results)
	if err := runstore.WriteJSON(run.Path(runstore.ResultsJSON), results); err != nil {
		return res, err
	}
	info := runInfo(plan, start, took, run.Dir)
	info.History, info.StayedDown = read, down
	sum, err := reports.WriteRun(run.Dir, info, ops, results)
	if err != nil {
		return res, fmt.Errorf("write report: %w", err)
	}
	res.Report = run.Path(runstore.ReportHTML)
	res.Ops, res.OK, res.Fail, res.Info = sum.Ops, sum.OK, sum.Fail, sum.InfoOps
	res.OpsPerSec, res.P99 = sum.OpsPerSec, time.Duration(sum.P99Ms*float64(time.Millisecond))
	if err := reports.WriteIndex(run.Store()); err != nil {
		slog.Warn("store index", "err", err)
	}
	if read.Dropped > 0 || read.Refused > 0 {
		slog.Warn("history read with losses", "history", read.String())
	}
	slog.Info("run done", "valid", res.Valid, "ops", res.Ops, "ok", res.OK, "fail", res.Fail, "info", res.Info,
		"report", res.Report, "rerun", t.RerunCommand())
	for _, c := range results.Checkers {
		if c.Valid != checker.Valid {
			slog.Warn("checker verdict", "checker", c.Checker, "valid", c.Valid, "explanation", firstLines(c.Explanation, 3))
		}
	}
	return res, nil
}

// runInfo is what the report needs to know about the run: its plan, and
// the node logs saved in dir.
func runInfo(plan Plan, start time.Time, took time.Duration, dir string) reports.RunInfo {
	t := plan.Test
	nodes := cluster.NodeIDs(t.Nodes)
	var logs []string
	for _, n := range nodes {
		if _, err := os.Stat(filepath.Join(dir, runstore.NodeLog(n))); err == nil {
			logs = append(logs, runstore.NodeLog(n))
		}
	}
	var bugs []string
	for _, b := range plan.Bugs() {
		bugs = append(bugs, b.Flag()+": "+b.Doc)
	}
	return reports.RunInfo{Name: t.TestName(), System: t.System, Workload: string(t.Workload), Nemeses: plan.Nemesis.Faults,
		Seed: t.Seed, Rerun: t.RerunCommand(), Config: t.Config(), Start: start, Duration: took, Nodes: nodes,
		NodeLogs: logs, Expect: string(t.Expect), Bug: strings.Join(bugs, "; ")}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "\n")
}

// mergeCancel returns a context done when either a or b is done; its
// values and deadline are a's.
func mergeCancel(a, b context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(a)
	stop := context.AfterFunc(b, func() { cancel(context.Cause(b)) })
	return ctx, func() { stop(); cancel(context.Canceled) }
}
