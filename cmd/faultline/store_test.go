package main

import (
	"os"
	"testing"
	"time"

	"github.com/faultline/faultline"
	"github.com/faultline/faultline/runstore"
)

// TestListRunsSkipsUnreadable: one damaged test.json must not hide the
// other runs.
func TestListRunsSkipsUnreadable(t *testing.T) {
	store := t.TempDir()
	t0 := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	good, err := runstore.Create(store, "good", t0)
	if err != nil {
		t.Fatal(err)
	}
	want := faultline.DefaultTest()
	want.Name = "good"
	if err := runstore.WriteJSON(good.Path(runstore.TestJSON), want); err != nil {
		t.Fatal(err)
	}
	bad, err := runstore.Create(store, "bad", t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad.Path(runstore.TestJSON), []byte(`{"workload": "tor`), 0o644); err != nil {
		t.Fatal(err)
	}
	runs, err := listRuns(store)
	if err != nil {
		t.Fatalf("listRuns: %v", err)
	}
	if len(runs) != 1 || runs[0].test.Name != "good" || !runs[0].start.Equal(t0) {
		t.Fatalf("listRuns = %+v, want only the good run", runs)
	}
}
