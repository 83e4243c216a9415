package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/faultline/faultline/internal/syncbuf"
)

// This file holds the two streaming calls into pods, both through the
// apiserver and so through any kubeconfig: exec (netctl, the agent's
// controls) and port forwarding (the harness's client and admin
// connections).

// fallback says when to retry a WebSocket stream over SPDY, as kubectl
// does: an apiserver or proxy that does not upgrade to WebSockets.
func fallback(err error) bool {
	return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
}

// execIn runs cmd in container of pod and returns its exit code and its
// stdout and stderr in arrival order. err is set only when the command could
// not be run; a non-zero exit is reported through exitCode.
func (c *Cluster) execIn(ctx context.Context, pod, container string, cmd []string) (int, string, error) {
	req := c.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(c.ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: cmd, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(c.rest, "GET", req.URL().String())
	if err != nil {
		return -1, "", err
	}
	sp, err := remotecommand.NewSPDYExecutor(c.rest, "POST", req.URL())
	if err != nil {
		return -1, "", err
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, sp, fallback)
	if err != nil {
		return -1, "", err
	}
	var out syncbuf.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &out})
	var exit utilexec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), nil
	case errors.As(err, &exit) && exit.Exited():
		return exit.ExitStatus(), out.String(), nil
	}
	return -1, out.String(), err
}

// forwarder forwards local TCP listeners on 127.0.0.1 to ports of one pod.
// Each local connection gets a stream connection of its own to the
// apiserver, which ends with it. Sharing one multiplexed connection among
// them, as client-go's PortForwarder does, let one connection the pod
// refused (a killed node) stall every later one: containerd stopped
// serving new streams on it, and a killed and restarted node stayed
// unreachable for the rest of the run. Unlike client-go's PortForwarder,
// an error on one connection closes only that connection: the listeners,
// and so the node's addresses, stay the same for the cluster's lifetime.
type forwarder struct {
	log  *slog.Logger
	dial func() (httpstream.Connection, error)

	mu        sync.Mutex
	listeners []net.Listener
	conns     map[httpstream.Connection]bool // open stream connections
	closed    bool
	wg        sync.WaitGroup
}

// newForwarder returns pod's forwarder. A rest config whose TLS settings
// its dialers cannot use has already failed building the clientset (the
// same client-go TLS setup).
func (c *Cluster) newForwarder(pod string) *forwarder {
	u := c.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(c.ns).Name(pod).SubResource("portforward").URL()
	return &forwarder{
		log:   c.Log.With("pod", pod),
		conns: map[httpstream.Connection]bool{},
		dial:  func() (httpstream.Connection, error) { return dialPod(c.rest, u, pod) },
	}
}

// dialPod dials a port-forward stream connection to the pod at u. Each
// call builds its dialers afresh: client-go's keep the connection they
// upgrade in their round tripper, so two dials at once through one dialer
// raced on it and could hand one WebSocket to two local connections (the
// race detector in make test-k8s; "concurrent write to websocket
// connection" panics before it).
func dialPod(cfg *rest.Config, u *url.URL, pod string) (httpstream.Connection, error) {
	d, err := newPodDialer(cfg, u)
	if err != nil {
		return nil, fmt.Errorf("port-forward to pod %s: %w", pod, err)
	}
	conn, proto, err := d.Dial(portforward.PortForwardProtocolV1Name)
	if err != nil {
		return nil, fmt.Errorf("port-forward to pod %s: %w", pod, err)
	}
	if proto != portforward.PortForwardProtocolV1Name {
		conn.Close()
		return nil, fmt.Errorf("port-forward to pod %s: the server speaks %q", pod, proto)
	}
	return conn, nil
}

// newPodDialer returns a dialer for one port-forward stream connection to
// the pod at u: WebSockets, falling back to SPDY as kubectl does.
func newPodDialer(cfg *rest.Config, u *url.URL) (httpstream.Dialer, error) {
	rt, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, err
	}
	sp := spdy.NewDialer(upgrader, &http.Client{Transport: rt, Timeout: dialTimeout}, http.MethodPost, u)
	ws, err := portforward.NewSPDYOverWebsocketDialer(u, cfg)
	if err != nil {
		return nil, err
	}
	return portforward.NewFallbackDialer(ws, sp, fallback), nil
}

// dialTimeout bounds the SPDY fallback's dial of a stream connection.
const dialTimeout = 10 * time.Second

// forward listens on 127.0.0.1 (a free port) and forwards every connection
// to the pod's port; it returns the local address.
func (f *forwarder) forward(port int) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("kubernetes: listen for port-forward: %w", err)
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		l.Close()
		return "", errors.New("kubernetes: port-forward: closed")
	}
	f.listeners = append(f.listeners, l)
	f.mu.Unlock()
	f.wg.Go(func() {
		for {
			local, err := l.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				// Out of file descriptors or the like: the listener
				// stays, so the node's address does too.
				f.log.Warn("kubernetes: port-forward: accept", "port", port, "err", err)
				time.Sleep(50 * time.Millisecond)
				continue
			}
			f.wg.Go(func() { f.handle(local, port) })
		}
	})
	return l.Addr().String(), nil
}

// open dials a stream connection for one local connection and tracks it,
// so that close ends it; it fails once the forwarder is closed.
func (f *forwarder) open() (httpstream.Connection, error) {
	conn, err := f.dial()
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		conn.Close()
		return nil, errors.New("closed")
	}
	f.conns[conn] = true
	return conn, nil
}

// done closes a stream connection open returned.
func (f *forwarder) done(conn httpstream.Connection) {
	f.mu.Lock()
	delete(f.conns, conn)
	f.mu.Unlock()
	conn.Close()
}

// handle copies between a local connection and a stream pair to port on a
// stream connection of its own.
func (f *forwarder) handle(local net.Conn, port int) {
	defer local.Close()
	conn, err := f.open()
	if err != nil {
		f.log.Debug("kubernetes: port-forward: no stream connection", "port", port, "err", err)
		return
	}
	defer f.done(conn)
	h := http.Header{}
	h.Set(corev1.StreamType, corev1.StreamTypeError)
	h.Set(corev1.PortHeader, strconv.Itoa(port))
	h.Set(corev1.PortForwardRequestIDHeader, "0")
	errStream, err := conn.CreateStream(h)
	if err != nil {
		return
	}
	errStream.Close()
	h.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err := conn.CreateStream(h)
	if err != nil {
		return
	}
	msg := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(errStream)
		msg <- b
	}()
	remoteDone := make(chan struct{})
	go func() {
		io.Copy(local, data)
		close(remoteDone)
	}()
	localDone := make(chan struct{})
	go func() {
		io.Copy(data, local)
		data.Close() // half-close: nothing more to send
		close(localDone)
	}()
	select {
	case <-remoteDone:
	case <-conn.CloseChan():
	}
	select {
	case b := <-msg:
		if len(b) > 0 { // the pod refused or dropped it (e.g. the node is killed)
			f.log.Debug("kubernetes: port-forward: connection ended in the pod", "port", port, "msg", string(b))
		}
	default:
	}
	conn.Close()
	local.Close()
	<-localDone
}

// close stops the listeners and the stream connections and waits for the
// forwarding goroutines.
func (f *forwarder) close() {
	f.mu.Lock()
	f.closed = true
	for _, l := range f.listeners {
		l.Close()
	}
	for conn := range f.conns {
		conn.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}
