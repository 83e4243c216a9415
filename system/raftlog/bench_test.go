package raftlog

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// BenchmarkStoreLogs appends synced batches to this log and, for
// comparison, to raft-boltdb (the store's log before this one), as raft's
// leader and followers do: batches of 1 entry (one client) and of 16
// entries of 4 KiB (raft's own batching of proposer batches under load).
// Figures are per batch; run both in one go, the disk is shared:
//
//	go test -run '^$' -bench StoreLogs -benchtime 2000x ./system/raftlog/
func BenchmarkStoreLogs(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B, dir string) raft.LogStore
	}{
		{"raftlog", func(b *testing.B, dir string) raft.LogStore {
			cfg := DefaultConfig()
			cfg.Dir = dir
			l, err := Open(cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { l.Close() })
			return l
		}},
		{"boltdb", func(b *testing.B, dir string) raft.LogStore {
			s, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
	}
	for _, shape := range []struct{ entries, size int }{{1, 256}, {16, 4096}} {
		for _, st := range stores {
			b.Run(fmt.Sprintf("entries=%d/size=%d/%s", shape.entries, shape.size, st.name), func(b *testing.B) {
				s := st.open(b, b.TempDir())
				data := make([]byte, shape.size)
				next := uint64(1)
				batch := make([]*raft.Log, shape.entries)
				b.SetBytes(int64(shape.entries * shape.size))
				b.ResetTimer()
				for range b.N {
					for i := range batch {
						batch[i] = &raft.Log{Index: next, Term: 1, Type: raft.LogCommand, Data: data, AppendedAt: time.Now()}
						next++
					}
					if err := s.StoreLogs(batch); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkOpen measures Open over one full default-size segment (64 MiB
// of 1 KiB entries): a clean end, a torn tail, and a flipped bit in the
// middle (the log is cut there, what follows is scanned for valid records
// and zeroed). Each open starts from a copy of the damaged files; the copy
// is not timed.
//
//	go test -run '^$' -bench Open -benchtime 5x ./system/raftlog/
func BenchmarkOpen(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Dir = b.TempDir()
	l, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 1024)
	for i := range data {
		data[i] = byte(i*7 + 1)
	}
	var next uint64 = 1
	for len(l.segs) == 0 || l.segs[0].end < cfg.SegmentSize-(1<<20) {
		batch := make([]*raft.Log, 256)
		for i := range batch {
			batch[i] = &raft.Log{Index: next, Term: 1, Type: raft.LogCommand, Data: data}
			next++
		}
		if err := l.StoreLogs(batch); err != nil {
			b.Fatal(err)
		}
	}
	s := l.segs[0]
	path, mid, end := s.path, s.offs[len(s.offs)/2], s.end
	last := s.offs[len(s.offs)-1]
	crash(l)
	for _, tc := range []struct {
		name   string
		damage func(b *testing.B, path string)
		hurt   bool
	}{
		{"clean", func(*testing.B, string) {}, false},
		{"torn", func(b *testing.B, path string) {
			z := (last/sector + 1) * sector
			patchFileB(b, path, z, make([]byte, end-z))
		}, false},
		{"bit-flip-mid", func(b *testing.B, path string) { patchFileB(b, path, mid+40, []byte{0xff}) }, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				dir := b.TempDir()
				copyFileB(b, path, filepath.Join(dir, filepath.Base(path)))
				tc.damage(b, filepath.Join(dir, filepath.Base(path)))
				c := cfg
				c.Dir = dir
				b.StartTimer()
				l, err := Open(c)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if hurt := len(l.Damage()) > 0; hurt != tc.hurt {
					b.Fatalf("damage %v", l.Damage())
				}
				l.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/open")
		})
	}
}

func patchFileB(b *testing.B, path string, off int64, p []byte) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(p, off); err != nil {
		b.Fatal(err)
	}
}

func copyFileB(b *testing.B, from, to string) {
	buf, err := os.ReadFile(from)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(to, buf, 0o644); err != nil {
		b.Fatal(err)
	}
}
