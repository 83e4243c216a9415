package faultfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"
)

// DaemonConfig is what `faultfs mount` runs: the mount, its control
// socket, and the command whose data lives on the mount.
type DaemonConfig struct {
	MountConfig
	// Control is the path of the control socket (`faultfs powerfail`
	// and `faultfs status` talk to it).
	Control string
	// Command is the program and its arguments, run as a child.
	Command []string
	// UID and GID are the child's; -1 keeps the daemon's.
	UID, GID int
	// Stdout and Stderr are the child's; nil means the daemon's.
	Stdout, Stderr io.Writer
}

// DefaultDaemonConfig runs the command as the daemon's user.
func DefaultDaemonConfig() DaemonConfig {
	return DaemonConfig{MountConfig: DefaultMountConfig(), UID: -1, GID: -1}
}

// Validate says what is missing or wrong.
func (c DaemonConfig) Validate() error {
	if err := c.MountConfig.Validate(); err != nil {
		return err
	}
	switch {
	case c.Control == "":
		return errors.New("faultfs: no control socket: set --control to a path for the socket powerfail talks to")
	case len(c.Command) == 0:
		return errors.New("faultfs: no command: give the node's command after --")
	case c.UID < -1 || c.GID < -1:
		return fmt.Errorf("faultfs: uid %d, gid %d: give ids >= 0, or leave them out", c.UID, c.GID)
	}
	return nil
}

// PowerFailExit is the daemon's exit status after a power failure: its
// command was SIGKILLed (128+9), and so is the node.
const PowerFailExit = 128 + int(syscall.SIGKILL)

// RunDaemon mounts cfg.Backing (created, owned by cfg.UID and cfg.GID,
// when missing) at cfg.Mountpoint, listens on cfg.Control
// and runs cfg.Command as a child in a process group of its own (the child
// is killed if the daemon dies; SIGTERM and SIGINT are passed on to the
// group; a power failure kills the whole group, whatever the command
// forked). It returns the status to exit with:
//   - when the child exits: its status (128+signal when killed), after
//     unmounting; the backing store keeps every write;
//   - on a power failure asked for on the socket: PowerFailExit, after
//     killing the child's group, rolling the backing store back to its durable
//     state, answering the client and unmounting;
//   - when ctx ends: the child is killed, the mount unmounted without a
//     power failure, and ctx's error returned.
func RunDaemon(ctx context.Context, cfg DaemonConfig) (int, error) {
	if err := cfg.Validate(); err != nil {
		return 0, err
	}
	// A fresh volume has no backing directory yet: make it the command's,
	// as a node's data root is.
	if _, err := os.Stat(cfg.Backing); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(cfg.Backing, 0o755); err != nil {
			return 0, fmt.Errorf("faultfs: create the backing directory: %w", err)
		}
		if err := os.Chown(cfg.Backing, cfg.UID, cfg.GID); err != nil {
			return 0, fmt.Errorf("faultfs: give the backing directory to uid %d gid %d: %w", cfg.UID, cfg.GID, err)
		}
	}
	m, err := Mount(ctx, cfg.MountConfig)
	if err != nil {
		return 0, err
	}
	log := m.engine.log
	unmount := func() {
		if err := m.Unmount(); err != nil {
			log.Error("faultfs: unmount", "dir", m.Dir(), "err", err)
		}
	}
	if err := os.Remove(cfg.Control); err != nil && !errors.Is(err, os.ErrNotExist) {
		unmount()
		return 0, fmt.Errorf("faultfs: remove the stale control socket %s: %w", cfg.Control, err)
	}
	ln, err := net.Listen("unix", cfg.Control)
	if err != nil {
		unmount()
		return 0, fmt.Errorf("faultfs: listen on the control socket %s: %w", cfg.Control, err)
	}
	defer ln.Close()
	powerFails := make(chan powerFailCall)
	down := make(chan struct{})
	defer close(down)
	go serveControl(ln, m.engine, powerFails, down)

	child, exited, err := startChild(cfg)
	if err != nil {
		unmount()
		return 0, err
	}
	log.Info("faultfs: serving", "backing", m.engine.Root(), "mount", m.Dir(), "control", cfg.Control, "pid", child.Pid)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	for {
		select {
		case s := <-sigs:
			syscall.Kill(-child.Pid, s.(syscall.Signal))
		case ps := <-exited:
			unmount()
			return exitStatus(ps), nil
		case c := <-powerFails:
			syscall.Kill(-child.Pid, syscall.SIGKILL) // the power is out for all of them
			<-exited
			rep, err := m.PowerFail(c.model)
			resp := controlResponse{OK: err == nil, Report: &rep}
			if err != nil {
				resp.Error = err.Error()
				log.Error("faultfs: power failure", "err", err)
			}
			c.reply <- resp
			<-c.done
			unmount()
			return PowerFailExit, err
		case <-ctx.Done():
			syscall.Kill(-child.Pid, syscall.SIGKILL)
			<-exited
			unmount()
			return 0, ctx.Err()
		}
	}
}

// startChild starts the command on an OS thread of its own that lives as
// long as the child: Pdeathsig fires when the thread that forked dies.
func startChild(cfg DaemonConfig) (*os.Process, <-chan *os.ProcessState, error) {
	cmd := exec.Command(cfg.Command[0], cfg.Command[1:]...)
	cmd.Stdout, cmd.Stderr = cfg.Stdout, cfg.Stderr
	if cmd.Stdout == nil {
		cmd.Stdout = os.Stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if cfg.UID >= 0 || cfg.GID >= 0 {
		cred := &syscall.Credential{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())} // no supplementary groups
		if cfg.UID >= 0 {
			cred.Uid = uint32(cfg.UID)
		}
		if cfg.GID >= 0 {
			cred.Gid = uint32(cfg.GID)
		}
		cmd.SysProcAttr.Credential = cred
	}
	started := make(chan error, 1)
	exited := make(chan *os.ProcessState, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := cmd.Start(); err != nil {
			started <- fmt.Errorf("faultfs: start %q: %w", cfg.Command[0], err)
			return
		}
		started <- nil
		cmd.Wait()
		exited <- cmd.ProcessState
	}()
	if err := <-started; err != nil {
		return nil, nil, err
	}
	return cmd.Process, exited, nil
}

func exitStatus(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
