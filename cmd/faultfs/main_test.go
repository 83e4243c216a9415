package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/faultfs"
)

func TestRun(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "1.blk"), []byte("block data"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string // in stdout (0) or stderr
	}{
		{"no command", nil, 2, "no command given"},
		{"unknown command", []string{"melt"}, 2, `unknown command "melt"`},
		{"corrupt without a seed", []string{"corrupt", "--root", root, "--pattern", "*.blk", "--mode", "bitflip"}, 2, "--seed"},
		{"corrupt with a bad mode", []string{"corrupt", "--root", root, "--pattern", "*.blk", "--mode", "melt", "--seed", "1"}, 2, `mode "melt"`},
		{"mount without a command", []string{"mount", "--backing", root, "--mount", root, "--control", "x"}, 2, "no command"},
		{"powerfail with no daemon", []string{"powerfail", "--control", filepath.Join(root, "none.sock")}, 1, "reach the daemon"},
		{"corrupt, no match", []string{"corrupt", "--root", root, "--pattern", "*.wal", "--mode", "truncate", "--seed", "1"}, 1, "1.blk"},
		{"corrupt", []string{"corrupt", "--root", root, "--pattern", "*.blk", "--mode", "bitflip", "--seed", "1"}, 0, `"flips"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), func() {}, tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stdout.String()+stderr.String(), tc.out) {
				t.Fatalf("exit %d, want %d with %q in\nstdout: %s\nstderr: %s", code, tc.code, tc.out, stdout.String(), stderr.String())
			}
			if tc.code == 0 {
				if _, err := faultfs.ParseCorruptReport(stdout.Bytes()); err != nil {
					t.Errorf("stdout is not a corruption report: %v", err)
				}
			}
		})
	}
}
