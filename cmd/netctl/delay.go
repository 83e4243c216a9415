package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/faultline/faultline/cmd/netctl/internal/delayer"
	"github.com/faultline/faultline/nemesis/netrule"
)

// firstQueue is the lowest nfnetlink queue number netctl uses (0 is every
// other tool's default).
const firstQueue = 1000

// readyTimeout bounds the wait for a new delayer to bind its queue.
const readyTimeout = 10 * time.Second

// delay starts a delayer on a free queue, waits until it is bound, then
// adds rules that send the peers' packets to it; when the rules cannot be
// added the delayer is stopped again.
func delay(ctx context.Context, rules []netrule.Rule) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("open netlink: %w", err)
	}
	q, err := freeQueue(c)
	if err != nil {
		return err
	}
	if err := startDelayer(ctx, q, rules[0].Delay); err != nil {
		return err
	}
	if err := apply(rules, q); err != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
		defer cancel()
		if _, serr := delayer.Stop(sctx, q); serr != nil {
			return errors.Join(err, serr)
		}
		return err
	}
	return nil
}

// freeQueue returns the lowest queue number from firstQueue up that no
// rule of ours, no bound listener and no delayer uses.
func freeQueue(c *nftables.Conn) (uint16, error) {
	used := map[uint16]bool{}
	rules, err := ourRules(c)
	if err != nil {
		return 0, err
	}
	for _, r := range rules {
		if q, ok := queueOf(r); ok {
			used[q] = true
		}
	}
	bound, err := delayer.BoundQueues()
	if err != nil {
		return 0, err
	}
	for q := range bound {
		used[q] = true
	}
	running, err := delayer.Running()
	if err != nil {
		return 0, err
	}
	for _, q := range running {
		used[q] = true
	}
	for q := firstQueue; q <= 0xffff; q++ {
		if !used[uint16(q)] {
			return uint16(q), nil
		}
	}
	return 0, errors.New("every nfnetlink queue number is in use: run netctl heal")
}

// delayerArgs is the command line of the delayer of queue q (after the
// program name).
func delayerArgs(q uint16, d netrule.Delay) []string {
	return []string{"delayer", "--queue", strconv.Itoa(int(q)),
		"--ms", strconv.FormatInt(d.Mean.Milliseconds(), 10),
		"--jitter-ms", strconv.FormatInt(d.Jitter.Milliseconds(), 10),
		"--seed", strconv.FormatUint(d.Seed, 10)}
}

// parseDelayerArgs reads delayerArgs (without the command word).
func parseDelayerArgs(args []string) (delayer.Config, error) {
	fs := flag.NewFlagSet("netctl delayer", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	queue := fs.Uint("queue", 0, "nfnetlink queue number")
	ms := fs.Int64("ms", 0, "mean delay in milliseconds")
	jitter := fs.Int64("jitter-ms", 0, "jitter in milliseconds")
	seed := fs.Uint64("seed", 0, "seed of the jitter's PRNG")
	if err := fs.Parse(args); err != nil {
		return delayer.Config{}, err
	}
	if fs.NArg() != 0 {
		return delayer.Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *queue < firstQueue || *queue > 0xffff {
		return delayer.Config{}, fmt.Errorf("delayer needs --queue N with N in %d..65535", firstQueue)
	}
	cfg := delayer.Config{
		Queue: uint16(*queue),
		Delay: netrule.Delay{Mean: time.Duration(*ms) * time.Millisecond, Jitter: time.Duration(*jitter) * time.Millisecond, Seed: *seed},
	}
	if err := cfg.Validate(); err != nil {
		return delayer.Config{}, err
	}
	return cfg, nil
}

// readyFD is the descriptor on which a delayer reports that it is bound
// (the first of exec.Cmd.ExtraFiles).
const readyFD = 3

// logPath is where the delayer of queue q logs.
func logPath(q uint16) string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("netctl-delay-%d.log", q))
}

// startDelayer starts `netctl delayer` for queue q detached from this
// process (a session of its own, stdio on /dev/null and its log file, so
// `docker exec` does not wait for it) and waits until it reports that it
// has bound the queue, or why it could not.
func startDelayer(ctx context.Context, q uint16, d netrule.Delay) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find netctl's own binary to start the delayer: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start the delayer: %w", err)
	}
	defer r.Close()
	cmd := exec.Command(exe, delayerArgs(q, d)...)
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	logName := "(none)"
	if err := os.MkdirAll(os.TempDir(), 0o1777); err == nil {
		if f, err := os.OpenFile(logPath(q), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			defer f.Close()
			cmd.Stderr, logName = f, f.Name()
		}
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("start the delayer: %w", err)
	}
	// The delayer is not waited for: it outlives this process, and the
	// namespace's init reaps it when it exits.
	defer cmd.Process.Release()

	deadline := time.Now().Add(readyTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	r.SetReadDeadline(deadline)
	line, err := bufio.NewReader(r).ReadString('\n')
	line = strings.TrimSpace(line)
	switch {
	case line == "ready":
		return nil
	case strings.HasPrefix(line, "error: "):
		return fmt.Errorf("delayer of queue %d: %s", q, strings.TrimPrefix(line, "error: "))
	case errors.Is(err, os.ErrDeadlineExceeded):
		cmd.Process.Kill()
		return fmt.Errorf("delayer of queue %d did not bind within %v; killed it (log: %s)", q, readyTimeout, logName)
	}
	return fmt.Errorf("delayer of queue %d exited before binding (%v); see its log %s", q, err, logName)
}

// serveDelayer is the `netctl delayer` process: it reports on readyFD.
func serveDelayer(ctx context.Context, cfg delayer.Config) error {
	if fl, err := unix.FcntlInt(readyFD, unix.F_GETFL, 0); err != nil || fl&unix.O_ACCMODE == unix.O_RDONLY {
		return usageError{"netctl delayer is started by netctl delay: it reports on descriptor 3, which is not open for writing here"}
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	return delayer.Serve(ctx, cfg, os.NewFile(readyFD, "ready"))
}
