package faultfs

import (
	"bytes"
	"sort"
)

// spanOverhead is what one saved span costs beside its bytes (the struct
// and its slot in the slice), counted in the journal's memory.
const spanOverhead = 48

// span is a saved range of a file's durable bytes: data holds them, or is
// nil when they were all zero (a preallocated region costs no memory).
type span struct {
	off, n int64
	data   []byte
}

func (s span) end() int64 { return s.off + s.n }

// spanSet is a file's saved old bytes since its last sync: sorted,
// non-overlapping spans. Each byte is saved once between syncs, the first
// time a write, truncate or fallocate is about to change it.
type spanSet struct {
	spans []span
	// held is the memory the set costs: saved bytes plus spanOverhead a span.
	held int64
}

// gaps returns the parts of [off, end) that no span covers yet, in order.
func (s *spanSet) gaps(off, end int64) [][2]int64 {
	var out [][2]int64
	i := sort.Search(len(s.spans), func(i int) bool { return s.spans[i].end() > off })
	for ; off < end && i < len(s.spans) && s.spans[i].off < end; i++ {
		if s.spans[i].off > off {
			out = append(out, [2]int64{off, s.spans[i].off})
		}
		off = max(off, s.spans[i].end())
	}
	if off < end {
		out = append(out, [2]int64{off, end})
	}
	return out
}

// add inserts a span over a gap (no overlap with any span), merging it
// with a neighbour of the same kind (zero or data) that it touches.
func (s *spanSet) add(sp span) {
	if sp.data != nil && allZero(sp.data) {
		sp.data = nil
	}
	i := sort.Search(len(s.spans), func(i int) bool { return s.spans[i].off >= sp.off })
	if i > 0 {
		prev := &s.spans[i-1]
		if prev.end() == sp.off && (prev.data == nil) == (sp.data == nil) {
			prev.n += sp.n
			if sp.data != nil {
				prev.data = append(prev.data, sp.data...)
				s.held += int64(len(sp.data))
			}
			return
		}
	}
	s.spans = append(s.spans, span{})
	copy(s.spans[i+1:], s.spans[i:])
	s.spans[i] = sp
	s.held += spanOverhead + int64(len(sp.data))
}

// reset forgets every span (the file was synced).
func (s *spanSet) reset() {
	s.spans = nil
	s.held = 0
}

// savedBytes is how many bytes of the file the set restores.
func (s *spanSet) savedBytes() int64 {
	var n int64
	for _, sp := range s.spans {
		n += sp.n
	}
	return n
}

var zeroBlock = make([]byte, 64<<10)

func allZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroBlock))
		if !bytes.Equal(b[:n], zeroBlock[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}
