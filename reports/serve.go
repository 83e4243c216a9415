package reports

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Serve serves storeDir over HTTP on addr until ctx is done. The host part
// of addr is forced to 127.0.0.1 (":8080" and "8080" listen on
// 127.0.0.1:8080); the store is never exposed beyond the machine.
func Serve(ctx context.Context, storeDir, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = "", addr
	}
	if host != "" && host != "127.0.0.1" && host != "localhost" {
		return fmt.Errorf("reports: serve: refusing to listen on %q: only 127.0.0.1 is allowed", addr)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		return fmt.Errorf("reports: serve: %w", err)
	}
	return serve(ctx, storeDir, ln)
}

// serve serves storeDir on ln until ctx is done.
func serve(ctx context.Context, storeDir string, ln net.Listener) error {
	srv := &http.Server{Handler: http.FileServer(http.Dir(storeDir)), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("reports: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("reports: serve: shutdown: %w", err)
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("reports: serve: %w", err)
	}
	return nil
}
