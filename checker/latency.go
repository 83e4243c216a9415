package checker

import (
	"context"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/faultline/faultline/history"
)

// Point is one completed client op for latency plots.
type Point struct {
	// Time is when the op was invoked, since the start of the run.
	Time time.Duration `json:"time"`
	// Latency is completion time minus invocation time.
	Latency time.Duration `json:"latency"`
	F       string        `json:"f"`
	Type    history.Type  `json:"type"`
	Process int           `json:"process"`
	Index   int64         `json:"index"`
}

// LatencyPoints returns every completed client op (ops whose completion
// is missing are left out), in invocation order.
func LatencyPoints(ops []history.Op) []Point {
	var out []Point
	for _, p := range clientPairs(ops) {
		if p.Open {
			continue
		}
		out = append(out, Point{Time: time.Duration(p.Invoke.Time), Latency: time.Duration(p.Complete.Time - p.Invoke.Time),
			F: p.Invoke.F, Type: p.Complete.Type, Process: p.Invoke.Process, Index: p.Complete.Index})
	}
	return out
}

// Quantiles summarises latencies, in milliseconds.
type Quantiles struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

// newHist covers 1 µs to 1 hour with 3 significant digits.
func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3)
}

func record(h *hdrhistogram.Histogram, d time.Duration) {
	us := max(int64(d/time.Microsecond), 1)
	if err := h.RecordValue(us); err != nil {
		_ = h.RecordValue(h.HighestTrackableValue())
	}
}

func summarize(h *hdrhistogram.Histogram) Quantiles {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Quantiles{Count: h.TotalCount(), Mean: h.Mean() / 1000,
		P50: ms(h.ValueAtQuantile(50)), P95: ms(h.ValueAtQuantile(95)), P99: ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max())}
}

// LatencyQuantiles returns latency quantiles by f and outcome (ok, fail,
// info), plus "all" for each f and for all ops under f "all".
func LatencyQuantiles(points []Point) map[string]map[string]Quantiles {
	hs := map[string]map[string]*hdrhistogram.Histogram{}
	get := func(f, t string) *hdrhistogram.Histogram {
		m := hs[f]
		if m == nil {
			m = map[string]*hdrhistogram.Histogram{}
			hs[f] = m
		}
		h := m[t]
		if h == nil {
			h = newHist()
			m[t] = h
		}
		return h
	}
	for _, p := range points {
		t := p.Type.String()
		record(get(p.F, t), p.Latency)
		record(get(p.F, "all"), p.Latency)
		record(get("all", t), p.Latency)
		record(get("all", "all"), p.Latency)
	}
	out := map[string]map[string]Quantiles{}
	for f, m := range hs {
		out[f] = map[string]Quantiles{}
		for t, h := range m {
			out[f][t] = summarize(h)
		}
	}
	return out
}

// OKRateSeries returns ok completions per second in consecutive buckets
// from time 0 to the last completion (zero-filled).
func OKRateSeries(ops []history.Op, bucket time.Duration) []float64 {
	if bucket <= 0 {
		bucket = time.Second
	}
	var out []float64
	for _, o := range ops {
		if o.Process == history.NemesisProcess || o.Type != history.OK || o.Time < 0 {
			continue
		}
		b := int(o.Time / int64(bucket))
		for len(out) <= b {
			out = append(out, 0)
		}
		out[b]++
	}
	for i := range out {
		out[i] /= bucket.Seconds()
	}
	return out
}

// Latency is the perf checker: HdrHistogram latency quantiles by f and
// outcome, and throughput over time. It is informational: always Valid.
type Latency struct {
	// Bucket is the throughput bucket (default 1 s).
	Bucket time.Duration
}

// NewLatency returns the perf checker.
func NewLatency() *Latency { return &Latency{Bucket: time.Second} }

// Name implements Checker.
func (l *Latency) Name() string { return "perf" }

// Check implements Checker.
func (l *Latency) Check(ctx context.Context, ops []history.Op) Result {
	pts := LatencyPoints(ops)
	if ctx.Err() != nil {
		return ctxUnknown(ctx, l.Name())
	}
	q := LatencyQuantiles(pts)
	series := OKRateSeries(ops, l.Bucket)
	var first, last int64 = -1, 0
	okN := 0
	for _, p := range pts {
		if first < 0 || int64(p.Time) < first {
			first = int64(p.Time)
		}
		last = max(last, int64(p.Time+p.Latency))
		if p.Type == history.OK {
			okN++
		}
	}
	details := map[string]any{
		"latency":            q,
		"ok_rate_per_bucket": series,
		"bucket_seconds":     l.Bucket.Seconds(),
		"completed":          len(pts),
	}
	if last > first && first >= 0 {
		details["ok_throughput"] = float64(okN) / (float64(last-first) / 1e9)
	}
	return Result{Checker: l.Name(), Valid: Valid, Details: details}
}
