package faultline

import (
	"testing"

	"github.com/faultline/faultline/history"
)

func TestNemesisRecorderTracksCurrentFault(t *testing.T) {
	rec, err := history.NewRecorder("")
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	n := &nemesisRecorder{rec: rec}
	if got := n.current(); got != "nemesis: -" {
		t.Fatalf("before any fault: %q", got)
	}
	n.Record(history.Op{Type: history.Invoke, Process: history.NemesisProcess, F: "kill"})
	n.Record(history.Op{Type: history.OK, Process: history.NemesisProcess, F: "kill"})
	if got := n.current(); got != "nemesis: kill ok" {
		t.Fatalf("after a kill: %q, want %q", got, "nemesis: kill ok")
	}
	if rec.Len() != 2 {
		t.Fatalf("recorder holds %d ops, want 2: the wrapper must record through", rec.Len())
	}
}
