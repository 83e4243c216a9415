package faultfs

import (
	"bytes"
	"cmp"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// requireFUSE skips a test that mounts unless this is root with /dev/fuse;
// on CI (CI=true) it fails instead.
func requireFUSE(t *testing.T) {
	t.Helper()
	why := CanMount()
	if why == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("mounting needs root and /dev/fuse (%v); CI must provide both", why)
	}
	t.Skipf("mounting needs root and /dev/fuse: %v", why)
}

// mountAt mounts backing on a fresh directory, unmounted at cleanup.
func mountAt(t *testing.T, backing string) *Mounted {
	t.Helper()
	requireFUSE(t)
	cfg := DefaultMountConfig()
	cfg.Backing = backing
	cfg.Mountpoint = t.TempDir()
	cfg.Logger = quiet
	m, err := Mount(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return m
}

// TestMountScenarios runs the scenarios with real system calls through a
// mount: a power failure leaves the durable state, an unmount without one
// keeps everything.
func TestMountScenarios(t *testing.T) {
	requireFUSE(t)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			plain := t.TempDir()
			writeTree(t, plain, sc.initial)
			for _, s := range sc.steps {
				if err := osDo(plain, s); err != nil {
					t.Fatalf("plain %s %s: %v", s.op, s.path, err)
				}
			}
			live := readTree(t, plain)
			for _, power := range []bool{true, false} {
				backing := t.TempDir()
				writeTree(t, backing, sc.initial)
				m := mountAt(t, backing)
				for _, s := range sc.steps {
					if err := osDo(m.Dir(), s); err != nil {
						t.Fatalf("%s %s through the mount: %v", s.op, s.path, err)
					}
				}
				if d := diffTrees(readTree(t, m.Dir()), live); d != "" {
					t.Fatalf("the mount shows other than a plain directory would:\n%s", d)
				}
				want := live
				if power {
					want = sc.want
					if _, err := m.PowerFail(cmp.Or(sc.model, PowerPOSIX)); err != nil {
						t.Fatal(err)
					}
				}
				if err := m.Unmount(); err != nil {
					t.Fatal(err)
				}
				if d := diffTrees(readTree(t, backing), want); d != "" {
					t.Errorf("power failure %v: backing store differs:\n%s", power, d)
				}
			}
		})
	}
}

// TestMountMmapRead: a file written through the mount reads back the same
// through a shared mapping. Another process maps it: a page fault is no
// system call, so in this process, which serves the mount, it could
// deadlock against a garbage collection stopping the server.
func TestMountMmapRead(t *testing.T) {
	m := mountAt(t, t.TempDir())
	_, writer := binaries(t)
	p := filepath.Join(m.Dir(), "mapped")
	want := bytes.Repeat([]byte("mmap me "), 1024)
	if err := os.WriteFile(p, want, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := exec.Command(writer, "mmap", p).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("mapped bytes differ from those written: got %d bytes", len(got))
	}
}

// TestMountHidesTrash: the trash is neither listed nor reachable.
func TestMountHidesTrash(t *testing.T) {
	m := mountAt(t, t.TempDir())
	os.WriteFile(filepath.Join(m.Dir(), "f"), nil, 0o644)
	os.Remove(filepath.Join(m.Dir(), "f")) // something in the trash
	os.WriteFile(filepath.Join(m.Dir(), "g"), nil, 0o644)
	dir, err := os.Open(m.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	for range 2 { // the second time after a rewind
		names, err := dir.Readdirnames(-1)
		if err != nil || len(names) != 1 || names[0] != "g" {
			t.Errorf("the root lists %v (%v), want [g]", names, err)
		}
		if _, err := dir.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(m.Dir(), TrashName)); !os.IsNotExist(err) {
		t.Errorf("stat of the trash: %v, want not found", err)
	}
	if err := os.Mkdir(filepath.Join(m.Dir(), TrashName), 0o755); err == nil {
		t.Errorf("mkdir of the trash's name succeeded")
	}
}

// writeMix writes total bytes into dir in the ways a system under test
// does (small appends, big writes, O_DSYNC, a shared mapping with msync)
// and returns how many bytes it wrote.
func writeMix(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	f, err := os.OpenFile(filepath.Join(dir, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		n, err := f.Write([]byte("a small append\n"))
		if err != nil {
			t.Fatal(err)
		}
		total += int64(n)
	}
	big := bytes.Repeat([]byte{'B'}, 1<<20)
	n, err := f.Write(big)
	if err != nil {
		t.Fatal(err)
	}
	total += int64(n)
	f.Close()
	g, err := os.OpenFile(filepath.Join(dir, "sync"), os.O_CREATE|os.O_WRONLY|unix.O_DSYNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		n, err := g.WriteAt([]byte("synced record"), int64(i*13))
		if err != nil {
			t.Fatal(err)
		}
		total += int64(n)
	}
	g.Close()
	return total
}

// TestEveryWriteReachesTheJournal: a file system that let the kernel write
// to the backing file itself (FUSE passthrough) would lose no unsynced
// write in a power failure. The check is shown to catch that on a plain
// go-fuse loopback with passthrough on, and to pass on faultfs.
func TestEveryWriteReachesTheJournal(t *testing.T) {
	requireFUSE(t)
	t.Run("faultfs", func(t *testing.T) {
		m := mountAt(t, t.TempDir())
		written := writeMix(t, m.Dir())
		if got := m.Engine().Stats().WriteBytes; got != written {
			t.Fatalf("the journal saw %d of %d bytes written", got, written)
		}
	})
	t.Run("loopback with passthrough", func(t *testing.T) {
		backing := t.TempDir()
		root, err := fs.NewLoopbackRoot(backing)
		if err != nil {
			t.Fatal(err)
		}
		counter := &writeCounter{RawFileSystem: fs.NewNodeFS(root, &fs.Options{})}
		dir := t.TempDir()
		server, err := fuse.NewServer(counter, dir, &fuse.MountOptions{DirectMountStrict: true})
		if err != nil {
			t.Fatal(err)
		}
		go server.Serve()
		if err := server.WaitMount(); err != nil {
			t.Fatal(err)
		}
		defer server.Unmount()
		written := writeMix(t, dir)
		got := counter.bytes.Load()
		if got == written {
			t.Skipf("the kernel granted no passthrough here (the daemon saw all %d bytes): nothing to reject", written)
		}
		t.Logf("passthrough on: the daemon saw %d of %d bytes written (the check rejects it)", got, written)
	})
}

// writeCounter counts the bytes of the WRITE requests a daemon serves.
type writeCounter struct {
	fuse.RawFileSystem
	bytes atomic.Int64
}

func (w *writeCounter) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	n, st := w.RawFileSystem.Write(cancel, in, data)
	w.bytes.Add(int64(n))
	return n, st
}
