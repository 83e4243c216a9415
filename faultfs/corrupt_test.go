package faultfs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// downNode is a down node's data: two block files with a preallocated zero
// tail, an empty one, an all-zero one and an index.
var downNode = tree{
	"jetstream/": "", "jetstream/s/": "", "jetstream/s/msgs/": "", "jetstream/s/obs/": "", "jetstream/s/obs/x/": "",
	"jetstream/s/msgs/1.blk":    strings.Repeat("m1", 500) + strings.Repeat("\x00", 4000),
	"jetstream/s/msgs/2.blk":    strings.Repeat("m2", 700) + strings.Repeat("\x00", 100),
	"jetstream/s/msgs/3.blk":    "",
	"jetstream/s/msgs/4.blk":    strings.Repeat("\x00", 512),
	"jetstream/s/obs/x/o.dat":   "consumer state",
	"jetstream/s/meta.inf":      "meta",
	"jetstream/s/msgs/index.db": "index",
}

// written is how far a node file's non-zero bytes reach.
func writtenLen(s string) int64 { return int64(len(strings.TrimRight(s, "\x00"))) }

func corruptOnce(t *testing.T, cfg CorruptConfig) (CorruptReport, tree) {
	t.Helper()
	cfg.Root = t.TempDir()
	writeTree(t, cfg.Root, downNode)
	rep, err := Corrupt(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep.Root = "" // differs per run
	return rep, readTree(t, cfg.Root)
}

func TestCorruptDeterministicAndExact(t *testing.T) {
	for _, mode := range []CorruptMode{ModeBitflip, ModeTruncate} {
		t.Run(string(mode), func(t *testing.T) {
			cfg := DefaultCorruptConfig()
			cfg.Patterns, cfg.Mode, cfg.Seed, cfg.Files, cfg.Flips = []string{"*.blk"}, mode, 42, 3, 5
			rep1, after1 := corruptOnce(t, cfg)
			rep2, after2 := corruptOnce(t, cfg)
			if !reflect.DeepEqual(rep1, rep2) || diffTrees(after1, after2) != "" {
				t.Fatalf("seed 42 twice made different changes:\n%s\n%s", rep1.Encode(), rep2.Encode())
			}
			cfg.Seed = 43
			if rep3, _ := corruptOnce(t, cfg); reflect.DeepEqual(rep1, rep3) {
				t.Errorf("seeds 42 and 43 made the same changes")
			}
			// Replaying the report on the original gives exactly the
			// corrupted files: the report is all that changed.
			replayed := tree{}
			for k, v := range downNode {
				replayed[k] = v
			}
			files := map[string]bool{}
			for _, fl := range rep1.Flips {
				b := []byte(replayed[fl.File])
				if fl.Offset >= writtenLen(downNode[fl.File]) {
					t.Errorf("flip %+v lands past the written part", fl)
				}
				b[fl.Offset] ^= 1 << fl.Bit
				replayed[fl.File] = string(b)
				files[fl.File] = true
			}
			for _, tr := range rep1.Truncations {
				if tr.OldSize != int64(len(downNode[tr.File])) || tr.NewSize >= writtenLen(downNode[tr.File]) {
					t.Errorf("truncation %+v: old size or cut point wrong", tr)
				}
				replayed[tr.File] = replayed[tr.File][:tr.NewSize]
				files[tr.File] = true
			}
			if len(files) != 2 || files["jetstream/s/msgs/3.blk"] || files["jetstream/s/msgs/4.blk"] {
				t.Errorf("changed %v: want both written .blk files and neither the empty nor the zero one", files)
			}
			if d := diffTrees(after1, replayed); d != "" {
				t.Errorf("the files differ from the original plus the reported changes:\n%s", d)
			}
			back, err := ParseCorruptReport(rep1.Encode())
			if err != nil || !reflect.DeepEqual(back, rep1) {
				t.Errorf("the report does not round-trip (%v):\n%s", err, rep1.Encode())
			}
		})
	}
}

func TestAsideAndRollback(t *testing.T) {
	root, aside := t.TempDir(), t.TempDir()
	writeTree(t, root, downNode)
	cfg := DefaultCorruptConfig()
	cfg.Root, cfg.Aside, cfg.Patterns, cfg.Seed, cfg.Files = root, aside, []string{"jetstream/**/msgs/*.blk"}, 7, 2
	cfg.Mode = ModeAside
	saved, err := Corrupt(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffTrees(readTree(t, root), downNode); d != "" {
		t.Fatalf("aside changed the files:\n%s", d)
	}
	// The node writes on: every chunk's bytes change.
	for _, c := range saved.Chunks {
		p := filepath.Join(root, filepath.FromSlash(c.File))
		b, _ := os.ReadFile(p)
		copy(b[c.Offset:c.Offset+c.Length], bytes.Repeat([]byte{'N'}, int(c.Length)))
		os.WriteFile(p, b, 0o644)
	}
	cfg.Mode = ModeRollback
	back, err := Corrupt(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Chunks) != len(saved.Chunks) {
		t.Errorf("rolled back %d chunks, saved %d", len(back.Chunks), len(saved.Chunks))
	}
	if d := diffTrees(readTree(t, root), downNode); d != "" {
		t.Errorf("after the rollback the chunks differ from what was saved:\n%s", d)
	}
	if r, err := ParseCorruptReport(back.Encode()); err != nil || !reflect.DeepEqual(r, back) {
		t.Errorf("the rollback report does not round-trip (%v)", err)
	}
	cfg.Patterns = []string{"*.dat"}
	if _, err := Corrupt(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "1.blk") {
		t.Errorf("a rollback of files never set aside: %v, want an error naming the saved ones", err)
	}
}

func TestCorruptNoMatch(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, downNode)
	cfg := DefaultCorruptConfig()
	cfg.Root, cfg.Mode, cfg.Patterns = root, ModeBitflip, []string{"*.wal"}
	_, err := Corrupt(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "*.wal") || !strings.Contains(err.Error(), "jetstream/s/meta.inf") {
		t.Errorf("no match: %v, want an error naming the pattern and the files there", err)
	}
	cfg.Patterns = []string{"3.blk", "4.blk"}
	if _, err := Corrupt(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "empty or zeros") {
		t.Errorf("only empty matches: %v", err)
	}
}

func TestMatchGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{
		{"*.blk", "a/b/c.blk", true},
		{"*.blk", "c.blk", true},
		{"*.blk", "c.blk.tmp", false},
		{"a/*.blk", "a/c.blk", true},
		{"a/*.blk", "a/b/c.blk", false},
		{"a/**/c.blk", "a/c.blk", true},
		{"a/**/c.blk", "a/x/y/c.blk", true},
		{"**/msgs/*", "j/s/msgs/1.blk", true},
		{"**/msgs/*", "j/s/obs/1.blk", false},
	} {
		if got := matchGlob(tc.pattern, tc.path); got != tc.want {
			t.Errorf("matchGlob(%q, %q) = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
}

func TestParseCorruptReportRejects(t *testing.T) {
	for _, bad := range []string{
		`{"mode":"bitflip","root":"/d","seed":1,"patterns":["*"]}`,
		`{"mode":"bitflip","root":"/d","seed":1,"patterns":["*"],"truncations":[{"file":"a","old_size":2,"new_size":1}]}`,
		`{"mode":"melt","root":"/d","seed":1,"patterns":["*"],"flips":[{"file":"a","offset":0,"bit":1}]}`,
		`{"mode":"bitflip","root":"/d","seed":1,"patterns":["*"],"flips":[{"file":"a","offset":0,"bit":1}],"extra":1}`,
	} {
		if _, err := ParseCorruptReport([]byte(bad)); err == nil {
			t.Errorf("parsed %s", bad)
		}
	}
	good := `{"mode":"bitflip","root":"/d","seed":1,"patterns":["*"],"flips":[{"file":"a","offset":0,"bit":1}]}`
	if _, err := ParseCorruptReport([]byte(good)); err != nil {
		t.Errorf("rejected %s: %v", good, err)
	}
}
