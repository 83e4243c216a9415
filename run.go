package faultline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/checker"
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

// Phases recorded in the history's phase marks.
const (
	PhaseSetup = "setup"
	PhaseMain  = "main"
	PhaseHeal  = "heal"
	PhaseFinal = "final"
	PhaseCheck = "check"
)

// Run runs t: build the node image, start the cluster, run the workload and
// the nemesis for t.TimeLimit, heal, run the final reads, check and report,
// and tear everything down. When ctx is cancelled (first interrupt) the
// main phase stops early and the run still heals, checks what was recorded
// and reports. A harness failure returns an error; a verdict never does.
func Run(ctx context.Context, t Test) (Result, error) {
	return RunWithAbort(ctx, context.Background(), t)
}

// RunWithAbort is Run with a second context: when abort is cancelled
// (second interrupt) the cluster is torn down at once and the run returns
// ErrAborted with the history saved.
func RunWithAbort(ctx, abort context.Context, t Test) (res Result, err error) {
	if err := t.Validate(); err != nil {
		return Result{}, fmt.Errorf("invalid test: %w", err)
	}
	start := time.Now()
	res.Test = t
	run, err := runstore.Create(t.Store, t.TestName(), start)
	if err != nil {
		return res, err
	}
	dir := run.Dir
	res.Dir = dir
	if err := runstore.WriteJSON(run.Path(runstore.TestJSON), t); err != nil {
		return res, err
	}
	log := slog.With("test", t.TestName())
	log.Info("run starting", "dir", dir, "seed", t.Seed, "rerun", t.RerunCommand())

	// The cluster lives until the deferred Close, whatever happens; an
	// abort closes it at once.
	startCtx, cancelStart := mergeCancel(ctx, abort)
	stopSay := context.AfterFunc(startCtx, func() {
		log.Warn("interrupted during cluster start: removing what was created so far")
	})
	cl, err := startCluster(startCtx, t, log)
	stopSay()
	cancelStart()
	if err != nil {
		if ctx.Err() != nil || abort.Err() != nil {
			log.Warn("cluster start interrupted: the containers and network created so far were removed; nothing was recorded",
				"dir", dir)
			return res, fmt.Errorf("%w: the containers and network created so far were removed; nothing was recorded (%s holds only the configuration)",
				ErrInterruptedStart, dir)
		}
		return res, fmt.Errorf("start cluster: %w", err)
	}
	var closeOnce sync.Once
	closeCluster := func() {
		closeOnce.Do(func() {
			// Node logs are kept on every exit path: they explain a failed
			// run best.
			lctx, cancelLogs := context.WithTimeout(context.Background(), 30*time.Second)
			if err := cl.SaveLogs(lctx, run.Path(runstore.LogsDir)); err != nil {
				log.Warn("save node logs", "err", err)
			}
			cancelLogs()
			cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if cerr := cl.Close(cctx); cerr != nil {
				log.Error("tear down cluster", "err", cerr, "hint", "remove leftovers with: docker rm -f $(docker ps -aq --filter label=faultline=1)")
			}
		})
	}
	defer closeCluster()

	// The history's clock starts once the cluster is up: time 0 is when
	// the run begins to exercise it, so "how far into the run" counts no
	// image build or cluster start.
	rec, err := history.NewRecorder(run.Path(runstore.HistoryJSONL), history.WithStart(time.Now()))
	if err != nil {
		return res, fmt.Errorf("open history: %w", err)
	}
	defer func() {
		if cerr := rec.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close history: %w", cerr)
		}
	}()
	aborted := make(chan struct{})
	stopWatch := context.AfterFunc(abort, func() { closeCluster(); close(aborted) })
	defer stopWatch()
	stopSay = context.AfterFunc(ctx, func() {
		log.Warn("interrupted: stopping the workload, then healing, checking what was recorded and reporting (interrupt again to abort)")
	})
	defer stopSay()

	out, err := exercise(ctx, abort, t, cl, rec, log)
	if abort.Err() != nil {
		return res, fmt.Errorf("%w: history kept in %s (check it with: faultline analyze %s)", ErrAborted, dir, dir)
	}
	if err != nil {
		return res, fmt.Errorf("%w (history kept in %s)", err, dir)
	}

	closeCluster()
	_ = rec.Phase(PhaseCheck)
	if err := rec.Flush(); err != nil {
		return res, fmt.Errorf("flush history: %w", err)
	}

	ops := rec.Ops()
	res, err = analyze(context.WithoutCancel(ctx), run, t, out.info, ops, start, time.Since(start))
	return res, err
}

// exercised is what the cluster phases produced.
type exercised struct {
	info   workload.Info
	faults []nemesis.Fault
}

// exercise runs setup, the main phase with the nemesis, the heal and the
// final phase against cl, recording into rec.
func exercise(ctx, abort context.Context, t Test, cl Cluster, rec *history.Recorder, log *slog.Logger) (exercised, error) {
	var out exercised
	opts := workload.DefaultOptions()
	wl, err := workload.ByName(string(t.Workload), opts)
	if err != nil {
		return out, err
	}
	out.info = wl.Info()

	sys, sysOpts, err := t.system()
	if err != nil {
		return out, err
	}
	var clientsMu sync.Mutex
	var clients []sut.Client
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
	}()
	nodes := cl.Nodes()
	newClient := func(worker int) (workload.KV, error) {
		c, err := sys.NewClient(ctx, sut.ClientConfig{
			Addrs: cl.ClientAddrs(),
			// Worker i is bound to node i mod N, as Jepsen binds clients.
			Home: nodes[worker%len(nodes)],
			// An attempt gets a third of the op's deadline, so a request
			// hung on a dead or paused node is retried elsewhere before
			// the op gives up as info.
			AttemptTimeout: max(t.OpTimeout/3, 200*time.Millisecond),
			Options:        sysOpts,
		})
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		clientsMu.Lock()
		clients = append(clients, c)
		clientsMu.Unlock()
		return c, nil
	}
	rcfg := workload.DefaultRunConfig()
	rcfg.Concurrency = t.Workers()
	rcfg.Seed = t.Seed
	rcfg.OpTimeout = t.OpTimeout
	rcfg.Rate = t.Rate
	rcfg.TimeLimit = t.TimeLimit
	runner, err := workload.NewRunner(rcfg, wl, newClient, rec)
	if err != nil {
		return out, err
	}

	// Nemesis.
	ncfg, err := t.nemesisConfig()
	if err != nil {
		return out, err
	}
	var nem nemesis.Nemesis
	var sched nemesis.Schedule
	if len(ncfg.Faults) > 0 {
		if nem, err = nemesis.New(cl, ncfg); err != nil {
			return out, fmt.Errorf("nemesis: %w", err)
		}
		if sched, err = nemesis.NewSchedule(ncfg, t.TimeLimit); err != nil {
			return out, fmt.Errorf("nemesis schedule: %w", err)
		}
	}

	_ = rec.Phase(PhaseSetup)
	setupCtx, cancelSetup := mergeCancel(ctx, abort)
	err = runner.Setup(setupCtx)
	cancelSetup()
	if err != nil {
		return out, fmt.Errorf("workload setup: %w", err)
	}

	// Main phase: workload and nemesis side by side until the time limit
	// or the first interrupt.
	_ = rec.Phase(PhaseMain)
	log.Info("main phase", "time_limit", t.TimeLimit, "workers", rcfg.Concurrency, "nemesis", t.Nemesis)
	mainCtx, cancelMain := context.WithTimeout(ctx, t.TimeLimit)
	nrec := &nemesisRecorder{rec: rec}
	stopProgress := startProgress(mainCtx, t, runner, nrec, log)
	var wg sync.WaitGroup
	if nem != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := nemesis.Run(mainCtx, sched, nem, nrec); err != nil {
				// An interrupt ends the schedule early; the summary says
				// which required faults never happened.
				log.Warn("nemesis worker", "err", err)
			}
		}()
	}
	// The runner ends the phase itself at its TimeLimit and lets ops in
	// flight finish within their own deadline, as Jepsen does; only an
	// interrupt (ctx) cuts them short.
	runErr := runner.Run(ctx)
	cancelMain()
	wg.Wait()
	stopProgress()
	if runErr != nil && !errors.Is(runErr, context.Canceled) && !errors.Is(runErr, context.DeadlineExceeded) {
		return out, fmt.Errorf("workload: %w", runErr)
	}
	out.faults = nemesis.Happened(rec.Ops())
	if abort.Err() != nil {
		return out, ErrAborted
	}

	// Heal everything and wait for recovery, even after an interrupt.
	_ = rec.Phase(PhaseHeal)
	healCtx, cancelHeal := mergeCancel(context.WithoutCancel(ctx), abort)
	defer cancelHeal()
	log.Info("healing: resuming, restarting, removing firewall rules, resetting clocks")
	healErr := nemesis.HealAllWithin(healCtx, cl, rec, t.RecoveryTimeout)
	if nem != nil {
		if err := nem.Teardown(healCtx); err != nil {
			log.Warn("nemesis teardown", "err", err)
		}
	}
	if healErr != nil {
		return out, fmt.Errorf("final heal: %w", healErr)
	}

	_ = rec.Phase(PhaseFinal)
	log.Info("final phase: final reads")
	finalCtx, cancelFinal := context.WithTimeout(healCtx, t.RecoveryTimeout)
	defer cancelFinal()
	if err := runner.RunFinal(finalCtx); err != nil && abort.Err() == nil {
		return out, fmt.Errorf("final reads: %w", err)
	}
	return out, nil
}

// Checkers returns the checkers for a workload, writing artifacts into dir:
// its model checkers (checker.New, the models `faultline check` knows)
// and the figures every run gets.
func Checkers(info workload.Info, t Test, dir string) ([]checker.Checker, error) {
	var cs []checker.Checker
	for _, name := range info.Checkers {
		var c checker.Checker
		switch name {
		case "stats":
			c = checker.NewStats()
		case "latency":
			c = checker.NewLatency()
		case "availability":
			c = checker.NewAvailability(checker.AvailabilityConfig{Concurrency: t.Workers()})
		default:
			model := name
			if name == "linearizable" {
				model = info.Model
			}
			cfg := checker.DefaultConfig()
			cfg.OutDir, cfg.BankTotal, cfg.BankAccounts = dir, info.Total, info.Accounts
			m, err := checker.New(model, cfg)
			if err != nil {
				return nil, fmt.Errorf("workload %s: checker %q: %w", info.Name, name, err)
			}
			c = m
		}
		cs = append(cs, checker.WithTimeLimit(c, t.CheckTimeout))
	}
	return cs, nil
}

// analyze checks ops, writes results.json, history.edn and the report, and
// refreshes the store index.
func analyze(ctx context.Context, run runstore.Run, t Test, info workload.Info, ops []history.Op, start time.Time, took time.Duration) (Result, error) {
	dir := run.Dir
	res := Result{Test: t, Dir: dir, Duration: took, Faults: nemesis.Happened(ops)}
	if ncfg, err := t.nemesisConfig(); err == nil {
		res.MissingFaults = nemesis.Missing(ncfg.Required(), res.Faults)
	}
	for _, o := range ops {
		if o.IsNemesis() {
			continue
		}
		switch o.Type {
		case history.Invoke:
			res.Ops++
		case history.OK:
			res.OK++
		case history.Fail:
			res.Fail++
		case history.Info:
			res.Info++
		}
	}
	if err := runstore.WriteStream(run.Path(runstore.HistoryEDN), func(w io.Writer) error { return history.WriteEDN(w, ops) }); err != nil {
		return res, err
	}
	cs, err := Checkers(info, t, dir)
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
	nodes := make([]string, t.Nodes)
	var logs []string
	for i := range nodes {
		nodes[i] = fmt.Sprintf("n%d", i+1)
		if _, err := os.Stat(filepath.Join(dir, runstore.NodeLog(nodes[i]))); err == nil {
			logs = append(logs, runstore.NodeLog(nodes[i]))
		}
	}
	if err := reports.WriteRun(dir, runInfo(t, start, took, nodes, logs), ops, results); err != nil {
		return res, fmt.Errorf("write report: %w", err)
	}
	res.Report = run.Path(runstore.ReportHTML)
	if sum, err := reports.ReadSummary(dir); err == nil {
		res.OpsPerSec = sum.OpsPerSec
		res.P99 = time.Duration(sum.P99Ms * float64(time.Millisecond))
	}
	if err := reports.WriteIndex(run.Store()); err != nil {
		slog.Warn("store index", "err", err)
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

// runInfo is what the report needs to know about t.
func runInfo(t Test, start time.Time, took time.Duration, nodes, logs []string) reports.RunInfo {
	return reports.RunInfo{Name: t.TestName(), System: t.System, Workload: string(t.Workload), Nemeses: t.Nemesis.Kinds(),
		Seed: t.Seed, Rerun: t.RerunCommand(), Config: t.Config(), Start: start, Duration: took, Nodes: nodes,
		NodeLogs: logs, Expect: string(t.Expect), Bug: t.plantedBugs()}
}

// plantedBugs describes the planted bugs t turns on, for reports.
func (t Test) plantedBugs() string {
	var bugs []string
	if t.ReadMode != sut.Linearizable {
		bugs = append(bugs, "--read-mode="+string(t.ReadMode))
	}
	for _, u := range t.Unsafe {
		bugs = append(bugs, "--unsafe="+u)
	}
	return strings.Join(bugs, " ")
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "\n")
}

// WriteIndex regenerates store/index.html.
func WriteIndex(store string) error { return reports.WriteIndex(store) }

// Serve serves the store's reports on addr until ctx is done.
func Serve(ctx context.Context, store, addr string) error { return reports.Serve(ctx, store, addr) }

// mergeCancel returns a context done when either a or b is done; its
// values and deadline are a's.
func mergeCancel(a, b context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(a)
	stop := context.AfterFunc(b, func() { cancel(context.Cause(b)) })
	return ctx, func() { stop(); cancel(context.Canceled) }
}
