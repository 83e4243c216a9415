package checker

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/faultline/faultline/history"
)

// Limited is implemented by checkers that carry their own time limit. Run
// stops waiting for such a checker when the limit has passed.
type Limited interface {
	TimeLimit() time.Duration
}

// GracePeriod is how long Run waits, after a checker's deadline, for the
// checker to return its own (Unknown or partial) result before it gives up
// on it and reports Unknown itself.
var GracePeriod = 2 * time.Second

type limited struct {
	Checker
	limit time.Duration
}

func (l limited) TimeLimit() time.Duration { return l.limit }

// limitedStreamer is a limited Streamer.
type limitedStreamer struct{ limited }

func (l limitedStreamer) Stream() Stream { return l.Checker.(Streamer).Stream() }

// WithTimeLimit returns c with a time limit that Run enforces: when it has
// passed, c's result is Unknown with a timeout error. A Streamer stays one.
func WithTimeLimit(c Checker, d time.Duration) Checker {
	if _, ok := c.(Streamer); ok {
		return limitedStreamer{limited{Checker: c, limit: d}}
	}
	return limited{Checker: c, limit: d}
}

// Run checks ops with every checker concurrently and composes the results
// (one entry per checker, in the order given). A checker that panics, or
// does not return within its time limit (see Limited) or before ctx is
// done, yields an Unknown result carrying the error; the others are not
// affected.
func Run(ctx context.Context, checkers []Checker, ops []history.Op) Results {
	rs := make([]Result, len(checkers))
	var wg sync.WaitGroup
	for i, c := range checkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs[i] = RunOne(ctx, c, ops)
		}()
	}
	wg.Wait()
	return Compose(rs)
}

// RunOne runs a single checker as Run does: panics and timeouts become
// Unknown results.
func RunOne(ctx context.Context, c Checker, ops []history.Op) Result {
	name := safeName(c)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if l, ok := c.(Limited); ok && l.TimeLimit() > 0 {
		cctx, cancel = context.WithTimeout(cctx, l.TimeLimit())
		defer cancel()
	}
	done := make(chan Result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- Result{Checker: name, Valid: Unknown,
					Explanation: fmt.Sprintf("checker %s panicked: %v", name, p),
					Error:       fmt.Sprintf("panic: %v\n%s", p, debug.Stack())}
			}
		}()
		done <- c.Check(cctx, ops)
	}()
	var r Result
	select {
	case r = <-done:
	case <-cctx.Done():
		select {
		case r = <-done:
		case <-time.After(GracePeriod):
			err := fmt.Errorf("checker %s: %w", name, context.Cause(cctx))
			r = Result{Valid: Unknown, Error: err.Error(),
				Explanation: fmt.Sprintf("checker %s did not finish in time: %v", name, timeoutWord(cctx))}
		}
	}
	if r.Checker == "" {
		r.Checker = name
	}
	if r.Valid != Valid && r.Explanation == "" {
		r.Explanation = fmt.Sprintf("checker %s returned %s without an explanation", name, r.Valid)
		if r.Error != "" {
			r.Explanation += ": " + r.Error
		}
	}
	return r
}

func timeoutWord(ctx context.Context) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "time limit exceeded"
	}
	return "cancelled"
}

func safeName(c Checker) (name string) {
	defer func() {
		if recover() != nil {
			name = fmt.Sprintf("%T", c)
		}
	}()
	return c.Name()
}

// unknown builds an Unknown result for checker name from err.
func unknown(name string, err error) Result {
	return Result{Checker: name, Valid: Unknown, Error: err.Error(), Explanation: err.Error()}
}

// ctxUnknown is the Unknown result of a checker stopped by ctx.
func ctxUnknown(ctx context.Context, name string) Result {
	return unknown(name, fmt.Errorf("%s: %w", name, context.Cause(ctx)))
}
