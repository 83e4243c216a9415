package delayer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/faultline/faultline/nemesis/netrule"
)

// Config is what one delayer process serves.
type Config struct {
	// Queue is the nfnetlink queue number its rules send packets to.
	Queue uint16
	// Delay is how long it holds each packet.
	Delay netrule.Delay
	// Logger receives its log lines; nil means slog.Default().
	Logger *slog.Logger
}

// Validate reports a Config Serve cannot run.
func (c Config) Validate() error {
	if err := c.Delay.Validate(); err != nil {
		return fmt.Errorf("delayer: %w", err)
	}
	return nil
}

// drainTimeout bounds how long a stopping delayer waits for the kernel
// queue to empty (its rules are gone by then, so it empties at once).
const drainTimeout = 2 * time.Second

// Serve listens on the control socket of cfg.Queue, binds the queue,
// writes "ready\n" to ready and closes it, and then delays the queue's
// packets until Stop asks it to stop (it returns nil once it has released
// every packet) or ctx is done (it releases every held packet and returns
// ctx's error). When it cannot start, the error is written to ready as
// well as returned.
func Serve(ctx context.Context, cfg Config, ready io.WriteCloser) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	fail := func(err error) error {
		fmt.Fprintf(ready, "error: %v\n", err)
		ready.Close()
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fail(err)
	}
	ln, err := net.Listen("unix", SocketName(cfg.Queue))
	if err != nil {
		if errors.Is(err, unix.EADDRINUSE) {
			return fail(fmt.Errorf("a delayer already serves queue %d: stop it with netctl heal", cfg.Queue))
		}
		return fail(fmt.Errorf("listen on %s: %w", SocketName(cfg.Queue), err))
	}
	defer ln.Close()
	q, err := Open(cfg.Queue, log)
	if err != nil {
		return fail(err)
	}
	defer q.Close()

	runCtx, cancelRun := context.WithCancel(context.Background())
	defer cancelRun()
	stop := make(chan chan<- Stats)
	final := make(chan Stats, 1)
	go func() { final <- Run(runCtx, cfg.Delay, realClock{}, q, q.Packets(), stop, log) }()

	conns := make(chan net.Conn)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	if _, err := io.WriteString(ready, "ready\n"); err != nil {
		return fmt.Errorf("report ready: %w", err)
	}
	ready.Close()
	log.Info("delayer: serving", "queue", cfg.Queue, "delay", cfg.Delay.String(), "seed", cfg.Delay.Seed)

	release := func() Stats {
		reply := make(chan Stats, 1)
		select {
		case stop <- reply:
			return <-reply
		case st := <-final: // Run ended by itself
			final <- st
			return st
		}
	}
	for {
		select {
		case <-ctx.Done():
			st := release()
			log.Info("delayer: interrupted, held packets released", "queue", cfg.Queue, "stats", st.String())
			return ctx.Err()
		case st := <-final:
			err := q.Err()
			log.Error("delayer: queue closed", "queue", cfg.Queue, "err", err, "stats", st.String())
			return err
		case c := <-conns:
			if !readStop(c) {
				fmt.Fprintln(c, "error: unknown request: send \"stop\"")
				c.Close()
				continue
			}
			release()
			waitDrained(cfg.Queue, log)
			cancelRun()
			st := <-final
			q.Close()
			log.Info("delayer: stopped", "queue", cfg.Queue, "stats", st.String())
			fmt.Fprintf(c, "stopped %s\n", st)
			c.Close()
			return nil
		}
	}
}

// readStop reads one request line from c and reports whether it is "stop".
func readStop(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	c.SetReadDeadline(time.Time{})
	return err == nil && strings.TrimSpace(line) == "stop"
}

// waitDrained waits until no packet of queue waits in the kernel for a
// verdict (the stopped delayer accepts each as it arrives), at most
// drainTimeout: unbinding drops what is still queued.
func waitDrained(queue uint16, log *slog.Logger) {
	deadline := time.Now().Add(drainTimeout)
	for {
		qs, err := BoundQueues()
		if err != nil {
			log.Warn("delayer: cannot see the kernel queue; unbinding without waiting for it to empty", "err", err)
			return
		}
		if qs[queue] == 0 {
			return
		}
		if time.Now().After(deadline) {
			log.Warn("delayer: kernel queue still not empty; unbinding drops what is left", "queue", queue, "waiting", qs[queue])
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// String is the stats as a stopped delayer reports them.
func (s Stats) String() string {
	return fmt.Sprintf("delayed %d released %d passed %d failed %d max-held %d", s.Delayed, s.Released, s.Passed, s.Failed, s.MaxHeld)
}

// parseStats reads Stats.String.
func parseStats(s string) (Stats, error) {
	var st Stats
	_, err := fmt.Sscanf(s, "delayed %d released %d passed %d failed %d max-held %d", &st.Delayed, &st.Released, &st.Passed, &st.Failed, &st.MaxHeld)
	if err != nil {
		return Stats{}, fmt.Errorf("delayer stats %q: %w", s, err)
	}
	return st, nil
}

// Stop asks the delayer of queue to release every held packet and exit,
// and waits until its process is gone. If it does not answer before ctx
// is done, Stop kills it (the packets it still held are dropped, and
// retransmitted by TCP) and says so in its error.
func Stop(ctx context.Context, queue uint16) (Stats, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", SocketName(queue))
	if err != nil {
		return Stats{}, fmt.Errorf("connect to the delayer of queue %d: %w", queue, err)
	}
	defer conn.Close()
	uc := conn.(*net.UnixConn)
	pid, err := peerPID(uc)
	if err != nil {
		return Stats{}, fmt.Errorf("delayer of queue %d: %w", queue, err)
	}
	unblock := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer unblock()
	st, err := func() (Stats, error) {
		if _, err := io.WriteString(conn, "stop\n"); err != nil {
			return Stats{}, err
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			return Stats{}, err
		}
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "stopped ")
		if !ok {
			return Stats{}, fmt.Errorf("unexpected answer %q", strings.TrimSpace(line))
		}
		return parseStats(rest)
	}()
	if err == nil {
		err = waitGone(ctx, pid)
	}
	if err != nil {
		kerr := unix.Kill(pid, unix.SIGKILL)
		return st, fmt.Errorf("delayer of queue %d (pid %d) did not stop: %w; killed it (kill: %v): the packets it held were dropped", queue, pid, err, kerr)
	}
	return st, nil
}

// peerPID is the pid of the process at the other end of c.
func peerPID(c *net.UnixConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, fmt.Errorf("read the peer's credentials: %w", serr)
	}
	return int(cred.Pid), nil
}

// waitGone waits until process pid has exited (it is gone, or a zombie
// its parent has not reaped yet).
func waitGone(ctx context.Context, pid int) error {
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		// A process that exits between the open and the read answers
		// ESRCH: it is gone too.
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH) || err == nil && procState(b) == 'Z' {
			return nil
		}
		if err != nil {
			return fmt.Errorf("wait for pid %d to exit: %w", pid, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for pid %d to exit: %w", pid, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// procState is the state letter of a /proc/PID/stat line ("pid (comm) S
// ..."; comm may hold spaces and parentheses).
func procState(stat []byte) byte {
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return 0
	}
	return s[i+2]
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) NewTimer(d time.Duration) Timer {
	return realTimer{time.NewTimer(d)}
}

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time   { return t.t.C }
func (t realTimer) Reset(d time.Duration) { t.t.Reset(d) }
func (t realTimer) Stop()                 { t.t.Stop() }
