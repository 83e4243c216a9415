package raftlog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// layout is where a test log's records lie on disk.
type layout struct {
	dir  string
	segs []segLayout
}

type segLayout struct {
	path  string
	first uint64
	offs  []int64
	end   int64
}

// rec returns the segment holding index and the byte range of its record.
func (lay layout) rec(t *testing.T, index uint64) (segLayout, int64, int64) {
	t.Helper()
	for _, s := range lay.segs {
		if i := int(index - s.first); index >= s.first && i < len(s.offs) {
			to := s.end
			if i+1 < len(s.offs) {
				to = s.offs[i+1]
			}
			return s, s.offs[i], to
		}
	}
	t.Fatalf("no record for index %d", index)
	return segLayout{}, 0, 0
}

func (lay layout) last() segLayout { return lay.segs[len(lay.segs)-1] }

// withPrealloc runs the test as on a file system that preallocates (or
// not).
func withPrealloc(t *testing.T, on bool) {
	t.Helper()
	orig := canPreallocate
	canPreallocate = func(f *os.File) (bool, error) {
		if !on {
			return false, nil
		}
		return orig(f)
	}
	t.Cleanup(func() { canPreallocate = orig })
}

// writeLayout writes entries 1..last of term 1 in batches of 5 and
// returns where they lie.
func writeLayout(t *testing.T, cfg Config, last uint64) layout {
	t.Helper()
	l := openT(t, cfg)
	for i := uint64(1); i <= last; i += 5 {
		if err := l.StoreLogs(mkLogs(i, min(i+4, last), 1)); err != nil {
			t.Fatal(err)
		}
	}
	lay := layout{dir: cfg.Dir}
	for _, s := range l.segs {
		lay.segs = append(lay.segs, segLayout{path: s.path, first: s.first, offs: s.offs, end: s.end})
	}
	crash(l)
	return lay
}

// sectorInRecord returns the last record of s that a sector boundary
// cuts, and that boundary: where a torn write may stop.
func sectorInRecord(t *testing.T, s segLayout) (int, int64) {
	t.Helper()
	for k := len(s.offs) - 1; k >= 0; k-- {
		to := s.end
		if k+1 < len(s.offs) {
			to = s.offs[k+1]
		}
		if z := (s.offs[k]/sector + 1) * sector; z < to {
			return k, z
		}
	}
	t.Fatal("no record spans a sector boundary")
	return 0, 0
}

func flipBit(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	patchFile(t, path, off, []byte{b[off] ^ 0x10})
}

func truncateFile(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

// TestOpenTellsDamageFromTornWrites damages a closed log's files as a
// disk, or a corruption nemesis, would, and checks what Open keeps (a
// prefix of the log, never an entry past the damage) and what it reports:
// nothing for a torn write or a clean end, a Damage for anything that may
// have cost synced entries.
func TestOpenTellsDamageFromTornWrites(t *testing.T) {
	const n = 60
	type want struct {
		keep   uint64 // the log is [1, keep]
		damage *Damage
	}
	cases := []struct {
		name     string
		many     bool // many segments (else one)
		prealloc bool
		damage   func(t *testing.T, lay layout) want
	}{
		{"bit flip mid-segment, valid records after", false, true, func(t *testing.T, lay layout) want {
			s, from, _ := lay.rec(t, 30)
			flipBit(t, s.path, from+recHeader+bodyFixed+3)
			return want{29, &Damage{File: s.path, Offset: from, Reason: ReasonBadRecord, Beyond: n}}
		}},
		{"bit flip in a sealed segment", true, true, func(t *testing.T, lay layout) want {
			s := lay.segs[0]
			i := len(s.offs) / 2
			flipBit(t, s.path, s.offs[i]+recHeader+9) // the term
			return want{s.first + uint64(i) - 1, &Damage{File: s.path, Offset: s.offs[i], Reason: ReasonBadRecord, Beyond: n}}
		}},
		{"length field flipped mid-segment", false, true, func(t *testing.T, lay layout) want {
			s, from, _ := lay.rec(t, 30)
			flipBit(t, s.path, from+4) // the length's high byte: past the end of the file
			return want{29, &Damage{File: s.path, Offset: from, Reason: ReasonBadRecord, Beyond: n}}
		}},
		{"crc field of the last record but one flipped", false, true, func(t *testing.T, lay layout) want {
			s, from, _ := lay.rec(t, n-1)
			flipBit(t, s.path, from)
			return want{n - 2, &Damage{File: s.path, Offset: from, Reason: ReasonBadRecord, Beyond: n}}
		}},
		{"bit flip in the last record", false, true, func(t *testing.T, lay layout) want {
			s, from, to := lay.rec(t, n)
			flipBit(t, s.path, to-1-(to-from-recHeader-bodyFixed)/2)
			return want{n - 1, &Damage{File: s.path, Offset: from, Reason: ReasonBadLastRecord}}
		}},
		{"bit flip in the last record's header", false, true, func(t *testing.T, lay layout) want {
			s, from, _ := lay.rec(t, n)
			flipBit(t, s.path, from+recHeader+2)
			return want{n - 1, &Damage{File: s.path, Offset: from, Reason: ReasonBadLastRecord}}
		}},
		{"zeroed range followed by valid records", false, true, func(t *testing.T, lay layout) want {
			s, from, _ := lay.rec(t, 30)
			_, _, to := lay.rec(t, 34)
			patchFile(t, s.path, from, make([]byte, to-from))
			return want{29, &Damage{File: s.path, Offset: from, Reason: ReasonZeroedRange, Beyond: n}}
		}},
		{"last segment truncated inside a record", false, true, func(t *testing.T, lay layout) want {
			s, from, to := lay.rec(t, 40)
			truncateFile(t, s.path, from+(to-from)/2)
			return want{39, &Damage{File: s.path, Offset: from, Reason: ReasonTruncated}}
		}},
		{"last segment truncated at a record boundary", false, true, func(t *testing.T, lay layout) want {
			s, from, _ := lay.rec(t, 40)
			truncateFile(t, s.path, from)
			return want{39, &Damage{File: s.path, Offset: from, Reason: ReasonTruncated}}
		}},
		{"sealed segment truncated", true, true, func(t *testing.T, lay layout) want {
			s := lay.segs[1]
			truncateFile(t, s.path, s.offs[2])
			return want{s.first + 1, &Damage{File: s.path, Offset: s.offs[2], Reason: ReasonTruncated, Beyond: n}}
		}},
		{"sealed segment truncated, no preallocation", true, false, func(t *testing.T, lay layout) want {
			s := lay.segs[1]
			truncateFile(t, s.path, s.offs[2])
			return want{s.first + 1, &Damage{File: s.path, Offset: s.offs[2], Reason: ReasonTruncated, Beyond: n}}
		}},
		{"header of a sealed segment damaged", true, true, func(t *testing.T, lay layout) want {
			s := lay.segs[1]
			patchFile(t, s.path, 3, []byte{'X'})
			return want{s.first - 1, &Damage{File: s.path, Reason: ReasonBadHeader, Beyond: n}}
		}},
		{"header of the last segment damaged", true, true, func(t *testing.T, lay layout) want {
			s := lay.last()
			flipBit(t, s.path, 20) // the first index
			return want{s.first - 1, &Damage{File: s.path, Reason: ReasonBadHeader, Beyond: n}}
		}},
		{"segment missing", true, true, func(t *testing.T, lay layout) want {
			if err := os.Remove(lay.segs[1].path); err != nil {
				t.Fatal(err)
			}
			return want{lay.segs[1].first - 1, &Damage{File: lay.segs[2].path, Reason: ReasonMissingSegment, Beyond: n}}
		}},
		{"torn tail: a record cut at a sector, then zeros", false, true, func(t *testing.T, lay layout) want {
			s := lay.last()
			k, z := sectorInRecord(t, s)
			patchFile(t, s.path, z, make([]byte, s.end-z))
			return want{s.first + uint64(k) - 1, nil}
		}},
		{"torn tail: a record cut at the end of the file, no preallocation", false, false, func(t *testing.T, lay layout) want {
			s := lay.last()
			k, z := sectorInRecord(t, s)
			truncateFile(t, s.path, z)
			return want{s.first + uint64(k) - 1, nil}
		}},
		{"clean end", false, true, func(t *testing.T, lay layout) want {
			return want{n, nil}
		}},
		{"clean end, no preallocation", true, false, func(t *testing.T, lay layout) want {
			return want{n, nil}
		}},
		// What no reader can tell: the tail rolled back to an earlier
		// state that is valid in itself (here: zeroed from a record
		// boundary) is a log that was never written further.
		{"tail rolled back to a record boundary (undetectable)", false, true, func(t *testing.T, lay layout) want {
			s, from, _ := lay.rec(t, 50)
			patchFile(t, s.path, from, make([]byte, s.end-from))
			return want{49, nil}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			withPrealloc(t, tc.prealloc)
			cfg := testConfig(t.TempDir())
			cfg.SegmentSize = 64 << 10
			if tc.many {
				cfg.SegmentSize = 8 << 10
			}
			lay := writeLayout(t, cfg, n)
			if tc.many != (len(lay.segs) > 2) {
				t.Fatalf("%d segments", len(lay.segs))
			}
			w := tc.damage(t, lay)
			if w.damage != nil {
				w.damage.LastGood = w.keep
			}
			check := func(l *Log) {
				t.Helper()
				wantRange(t, l, min(1, w.keep), w.keep, term(1))
				var e raft.Log
				if err := l.GetLog(w.keep+1, &e); !errors.Is(err, raft.ErrLogNotFound) {
					t.Fatalf("entry %d, past the damage, is served: %v", w.keep+1, err)
				}
				got := l.Damage()
				switch {
				case w.damage == nil && len(got) > 0:
					t.Fatalf("damage reported for what a crash leaves: %v", got)
				case w.damage != nil && (len(got) != 1 || got[0] != *w.damage):
					t.Fatalf("damage %v, want %v", got, *w.damage)
				}
			}
			l := openT(t, cfg)
			check(l)
			crash(l)
			l = openT(t, cfg) // the damage stays recorded, the log as cut
			check(l)
			if err := l.ClearDamage(); err != nil {
				t.Fatal(err)
			}
			// The log goes on from the damage.
			if err := l.StoreLogs(mkLogs(w.keep+1, w.keep+3, 2)); err != nil {
				t.Fatal(err)
			}
			crash(l)
			l = openT(t, cfg)
			defer l.Close()
			if d := l.Damage(); len(d) > 0 {
				t.Fatalf("damage %v after ClearDamage", d)
			}
			termOf := func(i uint64) uint64 { return map[bool]uint64{true: 2, false: 1}[i > w.keep] }
			wantRange(t, l, 1, w.keep+3, termOf)
		})
	}
}

// TestRecordDamage: damage found elsewhere (lost snapshots) is kept with
// the log's until cleared, across restarts.
func TestRecordDamage(t *testing.T) {
	cfg := testConfig(t.TempDir())
	l := openT(t, cfg)
	d := Damage{File: "snapshots/2-40-1", Reason: "snapshot fails its CRC", Beyond: 40}
	if err := l.RecordDamage(d); err != nil {
		t.Fatal(err)
	}
	crash(l)
	l = openT(t, cfg)
	if got := l.Damage(); len(got) != 1 || got[0] != d {
		t.Fatalf("damage after a restart: %v, want %v", got, d)
	}
	if _, err := l.Get([]byte(damageKey)); err != nil {
		t.Fatalf("the record is not in the meta file: %v", err)
	}
	if err := l.ClearDamage(); err != nil {
		t.Fatal(err)
	}
	crash(l)
	l = openT(t, cfg)
	defer l.Close()
	if got := l.Damage(); len(got) != 0 {
		t.Fatalf("damage after ClearDamage and a restart: %v", got)
	}
}

// TestCorruptMetaIsAnError: the meta file holds raft's term and vote,
// which nothing else can restore; Open refuses it and says what to do.
func TestCorruptMetaIsAnError(t *testing.T) {
	cfg := testConfig(t.TempDir())
	l := openT(t, cfg)
	if err := l.SetUint64([]byte("CurrentTerm"), 3); err != nil {
		t.Fatal(err)
	}
	crash(l)
	patchFile(t, filepath.Join(cfg.Dir, metaName), 20, []byte{0xee})
	if _, err := Open(cfg); err == nil || !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), "empty it") {
		t.Fatalf("open with a damaged meta file: %v, want a corruption error saying what to do", err)
	}
}
