package raftlog

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
)

// copyDir copies the flat directory src to a fresh temporary one.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func patchFile(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestTornTail simulates power loss during the last batch's write: the
// bytes from some offset on never reached the disk (zeros), reached it as
// garbage, or only a later page of the batch did. At every offset in the
// batch the log must reopen as the entries wholly before the damage, take
// new appends that chain from there, and reopen again. What a torn write
// really leaves, zeros from a sector boundary on, must not be reported as
// damage; the rest may be (a disk writes whole sectors).
func TestTornTail(t *testing.T) {
	seed := testSeed(t)
	cfg := testConfig(t.TempDir())
	cfg.SegmentSize = 32 << 10 // one segment
	l := openT(t, cfg)
	if err := l.StoreLogs(mkLogs(1, 20, 1)); err != nil {
		t.Fatal(err)
	}
	if err := l.StoreLogs(mkLogs(21, 30, 1)); err != nil { // the batch torn below
		t.Fatal(err)
	}
	if len(l.segs) != 1 {
		t.Fatalf("%d segments, want 1", len(l.segs))
	}
	s := l.segs[0]
	path, offs, end := s.path, s.offs, s.end
	crash(l)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 2))
	// Cuts around every record boundary of the batch, inside each
	// record's header and body, and a few random ones.
	cuts := []int64{end}
	for _, o := range offs[20:] {
		cuts = append(cuts, o-1, o, o+1, o+4, o+7, o+8, o+20, o+recHeader+bodyFixed+1)
	}
	for range 10 {
		cuts = append(cuts, offs[20]+r.Int64N(end-offs[20]))
	}
	for c := (offs[20]/sector + 1) * sector; c < end; c += sector {
		cuts = append(cuts, c)
	}
	for _, cut := range cuts {
		// survivors: the entries that end at or before cut.
		survivors := uint64(0)
		for i := range offs {
			if _, e := s.span(i); e <= cut {
				survivors = uint64(i) + 1
			}
		}
		for _, damage := range []string{"zeros", "garbage", "hole"} {
			dir := copyDir(t, filepath.Dir(path))
			seg := filepath.Join(dir, filepath.Base(path))
			switch damage {
			case "zeros":
				patchFile(t, seg, cut, make([]byte, end-cut))
			case "garbage":
				g := make([]byte, end-cut)
				for i := range g {
					g[i] = byte(r.Uint32())
				}
				if len(g) > 0 && g[0] == orig[cut] { // garbage, not the byte that was there
					g[0] ^= 0xff
				}
				patchFile(t, seg, cut, g)
			case "hole": // an early page lost, the rest of the batch written
				patchFile(t, seg, cut, make([]byte, min(64, end-cut)))
			}
			c := cfg
			c.Dir = dir
			l, err := Open(c)
			if err != nil {
				t.Fatalf("cut at %d (%s): open: %v", cut, damage, err)
			}
			wantRange(t, l, 1, survivors, term(1))
			if d := l.Damage(); damage == "zeros" && cut%sector == 0 && len(d) > 0 {
				t.Fatalf("cut at %d (zeros): a torn write reported as damage: %v", cut, d)
			}
			next := survivors + 1
			if err := l.StoreLogs(mkLogs(next, next+4, 2)); err != nil {
				t.Fatalf("cut at %d (%s): append after recovery: %v", cut, damage, err)
			}
			crash(l)
			l = openT(t, c)
			termOf := func(i uint64) uint64 { return map[bool]uint64{true: 2, false: 1}[i >= next] }
			wantRange(t, l, 1, next+4, termOf)
			l.Close()
		}
	}
}

// TestStaleTailNeverValidates: a truncated tail whose truncation was lost
// (the old records are still on disk right after the new ones, at exactly
// the offsets where the next records would be) must not come back, even
// though each old record is intact and its index is the expected one.
func TestStaleTailNeverValidates(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.SegmentSize = 1 << 20
	fixed := func(from, to, term uint64) []*raft.Log { // equal sizes: offsets line up
		var out []*raft.Log
		for i := from; i <= to; i++ {
			out = append(out, &raft.Log{Index: i, Term: term, Type: raft.LogCommand, Data: bytes.Repeat([]byte{byte(term)}, 100)})
		}
		return out
	}
	l := openT(t, cfg)
	if err := l.StoreLogs(fixed(1, 50, 1)); err != nil {
		t.Fatal(err)
	}
	s := l.segs[0]
	path, oldEnd := s.path, s.end
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.DeleteRange(30, 50); err != nil {
		t.Fatal(err)
	}
	if err := l.StoreLogs(fixed(30, 32, 2)); err != nil {
		t.Fatal(err)
	}
	newEnd := l.segs[0].end
	crash(l)
	// Undo the truncation: the old records 33..50 reappear where 33 would go.
	patchFile(t, path, newEnd, old[newEnd:oldEnd])
	l = openT(t, cfg)
	defer l.Close()
	if last, _ := l.LastIndex(); last != 32 {
		t.Fatalf("last index %d after reopening, want 32: stale records from before the truncation validated", last)
	}
	var e raft.Log
	if err := l.GetLog(31, &e); err != nil || e.Term != 2 {
		t.Fatalf("entry 31: term %d, %v; want term 2", e.Term, err)
	}
}

// TestCrashDuringSegmentCreation: a segment file whose header never made it
// to disk (the crash came between create and sync) is dropped at open.
func TestCrashDuringSegmentCreation(t *testing.T) {
	cfg := testConfig(t.TempDir())
	l := openT(t, cfg)
	if err := l.StoreLogs(mkLogs(1, 10, 1)); err != nil {
		t.Fatal(err)
	}
	crash(l)
	for _, content := range [][]byte{nil, make([]byte, 32), []byte("FLRAFTL1")} {
		name := filepath.Join(cfg.Dir, segName(99, 11))
		if err := os.WriteFile(name, content, 0o644); err != nil {
			t.Fatal(err)
		}
		l = openT(t, cfg)
		wantRange(t, l, 1, 10, term(1))
		if _, err := os.Stat(name); !os.IsNotExist(err) {
			t.Fatalf("half-created segment %s is still there (%v)", name, err)
		}
		crash(l)
	}
	// A header-only segment (the crash came after the sync, before the
	// first batch) is dropped too.
	l = openT(t, cfg)
	if _, err := l.newSegment(11); err != nil {
		t.Fatal(err)
	}
	crash(l)
	l = openT(t, cfg)
	defer l.Close()
	wantRange(t, l, 1, 10, term(1))
	if err := l.StoreLogs(mkLogs(11, 12, 1)); err != nil {
		t.Fatal(err)
	}
}
