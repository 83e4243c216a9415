package reports

import (
	"fmt"
	"html/template"
	"math"
	"strings"

	"github.com/faultline/faultline/checker"
)

// MaxCycleEdges is the longest anomaly cycle drawn; a longer one is
// explained in words only.
const MaxCycleEdges = 24

// edgeColors are the colours of the dependency kinds in drawn cycles.
var edgeColors = map[string]string{
	"ww":       "#1f77b4",
	"wr":       "#2ca02c",
	"rw":       "#d62728",
	"process":  "#7f7f7f",
	"realtime": "#9467bd",
}

// cycleNodes numbers the transactions of a cycle T1, T2, ... in the order
// the checkers number them: by first appearance as the source of an edge
// (then as a target, for a cycle that does not close).
func cycleNodes(edges []checker.CycleEdge) []int64 {
	seen := map[int64]bool{}
	var nodes []int64
	add := func(i int64) {
		if !seen[i] {
			seen[i] = true
			nodes = append(nodes, i)
		}
	}
	for _, e := range edges {
		add(e.From)
	}
	for _, e := range edges {
		add(e.To)
	}
	return nodes
}

type pt struct{ X, Y float64 }

func (p pt) add(q pt) pt      { return pt{p.X + q.X, p.Y + q.Y} }
func (p pt) sub(q pt) pt      { return pt{p.X - q.X, p.Y - q.Y} }
func (p pt) mul(f float64) pt { return pt{p.X * f, p.Y * f} }
func (p pt) len() float64     { return math.Hypot(p.X, p.Y) }
func (p pt) unit() pt {
	l := p.len()
	if l == 0 {
		return pt{1, 0}
	}
	return p.mul(1 / l)
}
func (p pt) left() pt       { return pt{p.Y, -p.X} } // to the left of travel, y pointing down
func (p pt) String() string { return fmt.Sprintf("%.1f,%.1f", p.X, p.Y) }

const (
	cycleNodeR   = 20.0 // node radius
	cycleArrow   = 9.0  // arrowhead length
	cycleCharW   = 7.4  // estimated width of a label character at 12px
	cycleMargin  = 10.0
	cycleLabelPx = 12
)

// cycleSVG draws an anomaly cycle as a small inline SVG graph, as Elle's
// cycle plots: transactions as nodes named T1, T2, ... (in the order
// cycleNodes gives), one arrow per dependency labelled with its kind and
// key. The layout is fixed by the edges alone: nodes on a circle,
// clockwise from the top in the cycle's order, each edge bowed to the left
// of its direction so that two edges between the same transactions do not
// overlap. Node and edge tooltips (<title>) say the transaction and why
// the dependency holds; txn(i) describes the transaction whose completion
// has history index i.
func cycleSVG(edges []checker.CycleEdge, txn func(int64) string) template.HTML {
	nodes := cycleNodes(edges)
	num := map[int64]int{}
	for i, n := range nodes {
		num[n] = i
	}
	n := len(nodes)
	pos := make([]pt, n)
	switch {
	case n == 1:
		pos[0] = pt{0, 0}
	case n == 2:
		pos[0], pos[1] = pt{-95, 0}, pt{95, 0}
	default:
		r := math.Max(90, float64(n)*cycleNodeR*5.2/(2*math.Pi))
		for i := range pos {
			a := -math.Pi/2 + 2*math.Pi*float64(i)/float64(n)
			pos[i] = pt{r * math.Cos(a), r * math.Sin(a)}
		}
	}
	var body strings.Builder
	lo, hi := pt{math.Inf(1), math.Inf(1)}, pt{math.Inf(-1), math.Inf(-1)}
	grow := func(p pt, dx, dy float64) {
		lo = pt{math.Min(lo.X, p.X-dx), math.Min(lo.Y, p.Y-dy)}
		hi = pt{math.Max(hi.X, p.X+dx), math.Max(hi.Y, p.Y+dy)}
	}
	for _, p := range pos {
		grow(p, cycleNodeR+2, cycleNodeR+2)
	}
	esc := template.HTMLEscapeString
	// parallel counts edges already drawn from one node to another, so a
	// second one bows further out.
	parallel := map[[2]int]int{}
	for _, e := range edges {
		a, b := num[e.From], num[e.To]
		col, ok := edgeColors[e.Kind]
		if !ok {
			col = "#555"
		}
		label := e.Kind
		if e.Key != "" {
			label += " " + e.Key
		}
		k := parallel[[2]int{a, b}]
		parallel[[2]int{a, b}]++
		var path string
		var tip, dir, labelAt, out pt
		if a == b { // a dependency of a transaction on itself: a loop above it
			p := pos[a]
			s := p.add(pt{-8, -cycleNodeR + 2})
			tip = p.add(pt{8, -cycleNodeR + 2})
			h := 38 + 14*float64(k)
			c1, c2 := p.add(pt{-30, -h}), p.add(pt{30, -h})
			dir = tip.sub(c2).unit()
			end := tip.sub(dir.mul(cycleArrow * 0.8))
			path = fmt.Sprintf("M%s C%s %s %s", s, c1, c2, end)
			labelAt = p.add(pt{0, -h*0.75 - 4})
			out = pt{0, -1}
		} else {
			p0, p1 := pos[a], pos[b]
			d := p1.sub(p0)
			bow := d.len() * (0.12 + 0.12*float64(k))
			if n == 2 {
				bow = d.len() * (0.22 + 0.12*float64(k))
			}
			c := p0.add(d.mul(0.5)).add(d.unit().left().mul(2 * bow))
			start := p0.add(c.sub(p0).unit().mul(cycleNodeR))
			dir = p1.sub(c).unit()
			tip = p1.sub(dir.mul(cycleNodeR))
			end := tip.sub(dir.mul(cycleArrow * 0.8))
			path = fmt.Sprintf("M%s Q%s %s", start, c, end)
			out = d.unit().left()
			labelAt = p0.add(d.mul(0.5)).add(out.mul(bow + 5))
		}
		side := dir.left().mul(cycleArrow * 0.45)
		back := tip.sub(dir.mul(cycleArrow))
		dash := ""
		if e.Kind == "rw" {
			dash = ` stroke-dasharray="5 3"` // anti-dependencies dashed, as Elle draws them
		}
		title := fmt.Sprintf("T%d → T%d: %s", a+1, b+1, label)
		if e.Why != "" {
			title += ": " + e.Why
		}
		// The label sits outside the curve: beside it, left- or
		// right-aligned, where the curve runs up or down; above or below
		// it, centred, where it runs across.
		tw := float64(len([]rune(label)))*cycleCharW + 2
		anchor := "middle"
		switch {
		case out.X > 0.4:
			anchor = "start"
			grow(labelAt.add(pt{tw / 2, 0}), tw/2, 9)
		case out.X < -0.4:
			anchor = "end"
			grow(labelAt.sub(pt{tw / 2, 0}), tw/2, 9)
		default:
			labelAt = labelAt.add(out.mul(6))
			grow(labelAt, tw/2, 9)
		}
		fmt.Fprintf(&body, `<g class="edge" data-kind="%s" data-from="%d" data-to="%d"><title>%s</title>`+
			`<path d="%s" fill="none" stroke="%s" stroke-width="1.6"%s/>`+
			`<polygon points="%s %s %s" fill="%s"/>`+
			`<text x="%.1f" y="%.1f" text-anchor="%s" dominant-baseline="middle" fill="%s" class="edge-label">%s</text></g>`,
			esc(e.Kind), e.From, e.To, esc(title), path, col, dash,
			tip, back.add(side), back.sub(side), col, labelAt.X, labelAt.Y, anchor, col, esc(label))
	}
	for i, p := range pos {
		desc := fmt.Sprintf("T%d = #%d", i+1, nodes[i])
		if txn != nil {
			if t := txn(nodes[i]); t != "" {
				desc += ": " + t
			}
		}
		fmt.Fprintf(&body, `<g class="node" data-index="%d"><title>%s</title><circle cx="%.1f" cy="%.1f" r="%g" fill="#fff" stroke="#333" stroke-width="1.4"/>`+
			`<text x="%.1f" y="%.1f" text-anchor="middle" dominant-baseline="central" font-weight="600">T%d</text></g>`,
			nodes[i], esc(desc), p.X, p.Y, cycleNodeR, p.X, p.Y, i+1)
	}
	lo, hi = lo.sub(pt{cycleMargin, cycleMargin}), hi.add(pt{cycleMargin, cycleMargin})
	w, h := hi.X-lo.X, hi.Y-lo.Y
	return template.HTML(fmt.Sprintf(`<svg class="cycle" viewBox="%.1f %.1f %.1f %.1f" width="%.0f" height="%.0f" role="img" aria-label="cycle of %d transactions" data-nodes="%d" data-edges="%d" font-size="%d" font-family="system-ui,sans-serif" overflow="visible">%s</svg>`,
		lo.X, lo.Y, w, h, w, h, n, n, len(edges), cycleLabelPx, body.String())) // all text escaped above
}
