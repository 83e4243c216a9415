package raftlog

import (
	"errors"
	"flag"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

var seedFlag = flag.Uint64("raftlog.seed", 0, "seed of the randomized raftlog tests (0: a fresh one, printed)")

// testSeed returns -raftlog.seed or a fresh seed, and prints how to rerun.
func testSeed(t *testing.T) uint64 {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d; rerun: go test ./system/raftlog/ -run '^%s$' -raftlog.seed %d", seed, t.Name(), seed)
	return seed
}

// TestMatchesInmemStore runs random appends, compactions, tail
// truncations, whole-log deletes, reads, stable-store writes and
// crash-restarts against both the Log and raft's InmemStore, and compares
// every answer. The Log is monotonic, so appends continue the log (or
// start anywhere when it is empty), as raft issues them.
func TestMatchesInmemStore(t *testing.T) {
	seed := testSeed(t)
	steps := 1500
	if testing.Short() {
		steps = 300
	}
	r := rand.New(rand.NewPCG(seed, 1))
	cfg := testConfig(t.TempDir())
	cfg.SegmentSize = 4096 + int64(r.IntN(16<<10))
	l := openT(t, cfg)
	defer func() { l.Close() }()
	m := raft.NewInmemStore()
	termNow := uint64(1)
	for step := range steps {
		first, _ := m.FirstIndex()
		last, _ := m.LastIndex()
		switch k := r.IntN(100); {
		case k < 45: // append a batch
			next := last + 1
			if last == 0 {
				next = 1 + uint64(r.IntN(1000))
			}
			if r.IntN(10) == 0 {
				termNow++
			}
			batch := mkLogs(next, next+uint64(r.IntN(12)), termNow)
			if err := l.StoreLogs(batch); err != nil {
				t.Fatalf("step %d: StoreLogs: %v", step, err)
			}
			_ = m.StoreLogs(batch)
		case k < 55 && last > first: // compaction
			max := first + uint64(r.Int64N(int64(last-first)))
			mustDelete(t, step, l, m, first, max)
		case k < 65 && last > first: // conflict truncation
			min := first + 1 + uint64(r.Int64N(int64(last-first)))
			mustDelete(t, step, l, m, min, last+uint64(r.IntN(3)))
			termNow++ // the next leader's entries differ
		case k < 67 && last > 0: // the whole log, as after a snapshot install
			mustDelete(t, step, l, m, first, last)
		case k < 69 && last > first+2: // a hole: refused, nothing changes
			if err := l.DeleteRange(first+1, last-1); err == nil {
				t.Fatalf("step %d: DeleteRange(%d, %d) inside [%d, %d] was accepted", step, first+1, last-1, first, last)
			}
		case k < 74:
			key, val := []byte{byte('a' + r.IntN(3))}, []byte{byte(step), byte(step >> 8)}
			if err := l.Set(key, val); err != nil {
				t.Fatalf("step %d: Set: %v", step, err)
			}
			_ = m.Set(key, val)
		case k < 80: // crash and restart
			crash(l)
			l = openT(t, cfg)
		default: // reads
			for range 5 {
				i := first + uint64(r.IntN(int(last-first)+5)) - 2
				var got, want raft.Log
				gerr, werr := l.GetLog(i, &got), m.GetLog(i, &want)
				if (gerr == nil) != (werr == nil) || (gerr == nil && !sameLog(&got, &want)) ||
					(gerr != nil && !errors.Is(gerr, raft.ErrLogNotFound)) {
					t.Fatalf("step %d: GetLog(%d): %v %+v, InmemStore: %v %+v", step, i, gerr, got, werr, want)
				}
			}
		}
		lf, _ := l.FirstIndex()
		ll, _ := l.LastIndex()
		mf, _ := m.FirstIndex()
		ml, _ := m.LastIndex()
		if lf != mf || ll != ml {
			t.Fatalf("step %d: log is [%d, %d], InmemStore [%d, %d]", step, lf, ll, mf, ml)
		}
		for _, key := range []string{"a", "b", "c"} {
			gv, gerr := l.Get([]byte(key))
			wv, werr := m.Get([]byte(key))
			if (gerr == nil) != (werr == nil) || string(gv) != string(wv) {
				t.Fatalf("step %d: Get(%s) = %q %v, InmemStore %q %v", step, key, gv, gerr, wv, werr)
			}
		}
	}
	crash(l)
	l = openT(t, cfg)
	first, _ := m.FirstIndex()
	last, _ := m.LastIndex()
	for i := first; i <= last && last > 0; i++ {
		var got, want raft.Log
		if err := l.GetLog(i, &got); err != nil || m.GetLog(i, &want) != nil || !sameLog(&got, &want) {
			t.Fatalf("final read of %d: %v", i, err)
		}
	}
}

func mustDelete(t *testing.T, step int, l *Log, m *raft.InmemStore, min, max uint64) {
	t.Helper()
	if err := l.DeleteRange(min, max); err != nil {
		t.Fatalf("step %d: DeleteRange(%d, %d): %v", step, min, max, err)
	}
	_ = m.DeleteRange(min, max)
}
