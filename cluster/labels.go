package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Label keys put on every resource a runtime creates (containers and
// networks, namespaces and pods).
const (
	LabelFaultline = "faultline"          // always "1": created by faultline
	LabelRun       = "faultline.run"      // the run id (Spec.RunID)
	LabelPID       = "faultline.pid"      // pid of the owning process
	LabelPIDStart  = "faultline.pidstart" // its start time (clock ticks since boot), guards against pid reuse
	LabelHost      = "faultline.host"     // hostname of the owning process
	LabelNode      = "faultline.node"     // the node id, on a node's resources
)

// ForeignHostMaxAge is how old a leftover created on another host (another
// container sharing the engine, another CI job) must be before it is
// reaped: its owner's pid cannot be checked from here.
const ForeignHostMaxAge = 6 * time.Hour

// Labels returns the labels of a resource of run runID: extra (Spec.Labels),
// the owner's (this process: pid, its start time, the host) and, when node
// is not empty, the node's.
func Labels(extra map[string]string, runID, node string) map[string]string {
	l := maps.Clone(extra)
	if l == nil {
		l = map[string]string{}
	}
	l[LabelFaultline] = "1"
	l[LabelRun] = runID
	l[LabelPID] = strconv.Itoa(os.Getpid())
	l[LabelPIDStart] = procStart(os.Getpid())
	l[LabelHost] = hostLabel()
	if node != "" {
		l[LabelNode] = node
	}
	return l
}

// hostLabel is this host's name as a valid label value (63 characters of
// [A-Za-z0-9._-]).
func hostLabel() string {
	host, _ := os.Hostname()
	s := strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '_' || r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, host)
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.Trim(s, "._-")
}

// OwnerAlive reports whether the process that created a resource with
// these labels, created at created, may still be running, so the resource
// must be kept. Resources without a pid label are not ours to judge (kept);
// those of another host are kept until ForeignHostMaxAge.
func OwnerAlive(labels map[string]string, created time.Time) bool {
	pid, err := strconv.Atoi(labels[LabelPID])
	if err != nil || pid <= 0 {
		return true
	}
	if labels[LabelHost] != hostLabel() {
		return time.Since(created) < ForeignHostMaxAge
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	// The pid exists; it is the owner unless it was reused by a process
	// started at another time.
	want := labels[LabelPIDStart]
	return want == "" || want == procStart(pid)
}

// procStart is the process start time from /proc/<pid>/stat (clock ticks
// since boot), or "" when unavailable.
func procStart(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// comm, in parentheses, may contain spaces; after it come state
	// (field 3) ... starttime (field 22).
	s := string(b)
	i := strings.LastIndex(s, ") ")
	if i < 0 {
		return ""
	}
	if f := strings.Fields(s[i+2:]); len(f) >= 20 {
		return f[19]
	}
	return ""
}

// NewRunID returns a fresh run id, "<pid>-<6 hex digits>".
func NewRunID() string {
	var b [3]byte
	rand.Read(b[:])
	return fmt.Sprintf("%d-%s", os.Getpid(), hex.EncodeToString(b[:]))
}

// ReapBeside runs reap, which removes the leftovers of dead runs, beside a
// start when on is true, and returns the function that waits for it. It
// never removes the starting run's resources (their owner is alive), so the
// start need not wait for it until it returns.
func ReapBeside(ctx context.Context, on bool, log *slog.Logger, reap func(context.Context) error) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if on {
			if err := reap(ctx); err != nil {
				log.Warn("reaping leftovers of earlier runs failed", "err", err)
			}
		}
	}()
	return func() { <-done }
}
