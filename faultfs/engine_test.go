package faultfs

import (
	"bytes"
	"cmp"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

var quiet = slog.New(slog.DiscardHandler)

// engineDo runs a step through the engine's API.
func engineDo(e *Engine, s step) error {
	withFile := func(flags int, fn func(f *File) error) error {
		f, err := e.Open(s.path, flags)
		if err != nil {
			return err
		}
		defer f.Release()
		return fn(f)
	}
	switch s.op {
	case "create":
		f, err := e.Create(s.path, unix.O_RDWR|unix.O_EXCL, 0o644, nil)
		if err != nil {
			return err
		}
		f.Release()
		return nil
	case "write":
		return withFile(unix.O_WRONLY, func(f *File) error { _, err := f.WriteAt([]byte(s.data), s.off); return err })
	case "writesync":
		return withFile(unix.O_WRONLY|unix.O_DSYNC, func(f *File) error { _, err := f.WriteAt([]byte(s.data), s.off); return err })
	case "fsync":
		return withFile(unix.O_RDONLY, func(f *File) error { return f.Sync(false) })
	case "fdatasync":
		return withFile(unix.O_RDONLY, func(f *File) error { return f.Sync(true) })
	case "truncate":
		return e.Truncate(s.path, s.size)
	case "ftruncate":
		return withFile(unix.O_WRONLY, func(f *File) error { return f.Truncate(s.size) })
	case "punch":
		return withFile(unix.O_WRONLY, func(f *File) error {
			return f.Allocate(s.off, s.size, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE)
		})
	case "mkdir":
		return e.Mkdir(s.path, 0o755, nil)
	case "rmdir":
		return e.Rmdir(s.path)
	case "unlink":
		return e.Unlink(s.path)
	case "rename":
		return e.Rename(s.path, s.to, 0)
	case "symlink":
		return e.Symlink(s.to, s.path, nil)
	case "link":
		return e.Link(s.to, s.path)
	case "syncdir":
		return e.SyncDir(s.path)
	}
	panic("unknown step " + s.op)
}

func openEngine(t *testing.T, dir string) *Engine {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Backing = dir
	cfg.Logger = quiet
	e, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestEngineScenarios: each scenario's power failure leaves exactly the
// durable state, and an ordinary stop (Close) instead keeps the state the
// steps made.
func TestEngineScenarios(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			// The same steps on a plain directory: what a crash without a
			// power failure must keep.
			plain := t.TempDir()
			writeTree(t, plain, sc.initial)
			for _, s := range sc.steps {
				if err := osDo(plain, s); err != nil {
					t.Fatalf("plain %s %s: %v", s.op, s.path, err)
				}
			}
			live := readTree(t, plain)

			for _, power := range []bool{true, false} {
				dir := t.TempDir()
				writeTree(t, dir, sc.initial)
				e := openEngine(t, dir)
				for _, s := range sc.steps {
					if err := engineDo(e, s); err != nil {
						t.Fatalf("%s %s: %v", s.op, s.path, err)
					}
				}
				want := live
				if power {
					want = sc.want
					if _, err := e.PowerFail(cmp.Or(sc.model, PowerPOSIX)); err != nil {
						t.Fatal(err)
					}
				} else if err := e.Close(); err != nil {
					t.Fatal(err)
				}
				if d := diffTrees(readTree(t, dir), want); d != "" {
					t.Errorf("power failure %v: backing store differs:\n%s", power, d)
				}
			}
		})
	}
}

// TestScenarioCheckRejects shows the scenario check failing on a backing
// store that kept an unsynced write (the state without a power failure).
func TestScenarioCheckRejects(t *testing.T) {
	sc := scenarios[0]
	dir := t.TempDir()
	e := openEngine(t, dir)
	for _, s := range sc.steps {
		if err := engineDo(e, s); err != nil {
			t.Fatal(err)
		}
	}
	e.Close()
	if d := diffTrees(readTree(t, dir), sc.want); !strings.Contains(d, `f: got AAAABBBB, want AAAA`) {
		t.Fatalf("the check accepted a kept unsynced write; diff:\n%s", d)
	}
}

func TestPowerFailReport(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, tree{"f": "12345678", "old": "x"})
	e := openEngine(t, dir)
	for _, s := range []step{
		write("f", 2, "ab"), write("f", 6, "cdef"), // 2 + 2 restored, 2 cut
		create("g"), write("g", 0, "hello"), // create undone, 5 cut
		rename("old", "new"),
	} {
		if err := engineDo(e, s); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := e.PowerFail(PowerPOSIX)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Model != PowerPOSIX {
		t.Errorf("model: got %q, want %q", rep.Model, PowerPOSIX)
	}
	want := []FileLoss{
		{Path: "f", DurableSize: 8, SizeBefore: 10, BytesDropped: 6},
		{Path: "g", DurableSize: 0, SizeBefore: 5, BytesDropped: 5},
	}
	if len(rep.Files) != 2 || rep.Files[0] != want[0] || rep.Files[1] != want[1] {
		t.Errorf("files: got %+v, want %+v", rep.Files, want)
	}
	if rep.BytesDropped != 11 || rep.FilesChanged != 2 || rep.EntriesUndone != 2 {
		t.Errorf("totals: got %d bytes, %d files, %d entries; want 11, 2, 2", rep.BytesDropped, rep.FilesChanged, rep.EntriesUndone)
	}
	if len(rep.Entries) == 2 && (rep.Entries[0] != EntryUndone{Op: "rename", Path: "old", To: "new"} || rep.Entries[1] != EntryUndone{Op: "create", Path: "g"}) {
		t.Errorf("entries (newest first): got %+v", rep.Entries)
	}
	back, err := ParsePowerFailReport(rep.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Encode(), rep.Encode()) {
		t.Errorf("the report does not round-trip:\n%s\n%s", rep.Encode(), back.Encode())
	}
	tampered := bytes.Replace(rep.Encode(), []byte(`"bytes_dropped": 11`), []byte(`"bytes_dropped": 12`), 1)
	if _, err := ParsePowerFailReport(tampered); err == nil {
		t.Error("a report whose total disagrees with its files parsed")
	}
	unknown := bytes.Replace(rep.Encode(), []byte(`"model": "posix"`), []byte(`"model": "ext4"`), 1)
	if _, err := ParsePowerFailReport(unknown); err == nil {
		t.Error("a report of an unknown model parsed")
	}
	if _, err := e.Open("f", unix.O_RDONLY); !errors.Is(err, ErrPowerFailed) {
		t.Errorf("open after the power failure: got %v, want ErrPowerFailed", err)
	}
}

// TestJournalMemory: old bytes are saved once per range between syncs, all
// zero ranges cost no bytes, a sync frees everything, and the limit makes
// the biggest file durable.
func TestJournalMemory(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, tree{"data": strings.Repeat("d", 1<<16), "seg": strings.Repeat("\x00", 1<<16)})
	cfg := DefaultConfig()
	cfg.Backing = dir
	cfg.MaxJournalBytes = 3 << 16
	cfg.Logger = quiet
	e, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	data, _ := e.Open("data", unix.O_RDWR)
	defer data.Release()
	seg, _ := e.Open("seg", unix.O_RDWR)
	defer seg.Release()
	page := bytes.Repeat([]byte{'w'}, 4096)
	for range 3 { // the same page thrice: saved once
		data.WriteAt(page, 0)
	}
	if got := e.Stats().Bytes; got != 4096+spanOverhead {
		t.Fatalf("one page overwritten thrice: journal holds %d bytes, want %d", got, 4096+spanOverhead)
	}
	for off := int64(0); off < 1<<16; off += 4096 { // a preallocated segment, filled in order
		seg.WriteAt(page, off)
	}
	if got := e.Stats().Bytes; got != 4096+2*spanOverhead {
		t.Fatalf("a zero segment overwritten: journal holds %d bytes, want %d (zeros cost nothing)", got, 4096+2*spanOverhead)
	}
	data.Sync(true)
	seg.Sync(true)
	if s := e.Stats(); s.Bytes != 0 || s.DirtyFiles != 0 || s.Peak != 4096+2*spanOverhead {
		t.Fatalf("after syncing both: %+v, want 0 bytes, 0 dirty files, the peak kept", s)
	}
	big := bytes.Repeat([]byte{'b'}, 1<<16)
	data.WriteAt(big, 0) // 64 KiB saved: within the limit
	data.WriteAt(big, 1<<16)
	data.WriteAt(big, 1<<17) // growth past the durable size: nothing saved
	if s := e.Stats(); s.Evictions != 0 || s.Bytes != 1<<16+spanOverhead {
		t.Fatalf("within the limit: %+v", s)
	}
	cfgSmall := e.cfg.MaxJournalBytes
	e.cfg.MaxJournalBytes = 1 << 15
	data.WriteAt(page, 0) // over the limit now: data is made durable
	e.cfg.MaxJournalBytes = cfgSmall
	if s := e.Stats(); s.Evictions != 1 || s.Bytes != 0 || s.EvictedBytes != 1<<16+spanOverhead {
		t.Fatalf("over the limit: %+v, want one eviction freeing everything", s)
	}
}

// TestRootAndTrashRefused: paths out of the root and the trash are refused.
func TestRootAndTrashRefused(t *testing.T) {
	e := openEngine(t, t.TempDir())
	defer e.Close()
	for _, p := range []string{"../x", "/etc/passwd", TrashName, "a/../../b", ""} {
		if err := e.Mkdir(p, 0o755, nil); err == nil {
			t.Errorf("mkdir %q was allowed", p)
		}
	}
	if err := e.Mkdir("ok", 0o755, nil); err != nil {
		t.Errorf("mkdir ok: %v", err)
	}
}

// TestStaleTrashEmptied: a trash left by a killed daemon is emptied at the
// next start (what it held was unlinked: gone, as after a process crash).
func TestStaleTrashEmptied(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, tree{TrashName + "/7": "unlinked", "f": "x"})
	e := openEngine(t, dir)
	if _, err := os.Stat(filepath.Join(dir, TrashName, "7")); !os.IsNotExist(err) {
		t.Errorf("the stale trash entry is still there: %v", err)
	}
	e.Close()
	if d := diffTrees(readTree(t, dir), tree{"f": "x"}); d != "" {
		t.Errorf("after close:\n%s", d)
	}
}
