package checker

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/faultline/faultline/history"
)

// hb builds histories op by op; times in milliseconds.
type hb struct{ ops []history.Op }

func (h *hb) op(ms int64, p int, t history.Type, f string) *hb {
	h.ops = append(h.ops, history.Op{Index: int64(len(h.ops)), Time: ms * int64(time.Millisecond), Type: t, Process: p, F: f})
	return h
}

func TestLatency(t *testing.T) {
	h := &hb{}
	for i := range int64(100) {
		h.op(i*10, 0, history.Invoke, "read").op(i*10+i%10+1, 0, history.OK, "read")
	}
	h.op(1000, 1, history.Invoke, "write").op(1500, 1, history.Info, "write")
	h.op(1600, 1, history.Invoke, "write") // never completes
	pts := LatencyPoints(h.ops)
	if len(pts) != 101 {
		t.Fatalf("%d points", len(pts))
	}
	q := LatencyQuantiles(pts)
	r := q["read"]["ok"]
	if r.Count != 100 || r.Max < 9.9 || r.Max > 10.1 || r.P50 < 4.9 || r.P50 > 5.1 {
		t.Fatalf("read quantiles %+v", r)
	}
	if q["write"]["info"].Max < 499 || q["all"]["all"].Count != 101 {
		t.Fatalf("%+v", q)
	}
	if s := OKRateSeries(h.ops, 500*time.Millisecond); len(s) != 3 || (s[0]+s[1]+s[2])/2 != 100 {
		t.Fatalf("series %v", s)
	}
	res := NewLatency().Check(context.Background(), h.ops)
	if res.Valid != Valid {
		t.Fatalf("%+v", res)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Fatal(err)
	}
}

func TestAvailability(t *testing.T) {
	base := func() *hb {
		h := &hb{}
		h.op(0, 0, history.Invoke, "read").op(5, 0, history.OK, "read")
		h.op(10, -1, history.Invoke, "start-partition").op(20, -1, history.Info, "start-partition")
		h.op(30, 0, history.Invoke, "read").op(40, 0, history.Info, "read") // during
		h.op(30, 1, history.Invoke, "write").op(45, 1, history.OK, "write") // during
		h.op(100, -1, history.Invoke, "stop-partition").op(110, -1, history.OK, "stop-partition")
		return h
	}
	h := base()
	h.op(120, 2, history.Invoke, "read").op(125, 2, history.Fail, "read")
	h.op(130, 2, history.Invoke, "read").op(150, 2, history.OK, "read")
	h.op(130, 1, history.Invoke, "read").op(135, 1, history.OK, "read")
	r := NewAvailability(AvailabilityConfig{Concurrency: 2}).Check(context.Background(), h.ops)
	if r.Valid != Valid {
		t.Fatalf("%+v", r)
	}
	d := r.Details
	if d["during_faults"].(share) != (share{1, 2}) || d["after_heal"].(share) != (share{2, 3}) || d["outside_faults"].(share) != (share{1, 1}) {
		t.Fatalf("%+v", d)
	}
	rec := d["recovery_ms_by_worker"].(map[string]any)
	if rec["0"] != 40.0 || rec["1"] != 25.0 || d["max_recovery_ms"] != 40.0 {
		t.Fatalf("recovery %v", rec)
	}
	if w := d["fault_windows"].([]Window); len(w) != 1 || w[0].Kind != "partition" || w[0].End != 110*time.Millisecond {
		t.Fatalf("windows %+v", w)
	}
	if _, err := json.Marshal(r); err != nil {
		t.Fatal(err)
	}

	h = base()
	h.op(120, 2, history.Invoke, "read").op(125, 2, history.Fail, "read")
	h.op(130, 3, history.Invoke, "read").op(150, 3, history.Info, "read")
	r = NewAvailability(AvailabilityConfig{}).Check(context.Background(), h.ops)
	if r.Valid != Invalid || r.Explanation == "" || len(r.Anomalies) != 1 {
		t.Fatalf("never recovered but %+v", r)
	}
	checkAnomaly(t, r.Anomalies[0], true)
}
