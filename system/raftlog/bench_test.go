package raftlog

import (
	"fmt"
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
