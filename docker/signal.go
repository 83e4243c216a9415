package docker

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// CloseOnSignal tears c down when the process receives SIGINT or SIGTERM,
// then re-raises the signal with the default handler so the process exits
// as it would have. Call the returned stop function once c is closed
// normally (it is idempotent). A runner with its own signal handling can
// skip this and call Close from there: Close works after the run's context
// is cancelled.
func CloseOnSignal(c *Cluster) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			slog.Warn("docker: signal received, removing the cluster", "signal", sig, "run", c.RunID())
			if err := c.Close(context.Background()); err != nil {
				slog.Error("docker: teardown on signal", "err", err)
			}
			signal.Stop(ch)
			signal.Reset(sig)
			if p, err := os.FindProcess(os.Getpid()); err == nil {
				p.Signal(sig)
			}
		case <-done:
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
		})
	}
}
