package delayer

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Files in /proc/net describe the reader's network namespace.
const (
	procQueues = "/proc/net/netfilter/nfnetlink_queue"
	procUnix   = "/proc/net/unix"
)

// socketPrefix starts the name of every delayer's abstract control socket;
// the queue number follows.
const socketPrefix = "@faultline-netctl-delay-"

// SocketName is the abstract unix socket of the delayer of queue.
func SocketName(queue uint16) string { return socketPrefix + strconv.Itoa(int(queue)) }

// BoundQueues returns the nfnetlink queues bound in this network namespace
// (by a delayer or anyone else), each with the number of packets waiting
// in it for a verdict.
func BoundQueues() (map[uint16]int, error) {
	f, err := os.Open(procQueues)
	if os.IsNotExist(err) {
		return map[uint16]int{}, nil // nfnetlink_queue not loaded yet: nothing bound
	}
	if err != nil {
		return nil, fmt.Errorf("read bound queues: %w (is /proc mounted?)", err)
	}
	defer f.Close()
	return parseQueues(f)
}

// parseQueues reads the format of /proc/net/netfilter/nfnetlink_queue:
// "queue portid waiting copy-mode copy-range dropped user-dropped
// last-id 1", numbers separated by spaces, one bound queue per line.
func parseQueues(r io.Reader) (map[uint16]int, error) {
	out := map[uint16]int{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			continue
		}
		q, err1 := strconv.ParseUint(f[0], 10, 16)
		n, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("read bound queues: unexpected line %q in %s", sc.Text(), procQueues)
		}
		out[uint16(q)] = n
	}
	return out, sc.Err()
}

// Running returns the queues whose delayers listen in this network
// namespace, in increasing order.
func Running() ([]uint16, error) {
	f, err := os.Open(procUnix)
	if err != nil {
		return nil, fmt.Errorf("list delayers: %w (is /proc mounted?)", err)
	}
	defer f.Close()
	return parseUnix(f)
}

// parseUnix reads the format of /proc/net/unix (a header line, then one
// socket per line with its path, if any, last) for delayer sockets.
func parseUnix(r io.Reader) ([]uint16, error) {
	var out []uint16
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		n, ok := strings.CutPrefix(f[len(f)-1], socketPrefix)
		if !ok {
			continue
		}
		q, err := strconv.ParseUint(n, 10, 16)
		if err != nil {
			continue // someone else's name that merely starts like ours
		}
		if !slices.Contains(out, uint16(q)) {
			out = append(out, uint16(q))
		}
	}
	slices.Sort(out)
	return out, sc.Err()
}
