package system

import (
	"math/rand/v2"
	"testing"
)

// The floor is the lowest seq taken and not done, whatever the order in
// which requests finish; compared with a scan of the seqs in flight.
func TestSeqsFloor(t *testing.T) {
	for seed := range uint64(50) {
		r := rand.New(rand.NewPCG(seed, 0))
		s := seqs{low: 1, inflight: map[uint64]struct{}{}}
		inflight := map[uint64]bool{}
		var last uint64
		for step := range 500 {
			if len(inflight) == 0 || r.IntN(2) == 0 {
				last = s.take()
				inflight[last] = true
			} else {
				for seq := range inflight { // a random one
					s.done(seq)
					delete(inflight, seq)
					break
				}
			}
			want := last + 1
			for seq := range inflight {
				want = min(want, seq)
			}
			if got := s.floor(); got != want {
				t.Fatalf("seed %d step %d: floor %d, want %d (in flight %v)", seed, step, got, want, inflight)
			}
		}
	}
}
