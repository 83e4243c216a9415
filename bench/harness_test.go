package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/workload"
)

// recorderOps is how many logical ops (an invoke and a completion each)
// one iteration of BenchmarkRecorder records.
const recorderOps = 500_000

// BenchmarkRecorder measures history.Recorder.Record per logical op (an
// invoke and its ok completion): into memory only ("mem"), into memory and
// history.jsonl on disk ("jsonl", the background encoder included through
// Close), and from 8 goroutines at once ("mem-8-goroutines"). ns/op is per
// logical op; alloc-B/op is the heap allocated per logical op.
// workload.BenchmarkRecordingOverhead measures the same cost inside the
// runner.
func BenchmarkRecorder(b *testing.B) {
	for _, v := range []struct {
		name       string
		file       bool
		goroutines int
	}{{"mem", false, 1}, {"jsonl", true, 1}, {"mem-8-goroutines", false, 8}} {
		b.Run(v.name, func(b *testing.B) {
			var elapsed time.Duration
			var alloc uint64
			for range b.N {
				path := ""
				if v.file {
					path = filepath.Join(b.TempDir(), "history.jsonl")
				}
				rec, err := history.NewRecorder(path)
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				t0 := time.Now()
				var wg sync.WaitGroup
				for g := range v.goroutines {
					wg.Go(func() {
						value := []any{"k", int64(g)} // built once: Record is measured, not boxing
						for i := g; i < recorderOps; i += v.goroutines {
							rec.Record(history.Op{Type: history.Invoke, Process: g, F: "write", Value: value})
							rec.Record(history.Op{Type: history.OK, Process: g, F: "write", Value: value})
						}
					})
				}
				wg.Wait()
				if err := rec.Close(); err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(t0)
				runtime.ReadMemStats(&m1)
				alloc += m1.TotalAlloc - m0.TotalAlloc
				if rec.Len() != 2*recorderOps {
					b.Fatalf("recorded %d ops, want %d", rec.Len(), 2*recorderOps)
				}
			}
			n := float64(recorderOps) * float64(b.N)
			b.ReportMetric(float64(elapsed.Nanoseconds())/n, "ns/op")
			b.ReportMetric(float64(alloc)/n, "alloc-B/op")
		})
	}
}

// BenchmarkRunner measures the harness's own throughput: workload
// generator + runner + in-memory recorder against workload.MemKV (an
// in-memory linearizable store with no latency), -bench.duration per
// iteration. ops/s counts logical ops. workload.BenchmarkRunnerNoopClient
// is the same with a do-nothing client and the file-backed recorder.
func BenchmarkRunner(b *testing.B) {
	for _, name := range []string{"register", "list-append"} {
		for _, workers := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/workers=%d", name, workers), func(b *testing.B) {
				var ops int64
				var elapsed time.Duration
				for range b.N {
					w, err := workload.ByName(name, workload.DefaultOptions())
					if err != nil {
						b.Fatal(err)
					}
					rec, err := history.NewRecorder("")
					if err != nil {
						b.Fatal(err)
					}
					kv := workload.NewMemKV(workload.MemKVConfig{})
					rcfg := workload.DefaultRunConfig()
					rcfg.Concurrency, rcfg.TimeLimit, rcfg.Limit = workers, cfg.Duration, cfg.MaxOps
					r, err := workload.NewRunner(rcfg, w, func(int) (workload.KV, error) { return kv, nil }, rec)
					if err != nil {
						b.Fatal(err)
					}
					t0 := time.Now()
					if err := r.Run(context.Background()); err != nil {
						b.Fatal(err)
					}
					elapsed += time.Since(t0)
					ops += int64(rec.Len() / 2)
					rec.Close()
				}
				b.ReportMetric(float64(ops)/elapsed.Seconds(), "ops/s")
				b.ReportMetric(float64(elapsed.Nanoseconds())/float64(ops), "ns/op")
			})
		}
	}
}
