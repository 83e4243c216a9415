package reports

import (
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/faultline/faultline/checker"
	"github.com/faultline/faultline/history"
)

// goldenFault is a nemesis op of the golden history, at a time in ms.
type goldenFault struct {
	ms    int64
	f     string
	typ   history.Type
	value any
}

// goldenFaults: a partition, a clock bump overlapping it and a kill, two
// kills (n1 then n2+n3, restarted separately), a failed kill that must be
// ignored, and a pause never resumed (active until the end of the
// history).
var goldenFaults = []goldenFault{
	{2000, "start-partition", history.OK, map[string]any{"grudge": map[string]any{"n1": []any{"n2", "n3"}}}},
	{3000, "bump-clock", history.OK, map[string]any{"target": "one", "deltas_ms": map[string]any{"n2": 200}}}, // overlaps the partition and a kill
	{4000, "stop-partition", history.OK, map[string]any{"healed": []any{"n1", "n2", "n3"}}},
	{5000, "kill", history.OK, map[string]any{"target": "one", "nodes": []any{"n1"}}},
	{5500, "kill", history.Fail, map[string]any{"target": "one", "nodes": []any{"n2"}}},
	{6000, "kill", history.Info, map[string]any{"target": "minority", "nodes": []any{}}}, // nothing killed
	{5700, "reset-clock", history.OK, map[string]any{"offsets_ms": map[string]any{"n2": 0}}},
	{7000, "start", history.OK, map[string]any{"nodes": []any{"n1"}}},
	{8000, "kill", history.OK, []any{"n2", "n3"}},
	{8600, "start", history.OK, "n2"},
	{9000, "start", history.OK, []string{"n3"}},
	{9500, "pause", history.Info, map[string]any{"target": "one", "nodes": []any{"n1"}}},
}

// goldenIntervals are the fault intervals goldenFaults must produce, in
// ms (the completion of each nemesis op is 20 ms after its invocation);
// end -1 means the end of the history.
var goldenIntervals = []struct {
	kind       string
	node       string
	start, end int64
}{
	{"partition", "", 2020, 4020},
	{"clock", "n2", 3020, 5720},
	{"kill", "n1", 5020, 7020},
	{"kill", "n2", 8020, 8620},
	{"kill", "n3", 8020, 9020},
	{"pause", "n1", 9520, -1},
}

// goldenHistory builds a register-style history of about n client ops
// (read/write/cas on a few keys, 5 processes) over ~10 s plus the nemesis
// ops of goldenFaults. Ops invoked during the partition or a kill fail or
// time out more often.
func goldenHistory(n int, seed uint64) []history.Op {
	r := rand.New(rand.NewPCG(seed, 1))
	const procs = 5
	span := int64(10 * time.Second)
	var ops []history.Op
	next := make([]int64, procs) // next invoke time per worker
	proc := make([]int, procs)
	for i := range proc {
		proc[i] = i
	}
	faulty := func(t int64) bool {
		ms := t / 1e6
		return (ms >= 2020 && ms < 4020) || (ms >= 5020 && ms < 7020) || (ms >= 8020 && ms < 9020)
	}
	for i := 0; i < n; i++ {
		w := i % procs
		t := next[w]
		f := []string{"read", "write", "cas"}[r.IntN(3)]
		key := int64(r.IntN(4))
		var inv, done any
		switch f {
		case "read":
			inv, done = []any{key, nil}, []any{key, int64(r.IntN(5))}
		case "write":
			v := int64(r.IntN(5))
			inv, done = []any{key, v}, []any{key, v}
		case "cas":
			v := []any{int64(r.IntN(5)), int64(r.IntN(5))}
			inv, done = []any{key, v}, []any{key, v}
		}
		lat := int64(200*time.Microsecond) + int64(r.ExpFloat64()*float64(2*time.Millisecond))
		typ := history.OK
		errS := ""
		x := r.Float64()
		if faulty(t) {
			switch {
			case x < 0.3:
				typ, errS, lat = history.Info, "timeout", int64(100*time.Millisecond)
			case x < 0.6:
				typ, errS = history.Fail, "not-leader"
			}
		} else if f == "cas" && x < 0.3 {
			typ, errS = history.Fail, "cas-mismatch"
		}
		if typ == history.Fail || typ == history.Info {
			done = inv
		}
		ops = append(ops,
			history.Op{Time: t, Type: history.Invoke, Process: proc[w], F: f, Value: inv, Node: "n1"},
			history.Op{Time: t + lat, Type: typ, Process: proc[w], F: f, Value: done, Error: errS, Node: "n1"})
		if typ == history.Info {
			proc[w] += procs
		}
		next[w] = t + lat + span*procs/int64(n)
	}
	for _, g := range goldenFaults {
		t := g.ms * int64(time.Millisecond)
		ops = append(ops,
			history.Op{Time: t, Type: history.Invoke, Process: history.NemesisProcess, F: g.f},
			history.Op{Time: t + 20*int64(time.Millisecond), Type: g.typ, Process: history.NemesisProcess, F: g.f, Value: g.value})
	}
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Time < ops[j].Time })
	for i := range ops {
		ops[i].Index = int64(i)
	}
	return ops
}

// goldenInfo is the RunInfo of the golden runs.
func goldenInfo(name string, start time.Time) RunInfo {
	return RunInfo{
		Name: name, Workload: "register", Nemeses: []string{"partition", "kill", "pause"}, Seed: 42,
		Rerun:  "faultline run --workload register --nemesis partition,kill,pause --time-limit 10s --seed 42",
		Config: map[string]any{"nodes": 3, "concurrency": 5, "read-mode": "linearizable", "time-limit": "10s"},
		Start:  start, Duration: 10 * time.Second, Nodes: []string{"n1", "n2", "n3"},
		NodeLogs: []string{"logs/n1.log", "logs/n2.log", "logs/n3.log"},
	}
}

// invalidResults reports a nonlinearizable register naming ops of h, and
// transaction anomalies with drawn cycles: the first key's anomaly has a
// one-line summary and a time, the second has neither (the report falls
// back to its explanation); a G-single cycle of three transactions and a
// G1c cycle of two.
func invalidResults(h []history.Op) checker.Results {
	var okOps []int64
	for _, o := range h {
		if o.Type == history.OK && !o.IsNemesis() && len(okOps) < 2 {
			okOps = append(okOps, o.Index)
		}
	}
	okAfter := func(s float64) int64 {
		for _, o := range h {
			if o.Type == history.OK && !o.IsNemesis() && float64(o.Time) >= s*1e9 {
				return o.Index
			}
		}
		return okOps[0]
	}
	at := func(idx int64) int64 { return h[idx].Time }
	t1, t2, t3 := okAfter(1), okAfter(3), okAfter(6) // t2 during the partition, t3 during a kill
	return checker.Compose([]checker.Result{
		{Checker: "linearizable", Valid: checker.Invalid,
			Explanation: "2 of 4 keys are not linearizable (model cas-register): " + strings.Repeat("key 1: the read saw a value never written, after a long list of ops. ", 8),
			Anomalies: []checker.Anomaly{
				{Type: "nonlinearizable", Key: "1", Summary: goldenSummary, Time: at(okAfter(2.5)), HasTime: true,
					Explanation: "read of 4 <script>alert(1)</script> follows write of 3", Ops: append(okOps[:2:2], 999999)},
				{Type: "nonlinearizable", Key: "3",
					Explanation: "key 3: no write of 7 precedes the read of 7\nsecond line of detail", Ops: okOps[1:2]},
			},
			Artifacts: []string{"linear-key-1.html", "linear-key-3.html"},
			Details:   map[string]any{"failing_keys": []any{"1", "3"}, "max_visualized": 10}},
		{Checker: "list-append", Valid: checker.Invalid, Explanation: "2 anomalies: G-single, G1c",
			RuledOut: []string{"serializable", "snapshot-isolation"},
			Anomalies: []checker.Anomaly{
				{Type: "G-single", Key: "5", Summary: "T1 appended 3 to key 5, T2 read key 5 without it, T3 saw T2's write", Time: at(t2), HasTime: true,
					Explanation: "G-single: a cycle of 3 transactions.", Ops: []int64{t1, t2, t3},
					Cycle: []checker.CycleEdge{
						{From: t1, To: t2, Kind: "ww", Key: "5", Why: "T2 appended 4 after T1's 3"},
						{From: t2, To: t3, Kind: "wr", Key: "6", Why: "T3 read T2's append of 9 to key 6"},
						{From: t3, To: t1, Kind: "rw", Key: "5", Why: "T3 read key 5 without T1's 3"},
					}},
				{Type: "G1c", Summary: "T1 and T2 each read the other's write", Time: at(t3), HasTime: true,
					Explanation: "G1c: a cycle of 2 transactions.", Ops: []int64{t1, t3},
					Cycle: []checker.CycleEdge{
						{From: t1, To: t3, Kind: "wr", Key: "7", Why: "T2 read T1's append of 1 to key 7"},
						{From: t3, To: t1, Kind: "wr", Key: "8", Why: "T1 read T2's append of 2 to key 8"},
					}},
			}},
		{Checker: "stats", Valid: checker.Valid, Details: map[string]any{
			"count": 1000, "by_f": []any{map[string]any{"f": "read", "ok": 300, "fail": 2}, map[string]any{"f": "write", "ok": 320, "fail": 1}}}},
		{Checker: "availability", Valid: checker.Unknown, Explanation: "not enough data",
			Details: map[string]any{"during_faults": 0.61, "after_heal": 0.99, "time_to_recover_ms": 412.5}},
	})
}

// goldenSummary is the one-line summary of the golden run's first anomaly.
const goldenSummary = "key 1: read 4 at 2.51 s after write 3 completed at 2.40 s"

func validResults() checker.Results {
	return checker.Compose([]checker.Result{
		{Checker: "linearizable", Valid: checker.Valid},
		{Checker: "stats", Valid: checker.Valid, Details: map[string]any{"count": 10}},
	})
}
