package checker

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/faultline/faultline/history"
)

// CheckConfig configures CheckFile.
type CheckConfig struct {
	// Model names the checker (see Models).
	Model string
	// Checker configures it; its Progress is set by CheckFile.
	Checker Config
	// Progress, if set, is called every ProgressEvery (default 2 s) with a
	// line saying how far the check has got.
	Progress      func(line string)
	ProgressEvery time.Duration
}

// CheckFile checks a history file (Jepsen EDN or JSON, faultline JSONL;
// see history.Decoder) with the checker of cfg.Model. The file is read op
// by op as the checker goes (checkers that can, take it as a stream and
// never hold it whole), and held to the model's pairing rules (see
// history.Pairing). The result's Input says how many ops were read and
// why any were refused; artifacts are returned as paths under
// cfg.Checker.OutDir. An error means no verdict: an unknown model, a file
// that cannot be read, a history that is malformed, cut off or cannot be
// paired. The result that comes with the error is Unknown and still says
// what was read (Input) and why it was refused.
func CheckFile(ctx context.Context, path string, cfg CheckConfig) (Result, error) {
	m, err := model(cfg.Model)
	if err != nil {
		return Result{}, err
	}
	progress := &Progress{}
	cfg.Checker.Progress = progress
	c, err := New(cfg.Model, cfg.Checker)
	if err != nil {
		return Result{}, err
	}
	f, format, err := history.OpenFile(path)
	if err != nil {
		return Result{}, fmt.Errorf("check: %w", err)
	}
	defer f.Close()
	if out := cfg.Checker.OutDir; out != "" {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return Result{}, fmt.Errorf("check: create %s: %w", out, err)
		}
	}
	var size int64
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	in := &countingReader{r: f}
	dec := history.NewDecoder(in, format, history.CheckPairs(m.pairing))
	var ops atomic.Int64
	var reading atomic.Bool
	reading.Store(true)
	if cfg.Progress != nil {
		every := cfg.ProgressEvery
		if every <= 0 {
			every = 2 * time.Second
		}
		start := time.Now()
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				el := time.Since(start).Round(100 * time.Millisecond)
				if reading.Load() {
					pct := ""
					if size > 0 {
						pct = fmt.Sprintf("%.0f%% ", 100*float64(in.n.Load())/float64(size))
					}
					cfg.Progress(fmt.Sprintf("reading %s: %s(%d ops, %v)", filepath.Base(path), pct, ops.Load(), el))
				} else {
					cfg.Progress(fmt.Sprintf("checking %s (%d ops, %v): %s", filepath.Base(path), ops.Load(), el, progress))
				}
			}
		}()
	}
	r, err := checkDecoded(ctx, c, dec, func() {
		ops.Add(1)
	}, func() { reading.Store(false) })
	if err != nil {
		return r, fmt.Errorf("check %s: %w", path, err)
	}
	for i, a := range r.Artifacts {
		r.Artifacts[i] = filepath.Join(cfg.Checker.OutDir, a)
	}
	return r, nil
}

// checkDecoded checks the history dec reads with c (see RunStream);
// read is called for each op read, done once reading ends. On a history
// dec refuses, the error comes with an Unknown result that says what was
// read and why it was refused, and c gives no verdict.
func checkDecoded(ctx context.Context, c Checker, dec *history.Decoder, read, done func()) (Result, error) {
	r, err := RunStream(ctx, c, func() (history.Op, error) {
		op, err := dec.Next()
		if err == nil {
			read()
		} else {
			done()
		}
		return op, err
	})
	st := dec.Stats()
	if err != nil {
		return Result{Checker: safeName(c), Valid: Unknown, Explanation: err.Error(), Error: err.Error(), Input: &st}, err
	}
	r.Input = &st
	return r, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
