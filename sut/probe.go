package sut

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// probeTimeout bounds one probe request, so that a paused or partitioned
// node cannot stall a readiness check.
const probeTimeout = time.Second

// probeClient talks to nodes over the addresses the runtime gives (never
// through a proxy), without keep-alives: connections do not outlive kills
// and pauses.
var probeClient = &http.Client{
	Timeout: probeTimeout,
	Transport: &http.Transport{
		Proxy:             nil,
		DialContext:       (&net.Dialer{Timeout: probeTimeout}).DialContext,
		DisableKeepAlives: true,
	},
}

// ProbeJSON sends method http://addr+path (with body, if any) to a node,
// bounded by a second and never through a proxy or a kept-alive
// connection (nodes are killed and paused), and decodes a 200 answer's
// JSON into out (unless out is nil). A System's Probe may use it.
func ProbeJSON(ctx context.Context, method, addr, path, body string, out any) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	return nodeJSON(ctx, probeClient, method, addr, path, rd, out)
}

// statusError is a node's answer other than 200 OK.
type statusError struct {
	method, path string
	code         int
	status, body string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: %s: %s", e.method, e.path, e.status, e.body)
}

// nodeJSON sends method http://addr+path (with body, if any) through c and
// decodes a 200 answer's JSON into out (unless out is nil); any other
// answer is a *statusError.
func nodeJSON(ctx context.Context, c *http.Client, method, addr, path string, body io.Reader, out any) error {
	if addr == "" {
		return fmt.Errorf("%s %s: the node has no such port exposed", method, path)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, body)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return &statusError{method: method, path: path, code: resp.StatusCode, status: resp.Status, body: strings.TrimSpace(string(raw))}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: bad JSON %q: %w", method, path, raw, err)
	}
	return nil
}
