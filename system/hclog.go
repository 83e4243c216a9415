package system

import (
	"bytes"
	"context"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// newHCLogger returns an hclog.Logger (what raft wants) that
// forwards every line at or above min to l.
func newHCLogger(l *slog.Logger, min slog.Level) hclog.Logger {
	lvl := hclog.Info
	switch {
	case min <= slog.LevelDebug:
		lvl = hclog.Debug
	case min <= slog.LevelInfo:
		lvl = hclog.Info
	case min <= slog.LevelWarn:
		lvl = hclog.Warn
	default:
		lvl = hclog.Error
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:        "raft",
		Level:       lvl,
		Output:      &slogWriter{l: l},
		DisableTime: true,
	})
}

// slogWriter turns hclog's "[LEVEL] name: msg: k=v" lines into slog records.
type slogWriter struct{ l *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	level := slog.LevelInfo
	for tag, l := range map[string]slog.Level{
		"[TRACE]": slog.LevelDebug - 4, "[DEBUG]": slog.LevelDebug, "[INFO]": slog.LevelInfo,
		"[WARN]": slog.LevelWarn, "[ERROR]": slog.LevelError,
	} {
		if rest, ok := bytes.CutPrefix(line, []byte(tag)); ok {
			level, line = l, bytes.TrimSpace(rest)
			break
		}
	}
	if bytes.Contains(line, []byte(errRecovering.Error())) {
		// Raft logs as an error each vote request that recovery mode
		// keeps the node from sending; the node logs the mode itself.
		level = slog.LevelDebug
	}
	w.l.Log(context.Background(), level, string(line))
	return len(p), nil
}
