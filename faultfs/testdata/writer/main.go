// Command writer is the node the faultfs tests run on a mount: static and
// standard-library only, so a FROM scratch image can hold it.
//
//	writer write DIR READY   write DIR/synced (4 KiB of A, fsynced, its
//	                         directory fsynced, then 4 KiB of B unsynced) and
//	                         DIR/unsynced (never synced), write its pid to
//	                         READY, then wait to be killed
//	writer list DIR          print each file under DIR with its size
//	writer mmap FILE         print FILE's bytes, read through a shared mapping
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "writer:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	switch {
	case len(args) == 3 && args[0] == "write":
		return write(args[1], args[2])
	case len(args) == 2 && args[0] == "mmap":
		return mmapCat(args[1])
	case len(args) == 2 && args[0] == "list":
		ents, err := os.ReadDir(args[1])
		if err != nil {
			return err
		}
		for _, e := range ents {
			info, err := e.Info()
			if err != nil {
				return err
			}
			fmt.Printf("%s %d\n", e.Name(), info.Size())
		}
		return nil
	}
	return fmt.Errorf("usage: writer write DIR READY | writer list DIR | writer mmap FILE (got %q)", args)
}

func mmapCat(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return err
	}
	defer syscall.Munmap(b)
	_, err = os.Stdout.Write(b)
	return err
}

func write(dir, ready string) error {
	f, err := os.OpenFile(filepath.Join(dir, "synced"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(bytes.Repeat([]byte{'A'}, 4096)); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		return err
	}
	d.Close()
	if _, err := f.Write(bytes.Repeat([]byte{'B'}, 4096)); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "unsynced"), []byte("never synced"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(ready, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	for {
		time.Sleep(time.Hour) // until killed
	}
}
