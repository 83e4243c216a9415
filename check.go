package faultline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
)

// CheckFile checks a history file (JSONL or Jepsen EDN) for
// linearizability with the named model (register, cas-register, kv). The
// failing key's visualisation is written into outDir.
func CheckFile(ctx context.Context, model, path string, timeout time.Duration, outDir string) (checker.Result, error) {
	ops, err := history.ReadFile(path)
	if err != nil {
		return checker.Result{}, err
	}
	if outDir != "" {
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return checker.Result{}, fmt.Errorf("create %s: %w", outDir, err)
		}
	}
	l, err := checker.NewLinearizable(checker.LinearizableConfig{Model: model, TimeLimit: timeout, OutDir: outDir})
	if err != nil {
		return checker.Result{}, err
	}
	r := checker.RunOne(ctx, checker.WithTimeLimit(l, timeout), ops)
	for i, a := range r.Artifacts {
		r.Artifacts[i] = filepath.Join(outDir, a)
	}
	return r, nil
}
