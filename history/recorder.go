package history

import (
	"bufio"
	"fmt"
	"os"
	"sync"
	"time"
)

// DefaultFlushInterval is how often a Recorder flushes history.jsonl in the
// background. A killed harness loses at most this much of the history.
const DefaultFlushInterval = 100 * time.Millisecond

// RecorderOption configures a Recorder.
type RecorderOption func(*Recorder)

// WithStart sets the instant the recorder's clock counts from (default: the
// call to NewRecorder). Use it to share one run clock with other components.
func WithStart(t time.Time) RecorderOption {
	return func(r *Recorder) { r.start = t }
}

// Recorder is the concurrency-safe history of a run. Record assigns each op
// its Index and Time and keeps it in memory; a background goroutine encodes
// new ops and appends them to the history file (JSONL), flushing at least
// every DefaultFlushInterval and at every Phase change, so a killed harness leaves
// a readable file behind (a torn last line is tolerated by ReadJSONL).
//
// The hot path (Record) only takes a mutex, reads the monotonic clock and
// appends to a slice; encoding happens off the hot path.
type Recorder struct {
	start time.Time

	mu     sync.Mutex
	chunks []*[chunkSize]Op // ops in fixed chunks: never copied on growth
	n      int              // number of ops recorded
	last   int64            // last assigned time, to keep Time non-decreasing
	closed bool

	wmu     sync.Mutex // serializes drains to the file
	f       *os.File   // nil for a memory-only recorder
	bw      *bufio.Writer
	written int // ops below written are encoded into bw (guarded by mu)
	buf     []byte
	werr    error // first write error, reported by Phase and Close

	stop chan struct{}
	done chan struct{}
}

// NewRecorder creates a Recorder that streams to path (created or
// truncated). An empty path records in memory only.
func NewRecorder(path string, opts ...RecorderOption) (*Recorder, error) {
	r := &Recorder{
		start: time.Now(),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	for _, o := range opts {
		o(r)
	}
	if path == "" {
		close(r.done)
		return r, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("history: create recorder file: %w", err)
	}
	r.f = f
	r.bw = bufio.NewWriterSize(f, 256<<10)
	go r.loop()
	return r, nil
}

func (r *Recorder) loop() {
	defer close(r.done)
	t := time.NewTicker(DefaultFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			_ = r.drain(true) // errors are kept in r.werr
		}
	}
}

// Start returns the instant Time counts from.
func (r *Recorder) Start() time.Time { return r.start }

// Now returns nanoseconds since the recorder's start (monotonic clock).
func (r *Recorder) Now() int64 { return int64(time.Since(r.start)) }

// Record stores op with the next Index and the current Time (never less
// than a previously assigned Time) and returns the stored op. Values should
// already be in the normalized shapes (int64, string, []any,
// map[string]any, nil); they are not copied, so callers must not mutate
// them afterwards. Recording after Close keeps the op in memory only.
func (r *Recorder) Record(op Op) Op {
	r.mu.Lock()
	t := int64(time.Since(r.start))
	if t < r.last {
		t = r.last
	}
	r.last = t
	op.Time = t
	op.Index = int64(r.n)
	c := r.n / chunkSize
	if c == len(r.chunks) {
		r.chunks = append(r.chunks, new([chunkSize]Op))
	}
	r.chunks[c][r.n%chunkSize] = op
	r.n++
	r.mu.Unlock()
	return op
}

// chunkSize is the number of ops per storage chunk.
const chunkSize = 1024

// appendRange appends ops[from:to] to dst. Ops below r.n are never written
// again, so callers may read them without r.mu once they saw r.n >= to.
func appendRange(dst []Op, chunks []*[chunkSize]Op, from, to int) []Op {
	for i := from; i < to; {
		c, off := i/chunkSize, i%chunkSize
		end := min(chunkSize, off+(to-i))
		dst = append(dst, chunks[c][off:end]...)
		i += end - off
	}
	return dst
}

// Ops returns a copy of every op recorded so far, in index order.
func (r *Recorder) Ops() []Op {
	r.mu.Lock()
	chunks, n := r.chunks, r.n
	r.mu.Unlock()
	return appendRange(make([]Op, 0, n), chunks, 0, n)
}

// Len returns the number of ops recorded so far.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// Phase marks that the run enters the named phase: everything recorded so
// far is flushed to the file, so a harness killed in the next phase leaves
// the earlier ones whole.
func (r *Recorder) Phase(name string) error {
	if err := r.drain(true); err != nil {
		return fmt.Errorf("history: flush at phase %q: %w", name, err)
	}
	return nil
}

// Flush writes every op recorded so far to the file.
func (r *Recorder) Flush() error { return r.drain(true) }

// drain encodes the ops not yet written and, if flush, flushes the buffer.
func (r *Recorder) drain(flush bool) error {
	if r.f == nil {
		return nil
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if r.werr != nil {
		return r.werr
	}
	if r.bw == nil { // closed
		return nil
	}
	r.mu.Lock()
	chunks, from, to := r.chunks, r.written, r.n
	r.written = r.n
	r.mu.Unlock()
	// Ops below r.n are never written again, so reading them without r.mu
	// is safe even while others record.
	for i := from; i < to; i++ {
		r.buf = appendJSONOp(r.buf[:0], &chunks[i/chunkSize][i%chunkSize])
		r.buf = append(r.buf, '\n')
		if _, err := r.bw.Write(r.buf); err != nil {
			r.werr = fmt.Errorf("write history: %w", err)
			return r.werr
		}
	}
	if flush && r.bw.Buffered() > 0 {
		if err := r.bw.Flush(); err != nil {
			r.werr = fmt.Errorf("flush history: %w", err)
			return r.werr
		}
	}
	return nil
}

// Close stops the background flusher, writes and fsyncs everything and
// closes the file. It is safe to call more than once.
func (r *Recorder) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	close(r.stop)
	<-r.done
	err := r.drain(true)
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.bw = nil
	if serr := r.f.Sync(); serr != nil && err == nil {
		err = fmt.Errorf("fsync history: %w", serr)
	}
	if cerr := r.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close history: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("history: close recorder: %w", err)
	}
	return nil
}
