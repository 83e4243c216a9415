package faultfs

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkWriteFdatasync is the cost the mount adds to a log append: a
// 4 KiB write and an fdatasync, through the mount and on the backing
// directory directly. Reported: µs per write+fdatasync, and (through the
// mount) the journal's peak memory.
func BenchmarkWriteFdatasync(b *testing.B) {
	page := make([]byte, 4096)
	for i := range page {
		page[i] = byte(i)
	}
	run := func(b *testing.B, dir string) {
		f, err := os.OpenFile(filepath.Join(dir, "log"), os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		// Overwrite a preallocated 1 MiB segment in turn, as a log does.
		if err := f.Truncate(1 << 20); err != nil {
			b.Fatal(err)
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
		for i := 0; b.Loop(); i++ {
			if _, err := f.WriteAt(page, int64(i%256)*4096); err != nil {
				b.Fatal(err)
			}
			if err := unix.Fdatasync(int(f.Fd())); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/float64(b.N), "µs/write+fdatasync")
	}
	b.Run("backing", func(b *testing.B) { run(b, b.TempDir()) })
	b.Run("faultfs", func(b *testing.B) {
		m := mountBench(b)
		run(b, m.Dir())
		b.ReportMetric(float64(m.Engine().Stats().Peak), "journal-peak-bytes")
	})
}

func mountBench(b *testing.B) *Mounted {
	if _, err := os.Stat("/dev/fuse"); err != nil || os.Geteuid() != 0 {
		b.Skip("mounting needs root and /dev/fuse")
	}
	cfg := DefaultMountConfig()
	cfg.Backing, cfg.Mountpoint, cfg.Logger = b.TempDir(), b.TempDir(), quiet
	m, err := Mount(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Unmount() })
	return m
}
