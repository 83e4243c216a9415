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

// probeJSON sends method http://addr+path (with body, if any) and decodes a
// 200 answer's JSON into out (unless out is nil).
func probeJSON(ctx context.Context, method, addr, path, body string, out any) error {
	if addr == "" {
		return fmt.Errorf("%s %s: the node has no such port exposed", method, path)
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, rd)
	if err != nil {
		return err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(raw)))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: bad JSON %q: %w", method, path, raw, err)
	}
	return nil
}
