// Package runstore owns the on-disk layout of the store of runs, for the
// runner, analyze, list and the reports alike:
//
//	<store>/index.html                  every run (package reports)
//	<store>/latest -> <test>/<start>    the newest run
//	<store>/<test>/latest -> <start>    the newest run of a test
//	<store>/<test>/<start>/             one run: the files named below
//
// <start> is the run's start time in UTC, sortable, as Jepsen names its
// run directories. Every JSON file is written atomically (a temporary file,
// then a rename), so a reader never sees half a file.
package runstore

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"time"
)

// Files of a run directory and of the store.
const (
	TestJSON     = "test.json"     // the run's configuration
	HistoryJSONL = "history.jsonl" // streamed while the run goes
	HistoryEDN   = "history.edn"   // the same ops as Jepsen writes them
	ResultsJSON  = "results.json"  // one entry per checker
	SummaryJSON  = "summary.json"  // the figures the index lists
	ScheduleJSON = "schedule.json" // the faults that happened (nemesis.ScheduleFile)
	ShrinkJSON   = "shrink.json"   // a shrink's links between a run and its minimal reproducer
	ReportHTML   = "report.html"   // the self-contained report
	LogsDir      = "logs"          // logs/<node>.log
	IndexHTML    = "index.html"    // in the store: every run
	Latest       = "latest"        // links to the newest run
)

// timeLayout names run directories (UTC, sortable).
const timeLayout = "20060102T150405.000Z"

// Run is one run's directory, <store>/<test>/<start>.
type Run struct {
	// Dir is the run's directory (links resolved).
	Dir string
}

// Create makes <store>/<test>/<start>/ (with its logs directory) and
// points <store>/latest and <store>/<test>/latest at it. A run of the same
// test that started in the same millisecond (suite --parallel) has the
// directory already: the start moves on a millisecond, so no two runs
// share a directory.
func Create(store, test string, start time.Time) (Run, error) {
	parent := filepath.Join(store, test)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return Run{}, fmt.Errorf("create run directory in %s: %w (check that --store is writable)", parent, err)
	}
	var r Run
	var stamp string
	for {
		stamp = start.UTC().Format(timeLayout)
		r = Run{Dir: filepath.Join(parent, stamp)}
		err := os.Mkdir(r.Dir, 0o755)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return Run{}, fmt.Errorf("create run directory %s: %w (check that --store is writable)", r.Dir, err)
		}
		start = start.Add(time.Millisecond)
	}
	if err := os.Mkdir(filepath.Join(r.Dir, LogsDir), 0o755); err != nil {
		return Run{}, fmt.Errorf("create run directory %s: %w", r.Dir, err)
	}
	if err := relink(filepath.Join(store, Latest), filepath.Join(test, stamp)); err != nil {
		return r, err
	}
	return r, relink(filepath.Join(store, test, Latest), stamp)
}

// Open returns the run in dir, following a latest link, so
// `faultline analyze store/latest` works. It does not check the files.
func Open(dir string) Run {
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		return Run{Dir: real}
	}
	return Run{Dir: dir}
}

// Path returns the path of one of the run's files (TestJSON, ...).
func (r Run) Path(file string) string { return filepath.Join(r.Dir, file) }

// NodeLog returns the path of a node's log, relative to the run directory.
func NodeLog(node string) string { return LogsDir + "/" + node + ".log" }

// Store returns the store the run belongs to.
func (r Run) Store() string { return filepath.Dir(filepath.Dir(r.Dir)) }

// Test returns the name of the run's test.
func (r Run) Test() string { return filepath.Base(filepath.Dir(r.Dir)) }

// Start returns the run's start time, read from its directory name; false
// when the name is not a start time.
func (r Run) Start() (time.Time, bool) {
	t, err := time.Parse(timeLayout, filepath.Base(r.Dir))
	return t, err == nil
}

// Rel returns the run's directory relative to its store, with slashes
// (the index links runs this way).
func (r Run) Rel() string {
	rel, err := filepath.Rel(r.Store(), r.Dir)
	if err != nil {
		return filepath.ToSlash(r.Dir)
	}
	return filepath.ToSlash(rel)
}

// List returns every run directory of store that holds file (TestJSON,
// SummaryJSON, ...), newest first; the latest links are skipped. A store
// that does not exist holds no runs.
func List(store, file string) ([]Run, error) {
	matches, err := filepath.Glob(filepath.Join(store, "*", "*", file))
	if err != nil {
		return nil, fmt.Errorf("scan store %s: %w", store, err)
	}
	var runs []Run
	for _, m := range matches {
		dir := filepath.Dir(m)
		if fi, err := os.Lstat(dir); err != nil || fi.Mode()&fs.ModeSymlink != 0 {
			continue
		}
		runs = append(runs, Run{Dir: dir})
	}
	sort.SliceStable(runs, func(i, j int) bool { return filepath.Base(runs[i].Dir) > filepath.Base(runs[j].Dir) })
	return runs, nil
}

// WriteJSON writes v as indented JSON to path, atomically.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	return WriteFile(path, append(b, '\n'))
}

// WriteFile writes b to path atomically: a temporary file in the same
// directory, synced, then renamed over path.
func WriteFile(path string, b []byte) error {
	return WriteStream(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// ReadJSON decodes the JSON file at path into v. A missing file says that
// the directory may not be a run.
func ReadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s not found: is %s a faultline run directory?: %w", path, filepath.Dir(path), err)
		}
		return fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s: %w (the file is damaged; `faultline analyze` rewrites the results of a run)", path, err)
	}
	return nil
}

// relinkSeq tells apart the temporary links of concurrent relinks.
var relinkSeq atomic.Int64

// relink atomically replaces the symlink at path with one to target. Runs
// in parallel (suite --parallel) relink the same path at once: each one
// uses a temporary link of its own, and the last rename wins.
func relink(path, target string) error {
	tmp := fmt.Sprintf("%s.%d-%d.tmp", path, os.Getpid(), relinkSeq.Add(1))
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("link %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("link %s: %w", path, err)
	}
	return nil
}

// WriteStream writes path atomically from write, for files too large to
// build in memory first (history.edn).
func WriteStream(path string, write func(w io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	bw := bufio.NewWriterSize(f, 1<<16)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
