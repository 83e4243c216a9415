package system

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"
)

// ClockFault is the body of POST /fault/clock.
type ClockFault struct {
	// Op is "bump" (add DeltaMS to the offset), "strobe" (alternate the
	// offset by DeltaMS every PeriodMS for DurationMS) or "reset".
	Op         string `json:"op"`
	DeltaMS    int64  `json:"delta_ms,omitempty"`
	PeriodMS   int64  `json:"period_ms,omitempty"`
	DurationMS int64  `json:"duration_ms,omitempty"`
}

func (n *Node) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if n.ctx.Err() != nil {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, n.Status())
	})
	mux.HandleFunc("POST /fault/clock", n.handleClockFault)
	// The cluster's members, and changes to them (on the leader).
	mux.HandleFunc("GET /membership", n.handleMembership)
	mux.HandleFunc("POST /membership/add", n.handleMemberChange(true))
	mux.HandleFunc("POST /membership/remove", n.handleMemberChange(false))
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		n.writeMetrics(w)
	})
	// Go's profiles of the running node (go tool pprof
	// http://ADMIN/debug/pprof/profile?seconds=10).
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (n *Node) handleClockFault(w http.ResponseWriter, r *http.Request) {
	if !n.cfg.EnableFaultInjection {
		writeJSON(w, http.StatusForbidden, map[string]string{
			"error": "fault injection is disabled on this node: start kvnode with --enable-fault-injection"})
		return
	}
	var f ClockFault
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{
			"error": fmt.Sprintf(`bad clock fault body: %v; want {"op":"bump","delta_ms":-5000}, {"op":"strobe","delta_ms":N,"period_ms":N,"duration_ms":N} or {"op":"reset"}`, err)})
		return
	}
	switch strings.ToLower(f.Op) {
	case "bump":
		n.clock.Bump(time.Duration(f.DeltaMS) * time.Millisecond)
	case "strobe":
		if err := n.clock.Strobe(time.Duration(f.DeltaMS)*time.Millisecond, time.Duration(f.PeriodMS)*time.Millisecond, time.Duration(f.DurationMS)*time.Millisecond); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
	case "reset":
		n.clock.Reset()
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("unknown clock op %q: use bump, strobe or reset", f.Op)})
		return
	}
	n.metrics.clockChanges.Add(1)
	off := n.clock.Offset()
	n.log.Warn("clock fault injected", "op", f.Op, "delta_ms", f.DeltaMS, "offset_ms", off.Milliseconds())
	writeJSON(w, http.StatusOK, map[string]int64{"clock_offset_ms": off.Milliseconds()})
}

func (n *Node) writeMetrics(w io.Writer) {
	m := &n.metrics
	st := n.Status()
	fmt.Fprintf(w, "kv_connections_open %d\n", m.connsOpen.Load())
	fmt.Fprintf(w, "kv_connections_total %d\n", m.connsTotal.Load())
	fmt.Fprintf(w, "kv_connections_refused_total %d\n", m.connsRefused.Load())
	fmt.Fprintf(w, "kv_connections_idle_closed_total %d\n", m.connsIdle.Load())
	fmt.Fprintf(w, "kv_bad_frames_total %d\n", m.badFrames.Load())
	fmt.Fprintf(w, "kv_frame_headers_total %d\n", m.headers.Load())
	for op := OpGet; op <= OpTxn; op++ {
		fmt.Fprintf(w, "kv_requests_total{op=%q} %d\n", op.String(), m.requests[op].Load())
	}
	for s := StatusOK; s <= maxStatus; s++ {
		fmt.Fprintf(w, "kv_responses_total{status=%q} %d\n", s.String(), m.statuses[s].Load())
	}
	fmt.Fprintf(w, "kv_lease_reads_total %d\n", m.leaseReads.Load())
	fmt.Fprintf(w, "kv_stale_reads_total %d\n", m.staleReads.Load())
	fmt.Fprintf(w, "kv_dedup_hits_total %d\n", n.fsm.dedupHits.Load())
	fmt.Fprintf(w, "kv_clock_faults_total %d\n", m.clockChanges.Load())
	fmt.Fprintf(w, "kv_proposals_total %d\n", m.proposals.Load())
	fmt.Fprintf(w, "kv_proposal_entries_total %d\n", m.proposalEntries.Load())
	fmt.Fprintf(w, "kv_read_index_rounds_total %d\n", m.readRounds.Load())
	fmt.Fprintf(w, "kv_read_fallbacks_total %d\n", m.readFallbacks.Load())
	fmt.Fprintf(w, "kv_clock_offset_ms %d\n", st.ClockOffsetMS)
	fmt.Fprintf(w, "kv_keys %d\n", st.Keys)
	fmt.Fprintf(w, "raft_term %d\n", st.Term)
	fmt.Fprintf(w, "raft_commit_index %d\n", st.CommitIndex)
	fmt.Fprintf(w, "raft_applied_index %d\n", st.AppliedIndex)
	leader := 0
	if st.State == "Leader" {
		leader = 1
	}
	fmt.Fprintf(w, "raft_is_leader %d\n", leader)
	recovering := 0
	if st.Recovering {
		recovering = 1
	}
	fmt.Fprintf(w, "kv_recovering %d\n", recovering)
	fmt.Fprintf(w, "kv_recovery_votes_refused_total %d\n", n.rec.Refused())
	fmt.Fprintf(w, "raftlog_syncs_total %d\n", n.raftLog.Syncs())
}
