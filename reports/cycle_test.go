package reports

import (
	"encoding/xml"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/checker"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// gSingle is a G-single cycle of three transactions; g1c a G1c cycle of
// two, whose two edges run between the same transactions both ways.
var (
	gSingle = []checker.CycleEdge{
		{From: 12, To: 40, Kind: "ww", Key: "5", Why: "T2 appended 4 after T1's 3"},
		{From: 40, To: 77, Kind: "wr", Key: "6", Why: "T3 read T2's append of 9"},
		{From: 77, To: 12, Kind: "rw", Key: "5", Why: "T3 read key 5 <without> T1's 3"},
	}
	g1c = []checker.CycleEdge{
		{From: 8, To: 9, Kind: "wr", Key: "7"},
		{From: 9, To: 8, Kind: "wr", Key: "8"},
	}
	realtime = []checker.CycleEdge{
		{From: 1, To: 2, Kind: "process"},
		{From: 2, To: 3, Kind: "ww", Key: "x"},
		{From: 3, To: 4, Kind: "realtime"},
		{From: 4, To: 5, Kind: "rw", Key: "y"},
		{From: 5, To: 1, Kind: "wr", Key: "z"},
	}
)

// svgShape is what a drawn cycle contains, read back with encoding/xml
// (which also proves the SVG well-formed).
type svgShape struct {
	Nodes  []string // node labels, in order
	Edges  []string // "from->to kind label"
	Titles []string
}

func parseCycle(t *testing.T, svg string) svgShape {
	t.Helper()
	var doc struct {
		Groups []struct {
			Class string `xml:"class,attr"`
			From  string `xml:"data-from,attr"`
			To    string `xml:"data-to,attr"`
			Kind  string `xml:"data-kind,attr"`
			Title string `xml:"title"`
			Text  string `xml:"text"`
		} `xml:"g"`
	}
	if err := xml.Unmarshal([]byte(svg), &doc); err != nil {
		t.Fatalf("cycle SVG is not well-formed XML: %v\n%s", err, svg)
	}
	var s svgShape
	for _, g := range doc.Groups {
		switch g.Class {
		case "node":
			s.Nodes = append(s.Nodes, g.Text)
		case "edge":
			s.Edges = append(s.Edges, fmt.Sprintf("%s->%s %s %s", g.From, g.To, g.Kind, g.Text))
		}
		s.Titles = append(s.Titles, g.Title)
	}
	return s
}

func TestCycleSVG(t *testing.T) {
	txn := func(i int64) string { return fmt.Sprintf("txn %d", i) }
	cases := []struct {
		name  string
		edges []checker.CycleEdge
		nodes string
		edgs  string
	}{
		{"g-single", gSingle, "T1 T2 T3", "12->40 ww ww 5|40->77 wr wr 6|77->12 rw rw 5"},
		{"g1c", g1c, "T1 T2", "8->9 wr wr 7|9->8 wr wr 8"},
		{"five", realtime, "T1 T2 T3 T4 T5", "1->2 process process|2->3 ww ww x|3->4 realtime realtime|4->5 rw rw y|5->1 wr wr z"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svg := string(cycleSVG(c.edges, txn))
			if again := string(cycleSVG(c.edges, txn)); again != svg {
				t.Fatal("the layout is not deterministic")
			}
			s := parseCycle(t, svg)
			if got := strings.Join(s.Nodes, " "); got != c.nodes {
				t.Errorf("nodes %q, want %q", got, c.nodes)
			}
			if got := strings.Join(s.Edges, "|"); got != c.edgs {
				t.Errorf("edges %q, want %q", got, c.edgs)
			}
			golden := filepath.Join("testdata", "cycle-"+c.name+".svg")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(svg+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./reports -run TestCycleSVG -update writes it)", err)
			}
			if svg+"\n" != string(want) {
				t.Errorf("cycle SVG differs from %s (rerun with -update after checking the drawing in a browser)", golden)
			}
		})
	}
	s := parseCycle(t, string(cycleSVG(gSingle, txn)))
	for _, want := range []string{"T1 = #12: txn 12", "T1 → T2: ww 5: T2 appended 4 after T1's 3", "T3 → T1: rw 5: T3 read key 5 <without> T1's 3"} {
		if !strings.Contains(strings.Join(s.Titles, "\n"), want) {
			t.Errorf("tooltips lack %q: %q", want, s.Titles)
		}
	}
	if svg := string(cycleSVG(gSingle, txn)); !strings.Contains(svg, `stroke-dasharray="5 3"`) || strings.Contains(svg, "<without>") {
		t.Error("rw edge not dashed, or a tooltip not escaped")
	}
}

// TestCycleInReport: each cycle of a transaction checker is drawn in its
// anomaly's section, with the transactions named from the history.
func TestCycleInReport(t *testing.T) {
	html, h := writeGolden(t, t.TempDir(), 500, invalidResults)
	if n := strings.Count(html, `<svg class="cycle"`); n != 2 {
		t.Fatalf("%d cycles drawn, want 2", n)
	}
	res := invalidResults(h)
	gs := res.Checkers[1].Anomalies[0]
	sec := html[strings.Index(html, `id="anomaly-1-0"`):]
	sec = sec[:strings.Index(sec, "</details>")]
	for _, want := range []string{
		`<svg class="cycle"`, `data-nodes="3" data-edges="3"`,
		fmt.Sprintf(`<tr><th>T1</th><td>#%d</td>`, gs.Cycle[0].From),
		fmt.Sprintf(`<tr><th>T3</th><td>#%d</td>`, gs.Cycle[2].From),
		`<strong>G-single</strong> <span class="at">at`,
	} {
		if !strings.Contains(sec, want) {
			t.Errorf("G-single section lacks %q", want)
		}
	}
	long := make([]checker.CycleEdge, MaxCycleEdges+1)
	for i := range long {
		long[i] = checker.CycleEdge{From: int64(i), To: int64((i + 1) % len(long)), Kind: "ww"}
	}
	av := viewAnomaly(checker.Anomaly{Type: "G0", Cycle: long}, "x", true, nil, nil, nil)
	if av.Cycle != "" || !strings.Contains(av.CycleOf, "too long to draw") {
		t.Errorf("a %d-edge cycle: drawn %v, note %q", len(long), av.Cycle != "", av.CycleOf)
	}
}
