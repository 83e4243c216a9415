package workload

import (
	"context"
	"testing"
	"time"

	"github.com/faultline/faultline/system"
)

// A nightly run (5 minutes; 10,000 adds/s is more than 5 containers do)
// must leave every key, and every answer of the final read, far below the
// store's frame limit: a value over it made every read of its key fail
// (issue 16). Sizes follow the wire encoding: 4 bytes + digits per list
// element, 1 + 4 bytes + value per TXN read result.
func TestSetDefaultsStayFarBelowTheFrameLimit(t *testing.T) {
	const adds = 10_000 * 300
	cfg := DefaultSetConfig()
	for _, workers := range []int{1, 16, 100} {
		gen := make([]*uniqueValues, workers)
		for w := range gen {
			gen[w] = newUniqueValues(WorkerInfo{Worker: w, Workers: workers})
		}
		size := make([]int, cfg.Keys)
		for i := range adds {
			e := gen[i%workers].next(0)
			size[e%int64(cfg.Keys)] += 4 + len(encodeInt(e))
		}
		biggestKey, biggestAnswer := 0, 0
		for lo := 0; lo < cfg.Keys; lo += setReadChunk {
			answer := 1 + 4
			for k := lo; k < min(lo+setReadChunk, cfg.Keys); k++ {
				answer += 1 + 4 + size[k]
				biggestKey = max(biggestKey, size[k])
			}
			biggestAnswer = max(biggestAnswer, answer)
		}
		t.Logf("%d workers: biggest key %d KB, biggest final-read answer %d KB (limit %d KB)",
			workers, biggestKey>>10, biggestAnswer>>10, system.DefaultMaxFrameSize>>10)
		if biggestAnswer > system.DefaultMaxFrameSize/4 {
			t.Fatalf("%d workers: a final-read answer of %d bytes is over a quarter of the %d-byte frame limit; spread the set over more keys",
				workers, biggestAnswer, system.DefaultMaxFrameSize)
		}
	}
}

// Worker 0 reads the whole set every ReadInterval while the others add,
// as Jepsen's set-full reads while it adds; with ReadInterval 0 it adds.
func TestSetReadsWhileAdding(t *testing.T) {
	for _, tc := range []struct {
		interval time.Duration
		worker0  string
	}{{time.Millisecond, "read"}, {0, "add"}} {
		w, err := NewSet(SetConfig{Keys: 16, ReadInterval: tc.interval})
		if err != nil {
			t.Fatal(err)
		}
		g := w.Generator()
		for wi, want := range []string{tc.worker0, "add"} {
			for _, op := range draw(t, g, 1, wi, 2, 3) {
				if op.F != want {
					t.Fatalf("interval %v: worker %d drew %q, want %q", tc.interval, wi, op.F, want)
				}
			}
		}
	}
	if err := (SetConfig{Keys: 1, ReadInterval: -time.Second}).Validate(); err == nil {
		t.Error("a negative read interval passed Validate")
	}
}

// hangingKV answers no transaction: each blocks until its context ends,
// and the time each had left is recorded.
type hangingKV struct {
	KV
	left []time.Duration
}

func (h *hangingKV) Txn(ctx context.Context, _ []MicroOp) ([]MicroResult, error) {
	if dl, ok := ctx.Deadline(); ok {
		h.left = append(h.left, time.Until(dl))
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestSetReadChunkDeadline: a read's first transaction gets its share of
// the op's deadline (Requests op timeouts), the others also what the
// ones before them left, so a read on a cluster that answers nothing ends
// after one share, not after all of them.
func TestSetReadChunkDeadline(t *testing.T) {
	w, err := NewSet(DefaultSetConfig())
	if err != nil {
		t.Fatal(err)
	}
	read := Op{F: "read"}
	const opTimeout = 20 * time.Millisecond
	chunks := w.Requests(read)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(chunks)*opTimeout)
	defer cancel()
	kv := &hangingKV{}
	if _, err := w.Invoke(ctx, kv, read); err == nil {
		t.Fatal("a read of a cluster that answers nothing succeeded")
	}
	if len(kv.left) != 1 || kv.left[0] > opTimeout {
		t.Errorf("transactions tried, with the time each had left: %v; want one, with at most %v (of %v for the read)", kv.left, opTimeout, time.Duration(chunks)*opTimeout)
	}
}
