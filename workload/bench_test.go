package workload

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/faultline/faultline/history"
)

// noopKV answers everything at once: missing keys, empty TXN results.
type noopKV struct{}

func (noopKV) Get(context.Context, string) ([]byte, bool, error) { return nil, false, nil }
func (noopKV) Put(context.Context, string, []byte) error         { return nil }
func (noopKV) CAS(context.Context, string, []byte, []byte) error { return nil }
func (noopKV) Append(context.Context, string, []byte) error      { return nil }
func (noopKV) Txn(_ context.Context, ops []MicroOp) ([]MicroResult, error) {
	return make([]MicroResult, len(ops)), nil
}

// discard is a Recorder that keeps nothing.
type discard struct{ n atomic.Int64 }

func (d *discard) Record(op history.Op) history.Op {
	op.Index = d.n.Add(1) - 1
	return op
}

// runNoop runs n ops of the named workload with C workers against noopKV,
// recording into rec, and returns the wall time.
func runNoop(b *testing.B, name string, workers, n int, rec Recorder) time.Duration {
	cfg := DefaultRunConfig()
	cfg.Concurrency, cfg.Limit, cfg.TimeLimit = workers, int64(n), 0
	r, err := NewRunner(cfg, mustWorkload(b, name), func(int) (KV, error) { return noopKV{}, nil }, rec)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := r.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// BenchmarkRunnerNoopClient measures generator + runner + streaming
// recorder (history.jsonl on disk) throughput with 8 workers and a client
// that does nothing: ops/s, each op being an invoke and a completion.
func BenchmarkRunnerNoopClient(b *testing.B) {
	for _, name := range []string{"register", "list-append"} {
		b.Run(name, func(b *testing.B) {
			rec, err := history.NewRecorder(filepath.Join(b.TempDir(), "history.jsonl"))
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			el := runNoop(b, name, 8, b.N, rec)
			b.StopTimer()
			if err := rec.Close(); err != nil {
				b.Fatal(err)
			}
			if got := rec.Len(); got != 2*b.N {
				b.Fatalf("recorded %d ops, want %d", got, 2*b.N)
			}
			b.ReportMetric(float64(b.N)/el.Seconds(), "ops/s")
		})
	}
}

// cpuTime returns the process's user+system CPU time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecordingOverhead measures what recording costs per op (invoke
// + completion): one worker's wall time per op with the streaming recorder
// (history.jsonl on disk) minus its wall time per op with a recorder that
// discards everything, and the same difference in process CPU time (which
// includes the background encoder and the GC, and is less sensitive to a
// loaded machine).
func BenchmarkRecordingOverhead(b *testing.B) {
	rec, err := history.NewRecorder(filepath.Join(b.TempDir(), "history.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := cpuTime(b)
	withRec := runNoop(b, "register", 1, b.N, rec)
	if err := rec.Close(); err != nil {
		b.Fatal(err)
	}
	cpu1 := cpuTime(b)
	b.StopTimer()
	without := runNoop(b, "register", 1, b.N, &discard{})
	cpu2 := cpuTime(b)
	perOp := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) }
	b.ReportMetric(perOp(withRec), "ns/op-recorded")
	b.ReportMetric(perOp(without), "ns/op-discarded")
	b.ReportMetric(max(0, perOp(withRec)-perOp(without)), "record-ns/op")
	b.ReportMetric(max(0, perOp(cpu1-cpu0)-perOp(cpu2-cpu1)), "record-cpu-ns/op")
}

// BenchmarkGenerator measures one worker's generator alone.
func BenchmarkGenerator(b *testing.B) {
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			gen := mustWorkload(b, name).Generator()(WorkerInfo{Worker: 0, Workers: 8})
			r := WorkerRand(1, 0, "main")
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := gen.Next(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
