package kubernetes

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/httpstream"
)

// panickingConn is a stream connection whose every write panics, as
// client-go's websocket tunnel did once under load.
type panickingConn struct{ closed chan bool }

var _ httpstream.Connection = (*panickingConn)(nil)

func (p *panickingConn) CreateStream(http.Header) (httpstream.Stream, error) {
	panic("concurrent write to websocket connection")
}
func (p *panickingConn) Close() error                       { panic("concurrent write to websocket connection") }
func (p *panickingConn) CloseChan() <-chan bool             { return p.closed }
func (p *panickingConn) SetIdleTimeout(time.Duration)       {}
func (p *panickingConn) RemoveStreams(...httpstream.Stream) {}

// TestForwarderSurvivesAPanic: a stream connection that panics ends its
// local connection, and the forwarder (and the process) goes on serving
// the next one.
func TestForwarderSurvivesAPanic(t *testing.T) {
	f := &forwarder{log: slog.New(slog.DiscardHandler), conns: map[httpstream.Connection]bool{},
		dial: func() (httpstream.Connection, error) { return &panickingConn{closed: make(chan bool)}, nil }}
	defer f.close()
	addr, err := f.forward(7001)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial the forwarder: %v", err)
		}
		if _, err := io.ReadAll(c); err != nil {
			t.Errorf("read: %v, want the connection ended", err)
		}
		c.Close()
	}
}
