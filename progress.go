package faultline

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/workload"
)

// counter is what the progress line reads from the workload runner.
type counter interface{ Counts() workload.Counts }

var _ counter = (*workload.Runner)(nil)

// startProgress shows the main phase's progress until ctx is done or the
// returned stop is called: a live bar on a terminal (elapsed / limit, ops
// ok/fail/info, current fault), a log line every 5 s otherwise (CI logs).
func startProgress(ctx context.Context, t Test, c counter, nrec *nemesisRecorder, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	tty := !t.Quiet && term.IsTerminal(int(os.Stderr.Fd()))
	go func() {
		defer wg.Done()
		begin := time.Now()
		every := 5 * time.Second
		var bar *progressbar.ProgressBar
		if tty {
			every = 250 * time.Millisecond
			bar = progressbar.NewOptions64(t.TimeLimit.Milliseconds(),
				progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetWidth(20),
				progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(200*time.Millisecond))
		}
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				if bar != nil {
					_ = bar.Finish()
				}
				return
			case <-tick.C:
			}
			n := c.Counts()
			fault := nrec.current()
			el := time.Since(begin).Round(time.Second)
			if bar != nil {
				bar.Describe(fmt.Sprintf("%s/%s ok %d fail %d info %d | %s", el, t.TimeLimit, n.OK, n.Fail, n.Info, fault))
				_ = bar.Set64(min(time.Since(begin).Milliseconds(), t.TimeLimit.Milliseconds()))
			} else if !t.Quiet {
				log.Info("progress", "elapsed", el, "limit", t.TimeLimit, "ok", n.OK, "fail", n.Fail, "info", n.Info, "fault", fault)
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// nemesisRecorder records nemesis ops and remembers the last one, so the
// progress line can show the current fault without copying the history.
type nemesisRecorder struct {
	rec  *history.Recorder
	mu   sync.Mutex
	last history.Op
	seen bool
}

// Record implements nemesis.Recorder.
func (n *nemesisRecorder) Record(op history.Op) history.Op {
	op = n.rec.Record(op)
	n.mu.Lock()
	n.last, n.seen = op, true
	n.mu.Unlock()
	return op
}

// current names the last nemesis op recorded, e.g. "nemesis: kill ok".
func (n *nemesisRecorder) current() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.seen {
		return "nemesis: -"
	}
	return fmt.Sprintf("nemesis: %s %s", n.last.F, n.last.Type)
}
