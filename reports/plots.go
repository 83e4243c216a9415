package reports

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/faultline/faultline/history"
	"github.com/faultline/faultline/nemesis"
)

// MaxScatterPoints is the number of points above which the latency scatter
// plot is downsampled (the slowest op of every k consecutive ops is kept).
const MaxScatterPoints = 5000

// Invisible translations that mark the SVG group of each series and each
// fault shading, so they can be tagged with a class after rendering.
const (
	markSeries  = vg.Length(0.00012345)
	markFault   = vg.Length(0.00023456)
	markAnomaly = vg.Length(0.00034567)
)

var (
	seriesMarker  = fmt.Sprintf(`<g transform="translate(%.5g, 0)">`, markSeries.Points())
	faultMarker   = fmt.Sprintf(`<g transform="translate(%.5g, 0)">`, markFault.Points())
	anomalyMarker = fmt.Sprintf(`<g transform="translate(%.5g, 0)">`, markAnomaly.Points())
)

var typeColors = map[history.Type]color.Color{
	history.OK:   color.RGBA{0x1f, 0x77, 0xb4, 0xff},
	history.Fail: color.RGBA{0xd6, 0x27, 0x28, 0xff},
	history.Info: color.RGBA{0xff, 0x7f, 0x0e, 0xff},
}

// kindColor is the fault kind's colour (nemesis.Kind.Color), grey for a
// kind this build does not know (a history from elsewhere).
func kindColor(kind string) color.RGBA {
	if k, ok := nemesis.KindOf(kind); ok {
		return k.Color
	}
	return color.RGBA{0x7f, 0x7f, 0x7f, 0xff}
}

func faultColor(kind string, alpha uint8) color.Color {
	c := kindColor(kind)
	// premultiplied alpha, as image/color expects
	return color.RGBA{uint8(uint16(c.R) * uint16(alpha) / 255), uint8(uint16(c.G) * uint16(alpha) / 255), uint8(uint16(c.B) * uint16(alpha) / 255), alpha}
}

var glyphs = []draw.GlyphDrawer{
	draw.CircleGlyph{}, draw.BoxGlyph{}, draw.PyramidGlyph{}, draw.CrossGlyph{},
	draw.PlusGlyph{}, draw.RingGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{},
}

// plotSVG is one rendered plot. Its title and legend are HTML beside the
// SVG, so the browser lays their text out and nothing is clipped.
type plotSVG struct {
	ID     string
	Title  string
	Note   string   // e.g. the downsampling notice
	Series []string // names of the series drawn, in order
	Faults int      // shaded fault intervals
	Marks  int      // anomaly markers drawn
	Legend []legendEntry
	SVG    template.HTML
}

// legendEntry is one item of a plot's HTML legend.
type legendEntry struct {
	Name   string
	Class  string        // series, fault or marker
	Swatch template.HTML // a small inline SVG drawn as the plot draws the item
}

// anomalyMark is an anomaly's time on the time axis.
type anomalyMark struct {
	Time  int64  // ns since the history began
	Label string // what happened then, for the marker's tooltip
}

// seriesPlotter draws its inner plotter inside a marked SVG group.
type seriesPlotter struct {
	inner interface {
		plot.Plotter
		plot.DataRanger
	}
}

func (s seriesPlotter) Plot(c draw.Canvas, p *plot.Plot) {
	c.Push()
	c.Translate(vg.Point{X: markSeries})
	s.inner.Plot(c, p)
	c.Pop()
}

func (s seriesPlotter) DataRange() (xmin, xmax, ymin, ymax float64) { return s.inner.DataRange() }

// Fault lanes: above the data area, one lane per fault kind, so faults of
// different kinds stay apart where they overlap in time.
const (
	laneHeight = vg.Length(5)
	laneGap    = vg.Length(1.5)
	laneBase   = vg.Length(4) // between the data area and the first lane
)

// lanesHeight is the room the lanes of n fault kinds take above the data.
func lanesHeight(n int) vg.Length {
	if n == 0 {
		return 0
	}
	return laneBase + vg.Length(n)*(laneHeight+laneGap)
}

// shade fills the full height of the plot between two x values, lightly,
// and the fault kind's lane above the plot solidly.
type shade struct {
	x0, x1 float64
	kind   string
	lane   int
}

func (s shade) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x0 := max(trX(s.x0), c.Min.X)
	x1 := min(trX(s.x1), c.Max.X)
	if x1 <= x0 {
		x1 = min(x0+0.5, c.Max.X) // keep an instantaneous fault visible
	}
	rect := func(y0, y1 vg.Length) []vg.Point {
		return []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}}
	}
	ly := c.Max.Y + laneBase + vg.Length(s.lane)*(laneHeight+laneGap)
	c.Push()
	c.Translate(vg.Point{X: markFault})
	c.FillPolygon(faultColor(s.kind, 0x30), rect(c.Min.Y, c.Max.Y))
	c.FillPolygon(faultColor(s.kind, 0xff), rect(ly, ly+laneHeight))
	c.Pop()
}

// anomalyColor marks anomalies on the time axis.
var anomalyColor = color.RGBA{0xb0, 0x00, 0x20, 0xff}

// mark draws an anomaly's time: a dashed vertical line over the data and a
// small triangle pointing down at its top.
type mark struct{ x float64 }

func (m mark) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x := trX(m.x)
	if x < c.Min.X || x > c.Max.X {
		return
	}
	c.Push()
	c.Translate(vg.Point{X: markAnomaly})
	c.StrokeLine2(draw.LineStyle{Color: anomalyColor, Width: vg.Points(1), Dashes: []vg.Length{3, 2}}, x, c.Min.Y, x, c.Max.Y)
	c.FillPolygon(anomalyColor, []vg.Point{{X: x - 4, Y: c.Max.Y}, {X: x + 4, Y: c.Max.Y}, {X: x, Y: c.Max.Y - 7}})
	c.Pop()
}

func seconds(ns int64) float64 { return float64(ns) / 1e9 }
func millis(ns int64) float64  { return float64(ns) / 1e6 }

// newPlot returns a plot with the time axis over [0, end], the fault
// intervals shaded and laid in lanes, and one legend entry per fault kind.
func newPlot(a *analysis, out *plotSVG, ylabel string) *plot.Plot {
	p := plot.New()
	p.X.Label.Text = "time since start (s)"
	p.Y.Label.Text = ylabel
	p.X.Min, p.X.Max = seconds(a.Origin), math.Max(seconds(a.End), seconds(a.Origin)+0.001)
	p.X.Tick.Marker = plainTicks{}
	p.Y.Tick.Marker = plainTicks{}
	sans(&p.X.Label.TextStyle.Font)
	sans(&p.Y.Label.TextStyle.Font)
	sans(&p.X.Tick.Label.Font)
	sans(&p.Y.Tick.Label.Font)
	p.Add(plotter.NewGrid())
	kinds := faultKinds(a.Intervals)
	lane := map[string]int{}
	for i, k := range kinds {
		lane[k] = i
	}
	for _, iv := range a.Intervals {
		p.Add(shade{x0: seconds(iv.Start), x1: seconds(iv.End), kind: iv.Kind, lane: lane[iv.Kind]})
	}
	for _, k := range kinds {
		out.Legend = append(out.Legend, legendEntry{Name: "fault: " + k, Class: "fault", Swatch: faultSwatch(k)})
	}
	return p
}

// faultKinds lists the kinds of the intervals, sorted: the lanes' order.
func faultKinds(ivs []faultInterval) []string {
	seen := map[string]bool{}
	var kinds []string
	for _, iv := range ivs {
		if !seen[iv.Kind] {
			seen[iv.Kind] = true
			kinds = append(kinds, iv.Kind)
		}
	}
	sort.Strings(kinds)
	return kinds
}

// addMarks draws the anomaly marks on p. Marks closer than a 300th of the
// time axis are drawn as one, so a burst of anomalies is one marker that
// says how many it stands for.
func addMarks(p *plot.Plot, out *plotSVG, marks []anomalyMark, end int64) []anomalyMark {
	if len(marks) == 0 {
		return nil
	}
	ms := append([]anomalyMark(nil), marks...)
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].Time < ms[j].Time })
	near := max(end/300, 1)
	var merged []anomalyMark
	var count []int
	for _, m := range ms {
		if k := len(merged) - 1; k >= 0 && m.Time-merged[k].Time < near {
			count[k]++
			continue
		}
		merged = append(merged, m)
		count = append(count, 1)
	}
	for i := range merged {
		if count[i] > 1 {
			merged[i].Label = fmt.Sprintf("%d anomalies from %s; first: %s", count[i], fmtAt(merged[i].Time), merged[i].Label)
		} else {
			merged[i].Label = fmt.Sprintf("anomaly at %s: %s", fmtAt(merged[i].Time), merged[i].Label)
		}
		p.Add(mark{x: seconds(merged[i].Time)})
	}
	out.Marks = len(merged)
	out.Legend = append(out.Legend, legendEntry{Name: fmt.Sprintf("anomaly (%d)", len(marks)), Class: "marker", Swatch: anomalySwatch})
	return merged
}

// sans switches a plot font to Liberation Sans (the SVG names fallbacks).
func sans(f *font.Font) { f.Variant = "Sans" }

// fontFallback is what the SVG's font-family gets instead of the bare name
// of the font gonum measured text with.
const fontFallback = `font-family:'Liberation Sans',Arial,Helvetica,sans-serif;`

const swatchW, swatchH = 16, 10

// faultSwatch is the legend thumbnail of a fault kind: its lane colour.
func faultSwatch(kind string) template.HTML {
	c := kindColor(kind)
	return template.HTML(fmt.Sprintf(`<svg class="swatch" width="%d" height="%d" viewBox="0 0 %d %d"><rect width="%d" height="%d" fill="#%02x%02x%02x"/></svg>`,
		swatchW, swatchH, swatchW, swatchH, swatchW, swatchH, c.R, c.G, c.B))
}

// anomalySwatch is the legend thumbnail of the anomaly markers.
var anomalySwatch = template.HTML(fmt.Sprintf(`<svg class="swatch" width="%d" height="%d" viewBox="0 0 %d %d"><path d="M8 3V10" stroke="#%02x%02x%02x" stroke-dasharray="2 1.5"/><path d="M4 0H12L8 5Z" fill="#%02x%02x%02x"/></svg>`,
	swatchW, swatchH, swatchW, swatchH, anomalyColor.R, anomalyColor.G, anomalyColor.B, anomalyColor.R, anomalyColor.G, anomalyColor.B))

// thumbnail draws a series' legend thumbnail with gonum, as the plot
// draws the series, as a small inline SVG.
func thumbnail(ths ...plot.Thumbnailer) template.HTML {
	c := vgsvg.New(swatchW, swatchH)
	dc := draw.New(c)
	for _, th := range ths {
		th.Thumbnail(&dc)
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return ""
	}
	body, ok := svgBody(buf.String())
	if !ok {
		return ""
	}
	return template.HTML(fmt.Sprintf(`<svg class="swatch" width="%d" height="%d" viewBox="0 0 %d %d">%s`, swatchW, swatchH, swatchW, swatchH, body)) // vgsvg output
}

// svgBody returns what follows the opening <svg ...> tag of vgsvg's output
// (dropping the XML prolog and the namespace URLs).
func svgBody(s string) (string, bool) {
	i := strings.Index(s, "<svg")
	if i < 0 {
		return "", false
	}
	j := strings.Index(s[i:], ">")
	if j < 0 {
		return "", false
	}
	return s[i+j+1:], true
}

// tagGroups replaces each occurrence of marker in body, in order, by the
// opening tag tag(n) of the n-th group.
func tagGroups(body, marker string, tag func(n int) string) string {
	var sb strings.Builder
	for n := 0; ; n++ {
		k := strings.Index(body, marker)
		if k < 0 {
			break
		}
		sb.WriteString(body[:k])
		sb.WriteString(tag(n))
		body = body[k+len(marker):]
	}
	sb.WriteString(body)
	return sb.String()
}

// render draws p as inline SVG, tagging the marked groups. Room is left
// above the data for the fault lanes, and on the left and right for tick
// labels a browser font draws wider than gonum measured them; the SVG
// does not clip what still overflows.
func render(p *plot.Plot, out *plotSVG, a *analysis, marks []anomalyMark) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reports: drawing plot %q: %v", out.Title, r)
		}
	}()
	w, h := 10*vg.Inch, 3.2*vg.Inch
	c := vgsvg.New(w, h)
	dc := draw.New(c)
	area := dc
	area.Min.X += 6
	area.Max.X -= 14
	area.Max.Y -= lanesHeight(len(faultKinds(a.Intervals))) + 6
	// The y label is drawn here, centred on the area, as gonum would:
	// gonum makes room above a log-scale plot for a label it centres on
	// the linear midpoint of the axis instead.
	label := p.Y.Label
	p.Y.Label.Text = ""
	if label.Text != "" {
		sty := label.TextStyle
		sty.Rotation += math.Pi / 2
		x := area.Min.X + label.TextStyle.Height(label.Text) - label.TextStyle.FontExtents().Descent
		dc.FillText(sty, vg.Point{X: x, Y: (area.Min.Y + area.Max.Y) / 2}, label.Text)
		area.Min.X += label.TextStyle.Height(label.Text) + label.Padding
	}
	p.Draw(area)
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return fmt.Errorf("reports: writing plot %q: %w", out.Title, err)
	}
	body, ok := svgBody(strings.ReplaceAll(buf.String(), "font-family:Liberation Sans;", fontFallback))
	if !ok {
		return fmt.Errorf("reports: plot %q: unexpected SVG output", out.Title)
	}
	esc := template.HTMLEscapeString
	body = tagGroups(body, seriesMarker, func(n int) string {
		name := fmt.Sprintf("series %d", n)
		if n < len(out.Series) {
			name = out.Series[n]
		}
		return fmt.Sprintf(`<g class="series" data-name="%s">`, esc(name))
	})
	body = tagGroups(body, faultMarker, func(n int) string {
		if n >= len(a.Intervals) {
			return `<g class="fault">`
		}
		iv := a.Intervals[n]
		what := iv.Kind
		if len(iv.Nodes) > 0 {
			what += " " + strings.Join(iv.Nodes, ", ")
		}
		return fmt.Sprintf(`<g class="fault" data-kind="%s" data-start="%d" data-end="%d"><title>%s from %s to %s</title>`,
			esc(iv.Kind), iv.Start, iv.End, esc(what), fmtAt(iv.Start), fmtAt(iv.End))
	})
	body = tagGroups(body, anomalyMarker, func(n int) string {
		if n >= len(marks) {
			return `<g class="anomaly-mark">`
		}
		return fmt.Sprintf(`<g class="anomaly-mark" data-time="%d"><title>%s</title>`, marks[n].Time, esc(marks[n].Label))
	})
	out.SVG = template.HTML(fmt.Sprintf(`<svg class="plot" id="%s" viewBox="0 0 %.5g %.5g" overflow="visible" role="img" aria-label="%s" data-series="%d" data-faults="%d" data-marks="%d">`,
		esc(out.ID), w.Points(), h.Points(), esc(out.Title), len(out.Series), out.Faults, out.Marks) + body) // generated by vgsvg, which escapes all text
	return nil
}

// latencyPlot is the scatter of every op's latency against its invoke
// time, coloured by completion type, shaped by f.
func latencyPlot(a *analysis, marks []anomalyMark) (plotSVG, error) {
	out := plotSVG{ID: "plot-latency", Title: "Latency of every op", Faults: len(a.Intervals)}
	pts := a.Points
	if len(pts) > MaxScatterPoints {
		pts, out.Note = downsample(pts, MaxScatterPoints)
	}
	p := newPlot(a, &out, "latency (ms, log scale)")
	if len(pts) > 0 {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
	}
	var fs []string
	seenF := map[string]bool{}
	for _, q := range pts {
		if !seenF[q.F] {
			seenF[q.F] = true
			fs = append(fs, q.F)
		}
	}
	sort.Strings(fs)
	shape := map[string]draw.GlyphDrawer{}
	for i, f := range fs {
		shape[f] = glyphs[i%len(glyphs)]
	}
	type sk struct {
		t history.Type
		f string
	}
	series := map[sk]plotter.XYs{}
	for _, q := range pts {
		k := sk{q.Type, q.F}
		series[k] = append(series[k], plotter.XY{X: seconds(q.Invoke), Y: math.Max(millis(q.Lat), 0.001)})
	}
	for _, t := range []history.Type{history.OK, history.Fail, history.Info} {
		for _, f := range fs {
			xys, ok := series[sk{t, f}]
			if !ok {
				continue
			}
			s, err := plotter.NewScatter(xys)
			if err != nil {
				return out, fmt.Errorf("reports: latency scatter: %w", err)
			}
			s.GlyphStyle.Color = typeColors[t]
			s.GlyphStyle.Shape = shape[f]
			s.GlyphStyle.Radius = vg.Points(1.6)
			name := f + " " + t.String()
			p.Add(seriesPlotter{s})
			big := *s // the legend's glyph, large enough to tell its shape
			big.GlyphStyle.Radius = vg.Points(3.2)
			out.Legend = append(out.Legend, legendEntry{Name: name, Class: "series", Swatch: thumbnail(&big)})
			out.Series = append(out.Series, name)
		}
	}
	drawn := addMarks(p, &out, marks, a.End)
	return out, render(p, &out, a, drawn)
}

// downsample keeps at most budget points for the scatter plot. Failed and
// indeterminate ops are rare and matter most, so they get up to half the
// budget (all of them when they fit); ok ops fill the rest. Within each
// group the slowest op of every k consecutive ops is kept, so latency
// spikes survive.
func downsample(pts []latencyPoint, budget int) ([]latencyPoint, string) {
	var ok, other []latencyPoint
	for _, p := range pts {
		if p.Type == history.OK {
			ok = append(ok, p)
		} else {
			other = append(other, p)
		}
	}
	otherBudget := min(len(other), budget/2)
	other, ko := slowestPerBucket(other, otherBudget)
	ok, k := slowestPerBucket(ok, budget-len(other))
	kept := append(ok, other...)
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].Invoke < kept[j].Invoke })
	note := fmt.Sprintf("downsampled: %d of %d ops shown: ", len(kept), len(pts))
	if ko <= 1 {
		note += fmt.Sprintf("all %d fail/info ops", len(other))
	} else {
		note += fmt.Sprintf("the slowest of every %d fail/info ops", ko)
	}
	note += fmt.Sprintf(", the slowest of every %d ok ops", k)
	return kept, note
}

// slowestPerBucket keeps the slowest point of every k consecutive points,
// with k the smallest stride that keeps at most budget points.
func slowestPerBucket(pts []latencyPoint, budget int) ([]latencyPoint, int) {
	if len(pts) <= budget {
		return pts, 1
	}
	if budget <= 0 {
		return nil, len(pts)
	}
	k := (len(pts) + budget - 1) / budget
	kept := make([]latencyPoint, 0, budget)
	for i := 0; i < len(pts); i += k {
		best := pts[i]
		for _, q := range pts[i:min(i+k, len(pts))] {
			if q.Lat > best.Lat {
				best = q
			}
		}
		kept = append(kept, best)
	}
	return kept, k
}

// quantilePlot draws p50, p95 and p99 latency per window.
func quantilePlot(a *analysis) (plotSVG, error) {
	out := plotSVG{ID: "plot-quantiles", Title: fmt.Sprintf("Latency quantiles per %s window (by invoke time)", fmtDur(a.Window)), Faults: len(a.Intervals)}
	p := newPlot(a, &out, "latency (ms, log scale)")
	qs := []struct {
		name string
		get  func(windowStat) int64
		col  color.Color
	}{
		{"p50", func(w windowStat) int64 { return w.P50 }, color.RGBA{0x2c, 0xa0, 0x2c, 0xff}},
		{"p95", func(w windowStat) int64 { return w.P95 }, color.RGBA{0xff, 0x7f, 0x0e, 0xff}},
		{"p99", func(w windowStat) int64 { return w.P99 }, color.RGBA{0xd6, 0x27, 0x28, 0xff}},
	}
	any := false
	for _, w := range a.Windows {
		any = any || w.N > 0
	}
	if !any {
		return out, render(p, &out, a, nil)
	}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks{}
	for _, q := range qs {
		var xys plotter.XYs
		for _, w := range a.Windows {
			if w.N == 0 {
				continue
			}
			xys = append(xys, plotter.XY{X: seconds(w.Start + a.Window/2), Y: math.Max(millis(q.get(w)), 0.001)})
		}
		l, s, err := plotter.NewLinePoints(xys)
		if err != nil {
			return out, fmt.Errorf("reports: quantile plot: %w", err)
		}
		l.Color = q.col
		l.Width = vg.Points(1.2)
		s.GlyphStyle.Color = q.col
		s.GlyphStyle.Radius = vg.Points(1.2)
		p.Add(seriesPlotter{lineWithPoints{l, s}})
		out.Legend = append(out.Legend, legendEntry{Name: q.name, Class: "series", Swatch: thumbnail(l, s)})
		out.Series = append(out.Series, q.name)
	}
	return out, render(p, &out, a, nil)
}

// plainTicks are gonum's default ticks labelled without trailing zeros
// ("25", not "25.00").
type plainTicks struct{}

func (plainTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i, t := range ts {
		if strings.Contains(t.Label, ".") && !strings.ContainsAny(t.Label, "eE") {
			ts[i].Label = strings.TrimSuffix(strings.TrimRight(t.Label, "0"), ".")
		}
	}
	return ts
}

// logTicks are gonum's log ticks without those beyond the axis (gonum
// gives up to the next power of ten, whose label then pushes the plot
// down to make room for it). When fewer than two labelled ticks are left,
// the 1, 2 and 5 multiples are labelled too.
type logTicks struct{}

func (logTicks) Ticks(min, max float64) []plot.Tick {
	var in []plot.Tick
	labelled := 0
	for _, t := range (plot.LogTicks{Prec: -1}).Ticks(min, max) {
		if t.Value >= min*(1-1e-9) && t.Value <= max*(1+1e-9) {
			in = append(in, t)
			if t.Label != "" {
				labelled++
			}
		}
	}
	if labelled >= 2 {
		return in
	}
	for i, t := range in {
		if l := strconv.FormatFloat(t.Value, 'g', 3, 64); strings.Trim(l, "0.")[0] == '2' || strings.Trim(l, "0.")[0] == '5' {
			in[i].Label = l
			labelled++
		}
	}
	if labelled == 0 { // a narrow range: say its ends
		in = append(in, plot.Tick{Value: min, Label: strconv.FormatFloat(min, 'g', 3, 64)}, plot.Tick{Value: max, Label: strconv.FormatFloat(max, 'g', 3, 64)})
	}
	return in
}

type lineWithPoints struct {
	l *plotter.Line
	s *plotter.Scatter
}

func (lp lineWithPoints) Plot(c draw.Canvas, p *plot.Plot) { lp.l.Plot(c, p); lp.s.Plot(c, p) }
func (lp lineWithPoints) DataRange() (xmin, xmax, ymin, ymax float64) {
	return lp.l.DataRange()
}

// throughputPlot draws completions per second per window, by type.
func throughputPlot(a *analysis, marks []anomalyMark) (plotSVG, error) {
	out := plotSVG{ID: "plot-throughput", Title: fmt.Sprintf("Throughput per %s window (completions/s)", fmtDur(a.Window)), Faults: len(a.Intervals)}
	p := newPlot(a, &out, "ops/s")
	p.Y.Min = 0
	per := seconds(a.Window)
	ts := []struct {
		t   history.Type
		get func(windowStat) int
	}{
		{history.OK, func(w windowStat) int { return w.OK }},
		{history.Fail, func(w windowStat) int { return w.Fail }},
		{history.Info, func(w windowStat) int { return w.Inf }},
	}
	for _, t := range ts {
		total := 0
		var xys plotter.XYs
		for _, w := range a.Windows {
			total += t.get(w)
			xys = append(xys, plotter.XY{X: seconds(w.Start + a.Window/2), Y: float64(t.get(w)) / per})
		}
		if total == 0 {
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return out, fmt.Errorf("reports: throughput plot: %w", err)
		}
		l.Color = typeColors[t.t]
		l.Width = vg.Points(1.2)
		p.Add(seriesPlotter{l})
		out.Legend = append(out.Legend, legendEntry{Name: t.t.String(), Class: "series", Swatch: thumbnail(l)})
		out.Series = append(out.Series, t.t.String())
	}
	drawn := addMarks(p, &out, marks, a.End)
	return out, render(p, &out, a, drawn)
}

func fmtDur(ns int64) string {
	return fmt.Sprint(durationRound(ns))
}
