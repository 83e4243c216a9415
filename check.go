package faultline

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
)

// CheckConfig configures CheckFile.
type CheckConfig struct {
	// Model names the checker (see checker.Models).
	Model string
	// Checker configures it; its Progress is set by CheckFile.
	Checker checker.Config
	// Progress, if set, is called every ProgressEvery (default 2 s) with a
	// line saying how far the check has got.
	Progress      func(line string)
	ProgressEvery time.Duration
}

// CheckFile checks a history file (Jepsen EDN or JSON, faultline JSONL;
// see history.Decoder) with the checker of cfg.Model. The file is read op
// by op as the checker goes (checkers that can, take it as a stream and
// never hold it whole). Artifacts are returned as paths under
// cfg.Checker.OutDir. An error means no verdict: an unknown model, a file
// that cannot be read, a malformed history.
func CheckFile(ctx context.Context, path string, cfg CheckConfig) (checker.Result, error) {
	format, err := history.FormatOf(path)
	if err != nil {
		return checker.Result{}, err
	}
	progress := &checker.Progress{}
	cfg.Checker.Progress = progress
	c, err := checker.New(cfg.Model, cfg.Checker)
	if err != nil {
		return checker.Result{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return checker.Result{}, fmt.Errorf("check: %w", err)
	}
	defer f.Close()
	if out := cfg.Checker.OutDir; out != "" {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return checker.Result{}, fmt.Errorf("check: create %s: %w", out, err)
		}
	}
	var size int64
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	in := &countingReader{r: f}
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
	dec := history.NewDecoder(in, format)
	r, err := checker.RunStream(ctx, c, func() (history.Op, error) {
		op, err := dec.Next()
		if err == nil {
			ops.Add(1)
		} else {
			reading.Store(false)
		}
		return op, err
	})
	if err != nil {
		return checker.Result{}, fmt.Errorf("check %s: %w", path, err)
	}
	for i, a := range r.Artifacts {
		r.Artifacts[i] = filepath.Join(cfg.Checker.OutDir, a)
	}
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
