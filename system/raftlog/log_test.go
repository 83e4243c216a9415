package raftlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// entryData is the deterministic content of entry (index, term): tests
// check every byte they read back against it.
func entryData(index, term uint64) []byte {
	h := fnv.New64a()
	_ = binary.Write(h, binary.BigEndian, [2]uint64{index, term})
	seed := h.Sum64()
	b := make([]byte, seed%700)
	for i := range b {
		seed = seed*6364136223846793005 + 1442695040888963407
		b[i] = byte(seed >> 56)
	}
	return b
}

func mkLog(index, term uint64) *raft.Log {
	l := &raft.Log{Index: index, Term: term, Type: raft.LogCommand, Data: entryData(index, term),
		AppendedAt: time.Unix(0, int64(index*1000+term))}
	if index%5 == 0 {
		l.Extensions = []byte(fmt.Sprintf("ext-%d", index))
	}
	if index%7 == 0 {
		l.Type = raft.LogNoop
		l.AppendedAt = time.Time{}
	}
	return l
}

func mkLogs(from, to, term uint64) []*raft.Log {
	var out []*raft.Log
	for i := from; i <= to; i++ {
		out = append(out, mkLog(i, term))
	}
	return out
}

func testConfig(dir string) Config {
	cfg := DefaultConfig()
	cfg.Dir = dir
	cfg.SegmentSize = 8 << 10 // many segments
	return cfg
}

func openT(t testing.TB, cfg Config) *Log {
	t.Helper()
	l, err := Open(cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return l
}

// crash abandons l as a killed process would: no Close, nothing flushed
// (every write is already synchronous), the lock dropped.
func crash(l *Log) {
	l.wmu.Lock()
	l.mu.Lock()
	l.closeFiles()
	l.mu.Unlock()
	l.wmu.Unlock()
}

func sameLog(a, b *raft.Log) bool {
	return a.Index == b.Index && a.Term == b.Term && a.Type == b.Type && bytes.Equal(a.Data, b.Data) &&
		bytes.Equal(a.Extensions, b.Extensions) && a.AppendedAt.Equal(b.AppendedAt)
}

// wantRange checks that l holds exactly [first, last], each entry with the
// term termOf gives it.
func wantRange(t testing.TB, l *Log, first, last uint64, termOf func(uint64) uint64) {
	t.Helper()
	f, _ := l.FirstIndex()
	la, _ := l.LastIndex()
	if f != first || la != last {
		t.Fatalf("log is [%d, %d], want [%d, %d]", f, la, first, last)
	}
	if last == 0 {
		return
	}
	for i := first; i <= last; i++ {
		var got raft.Log
		if err := l.GetLog(i, &got); err != nil {
			t.Fatalf("GetLog(%d): %v", i, err)
		}
		if want := mkLog(i, termOf(i)); !sameLog(&got, want) {
			t.Fatalf("GetLog(%d) = index %d term %d type %v %d bytes; want term %d", i, got.Index, got.Term, got.Type, len(got.Data), want.Term)
		}
	}
	var got raft.Log
	for _, i := range []uint64{first - 1, last + 1} {
		if err := l.GetLog(i, &got); !errors.Is(err, raft.ErrLogNotFound) {
			t.Fatalf("GetLog(%d) outside [%d, %d]: %v, want ErrLogNotFound", i, first, last, err)
		}
	}
}

func term(t uint64) func(uint64) uint64 { return func(uint64) uint64 { return t } }

func TestAppendReadReopen(t *testing.T) {
	cfg := testConfig(t.TempDir())
	l := openT(t, cfg)
	wantRange(t, l, 0, 0, nil)
	for i := uint64(1); i <= 200; i += 10 {
		if err := l.StoreLogs(mkLogs(i, i+9, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.StoreLog(mkLog(201, 2)); err != nil {
		t.Fatal(err)
	}
	termOf := func(i uint64) uint64 { return map[bool]uint64{true: 2, false: 1}[i == 201] }
	wantRange(t, l, 1, 201, termOf)
	if n := len(l.segs); n < 5 {
		t.Fatalf("%d segments for 201 entries with 8 KiB segments: rotation not exercised", n)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.StoreLog(mkLog(202, 2)); !errors.Is(err, ErrClosed) {
		t.Fatalf("StoreLog after Close: %v, want ErrClosed", err)
	}
	l = openT(t, cfg)
	defer l.Close()
	wantRange(t, l, 1, 201, termOf)
	if err := l.StoreLog(mkLog(202, 2)); err != nil {
		t.Fatal(err)
	}
}

func TestStoreLogsRefusesGaps(t *testing.T) {
	l := openT(t, testConfig(t.TempDir()))
	defer l.Close()
	if err := l.StoreLogs(mkLogs(100, 104, 1)); err != nil { // an empty log takes any start
		t.Fatal(err)
	}
	for _, bad := range [][]*raft.Log{
		mkLogs(106, 107, 1),                        // gap after the last
		mkLogs(104, 105, 1),                        // overlaps the last
		{mkLog(105, 1), mkLog(107, 1)},             // gap inside the batch
		append(mkLogs(105, 105, 1), mkLog(105, 1)), // repeat inside the batch
	} {
		if err := l.StoreLogs(bad); err == nil || !strings.Contains(err.Error(), "without gaps") {
			t.Fatalf("StoreLogs(%d..%d): %v, want a gap error", bad[0].Index, bad[len(bad)-1].Index, err)
		}
	}
	wantRange(t, l, 100, 104, term(1))
}

func TestDeleteRange(t *testing.T) {
	cases := []struct {
		name        string
		min, max    uint64
		first, last uint64 // after
		wantErr     bool
	}{
		{"prefix", 1, 60, 61, 150, false},
		{"prefix to before the last", 1, 149, 150, 150, false},
		{"prefix from below the first", 0, 10, 11, 150, false},
		{"suffix", 70, 150, 1, 69, false},
		{"suffix beyond the last", 2, 1000, 1, 1, false},
		{"whole log", 1, 150, 0, 0, false},
		{"more than the whole log", 0, 1 << 40, 0, 0, false},
		{"outside, above", 151, 200, 1, 150, false},
		{"empty range", 90, 80, 1, 150, false},
		{"middle", 20, 30, 1, 150, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t.TempDir())
			l := openT(t, cfg)
			if err := l.StoreLogs(mkLogs(1, 150, 3)); err != nil {
				t.Fatal(err)
			}
			err := l.DeleteRange(tc.min, tc.max)
			if (err != nil) != tc.wantErr {
				t.Fatalf("DeleteRange(%d, %d): %v, want error %v", tc.min, tc.max, err, tc.wantErr)
			}
			wantRange(t, l, tc.first, tc.last, term(3))
			crash(l)
			l = openT(t, cfg)
			defer l.Close()
			wantRange(t, l, tc.first, tc.last, term(3))
			// The log goes on where it ends (anywhere when empty).
			next := tc.last + 1
			if tc.last == 0 {
				next = 1000
			}
			if err := l.StoreLogs(mkLogs(next, next+20, 4)); err != nil {
				t.Fatal(err)
			}
			first := tc.first
			if tc.last == 0 {
				first = next
			}
			termOf := func(i uint64) uint64 { return map[bool]uint64{true: 4, false: 3}[i >= next] }
			wantRange(t, l, first, next+20, termOf)
			crash(l)
			l = openT(t, cfg)
			wantRange(t, l, first, next+20, termOf)
		})
	}
}

// TestTruncateAcrossSegmentsThenCrash is raft-wal#31's scenario: raft
// truncates the tail across a segment boundary, the node is killed, and it
// must restart with the truncated log and keep appending.
func TestTruncateAcrossSegmentsThenCrash(t *testing.T) {
	cfg := testConfig(t.TempDir())
	l := openT(t, cfg)
	if err := l.StoreLogs(mkLogs(1, 40, 1)); err != nil {
		t.Fatal(err)
	}
	for i := uint64(41); i <= 120; i++ {
		if err := l.StoreLog(mkLog(i, 1)); err != nil {
			t.Fatal(err)
		}
	}
	segs := len(l.segs)
	if err := l.DeleteRange(30, 120); err != nil {
		t.Fatal(err)
	}
	if len(l.segs) >= segs {
		t.Fatalf("truncation kept all %d segments: the boundary was not crossed", segs)
	}
	if err := l.StoreLogs(mkLogs(30, 35, 2)); err != nil {
		t.Fatal(err)
	}
	crash(l)
	l = openT(t, cfg)
	termOf := func(i uint64) uint64 { return map[bool]uint64{true: 2, false: 1}[i >= 30] }
	wantRange(t, l, 1, 35, termOf)
	if err := l.StoreLogs(mkLogs(36, 200, 2)); err != nil {
		t.Fatal(err)
	}
	crash(l)
	l = openT(t, cfg)
	defer l.Close()
	wantRange(t, l, 1, 200, termOf)
}

// TestCompactionThenCrash: compaction, then appends and a crash; the head
// survives and the log still reads back.
func TestCompactionThenCrash(t *testing.T) {
	cfg := testConfig(t.TempDir())
	l := openT(t, cfg)
	if err := l.StoreLogs(mkLogs(1, 300, 1)); err != nil {
		t.Fatal(err)
	}
	segsBefore := countSegments(t, cfg.Dir)
	if err := l.DeleteRange(1, 250); err != nil {
		t.Fatal(err)
	}
	if countSegments(t, cfg.Dir) >= segsBefore && segsBefore > 1 {
		t.Fatalf("compaction removed no segment file (%d before)", segsBefore)
	}
	crash(l)
	l = openT(t, cfg)
	wantRange(t, l, 251, 300, term(1))
	// Emptying the log forgets the head: a lower index may start it again.
	if err := l.DeleteRange(251, 300); err != nil {
		t.Fatal(err)
	}
	if err := l.StoreLogs(mkLogs(5, 10, 2)); err != nil {
		t.Fatal(err)
	}
	crash(l)
	l = openT(t, cfg)
	defer l.Close()
	wantRange(t, l, 5, 10, term(2))
}

func countSegments(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if _, _, ok := parseSegName(e.Name()); ok {
			n++
		}
	}
	return n
}

func TestStableStore(t *testing.T) {
	cfg := testConfig(t.TempDir())
	l := openT(t, cfg)
	if _, err := l.Get([]byte("CurrentTerm")); err == nil || err.Error() != "not found" {
		t.Fatalf("Get of a missing key: %v, want the error raft expects (\"not found\")", err)
	}
	if _, err := l.GetUint64([]byte("CurrentTerm")); err == nil || err.Error() != "not found" {
		t.Fatalf("GetUint64 of a missing key: %v, want \"not found\"", err)
	}
	if err := l.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	if err := l.Set([]byte("LastVoteCand"), []byte("n2")); err != nil {
		t.Fatal(err)
	}
	if err := l.StoreLogs(mkLogs(1, 10, 7)); err != nil {
		t.Fatal(err)
	}
	if err := l.DeleteRange(1, 4); err != nil { // head and values share the meta file
		t.Fatal(err)
	}
	crash(l)
	l = openT(t, cfg)
	defer l.Close()
	if v, err := l.GetUint64([]byte("CurrentTerm")); err != nil || v != 7 {
		t.Fatalf("CurrentTerm = %d, %v; want 7", v, err)
	}
	if v, err := l.Get([]byte("LastVoteCand")); err != nil || string(v) != "n2" {
		t.Fatalf("LastVoteCand = %q, %v; want n2", v, err)
	}
	wantRange(t, l, 5, 10, term(7))
}

func TestOneProcessPerDirectory(t *testing.T) {
	cfg := testConfig(t.TempDir())
	l := openT(t, cfg)
	defer l.Close()
	if _, err := Open(cfg); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second Open: %v, want an in-use error", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{}, {Dir: "x", SegmentSize: 100}} {
		if err := c.Validate(); err == nil {
			t.Fatalf("%+v validated", c)
		}
	}
	c := DefaultConfig()
	c.Dir = "x"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestSegmentNames(t *testing.T) {
	seq, first, ok := parseSegName(segName(3, 0xabc))
	if !ok || seq != 3 || first != 0xabc {
		t.Fatalf("round trip: %d %d %v", seq, first, ok)
	}
	for _, bad := range []string{"meta", "LOCK", "1-2.seg", "000000000000000g-0000000000000001.seg", filepath.Join("x", "y.seg")} {
		if _, _, ok := parseSegName(bad); ok {
			t.Fatalf("%q parsed as a segment name", bad)
		}
	}
}

// TestUnsafeNoSync: the planted bug skips every sync; without it each
// append, truncation, compaction and stable-store write syncs.
func TestUnsafeNoSync(t *testing.T) {
	for _, unsafe := range []bool{false, true} {
		t.Run(fmt.Sprintf("unsafe=%v", unsafe), func(t *testing.T) {
			cfg := testConfig(t.TempDir())
			cfg.UnsafeNoSync = unsafe
			l := openT(t, cfg)
			defer l.Close()
			step := func(what string, f func() error) {
				t.Helper()
				before := l.Syncs()
				if err := f(); err != nil {
					t.Fatal(err)
				}
				if synced := l.Syncs() > before; synced == unsafe {
					t.Fatalf("%s with UnsafeNoSync=%v: %d syncs", what, unsafe, l.Syncs()-before)
				}
			}
			step("append", func() error { return l.StoreLogs(mkLogs(1, 100, 1)) })
			step("truncate", func() error { return l.DeleteRange(90, 100) })
			step("compact", func() error { return l.DeleteRange(1, 50) })
			step("set", func() error { return l.SetUint64([]byte("CurrentTerm"), 2) })
			wantRange(t, l, 51, 89, term(1))
		})
	}
}
