package reports

import (
	"math"
	"slices"
	"sort"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/nemesis"
)

// latencyPoint is one completed client operation.
type latencyPoint struct {
	Invoke int64 // ns since start
	Lat    int64 // ns
	Type   history.Type
	F      string
	Index  int64 // index of the completion
}

// faultInterval is a span of time in which one nemesis fault was active.
type faultInterval struct {
	Kind       string   // partition, loss, kill, pause, clock
	Nodes      []string // nodes concerned, if known
	Start, End int64    // ns since start
	StartIndex int64    // index of the start op's completion
	EndIndex   int64    // index of the stop op's completion; -1 if still active at the end
}

// windowStat is one time window of the quantile and throughput plots.
type windowStat struct {
	Start         int64 // ns
	N             int   // completed client ops invoked in the window
	P50, P95, P99 int64 // ns, of ops invoked in the window
	OK, Fail, Inf int   // completions in the window, by type
}

// analysis is everything the report derives from a history.
type analysis struct {
	Begin int64 // time of the first op, ns (a harness may record the first ops well after it started its clock)
	// Origin is where the plots' time axis begins: 0, or the whole second
	// before Begin when the history starts more than a tenth of its span
	// late (the harness's clock ran while the cluster started).
	Origin     int64
	End        int64 // time of the last op, ns
	Points     []latencyPoint
	Intervals  []faultInterval
	Window     int64 // window width, ns
	Windows    []windowStat
	Invoked    int            // client invocations
	Counts     map[string]int // client completions by type, "open" for never completed
	ByF        []fCount
	OKRate     float64 // ok client ops per second over the history
	Quantiles  quantiles
	Avail      availability
	NemesisOps int
	// Members are the membership changes, with the members after each.
	Members []memberChange
}

type fCount struct {
	F                    string
	OK, Fail, Info, Open int
}

// quantiles are latency quantiles of ok client ops, ns.
type quantiles struct {
	N                        int64
	P50, P95, P99, P999, Max int64
}

// availability is computed from the history: the share of client
// completions that were ok during and outside fault intervals, and the time
// from the end of the last fault to the first ok op invoked after it.
type availability struct {
	DuringN, DuringOK   int
	OutsideN, OutsideOK int
	LastFaultEnd        int64 // ns; -1 without ended faults
	Recovered           bool
	TimeToRecover       int64 // ns
}

const histMaxMicros = int64(24 * time.Hour / time.Microsecond)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, histMaxMicros, 3) }

func record(h *hdrhistogram.Histogram, ns int64) {
	us := ns / 1000
	us = max(us, 1)
	us = min(us, histMaxMicros)
	_ = h.RecordValue(us) // in range by construction
}

func quantileNs(h *hdrhistogram.Histogram, q float64) int64 {
	return h.ValueAtQuantile(q) * 1000
}

// digest computes the plot data and figures of a history.
func digest(ops []history.Op) analysis {
	a := analysis{Counts: map[string]int{}, Avail: availability{LastFaultEnd: -1}}
	for i, o := range ops {
		a.End = max(a.End, o.Time)
		if i == 0 || o.Time < a.Begin {
			a.Begin = o.Time
		}
	}
	a.Begin = max(a.Begin, 0)
	var client, nemOps []history.Op
	for _, o := range ops {
		if o.IsNemesis() {
			nemOps = append(nemOps, o)
		} else {
			client = append(client, o)
		}
	}
	a.NemesisOps = len(nemOps)
	a.Intervals = faultIntervals(nemOps, a.End)
	a.Members = memberChanges(nemOps)

	byF := map[string]*fCount{}
	okHist := newHist()
	for _, p := range history.Pairs(client) {
		a.Invoked++
		fc := byF[p.Invoke.F]
		if fc == nil {
			fc = &fCount{F: p.Invoke.F}
			byF[p.Invoke.F] = fc
		}
		if p.Open {
			a.Counts["open"]++
			fc.Open++
			continue
		}
		c := p.Complete
		a.Counts[c.Type.String()]++
		switch c.Type {
		case history.OK:
			fc.OK++
		case history.Fail:
			fc.Fail++
		default:
			fc.Info++
		}
		lat := max(c.Time-p.Invoke.Time, 0)
		a.Points = append(a.Points, latencyPoint{Invoke: p.Invoke.Time, Lat: lat, Type: c.Type, F: p.Invoke.F, Index: c.Index})
		if c.Type == history.OK {
			record(okHist, lat)
		}
	}
	for _, fc := range byF {
		a.ByF = append(a.ByF, *fc)
	}
	sort.Slice(a.ByF, func(i, j int) bool { return a.ByF[i].F < a.ByF[j].F })
	sort.SliceStable(a.Points, func(i, j int) bool { return a.Points[i].Invoke < a.Points[j].Invoke })

	if n := okHist.TotalCount(); n > 0 {
		a.Quantiles = quantiles{N: n,
			P50: quantileNs(okHist, 50), P95: quantileNs(okHist, 95), P99: quantileNs(okHist, 99),
			P999: quantileNs(okHist, 99.9), Max: okHist.Max() * 1000}
	}
	if a.End > 0 {
		a.OKRate = float64(a.Counts["ok"]) / (float64(a.End) / 1e9)
	}
	if a.Begin*10 >= a.End { // the history starts late: plot from its first whole second
		a.Origin = a.Begin / int64(time.Second) * int64(time.Second)
	}
	a.Window = windowWidth(a.End - a.Origin)
	a.Windows = windows(a.Points, a.Origin, a.End, a.Window)
	a.Avail = computeAvailability(a.Points, a.Intervals, a.End)
	return a
}

// windowWidth picks a 1-2-5 window width giving about 60 windows.
func windowWidth(span int64) int64 {
	target := span / 60
	w := int64(10 * time.Millisecond)
	for _, m := range []int64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000} {
		c := m * int64(10*time.Millisecond)
		if c >= target {
			return c
		}
		w = c
	}
	return w
}

func windows(points []latencyPoint, origin, end, width int64) []windowStat {
	n := int((end-origin)/width) + 1
	ws := make([]windowStat, n)
	hists := make([]*hdrhistogram.Histogram, n)
	for i := range ws {
		ws[i].Start = origin + int64(i)*width
	}
	for _, p := range points {
		i := max(min(int((p.Invoke-origin)/width), n-1), 0)
		if hists[i] == nil {
			hists[i] = newHist()
		}
		record(hists[i], p.Lat)
		ws[i].N++
		j := max(min(int((p.Invoke+p.Lat-origin)/width), n-1), 0)
		switch p.Type {
		case history.OK:
			ws[j].OK++
		case history.Fail:
			ws[j].Fail++
		default:
			ws[j].Inf++
		}
	}
	for i, h := range hists {
		if h != nil {
			ws[i].P50, ws[i].P95, ws[i].P99 = quantileNs(h, 50), quantileNs(h, 95), quantileNs(h, 99)
		}
	}
	return ws
}

// faultIntervals derives the intervals in which each fault was active from
// the nemesis ops: an interval begins at the completion (ok or info) of the
// op starting the fault and ends at the completion of the op stopping it,
// or at end. kill/start, pause/resume and clock faults are tracked per node
// when the ops name their nodes; an op naming no nodes stops them all.
func faultIntervals(nemOps []history.Op, end int64) []faultInterval {
	pairs := history.Pairs(nemOps)
	sort.SliceStable(pairs, func(i, j int) bool { return pairs[i].Complete.Time < pairs[j].Complete.Time })
	type key struct{ kind, node string }
	open := map[key]int{} // -> index into out
	var out []faultInterval
	for _, p := range pairs {
		if p.Open || p.Complete.Type == history.Fail {
			continue
		}
		f, c := p.Invoke.F, p.Complete
		k, starts, ok := nemesis.KindOfOp(f)
		if !ok {
			continue
		}
		kind, perNode := k.Name, k.PerNode
		if starts {
			nodes, known := nodesOf(c.Value)
			if !known {
				nodes, known = nodesOf(p.Invoke.Value)
			}
			if known && len(nodes) == 0 {
				continue // the op names its nodes and there are none: nothing was done
			}
			if !perNode {
				if _, active := open[key{kind, ""}]; !active {
					open[key{kind, ""}] = len(out)
					out = append(out, faultInterval{Kind: kind, Nodes: nodes, Start: c.Time, End: end, StartIndex: c.Index, EndIndex: -1})
				}
				continue
			}
			if len(nodes) == 0 {
				nodes = []string{""} // unknown nodes: one interval for the kind
			}
			for _, n := range nodes {
				if _, active := open[key{kind, n}]; active {
					continue
				}
				var ns []string
				if n != "" {
					ns = []string{n}
				}
				open[key{kind, n}] = len(out)
				out = append(out, faultInterval{Kind: kind, Nodes: ns, Start: c.Time, End: end, StartIndex: c.Index, EndIndex: -1})
			}
			continue
		}
		nodes, _ := nodesOf(c.Value) // a stop naming no nodes stops them all
		for k, i := range open {
			if k.kind != kind {
				continue
			}
			if perNode && len(nodes) > 0 && k.node != "" && !slices.Contains(nodes, k.node) {
				continue
			}
			out[i].End, out[i].EndIndex = c.Time, c.Index
			delete(open, k)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Start != out[j].Start {
			return out[i].Start < out[j].Start
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

// targetWords are target selectors, not node names.
var targetWords = map[string]bool{"all": true, "one": true, "minority": true, "majority": true, "leader": true, "none": true, "": true}

// nodesOf extracts node names from a nemesis op value: a node name, a list
// of names, or a map with a "nodes" or "node" entry, or per-node clock
// figures ("deltas_ms", "offsets_ms", "offsets"). known says whether the
// value names nodes at all (an empty "nodes" list is known and empty).
// Target selectors such as "minority" or "all" are not node names.
func nodesOf(v any) (nodes []string, known bool) {
	switch x := v.(type) {
	case string:
		if !targetWords[x] {
			return []string{x}, true
		}
	case []string:
		l, _ := history.List(x)
		return nodesOf(l)
	case []any:
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			if !targetWords[s] {
				nodes = append(nodes, s)
			}
		}
		return nodes, true
	case map[string]any:
		for _, k := range []string{"nodes", "node"} {
			if n, ok := x[k]; ok {
				nodes, _ := nodesOf(n)
				return nodes, true
			}
		}
		for _, k := range []string{"deltas_ms", "offsets_ms", "offsets"} {
			if m, ok := x[k].(map[string]any); ok {
				for n := range m {
					nodes = append(nodes, n)
				}
				sort.Strings(nodes)
				return nodes, true
			}
		}
	}
	return nil, false
}

func computeAvailability(points []latencyPoint, ivs []faultInterval, end int64) availability {
	av := availability{LastFaultEnd: -1}
	for _, iv := range ivs {
		if iv.EndIndex >= 0 {
			av.LastFaultEnd = max(av.LastFaultEnd, iv.End)
		}
	}
	for _, iv := range ivs {
		if iv.EndIndex < 0 { // still active at the end: no recovery to measure
			av.LastFaultEnd = -1
		}
	}
	inFault := func(t int64) bool {
		for _, iv := range ivs {
			if t >= iv.Start && t < iv.End {
				return true
			}
		}
		return false
	}
	firstOK := int64(math.MaxInt64)
	for _, p := range points {
		ok := p.Type == history.OK
		if inFault(p.Invoke) {
			av.DuringN++
			if ok {
				av.DuringOK++
			}
		} else {
			av.OutsideN++
			if ok {
				av.OutsideOK++
			}
		}
		if ok && av.LastFaultEnd >= 0 && p.Invoke >= av.LastFaultEnd {
			firstOK = min(firstOK, p.Invoke+p.Lat)
		}
	}
	if av.LastFaultEnd >= 0 && firstOK != math.MaxInt64 {
		av.Recovered = true
		av.TimeToRecover = firstOK - av.LastFaultEnd
	}
	return av
}

// durationRound rounds ns to a readable precision.
func durationRound(ns int64) time.Duration {
	d := time.Duration(ns)
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
