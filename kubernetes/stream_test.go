package kubernetes

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
)

// TestDialPodConcurrently: dials at once each get a WebSocket of their
// own, and closing the stream connections ends them all. Through one
// shared client-go dialer they raced on the connection its round tripper
// keeps (go test -race fails on that code) and could share one WebSocket
// between two local connections.
func TestDialPodConcurrently(t *testing.T) {
	const n = 4
	opened, ended := make(chan bool, n), make(chan bool, n)
	up := websocket.Upgrader{Subprotocols: []string{"SPDY/3.1+" + portforward.PortForwardProtocolV1Name}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		opened <- true
		defer func() { ws.Close(); ended <- true }()
		for {
			if _, _, err := ws.NextReader(); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	u, err := url.Parse(srv.URL + "/api/v1/namespaces/ns/pods/n1/portforward")
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]httpstream.Connection, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { conns[i], errs[i] = dialPod(&rest.Config{Host: srv.URL}, u, "n1") })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
	}
	for range n {
		<-opened
	}
	// Closing every stream connection ends every WebSocket: one handed to
	// two dials would leave the other open (and this test hanging).
	for _, c := range conns {
		c.Close()
	}
	for range n {
		<-ended
	}
}
