package bench

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/sut"
)

// Config says what the benchmarks do. Start from DefaultConfig; the suite
// binds every field to a -bench.* test flag with RegisterFlags.
type Config struct {
	// Systems are the systems under test the containerised store
	// benchmarks measure side by side (sut names); the first is "ours",
	// the baseline of the ratios reported against each other one.
	Systems []string
	// Nodes is the store cluster size (containerised and in-process).
	Nodes int
	// ValueSize is the size of every written value, in bytes.
	ValueSize int
	// Keys is how many distinct keys PUT, GET, TXN and the mix spread over.
	Keys int
	// Duration is one measurement window (one sub-benchmark iteration).
	Duration time.Duration
	// MaxOps caps the operations of one window (0: no cap).
	MaxOps int64
	// Concurrency lists the numbers of concurrent clients (goroutines).
	Concurrency []int
	// Conns is how many clients (our store's: one pipelined connection
	// to the leader each; etcd's: one gRPC connection each) the goroutines
	// of a window share, round-robin; 0 means one per 64 goroutines. Fewer
	// connections measured faster than one per goroutine with our store
	// (64 clients: 1 conn > 4 > 16 > 64), as each connection coalesces the
	// writes of concurrent requests.
	Conns int
	// Direct makes clients of a containerised cluster dial the nodes'
	// private-network IPs instead of the ports published on 127.0.0.1,
	// bypassing docker-proxy, which costs a userland copy per packet and
	// measured 1.3x (PUT) to 2.8x (GET) slower at 64 clients. When the IPs
	// are unreachable (Docker Desktop) the published ports are used.
	Direct bool
	// FaultConcurrency is the client count of the fault benchmarks, and
	// FaultDuration how long each fault lasts.
	FaultConcurrency int
	FaultDuration    time.Duration
	// CheckerSizes are the history sizes (ops) of the checker benchmarks;
	// MaxListAppend is the largest size the list-append checker is run on.
	CheckerSizes  []int
	MaxListAppend int
	// Progress is how often long benchmarks log progress.
	Progress time.Duration
}

// DefaultConfig returns the configuration `make bench` uses.
func DefaultConfig() Config {
	return Config{
		Systems:          []string{"kvnode", "etcd"},
		Nodes:            3,
		ValueSize:        100,
		Keys:             1000,
		Duration:         3 * time.Second,
		MaxOps:           2_000_000,
		Concurrency:      []int{1, 16, 64, 256},
		Conns:            0,
		Direct:           true,
		FaultConcurrency: 64,
		FaultDuration:    6 * time.Second,
		CheckerSizes:     []int{10_000, 100_000, 1_000_000},
		MaxListAppend:    1_000_000,
		Progress:         5 * time.Second,
	}
}

// Validate checks the configuration and says how to fix it.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf("bench: "+format, args...)) }
	if len(c.Systems) == 0 {
		add("-bench.systems is empty: use %s", strings.Join(sut.Names(), ","))
	}
	for i, name := range c.Systems {
		if _, err := sut.ByName(name); err != nil {
			add("-bench.systems: %v", err)
		}
		if slices.Contains(c.Systems[:i], name) {
			add("-bench.systems names %s twice", name)
		}
	}
	if c.Nodes < 1 || c.Nodes > 9 {
		add("-bench.nodes=%d: use 1..9 (docker clusters hold at most 9)", c.Nodes)
	}
	if c.ValueSize < 1 || c.ValueSize > 1<<20 {
		add("-bench.value-size=%d: use 1 byte .. 1 MiB", c.ValueSize)
	}
	if c.Keys < 1 {
		add("-bench.keys=%d: use at least 1", c.Keys)
	}
	if c.Duration < 100*time.Millisecond {
		add("-bench.duration=%v: use at least 100ms", c.Duration)
	}
	if c.MaxOps < 0 {
		add("-bench.max-ops=%d: use 0 (no cap) or more", c.MaxOps)
	}
	if len(c.Concurrency) == 0 {
		add("-bench.concurrency is empty: e.g. 1,16,64,256")
	}
	for _, n := range c.Concurrency {
		if n < 1 || n > 4096 {
			add("-bench.concurrency holds %d: use 1..4096", n)
		}
	}
	if c.Conns < 0 {
		add("-bench.conns=%d: use 0 (one per 64 clients) or more", c.Conns)
	}
	if c.FaultConcurrency < 1 {
		add("-bench.fault-concurrency=%d: use at least 1", c.FaultConcurrency)
	}
	if c.FaultDuration < time.Second {
		add("-bench.fault-duration=%v: use at least 1s (an election takes about one)", c.FaultDuration)
	}
	for _, n := range c.CheckerSizes {
		if n < 1 {
			add("-bench.checker-sizes holds %d: use positive sizes", n)
		}
	}
	if c.Progress <= 0 {
		add("-bench.progress=%v: use a positive interval", c.Progress)
	}
	return errors.Join(errs...)
}

// ConnsFor returns how many clients a window with conc goroutines uses.
func (c Config) ConnsFor(conc int) int {
	n := c.Conns
	if n == 0 {
		n = (conc + 63) / 64
	}
	return max(1, min(n, conc))
}

// RegisterFlags binds every field to a flag named "bench.<name>" on fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Var((*stringList)(&c.Systems), "bench.systems", "comma-separated systems under test, measured side by side; ratios are the first's over each other's")
	fs.IntVar(&c.Nodes, "bench.nodes", c.Nodes, "store cluster size")
	fs.IntVar(&c.ValueSize, "bench.value-size", c.ValueSize, "bytes per written value")
	fs.IntVar(&c.Keys, "bench.keys", c.Keys, "distinct keys")
	fs.DurationVar(&c.Duration, "bench.duration", c.Duration, "one measurement window")
	fs.Int64Var(&c.MaxOps, "bench.max-ops", c.MaxOps, "cap on the ops of one window (0: none)")
	fs.Var((*IntList)(&c.Concurrency), "bench.concurrency", "comma-separated concurrent client counts")
	fs.IntVar(&c.Conns, "bench.conns", c.Conns, "clients shared by a window's goroutines (0: one per 64 goroutines)")
	fs.BoolVar(&c.Direct, "bench.direct", c.Direct, "dial container IPs directly, bypassing docker-proxy (false: the published 127.0.0.1 ports)")
	fs.IntVar(&c.FaultConcurrency, "bench.fault-concurrency", c.FaultConcurrency, "concurrent clients under faults")
	fs.DurationVar(&c.FaultDuration, "bench.fault-duration", c.FaultDuration, "how long each fault lasts")
	fs.Var((*IntList)(&c.CheckerSizes), "bench.checker-sizes", "comma-separated history sizes for the checkers")
	fs.IntVar(&c.MaxListAppend, "bench.max-list-append", c.MaxListAppend, "largest history the list-append checker runs on")
	fs.DurationVar(&c.Progress, "bench.progress", c.Progress, "progress log interval of long benchmarks")
}

// stringList is a flag.Value for comma-separated names.
type stringList []string

func (l *stringList) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

// Set replaces the list (it does not append).
func (l *stringList) Set(v string) error {
	var out []string
	for f := range strings.SplitSeq(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	*l = out
	return nil
}

// IntList is a flag.Value for comma-separated integers ("1,16,64"); an
// underscore may group digits ("1_000_000").
type IntList []int

func (l *IntList) String() string {
	if l == nil {
		return ""
	}
	s := make([]string, len(*l))
	for i, n := range *l {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

// Set replaces the list (it does not append).
func (l *IntList) Set(v string) error {
	var out []int
	for f := range strings.SplitSeq(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.ParseInt(f, 0, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", f)
		}
		out = append(out, int(n))
	}
	*l = out
	return nil
}
