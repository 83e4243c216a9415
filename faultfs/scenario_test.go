package faultfs

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// step is one filesystem call of a scenario.
type step struct {
	op        string // create, write, writesync, fsync, fdatasync, truncate, ftruncate, punch, mkdir, rmdir, unlink, rename, syncdir
	path, to  string
	off, size int64
	data      string
}

func create(p string) step                     { return step{op: "create", path: p} }
func write(p string, off int64, d string) step { return step{op: "write", path: p, off: off, data: d} }
func writeSync(p string, off int64, d string) step {
	return step{op: "writesync", path: p, off: off, data: d}
}
func fsync(p string) step                  { return step{op: "fsync", path: p} }
func fdatasync(p string) step              { return step{op: "fdatasync", path: p} }
func truncate(p string, size int64) step   { return step{op: "truncate", path: p, size: size} }
func ftruncate(p string, size int64) step  { return step{op: "ftruncate", path: p, size: size} }
func punch(p string, off, size int64) step { return step{op: "punch", path: p, off: off, size: size} }
func mkdir(p string) step                  { return step{op: "mkdir", path: p} }
func rmdir(p string) step                  { return step{op: "rmdir", path: p} }
func unlink(p string) step                 { return step{op: "unlink", path: p} }
func rename(from, to string) step          { return step{op: "rename", path: from, to: to} }
func symlink(target, p string) step        { return step{op: "symlink", path: p, to: target} }
func link(old, p string) step              { return step{op: "link", path: p, to: old} }
func syncdir(p string) step                { return step{op: "syncdir", path: p} }

// tree is a directory's content: files by slash path to their content,
// directories as "path/" to "".
type tree map[string]string

// scenario: start from initial (durable), run steps, fail the power under
// model ("": PowerPOSIX): the backing store must hold want.
type scenario struct {
	name    string
	model   PowerModel
	initial tree
	steps   []step
	want    tree
}

var zeros16 = strings.Repeat("\x00", 16)

var scenarios = []scenario{
	{
		name:  "write A, fsync, write B: A stays, B is gone",
		steps: []step{create("f"), syncdir(""), write("f", 0, "AAAA"), fsync("f"), write("f", 4, "BBBB")},
		want:  tree{"f": "AAAA"},
	},
	{
		name:    "an overwrite without fsync is restored",
		initial: tree{"f": "12345678"},
		steps:   []step{write("f", 2, "xx"), write("f", 3, "yyyy")},
		want:    tree{"f": "12345678"},
	},
	{
		name:    "fdatasync keeps the overwrite before it only",
		initial: tree{"f": "12345678"},
		steps:   []step{write("f", 0, "xx"), fdatasync("f"), write("f", 4, "yy"), write("f", 6, "zzzz")},
		want:    tree{"f": "xx345678"},
	},
	{
		name:    "O_DSYNC writes are durable at once",
		initial: tree{"f": "12345678"},
		steps:   []step{writeSync("f", 0, "xx"), write("f", 4, "yy")},
		want:    tree{"f": "xx345678"},
	},
	{
		name:  "a create without a directory fsync is undone, fsynced content or not",
		steps: []step{create("f"), write("f", 0, "hi"), fsync("f")},
		want:  tree{},
	},
	{
		name:  "a create with a directory fsync stays, its unsynced content does not",
		steps: []step{create("f"), syncdir(""), write("f", 0, "hi")},
		want:  tree{"f": ""},
	},
	{
		name:    "a rename without a directory fsync is undone",
		initial: tree{"a": "x"},
		steps:   []step{rename("a", "b")},
		want:    tree{"a": "x"},
	},
	{
		name:    "a rename with a directory fsync stays",
		initial: tree{"a": "x"},
		steps:   []step{rename("a", "b"), syncdir("")},
		want:    tree{"b": "x"},
	},
	{
		name:    "a rename over a file is undone with the file restored",
		initial: tree{"new": "v2", "cur": "v1"},
		steps:   []step{rename("new", "cur")},
		want:    tree{"new": "v2", "cur": "v1"},
	},
	{
		name:    "write a temporary file, fsync, rename over, fsync the directory",
		initial: tree{"cur": "v1"},
		steps:   []step{create("tmp"), write("tmp", 0, "v2"), fsync("tmp"), rename("tmp", "cur"), syncdir("")},
		want:    tree{"cur": "v2"},
	},
	{
		name:    "a rename between directories needs both fsynced: one is not enough",
		initial: tree{"d1/": "", "d2/": "", "d1/f": "x"},
		steps:   []step{rename("d1/f", "d2/f"), syncdir("d2")},
		want:    tree{"d1/": "", "d2/": "", "d1/f": "x"},
	},
	{
		name:    "a rename between directories with both fsynced stays",
		initial: tree{"d1/": "", "d2/": "", "d1/f": "x"},
		steps:   []step{rename("d1/f", "d2/f"), syncdir("d2"), syncdir("d1")},
		want:    tree{"d1/": "", "d2/": "", "d2/f": "x"},
	},
	{
		name:    "an unlink without a directory fsync is undone",
		initial: tree{"f": "data"},
		steps:   []step{unlink("f")},
		want:    tree{"f": "data"},
	},
	{
		name:    "an unlink with a directory fsync stays",
		initial: tree{"f": "data", "g": "other"},
		steps:   []step{unlink("f"), syncdir("")},
		want:    tree{"g": "other"},
	},
	{
		name:  "a directory not fsynced into its parent goes with its content",
		steps: []step{mkdir("d"), create("d/f"), write("d/f", 0, "x"), fsync("d/f"), syncdir("d")},
		want:  tree{},
	},
	{
		name:  "a directory fsynced into its parent stays, its unsynced entries do not",
		steps: []step{mkdir("d"), syncdir(""), create("d/f"), mkdir("d/e")},
		want:  tree{"d/": ""},
	},
	{
		name:    "an rmdir without a directory fsync is undone",
		initial: tree{"d/": ""},
		steps:   []step{rmdir("d")},
		want:    tree{"d/": ""},
	},
	{
		name:    "an fsync after a truncate keeps the truncate",
		initial: tree{"f": "12345678"},
		steps:   []step{truncate("f", 3), fsync("f")},
		want:    tree{"f": "123"},
	},
	{
		name:    "a truncate without fsync is undone",
		initial: tree{"f": "12345678"},
		steps:   []step{truncate("f", 3)},
		want:    tree{"f": "12345678"},
	},
	{
		name:    "an ftruncate that grew the file is undone",
		initial: tree{"f": "1234"},
		steps:   []step{ftruncate("f", 100)},
		want:    tree{"f": "1234"},
	},
	{
		name:    "a truncate then writes past it are undone byte for byte",
		initial: tree{"f": "12345678"},
		steps:   []step{truncate("f", 2), write("f", 4, "zz"), write("f", 9, "tail")},
		want:    tree{"f": "12345678"},
	},
	{
		name:    "a punched hole is filled back",
		initial: tree{"f": "12345678"},
		steps:   []step{punch("f", 2, 4)},
		want:    tree{"f": "12345678"},
	},
	{
		name:    "writes into a preallocated segment: synced ones stay, later ones go back to zeros",
		initial: tree{"seg": zeros16},
		steps:   []step{write("seg", 0, "abc"), fdatasync("seg"), write("seg", 3, "def")},
		want:    tree{"seg": "abc" + zeros16[3:]},
	},
	{
		name:    "a process that never fsyncs loses everything it wrote since the mount",
		initial: tree{"log": "old", "d/": ""},
		steps: []step{
			write("log", 3, "-new"), create("d/a"), write("d/a", 0, "aaaa"), mkdir("d/sub"),
			create("d/sub/b"), write("d/sub/b", 0, "b"), rename("d/a", "d/a2"), unlink("log"),
		},
		want: tree{"log": "old", "d/": ""},
	},
	{
		// nats-server's meta snapshot: the old directory renamed aside,
		// a new one made, the old emptied and removed, the parent
		// fsynced; the emptying's unlinks were never fsynced in their
		// own directory, which is gone for good.
		name:    "entries unlinked in a directory whose removal is durable stay lost",
		initial: tree{"m/": "", "m/msgs/": "", "m/msgs/a": "x", "m/msgs/b": "y"},
		steps: []step{rename("m/msgs", "m/__msgs__"), mkdir("m/msgs"), create("m/msgs/a"), create("m/msgs/b"),
			unlink("m/__msgs__/a"), unlink("m/__msgs__/b"), rmdir("m/__msgs__"), syncdir("m")},
		want: tree{"m/": "", "m/msgs/": ""},
	},
	// The data-only model (LazyFS's clear-cache): directory operations
	// are durable at once, unsynced content and sizes are not.
	{
		// LazyFS's create is open(2) on its backing store, the written
		// pages stay in its cache: the file is left, empty.
		name:  "data-only: a file created and written, never fsynced, stays, empty",
		model: PowerDataOnly,
		steps: []step{create("f"), write("f", 0, "hello")},
		want:  tree{"f": ""},
	},
	{
		name:  "data-only: a file fsynced in a directory never fsynced stays, with its content",
		model: PowerDataOnly,
		steps: []step{mkdir("d"), create("d/f"), write("d/f", 0, "AAAA"), fsync("d/f"), write("d/f", 4, "BBBB")},
		want:  tree{"d/": "", "d/f": "AAAA"},
	},
	{
		name:    "data-only: renames, unlinks and rmdirs stay without a directory fsync",
		model:   PowerDataOnly,
		initial: tree{"a": "1", "b": "2", "e/": ""},
		steps:   []step{rename("a", "a2"), unlink("b"), rmdir("e"), symlink("a2", "l")},
		want:    tree{"a2": "1", "l": "1"}, // l reads through to a2
	},
	{
		name:    "data-only: overwrites and truncates without fsync are undone",
		model:   PowerDataOnly,
		initial: tree{"f": "12345678", "g": "abcdefgh"},
		steps:   []step{write("f", 2, "xx"), truncate("g", 3), write("g", 5, "zz")},
		want:    tree{"f": "12345678", "g": "abcdefgh"},
	},
	{
		name:    "data-only: a file renamed over another keeps the new name, its unsynced content goes",
		model:   PowerDataOnly,
		initial: tree{"cur": "old"},
		steps:   []step{create("tmp"), write("tmp", 0, "new"), rename("tmp", "cur")},
		want:    tree{"cur": ""},
	},
}

// writeTree lays t out under dir.
func writeTree(t *testing.T, dir string, tr tree) {
	t.Helper()
	for _, p := range slices.Sorted(maps.Keys(tr)) {
		full := filepath.Join(dir, filepath.FromSlash(strings.TrimSuffix(p, "/")))
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(tr[p]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readTree is what is under dir, the trash included (it must be gone).
func readTree(t *testing.T, dir string) tree {
	t.Helper()
	got := tree{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, dir+string(filepath.Separator)))
		if d.IsDir() {
			got[rel+"/"] = ""
			return nil
		}
		b, err := os.ReadFile(p)
		got[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	return got
}

// diffTrees says how got differs from want, "" when equal.
func diffTrees(got, want tree) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[k]; !ok {
			b.WriteString("  missing " + k + "\n")
		} else if g != want[k] {
			b.WriteString("  " + k + ": got " + quote(g) + ", want " + quote(want[k]) + "\n")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			b.WriteString("  unexpected " + k + " = " + quote(got[k]) + "\n")
		}
	}
	return b.String()
}

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "\x00", "\\0"), "\n", "\\n")
}

// osDo runs a step with real system calls under root (a faultfs mount, or
// a plain directory).
func osDo(root string, s step) error {
	p := filepath.Join(root, filepath.FromSlash(s.path))
	withFile := func(flags int, fn func(f *os.File) error) error {
		f, err := os.OpenFile(p, flags, 0)
		if err != nil {
			return err
		}
		if err := fn(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	switch s.op {
	case "create":
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		return f.Close()
	case "write":
		return withFile(os.O_WRONLY, func(f *os.File) error { _, err := f.WriteAt([]byte(s.data), s.off); return err })
	case "writesync":
		return withFile(os.O_WRONLY|unix.O_DSYNC, func(f *os.File) error { _, err := f.WriteAt([]byte(s.data), s.off); return err })
	case "fsync":
		return withFile(os.O_RDONLY, func(f *os.File) error { return unix.Fsync(int(f.Fd())) })
	case "fdatasync":
		return withFile(os.O_RDONLY, func(f *os.File) error { return unix.Fdatasync(int(f.Fd())) })
	case "truncate":
		return unix.Truncate(p, s.size)
	case "ftruncate":
		return withFile(os.O_WRONLY, func(f *os.File) error { return unix.Ftruncate(int(f.Fd()), s.size) })
	case "punch":
		return withFile(os.O_WRONLY, func(f *os.File) error {
			return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, s.off, s.size)
		})
	case "mkdir":
		return unix.Mkdir(p, 0o755)
	case "rmdir":
		return unix.Rmdir(p)
	case "unlink":
		return unix.Unlink(p)
	case "rename":
		return unix.Rename(p, filepath.Join(root, filepath.FromSlash(s.to)))
	case "symlink":
		return unix.Symlink(s.to, p)
	case "link":
		return unix.Link(filepath.Join(root, filepath.FromSlash(s.to)), p)
	case "syncdir":
		return withFile(os.O_RDONLY, func(f *os.File) error { return unix.Fsync(int(f.Fd())) })
	}
	panic("unknown step " + s.op)
}
