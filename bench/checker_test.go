package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	osexec "os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/checker/checkertest"
	"github.com/faultline/faultline/history"
)

// checkTimeout bounds one Check; past it the checker answers Unknown and
// the sub-benchmark fails, saying so.
const checkTimeout = 2 * time.Minute

// generate returns a valid generated history of n ops (register: reads,
// writes and cas over 1000 keys; list-append: n transactions).
func generate(model string, n int) []history.Op {
	if model == "list-append" {
		return checkertest.GenerateListAppendHistory(checkertest.ListAppendGenConfig{
			Seed: 1, Txns: n, Processes: 10, InfoRate: 0.01, FailRate: 0.01})
	}
	return checkertest.GenerateRegisterHistory(checkertest.RegisterGenConfig{
		Seed: 1, Ops: n, Keys: 1000, Processes: 10, InfoRate: 0.01, FailRate: 0.01})
}

// BenchmarkCheckFile is `faultline check` on a history file: a generated
// valid history of each -bench.checker-sizes ops (list-append up to
// -bench.max-list-append transactions), written as Jepsen's EDN, read back
// op by op and checked (cas-register: porcupine per key; list-append:
// Elle's checker under strict serializability). Each check runs in a
// child process (this test binary), so that its peak resident memory is
// its own. It reports s/check, op-checked/s, peak-rss-MB and cpu-s/check
// (user and system time: on a shared machine wall time says more about
// the neighbours than about the checker). The targets for 1,000,000 ops:
// under 30 s and 2 GB each.
func BenchmarkCheckFile(b *testing.B) {
	for _, model := range []string{"cas-register", "list-append"} {
		for _, n := range cfg.CheckerSizes {
			b.Run(fmt.Sprintf("%s/ops=%d", model, n), func(b *testing.B) {
				if model == "list-append" && n > cfg.MaxListAppend {
					b.Skipf("%d txns is above -bench.max-list-append=%d", n, cfg.MaxListAppend)
				}
				path := filepath.Join(b.TempDir(), "history.edn")
				ops := generate(model, n)
				if err := history.WriteFile(path, ops); err != nil {
					b.Fatal(err)
				}
				ops = nil
				runtime.GC()
				var rssMB, cpu float64
				b.ResetTimer()
				for range b.N {
					r, c := checkInChild(b, model, path)
					rssMB, cpu = max(rssMB, r), cpu+c
				}
				b.StopTimer()
				b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/check")
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "op-checked/s")
				b.ReportMetric(rssMB, "peak-rss-MB")
				b.ReportMetric(cpu/float64(b.N), "cpu-s/check")
			})
		}
	}
}

// checkEnv carries "MODEL PATH" to TestCheckFileChild.
const checkEnv = "FAULTLINE_BENCH_CHECK_FILE"

// checkInChild runs TestCheckFileChild in a child process and returns its
// peak resident memory (MB) and CPU time (s).
func checkInChild(b *testing.B, model, path string) (rssMB, cpu float64) {
	b.Helper()
	cmd := osexec.Command(os.Args[0], "-test.run=^TestCheckFileChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), checkEnv+"="+model+" "+path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	stop := Every(cfg.Progress, func() {
		slog.Info("bench progress", "name", b.Name(), "checking", time.Since(t0).Round(time.Second))
	})
	err := cmd.Run()
	stop()
	if err != nil {
		b.Fatalf("check %s of %s: %v\n%s", model, path, err, out.String())
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Fatal("no resource usage for the child")
	}
	cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	// Not ru.Maxrss: Linux counts in it the parent's peak, whose memory
	// the child shared until it started (exec).
	_, hwm, ok := strings.Cut(out.String(), peakLine)
	if !ok {
		b.Fatalf("the child did not say its peak memory:\n%s", out.String())
	}
	kb, err := strconv.ParseFloat(strings.Fields(hwm)[0], 64)
	if err != nil {
		b.Fatalf("peak memory %q: %v", hwm, err)
	}
	return kb / 1024, cpu
}

// peakLine starts the line in which TestCheckFileChild says its peak
// resident memory, in kB.
const peakLine = "peak-rss-kB "

// peakRSS returns the peak resident memory of this process, in kB, from
// Linux's VmHWM.
func peakRSS() (string, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			return strings.TrimSuffix(strings.TrimSpace(v), " kB"), nil
		}
	}
	return "", errors.New("no VmHWM in /proc/self/status")
}

// TestCheckFileChild is BenchmarkCheckFile's child: it checks the file
// named in FAULTLINE_BENCH_CHECK_FILE and fails unless it is valid.
func TestCheckFileChild(t *testing.T) {
	spec := os.Getenv(checkEnv)
	if spec == "" {
		t.Skip("run by BenchmarkCheckFile")
	}
	model, path, _ := strings.Cut(spec, " ")
	c := checker.DefaultConfig()
	c.TimeLimit = checkTimeout
	r, err := checker.CheckFile(context.Background(), path, checker.CheckConfig{Model: model, Checker: c})
	if err != nil {
		t.Fatal(err)
	}
	if r.Valid != checker.Valid {
		t.Fatalf("%s judged a valid generated history %s: %s %s", model, r.Valid, r.Explanation, r.Error)
	}
	kb, err := peakRSS()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("%s%s\n", peakLine, kb)
}

// BenchmarkCheckers runs the register (porcupine, cas-register model) and
// list-append checkers on generated valid histories in memory, of each
// -bench.checker-sizes ops (list-append up to -bench.max-list-append), to
// show how the cost of checking alone grows with the size. It reports ops
// checked per second (op-checked/s) and bytes allocated per op
// (alloc-B/op).
func BenchmarkCheckers(b *testing.B) {
	for _, model := range []string{"cas-register", "list-append"} {
		for _, n := range cfg.CheckerSizes {
			b.Run(fmt.Sprintf("%s/ops=%d", strings.TrimPrefix(model, "cas-"), n), func(b *testing.B) {
				if model == "list-append" && n > cfg.MaxListAppend {
					b.Skipf("%d ops is above -bench.max-list-append=%d", n, cfg.MaxListAppend)
				}
				c, err := checker.New(model, checker.DefaultConfig())
				if err != nil {
					b.Fatal(err)
				}
				measureCheck(b, c, generate(model, n), n)
			})
		}
	}
}

// measureCheck checks ops b.N times; n is the number of logical ops (each
// an invoke and a completion in ops).
func measureCheck(b *testing.B, c checker.Checker, ops []history.Op, n int) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
		t0 := time.Now()
		stop := Every(cfg.Progress, func() {
			slog.Info("bench progress", "name", b.Name(), "checking", time.Since(t0).Round(time.Second))
		})
		r := c.Check(ctx, ops)
		stop()
		cancel()
		if r.Valid != checker.Valid {
			b.Fatalf("%s judged a valid generated history of %d ops %s after %v: %s %s",
				c.Name(), n, r.Valid, time.Since(t0).Round(time.Millisecond), r.Explanation, r.Error)
		}
		if d := time.Since(t0); d > cfg.Progress {
			b.Logf("check %d of %d: %v", i+1, b.N, d.Round(time.Millisecond))
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	total := float64(n) * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds(), "op-checked/s")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/total, "alloc-B/op")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/check")
}
