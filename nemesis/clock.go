package nemesis

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/faultline/faultline/history"
)

// clockRequest is the body of POST /fault/clock.
type clockRequest struct {
	Op         string `json:"op"` // bump, strobe, reset
	DeltaMs    int64  `json:"delta_ms,omitempty"`
	PeriodMs   int64  `json:"period_ms,omitempty"`
	DurationMs int64  `json:"duration_ms,omitempty"`
}

// offsetTolerance is how far /status may read from the expected offset.
const offsetTolerance = 5 // ms

var httpClient = &http.Client{Timeout: 5 * time.Second}

// adminJSON sends a request to the node's admin endpoint and decodes the
// JSON answer's clock_offset_ms.
func adminJSON(ctx context.Context, cl Cluster, node, method, path string, body any) (int64, error) {
	addr := cl.AdminAddr(node)
	if addr == "" {
		return 0, fmt.Errorf("nemesis: %s: no admin address", node)
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("nemesis: encode clock request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, rd)
	if err != nil {
		return 0, fmt.Errorf("nemesis: %s: %w", node, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("nemesis: %s: %s %s: %w", node, method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, fmt.Errorf("nemesis: %s: %s %s: read: %w", node, method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return 0, fmt.Errorf("nemesis: %s: %s %s: %s: %s", node, method, path, resp.Status, bytes.TrimSpace(raw))
	}
	var out struct {
		Offset *float64 `json:"clock_offset_ms"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return 0, fmt.Errorf("nemesis: %s: %s %s: decode: %w", node, method, path, err)
	}
	if out.Offset == nil {
		return 0, fmt.Errorf("nemesis: %s: %s %s: no clock_offset_ms in %s", node, method, path, bytes.TrimSpace(raw))
	}
	return int64(math.Round(*out.Offset)), nil
}

// statusOffset reads clock_offset_ms from the node's /status.
func statusOffset(ctx context.Context, cl Cluster, node string) (int64, error) {
	return adminJSON(ctx, cl, node, http.MethodGet, "/status", nil)
}

// setClock posts req to node and, when check is set, confirms /status
// reads the offset the node reported (within offsetTolerance). It returns
// the offset /status shows.
func setClock(ctx context.Context, cl Cluster, node string, req clockRequest, check bool) (int64, error) {
	want, err := adminJSON(ctx, cl, node, http.MethodPost, "/fault/clock", req)
	if err != nil {
		return 0, err
	}
	got, err := statusOffset(ctx, cl, node)
	if err != nil {
		return 0, err
	}
	if check && abs(got-want) > offsetTolerance {
		return got, fmt.Errorf("nemesis: %s: %s clock: /status shows offset %d ms, node reported %d ms", node, req.Op, got, want)
	}
	return got, nil
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// ClockConfig configures the clock nemesis.
type ClockConfig struct {
	// Targets choose the nodes whose clocks move (in a Config, empty
	// means DefaultClockTargets).
	Targets []string
	// MaxBumpMs bounds a bump: each node gets a random delta in
	// [-MaxBumpMs, MaxBumpMs] (never 0).
	MaxBumpMs int64
	// StrobeDeltaMs, StrobePeriodMs and StrobeDurationMs parameterize a
	// strobe: the clock flips by delta every period for duration.
	StrobeDeltaMs    int64
	StrobePeriodMs   int64
	StrobeDurationMs int64
}

// validate checks the parameters the modes use.
func (cc ClockConfig) validate(modes []string) error {
	var errs []error
	for i, t := range cc.Targets {
		if !slices.Contains(Targets, t) || slices.Contains(cc.Targets[:i], t) {
			errs = append(errs, fmt.Errorf("clock target %q: want distinct targets of %v", t, Targets))
		}
	}
	if len(modes) == 0 || slices.Contains(modes, ClockBump) {
		if cc.MaxBumpMs <= 0 {
			errs = append(errs, fmt.Errorf("clock max bump %d ms must be > 0", cc.MaxBumpMs))
		}
	}
	if len(modes) == 0 || slices.Contains(modes, ClockStrobe) {
		if cc.StrobeDeltaMs <= 0 || cc.StrobePeriodMs <= 0 || cc.StrobeDurationMs <= 0 {
			errs = append(errs, fmt.Errorf("clock strobe delta/period/duration %d/%d/%d ms must all be > 0",
				cc.StrobeDeltaMs, cc.StrobePeriodMs, cc.StrobeDurationMs))
		}
	}
	return errors.Join(errs...)
}

type clockNemesis struct {
	cl    Cluster
	rng   *rand.Rand
	cfg   ClockConfig
	mu    sync.Mutex
	dirty bool
}

// NewClock returns the nemesis for bump-clock / strobe-clock /
// reset-clock through each node's admin endpoint.
//
// bump-clock: value {"target": t, "max_ms": m} (defaults from cfg) or
// {"deltas_ms": {node: delta}}; each chosen node's clock moves by a random
// delta in [-m, m]. strobe-clock: value {"target", "delta_ms", "period_ms",
// "duration_ms"}. reset-clock: every node back to offset 0 (a node that
// is down is skipped and listed under "down": its offset died with its
// process). Completions carry {"offsets_ms": {node: offset /status shows}}
// (bump also "deltas_ms").
func NewClock(cl Cluster, rng *rand.Rand, cfg ClockConfig) Nemesis {
	return &clockNemesis{cl: cl, rng: rng, cfg: cfg}
}

func (c *clockNemesis) Fs() []string { return []string{FBumpClock, FStrobeClock, FResetClock} }

func (c *clockNemesis) target(ctx context.Context, op history.Op) (string, []string, error) {
	def := TargetOne
	if len(c.cfg.Targets) > 0 {
		def = c.cfg.Targets[c.rng.IntN(len(c.cfg.Targets))]
	}
	t := stringArg(op.Value, "target", def)
	nodes, err := targetNodes(ctx, c.cl, c.rng, op, t, isRunning, nil)
	return t, nodes, err
}

func (c *clockNemesis) Invoke(ctx context.Context, op history.Op) (history.Op, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	offsets := map[string]any{}
	value := map[string]any{"offsets_ms": offsets}
	var errs []error
	switch op.F {
	case FBumpClock:
		deltas := map[string]int64{}
		if m, ok := op.Value.(map[string]any); ok && m["deltas_ms"] != nil {
			if t := stringArg(m, "target", ""); t != "" {
				value["target"] = t // a replay's, for the report
			}
			dm, ok := m["deltas_ms"].(map[string]any)
			if !ok {
				return complete(op, value, fmt.Errorf("nemesis: bump-clock: deltas_ms is %T, want a map", m["deltas_ms"]))
			}
			for n, d := range dm {
				x, ok := history.Int(d)
				if !ok || !slices.Contains(c.cl.Nodes(), n) {
					return complete(op, value, fmt.Errorf("nemesis: bump-clock: bad delta %v for node %q", d, n))
				}
				deltas[n] = x
			}
		} else {
			t, nodes, err := c.target(ctx, op)
			value["target"] = t
			if err != nil {
				return complete(op, value, err)
			}
			maxMs := intArg(op.Value, "max_ms", c.cfg.MaxBumpMs)
			if maxMs <= 0 {
				return complete(op, value, fmt.Errorf("nemesis: bump-clock: max_ms %d must be > 0", maxMs))
			}
			for _, n := range nodes {
				d := c.rng.Int64N(maxMs) + 1
				if c.rng.IntN(2) == 0 {
					d = -d
				}
				deltas[n] = d
			}
		}
		dv := map[string]any{}
		for n, d := range deltas {
			dv[n] = d
		}
		value["deltas_ms"] = dv
		c.dirty = true
		for _, n := range sortedKeys(deltas) {
			got, err := setClock(ctx, c.cl, n, clockRequest{Op: "bump", DeltaMs: deltas[n]}, true)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			offsets[n] = got
		}
	case FStrobeClock:
		t, nodes, err := c.target(ctx, op)
		value["target"] = t
		req := clockRequest{Op: "strobe",
			DeltaMs:    intArg(op.Value, "delta_ms", c.cfg.StrobeDeltaMs),
			PeriodMs:   intArg(op.Value, "period_ms", c.cfg.StrobePeriodMs),
			DurationMs: intArg(op.Value, "duration_ms", c.cfg.StrobeDurationMs)}
		value["delta_ms"], value["period_ms"], value["duration_ms"] = req.DeltaMs, req.PeriodMs, req.DurationMs
		if err != nil {
			return complete(op, value, err)
		}
		value["nodes"] = strs(nodes)
		c.dirty = true
		for _, n := range nodes {
			// A strobing clock moves between reads: the check is that the
			// node accepted the strobe and /status answers.
			got, err := setClock(ctx, c.cl, n, req, false)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			offsets[n] = got
		}
	case FResetClock:
		// A node that is down lost its offset with its process (it
		// restarts at 0): reset the others.
		states := nodeStates(ctx, c.cl)
		if down := where(c.cl, states, isDown); len(down) > 0 {
			value["down"] = strs(down)
		}
		o, err := resetClocks(ctx, c.cl, where(c.cl, states, isUp))
		for n, v := range o {
			offsets[n] = v
		}
		if err == nil {
			c.dirty = false
		}
		return complete(op, value, err)
	default:
		return complete(op, op.Value, fmt.Errorf("nemesis: clock nemesis cannot do f %q", op.F))
	}
	return complete(op, value, errors.Join(errs...))
}

// resetClocks resets the clock of every node and confirms /status reads
// offset 0; it returns the offsets read.
func resetClocks(ctx context.Context, cl Cluster, nodes []string) (map[string]int64, error) {
	out := map[string]int64{}
	var errs []error
	for _, n := range nodes {
		got, err := setClock(ctx, cl, n, clockRequest{Op: "reset"}, true)
		if err == nil && abs(got) > offsetTolerance {
			err = fmt.Errorf("nemesis: %s: offset is %d ms after reset", n, got)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[n] = got
	}
	return out, errors.Join(errs...)
}

// resetClocksUntil resets the clock of every node that did not leave the
// cluster, retrying the nodes that fail
// (a restarted node's admin endpoint may take a moment) until deadline.
func resetClocksUntil(ctx context.Context, cl Cluster, deadline time.Time) (map[string]any, error) {
	offsets := map[string]any{}
	// A node that left the cluster has no process, and joins with its
	// clock unskewed.
	states := nodeStates(ctx, cl)
	pending := slices.DeleteFunc(cl.Nodes(), func(n string) bool { return states[n] == StateLeft })
	for {
		o, err := resetClocks(ctx, cl, pending)
		for n, v := range o {
			offsets[n] = v
		}
		pending = slices.DeleteFunc(pending, func(n string) bool { _, ok := o[n]; return ok })
		if err == nil || time.Now().After(deadline) || !sleepUntil(ctx, time.Now().Add(500*time.Millisecond)) {
			return offsets, err
		}
	}
}

// Teardown resets every clock if this nemesis may have moved one.
func (c *clockNemesis) Teardown(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dirty {
		return nil
	}
	ctx, cancel := teardownCtx(ctx)
	defer cancel()
	// A node restarted by another teardown may need a moment to answer.
	if _, err := resetClocksUntil(ctx, c.cl, time.Now().Add(10*time.Second)); err != nil {
		return fmt.Errorf("nemesis: teardown clock: %w", err)
	}
	c.dirty = false
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
