// Command faultfs gives a node a disk that can lose power, and corrupts a
// down node's files (package faultfs does the work; this is its command
// line).
//
//	faultfs mount --backing DIR --mount DIR --control SOCKET [--uid N --gid N] -- CMD ARGS...
//	                  mount DIR at --mount through the power-failure filesystem
//	                  and run CMD on it; exits with CMD's status (137 after a
//	                  power failure)
//	faultfs powerfail --control SOCKET [--model posix|data-only]
//	                  fail the power of that mount: CMD is killed, unsynced
//	                  writes are dropped (posix, the default: unsynced data
//	                  and directory operations whose directory was not
//	                  fsynced; data-only: unsynced data only, as LazyFS);
//	                  prints what was dropped and the model (JSON)
//	faultfs status --control SOCKET
//	                  print the undo journal's state (JSON)
//	faultfs corrupt --root DIR --pattern GLOB[,GLOB] --mode bitflip|truncate|rollback --seed N
//	                  [--files K] [--flips K] [--aside DIR]
//	                  change a down node's files; prints exactly what changed (JSON)
//	faultfs aside --root DIR --pattern GLOB[,GLOB] --seed N --aside DIR [--files K] [--chunk BYTES]
//	                  copy a chunk of files aside for a later corrupt --mode rollback
//
// Exit codes: 0 success, 1 the operation failed, 2 bad usage; mount exits
// with its command's status.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/faultline/faultline/faultfs"
)

const usageText = `usage:
  faultfs mount --backing DIR --mount DIR --control SOCKET [--uid N] [--gid N]
                [--journal-limit BYTES] [--debug] -- CMD ARGS...
  faultfs powerfail --control SOCKET [--model posix|data-only]
  faultfs status --control SOCKET
  faultfs corrupt --root DIR --pattern GLOB[,GLOB...] --mode bitflip|truncate|rollback
                  --seed N [--files K] [--flips K] [--aside DIR]
  faultfs aside --root DIR --pattern GLOB[,GLOB...] --seed N --aside DIR
                [--files K] [--chunk BYTES]

exit codes: 0 ok, 1 operation failed, 2 bad usage; mount: its command's status
`

// usageError is a command-line mistake: exit code 2 with the usage text.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := run(ctx, stop, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command and returns the exit code. stopSignals stops
// ctx's signal handling: mount passes signals on to its command instead.
func run(ctx context.Context, stopSignals func(), args []string, stdout, stderr io.Writer) int {
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, nil)))
	code, err := dispatch(ctx, stopSignals, args, stdout, stderr)
	var ue usageError
	switch {
	case err == nil:
		return code
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "faultfs: %s\n\n%s", ue.msg, usageText)
		return 2
	default:
		fmt.Fprintf(stderr, "faultfs: %s\n", strings.TrimPrefix(err.Error(), "faultfs: "))
		if code == 0 {
			code = 1
		}
		return code
	}
}

func dispatch(ctx context.Context, stopSignals func(), args []string, stdout, stderr io.Writer) (int, error) {
	if len(args) == 0 {
		return 0, usageError{"no command given"}
	}
	cmd, rest := args[0], args[1:]
	var ae *faultfs.ArgsError
	switch cmd {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usageText)
		return 0, nil
	case "mount":
		cfg, err := faultfs.ParseMountArgs(rest)
		if errors.As(err, &ae) {
			return 0, usageError{ae.Msg}
		}
		stopSignals() // RunDaemon passes SIGTERM and SIGINT on to the command
		return faultfs.RunDaemon(context.Background(), cfg)
	case "status":
		control, err := faultfs.ParseControlArgs(cmd, rest)
		if errors.As(err, &ae) {
			return 0, usageError{ae.Msg}
		}
		s, err := faultfs.RequestStats(ctx, control)
		if err != nil {
			return 0, err
		}
		_, err = stdout.Write(s.Encode())
		return 0, err
	case "powerfail":
		control, model, err := faultfs.ParsePowerFailArgs(rest)
		if errors.As(err, &ae) {
			return 0, usageError{ae.Msg}
		}
		_, err = faultfs.RequestPowerFail(ctx, control, model, stdout)
		return 0, err
	case "corrupt", "aside":
		cfg, err := faultfs.ParseCorruptArgs(cmd, rest)
		if errors.As(err, &ae) {
			return 0, usageError{ae.Msg}
		}
		rep, err := faultfs.Corrupt(ctx, cfg)
		if err != nil {
			return 0, err
		}
		_, err = stdout.Write(rep.Encode())
		return 0, err
	}
	return 0, usageError{fmt.Sprintf("unknown command %q", cmd)}
}
