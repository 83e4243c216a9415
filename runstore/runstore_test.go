package runstore

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLayout(t *testing.T) {
	store := t.TempDir()
	t0 := time.Date(2026, 11, 30, 4, 5, 6, 7e6, time.UTC)
	a, err := Create(store, "register", t0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Create(store, "bank", t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []Run{a, b} {
		if err := WriteJSON(r.Path(TestJSON), map[string]string{"name": r.Test()}); err != nil {
			t.Fatal(err)
		}
	}
	if a.Store() != store || a.Test() != "register" || a.Rel() != "register/20261130T040506.007Z" {
		t.Errorf("layout of %s: store %s test %s rel %s", a.Dir, a.Store(), a.Test(), a.Rel())
	}
	if st, ok := a.Start(); !ok || !st.Equal(t0) {
		t.Errorf("Start() = %v %v, want %v", st, ok, t0)
	}
	if fi, err := os.Stat(filepath.Join(a.Dir, LogsDir)); err != nil || !fi.IsDir() {
		t.Errorf("logs directory: %v", err)
	}
	latest := Open(filepath.Join(store, Latest))
	if latest.Dir != mustReal(t, b.Dir) {
		t.Errorf("store/latest = %s, want %s", latest.Dir, b.Dir)
	}
	if got := Open(filepath.Join(store, "register", Latest)); got.Dir != mustReal(t, a.Dir) {
		t.Errorf("store/register/latest = %s, want %s", got.Dir, a.Dir)
	}
	runs, err := List(store, TestJSON)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].Dir != b.Dir || runs[1].Dir != a.Dir {
		t.Errorf("List = %v, want newest first without the latest links", runs)
	}
	if runs, _ := List(filepath.Join(store, "missing"), TestJSON); len(runs) != 0 {
		t.Errorf("List of a missing store = %v", runs)
	}
}

// TestCreateConcurrently: parallel suite runs create their runs, and so
// relink store/latest, at the same time (a shared temporary link made one
// of them fail with "rename store/latest.tmp: no such file").
func TestCreateConcurrently(t *testing.T) {
	store := t.TempDir()
	t0 := time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	dirs := make(chan string, 16)
	for i := range 16 {
		wg.Go(func() {
			// Four tests, four runs each starting in the same millisecond.
			r, err := Create(store, fmt.Sprintf("test%d", i%4), t0)
			if err == nil {
				dirs <- r.Dir
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	close(dirs)
	seen := map[string]bool{}
	for d := range dirs {
		if seen[d] {
			t.Errorf("two runs share %s", d)
		}
		seen[d] = true
	}
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if _, err := filepath.EvalSymlinks(filepath.Join(store, Latest)); err != nil {
		t.Errorf("store/latest: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(store, "*.tmp"))
	more, _ := filepath.Glob(filepath.Join(store, "*", "*.tmp"))
	if len(left)+len(more) > 0 {
		t.Errorf("temporary links left: %v %v", left, more)
	}
}

func TestReadJSONErrors(t *testing.T) {
	dir := t.TempDir()
	var v map[string]any
	if err := ReadJSON(filepath.Join(dir, TestJSON), &v); err == nil || !strings.Contains(err.Error(), "run directory") {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(dir, ResultsJSON)
	if err := os.WriteFile(bad, []byte("{torn"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ReadJSON(bad, &v); err == nil || !strings.Contains(err.Error(), "parse") {
		t.Errorf("torn file: %v", err)
	}
}

func TestWriteFileLeavesNoTemporaries(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, SummaryJSON)
	for i := range 3 {
		if err := WriteJSON(p, i); err != nil {
			t.Fatal(err)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only %s", len(ents), SummaryJSON)
	}
	if err := WriteFile(filepath.Join(dir, "no", "such", "dir"), nil); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
}

func mustReal(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
