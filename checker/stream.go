package checker

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"time"

	"github.com/faultline/faultline/history"
)

// Stream is a check of a history fed to it one op at a time, in history
// order, so that the history need not be in memory at once. Result gives
// the verdict once every op has been added; a Stream is used once.
type Stream interface {
	// Add takes the next op. An error means the op cannot be checked by
	// this checker (bad input); the check cannot go on.
	Add(op history.Op) error
	// Result checks what was added, honouring ctx as Checker.Check does.
	Result(ctx context.Context) Result
}

// Streamer is a Checker that can check a history as it streams by.
type Streamer interface {
	Checker
	Stream() Stream
}

// checkStream is Check for a Streamer: it feeds ops to a new stream.
func checkStream(ctx context.Context, s Streamer, ops []history.Op) Result {
	st := s.Stream()
	for i := range ops {
		if i&0xffff == 0 && ctx.Err() != nil {
			return ctxUnknown(ctx, s.Name())
		}
		if err := st.Add(ops[i]); err != nil {
			return unknown(s.Name(), err)
		}
	}
	return st.Result(ctx)
}

// RunStream checks a history read op by op from next (which returns
// io.EOF after the last op) with c, as RunOne does: panics and timeouts
// become Unknown results (panics while taking ops too). A Streamer takes
// the ops as they come, while
// the next ones are read (reading and checking use a core each); any other
// checker gets them gathered in memory first. An error reading the
// history is returned as such: there is no verdict on a history that could
// not be read.
func RunStream(ctx context.Context, c Checker, next func() (history.Op, error)) (r Result, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []history.Op, 4)
	var readErr error
	go func() {
		defer close(batches)
		const size = 1024
		batch := make([]history.Op, 0, size)
		for {
			op, err := next()
			if err != nil {
				if err != io.EOF {
					readErr = err
				}
				break
			}
			if batch = append(batch, op); len(batch) == size {
				select {
				case batches <- batch:
				case <-ctx.Done():
					return
				}
				batch = make([]history.Op, 0, size)
			}
		}
		if len(batch) > 0 {
			select {
			case batches <- batch:
			case <-ctx.Done():
			}
		}
	}()
	drain := func() {
		cancel()
		for range batches {
		}
	}
	defer func() {
		if p := recover(); p != nil {
			drain()
			name := safeName(c)
			r, err = Result{Checker: name, Valid: Unknown,
				Explanation: fmt.Sprintf("checker %s panicked: %v", name, p),
				Error:       fmt.Sprintf("panic: %v\n%s", p, debug.Stack())}, nil
		}
	}()
	s, streams := c.(Streamer)
	var st Stream
	var ops []history.Op
	if streams {
		st = s.Stream()
	}
	for batch := range batches {
		if !streams {
			ops = append(ops, batch...)
			continue
		}
		for _, op := range batch {
			if err := st.Add(op); err != nil {
				drain()
				return unknown(safeName(c), err), nil
			}
		}
	}
	if readErr != nil {
		return Result{}, readErr
	}
	if ctx.Err() != nil {
		return ctxUnknown(ctx, safeName(c)), nil
	}
	if !streams {
		return RunOne(ctx, c, ops), nil
	}
	return RunOne(ctx, fed{c, st}, nil), nil
}

// fed is a checker whose stream is already fed: Check returns its result.
type fed struct {
	Checker
	st Stream
}

func (f fed) Check(ctx context.Context, _ []history.Op) Result { return f.st.Result(ctx) }

// TimeLimit implements Limited with the fed checker's limit.
func (f fed) TimeLimit() time.Duration {
	if l, ok := f.Checker.(Limited); ok {
		return l.TimeLimit()
	}
	return 0
}

// Progress is what a long check has done so far, for a progress line; it
// is safe for concurrent use and a nil *Progress ignores updates.
type Progress struct {
	mu          sync.Mutex
	phase       string
	done, total int64
}

// Phase starts a phase of total steps (0: unknown).
func (p *Progress) Phase(name string, total int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.phase, p.done, p.total = name, 0, total
	p.mu.Unlock()
}

// Step records n more steps done.
func (p *Progress) Step(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.done += n
	p.mu.Unlock()
}

// String renders the progress: "checking keys: 512/1000".
func (p *Progress) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.phase == "":
		return "starting"
	case p.total > 0:
		return fmt.Sprintf("%s: %d/%d", p.phase, p.done, p.total)
	case p.done > 0:
		return fmt.Sprintf("%s: %d", p.phase, p.done)
	}
	return p.phase
}
