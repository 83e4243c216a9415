package bench

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// OpFunc performs one operation for goroutine worker (0..Concurrency-1);
// i counts that worker's operations from 0. A nil error is an ok.
type OpFunc func(ctx context.Context, worker int, i int64) error

// Load is one measurement window: Concurrency goroutines call Op in a loop
// until Duration has passed, MaxOps operations have been started, or ctx
// is done.
type Load struct {
	Concurrency int
	Duration    time.Duration
	MaxOps      int64
	Op          OpFunc
	// Events keeps every op's invoke and completion time, for the fault
	// analyses (Result.OKBetween, Result.FirstOKInvokedAfter).
	Events bool
	// Progress, if > 0, logs ops so far to Logger at that interval.
	Progress time.Duration
	Logger   *slog.Logger
	Name     string
}

// Event is one op: invoke and completion, as offsets from Result.Start.
type Event struct {
	Invoke, Complete time.Duration
	OK               bool
}

// Result is what a window measured. Latency covers ok ops only.
type Result struct {
	Start   time.Time
	Elapsed time.Duration
	OK      int64
	Errors  int64
	// FirstErr is the first error seen, for diagnostics.
	FirstErr error
	Latency  *hdrhistogram.Histogram // microseconds
	Events   []Event                 // sorted by Invoke, if Load.Events
}

// newHist returns a histogram of 1 µs .. 60 s at 3 significant digits.
func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
}

// Run runs the window and returns what it measured.
func (l Load) Run(ctx context.Context) Result {
	conc := max(1, l.Concurrency)
	ctx, cancel := context.WithTimeout(ctx, l.Duration)
	defer cancel()
	var (
		started  atomic.Int64
		ok, errs atomic.Int64
		mu       sync.Mutex
		res      = Result{Latency: newHist()}
	)
	stopProgress := func() {}
	if l.Progress > 0 {
		stopProgress = l.progress(&ok, &errs)
	}
	res.Start = time.Now()
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			hist := newHist()
			var events []Event
			var firstErr error
			for i := int64(0); ctx.Err() == nil; i++ {
				if l.MaxOps > 0 && started.Add(1) > l.MaxOps {
					break
				}
				t0 := time.Now()
				err := l.Op(ctx, w, i)
				t1 := time.Now()
				if err != nil && ctx.Err() != nil {
					break // cut short by the end of the window: not counted
				}
				if err == nil {
					ok.Add(1)
					_ = hist.RecordValue(max(1, t1.Sub(t0).Microseconds()))
				} else {
					errs.Add(1)
					if firstErr == nil {
						firstErr = err
					}
				}
				if l.Events {
					events = append(events, Event{Invoke: t0.Sub(res.Start), Complete: t1.Sub(res.Start), OK: err == nil})
				}
			}
			mu.Lock()
			defer mu.Unlock()
			res.Latency.Merge(hist)
			res.Events = append(res.Events, events...)
			if res.FirstErr == nil {
				res.FirstErr = firstErr
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(res.Start)
	stopProgress()
	res.OK, res.Errors = ok.Load(), errs.Load()
	slices.SortFunc(res.Events, func(a, b Event) int { return int(a.Invoke - b.Invoke) })
	return res
}

func (l Load) progress(ok, errs *atomic.Int64) (stop func()) {
	log := l.Logger
	if log == nil {
		log = slog.Default()
	}
	start := time.Now()
	return Every(l.Progress, func() {
		el := time.Since(start)
		log.Info("bench progress", "name", l.Name, "elapsed", el.Round(time.Second),
			"ok", ok.Load(), "errors", errs.Load(), "ops/s", int(float64(ok.Load())/el.Seconds()))
	})
}

// Every calls f every d, from another goroutine, until stop is called.
func Every(d time.Duration, f func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				f()
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// Throughput is ok ops per second over the window.
func (r Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// QuantileMS returns the latency quantile q (0..100) in milliseconds.
func (r Result) QuantileMS(q float64) float64 {
	return float64(r.Latency.ValueAtQuantile(q)) / 1000
}

// OKBetween counts the ok ops that completed in [from, to) (offsets from
// Start). It needs Load.Events.
func (r Result) OKBetween(from, to time.Duration) int64 {
	var n int64
	for _, e := range r.Events {
		if e.OK && e.Complete >= from && e.Complete < to {
			n++
		}
	}
	return n
}

// FirstOKInvokedAfter returns how long after t the first ok op invoked at
// or after t completed (offsets from Start), and false if none did. Ops
// already in flight at t do not count: they may have been served before
// the fault took hold. It needs Load.Events.
func (r Result) FirstOKInvokedAfter(t time.Duration) (time.Duration, bool) {
	best, found := time.Duration(0), false
	for _, e := range r.Events {
		if e.OK && e.Invoke >= t && (!found || e.Complete < best) {
			best, found = e.Complete, true
		}
	}
	return best - t, found
}

// ProcessCPU returns the user+system CPU time this process has used.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Reporter is the part of *testing.B the reports use.
type Reporter interface {
	ReportMetric(n float64, unit string)
}

// Report reports ops/s, p50/p99/p999 latency in ms, the error count and,
// as ns/op, the mean time per ok op (1/throughput).
func (r Result) Report(b Reporter) {
	tp := r.Throughput()
	b.ReportMetric(tp, "ops/s")
	b.ReportMetric(r.QuantileMS(50), "p50-ms")
	b.ReportMetric(r.QuantileMS(99), "p99-ms")
	b.ReportMetric(r.QuantileMS(99.9), "p999-ms")
	b.ReportMetric(float64(r.Errors), "errors")
	if tp > 0 {
		b.ReportMetric(1e9/tp, "ns/op")
	}
}

// Add folds another window of the same load into r.
func (r *Result) Add(o Result) {
	if r.Latency == nil {
		r.Latency = newHist()
	}
	if r.Start.IsZero() {
		r.Start = o.Start
	}
	r.Elapsed += o.Elapsed
	r.OK += o.OK
	r.Errors += o.Errors
	if r.FirstErr == nil {
		r.FirstErr = o.FirstErr
	}
	if o.Latency != nil {
		r.Latency.Merge(o.Latency)
	}
}
