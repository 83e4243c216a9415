package reports

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/faultline/faultline/history"
)

// MaxScatterPoints is the number of points above which the latency scatter
// plot is downsampled (the slowest op of every k consecutive ops is kept).
const MaxScatterPoints = 5000

// Invisible translations that mark the SVG group of each series and each
// fault shading, so they can be tagged with a class after rendering.
const (
	markSeries = vg.Length(0.00012345)
	markFault  = vg.Length(0.00023456)
)

var (
	seriesMarker = fmt.Sprintf(`<g transform="translate(%.5g, 0)">`, markSeries.Points())
	faultMarker  = fmt.Sprintf(`<g transform="translate(%.5g, 0)">`, markFault.Points())
)

var typeColors = map[history.Type]color.Color{
	history.OK:   color.RGBA{0x1f, 0x77, 0xb4, 0xff},
	history.Fail: color.RGBA{0xd6, 0x27, 0x28, 0xff},
	history.Info: color.RGBA{0xff, 0x7f, 0x0e, 0xff},
}

var faultColors = map[string]color.RGBA{
	"partition": {0x94, 0x67, 0xbd, 0xff},
	"kill":      {0x8c, 0x56, 0x4b, 0xff},
	"pause":     {0xe3, 0x77, 0xc2, 0xff},
	"clock":     {0x17, 0xbe, 0xcf, 0xff},
	"loss":      {0xbc, 0xbd, 0x22, 0xff},
}

func faultColor(kind string, alpha uint8) color.Color {
	c, ok := faultColors[kind]
	if !ok {
		c = color.RGBA{0x7f, 0x7f, 0x7f, 0xff}
	}
	// premultiplied alpha, as image/color expects
	return color.RGBA{uint8(uint16(c.R) * uint16(alpha) / 255), uint8(uint16(c.G) * uint16(alpha) / 255), uint8(uint16(c.B) * uint16(alpha) / 255), alpha}
}

var glyphs = []draw.GlyphDrawer{
	draw.CircleGlyph{}, draw.BoxGlyph{}, draw.PyramidGlyph{}, draw.CrossGlyph{},
	draw.PlusGlyph{}, draw.RingGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{},
}

// plotSVG is one rendered plot.
type plotSVG struct {
	ID     string
	Title  string
	Note   string   // e.g. the downsampling notice
	Series []string // names of the series drawn, in order
	Faults int      // shaded fault intervals
	SVG    template.HTML
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

// shade fills the full height of the plot between two x values.
type shade struct {
	x0, x1 float64
	col    color.Color
}

func (s shade) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x0 := max(trX(s.x0), c.Min.X)
	x1 := min(trX(s.x1), c.Max.X)
	if x1 <= x0 {
		x1 = min(x0+0.5, c.Max.X) // keep an instantaneous fault visible
	}
	c.Push()
	c.Translate(vg.Point{X: markFault})
	c.FillPolygon(s.col, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
	c.Pop()
}

// swatch is a legend thumbnail: a filled rectangle.
type swatch struct{ col color.Color }

func (s swatch) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(s.col, []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y}})
}

func seconds(ns int64) float64 { return float64(ns) / 1e9 }
func millis(ns int64) float64  { return float64(ns) / 1e6 }

// newPlot returns a plot with the time axis over [0, end] and the fault
// intervals shaded, with one legend entry per fault kind.
func newPlot(a *analysis, title, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "time since start (s)"
	p.Y.Label.Text = ylabel
	p.X.Min, p.X.Max = 0, math.Max(seconds(a.End), 0.001)
	sans(&p.Title.TextStyle.Font)
	sans(&p.X.Label.TextStyle.Font)
	sans(&p.Y.Label.TextStyle.Font)
	sans(&p.X.Tick.Label.Font)
	sans(&p.Y.Tick.Label.Font)
	sans(&p.Legend.TextStyle.Font)
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	seen := map[string]bool{}
	var kinds []string
	for _, iv := range a.Intervals {
		p.Add(shade{x0: seconds(iv.Start), x1: seconds(iv.End), col: faultColor(iv.Kind, 0x40)})
		if !seen[iv.Kind] {
			seen[iv.Kind] = true
			kinds = append(kinds, iv.Kind)
		}
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		p.Legend.Add("fault: "+k, swatch{faultColor(k, 0x60)})
	}
	return p
}

// sans switches a plot font to Liberation Sans (the SVG names fallbacks).
func sans(f *font.Font) { f.Variant = "Sans" }

// fontFallback is what the SVG's font-family gets instead of the bare name
// of the font gonum measured text with.
const fontFallback = `font-family:'Liberation Sans',Arial,Helvetica,sans-serif;`

// render draws p as inline SVG, tagging the marked groups. The legend is
// drawn to the right of the plot area, where it hides no data.
func render(p *plot.Plot, out *plotSVG, a *analysis) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reports: drawing plot %q: %v", out.Title, r)
		}
	}()
	w, h := 10*vg.Inch, 3.4*vg.Inch
	c := vgsvg.New(w, h)
	dc := draw.New(c)
	leg := p.Legend
	p.Legend = plot.NewLegend() // drawn separately
	lw := leg.Rectangle(dc).Size().X
	if lw > 0 {
		lw += 12
	}
	area := dc
	area.Max.X -= lw
	p.Draw(area)
	if lw > 0 {
		la := dc
		la.Min.X = area.Max.X + 6
		la.Max.Y -= 28 // below the title
		leg.Draw(la)
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return fmt.Errorf("reports: writing plot %q: %w", out.Title, err)
	}
	s := strings.ReplaceAll(buf.String(), "font-family:Liberation Sans;", fontFallback)
	i := strings.Index(s, "<svg")
	j := strings.Index(s[i:], ">")
	if i < 0 || j < 0 {
		return fmt.Errorf("reports: plot %q: unexpected SVG output", out.Title)
	}
	body := s[i+j+1:]
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="plot" id="%s" viewBox="0 0 %.5g %.5g" role="img" aria-label="%s" data-series="%d" data-faults="%d">`,
		template.HTMLEscapeString(out.ID), w.Points(), h.Points(), template.HTMLEscapeString(out.Title), len(out.Series), out.Faults)
	n := 0
	for {
		k := strings.Index(body, seriesMarker)
		if k < 0 {
			break
		}
		name := fmt.Sprintf("series %d", n)
		if n < len(out.Series) {
			name = out.Series[n]
		}
		sb.WriteString(body[:k])
		fmt.Fprintf(&sb, `<g class="series" data-name="%s">`, template.HTMLEscapeString(name))
		body = body[k+len(seriesMarker):]
		n++
	}
	sb.WriteString(body)
	body = sb.String()
	sb.Reset()
	n = 0
	for {
		k := strings.Index(body, faultMarker)
		if k < 0 {
			break
		}
		sb.WriteString(body[:k])
		if n < len(a.Intervals) {
			iv := a.Intervals[n]
			fmt.Fprintf(&sb, `<g class="fault" data-kind="%s" data-start="%d" data-end="%d">`, template.HTMLEscapeString(iv.Kind), iv.Start, iv.End)
		} else {
			sb.WriteString(`<g class="fault">`)
		}
		body = body[k+len(faultMarker):]
		n++
	}
	sb.WriteString(body)
	out.SVG = template.HTML(sb.String()) // generated by vgsvg, which escapes all text
	return nil
}

// latencyPlot is the scatter of every op's latency against its invoke
// time, coloured by completion type, shaped by f.
func latencyPlot(a *analysis) (plotSVG, error) {
	out := plotSVG{ID: "plot-latency", Title: "Latency of every op", Faults: len(a.Intervals)}
	pts := a.Points
	if len(pts) > MaxScatterPoints {
		pts, out.Note = downsample(pts, MaxScatterPoints)
	}
	title := out.Title
	if out.Note != "" {
		title += " (" + out.Note + ")"
	}
	p := newPlot(a, title, "latency (ms, log scale)")
	if len(pts) > 0 {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
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
			p.Legend.Add(name, s)
			out.Series = append(out.Series, name)
		}
	}
	return out, render(p, &out, a)
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
	p := newPlot(a, out.Title, "latency (ms, log scale)")
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
		return out, render(p, &out, a)
	}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
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
		p.Legend.Add(q.name, l, s)
		out.Series = append(out.Series, q.name)
	}
	return out, render(p, &out, a)
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
func throughputPlot(a *analysis) (plotSVG, error) {
	out := plotSVG{ID: "plot-throughput", Title: fmt.Sprintf("Throughput per %s window (completions/s)", fmtDur(a.Window)), Faults: len(a.Intervals)}
	p := newPlot(a, out.Title, "ops/s")
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
		p.Legend.Add(t.t.String(), l)
		out.Series = append(out.Series, t.t.String())
	}
	return out, render(p, &out, a)
}

func fmtDur(ns int64) string {
	return fmt.Sprint(durationRound(ns))
}
