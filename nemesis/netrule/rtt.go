package netrule

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Probe is a `netctl rtt` command: measure the round trip from the node to
// To by timing Count TCP connects one after another, each given up to
// Timeout. A SYN answered by a SYN-ACK or by a RST counts alike, so the
// port need not be open; a probe with no answer within Timeout is lost.
type Probe struct {
	To      netip.AddrPort
	Count   int
	Timeout time.Duration
}

// Probe defaults and limits.
const (
	DefaultProbeCount   = 5
	MaxProbeCount       = 1000
	DefaultProbeTimeout = 5 * time.Second
	MaxProbeTimeout     = time.Minute
)

// Validate reports a Probe netctl cannot run.
func (p Probe) Validate() error {
	switch {
	case !p.To.IsValid() || p.To.Port() == 0:
		return fmt.Errorf("netrule: probe target %v: give an IP address and a port 1..65535", p.To)
	case p.To.Addr().Zone() != "" || p.To.Addr().Is4In6():
		return fmt.Errorf("netrule: probe target %v: give a plain IPv4 or IPv6 address", p.To)
	case p.Count < 1 || p.Count > MaxProbeCount:
		return fmt.Errorf("netrule: probe count %d out of range: use 1..%d", p.Count, MaxProbeCount)
	case p.Timeout < time.Millisecond || p.Timeout > MaxProbeTimeout || p.Timeout%time.Millisecond != 0:
		return fmt.Errorf("netrule: probe timeout %v: use whole milliseconds in 1ms..%v", p.Timeout, MaxProbeTimeout)
	}
	return nil
}

// Args is the netctl command line that runs p:
// "rtt --to IP --port P --count N --timeout-ms T". ParseProbeArgs reads it
// back.
func (p Probe) Args() ([]string, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return []string{"rtt", "--to", p.To.Addr().String(), "--port", strconv.Itoa(int(p.To.Port())),
		"--count", strconv.Itoa(p.Count), "--timeout-ms", strconv.FormatInt(p.Timeout.Milliseconds(), 10)}, nil
}

// ParseProbeArgs reads a `netctl rtt` command line, the command word
// included; --count and --timeout-ms default to DefaultProbeCount and
// DefaultProbeTimeout. Every error is an *ArgsError.
func ParseProbeArgs(args []string) (Probe, error) {
	usage := func(format string, a ...any) (Probe, error) {
		return Probe{}, &ArgsError{Msg: fmt.Sprintf(format, a...)}
	}
	if len(args) == 0 || args[0] != "rtt" {
		return usage("not an rtt command line: %q", args)
	}
	fs := flag.NewFlagSet("netctl rtt", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	to := fs.String("to", "", "the peer's IP address")
	port := fs.Int("port", 0, "a TCP port of the peer (open or closed)")
	count := fs.Int("count", DefaultProbeCount, "number of connects")
	timeoutMS := fs.Int("timeout-ms", int(DefaultProbeTimeout/time.Millisecond), "how long each connect may take")
	if err := fs.Parse(args[1:]); err != nil {
		return usage("%v", err)
	}
	if fs.NArg() != 0 {
		return usage("unexpected argument %q", fs.Arg(0))
	}
	if *to == "" {
		return usage("rtt needs --to IP")
	}
	a, err := netip.ParseAddr(*to)
	if err != nil || a.Zone() != "" {
		return usage("bad IP address %q: give one IPv4 or IPv6 address (no zone)", *to)
	}
	if *port < 1 || *port > 65535 {
		return usage("rtt needs --port P with P in 1..65535")
	}
	if *count < 1 || *count > MaxProbeCount {
		return usage("--count %d out of range: use 1..%d", *count, MaxProbeCount)
	}
	if max := int(MaxProbeTimeout / time.Millisecond); *timeoutMS < 1 || *timeoutMS > max {
		return usage("--timeout-ms %d out of range: use 1..%d", *timeoutMS, max)
	}
	return Probe{
		To:      netip.AddrPortFrom(a.Unmap(), uint16(*port)),
		Count:   *count,
		Timeout: time.Duration(*timeoutMS) * time.Millisecond,
	}, nil
}

// RTT is what `netctl rtt` prints: of Count probes to To, Lost had no
// answer; Min, Median and Max are over the answered ones (at least one:
// netctl fails when every probe is lost), rounded to microseconds.
type RTT struct {
	To               netip.AddrPort
	Count, Lost      int
	Min, Median, Max time.Duration
}

// Summarize is the RTT of the answered probes' times (in any order) and
// the number lost. The median of an even number of times is the mean of
// the middle two.
func Summarize(to netip.AddrPort, times []time.Duration, lost int) (RTT, error) {
	if len(times) == 0 {
		return RTT{}, errors.New("netrule: no probe answered: there is no round trip to summarize")
	}
	s := slices.Clone(times)
	slices.Sort(s)
	n := len(s)
	median := s[n/2]
	if n%2 == 0 {
		median = (s[n/2-1] + s[n/2]) / 2
	}
	us := func(d time.Duration) time.Duration { return d.Round(time.Microsecond) }
	return RTT{To: to, Count: n + lost, Lost: lost, Min: us(s[0]), Median: us(median), Max: us(s[n-1])}, nil
}

// String is the line netctl prints, e.g.
// "rtt 172.18.0.3:7000 count 5 lost 0 min 101.2ms median 101.9ms max 112.004ms".
// ParseRTT reads it back.
func (r RTT) String() string {
	return fmt.Sprintf("rtt %s count %d lost %d min %s median %s max %s", r.To, r.Count, r.Lost, r.Min, r.Median, r.Max)
}

// ParseRTT reads the line `netctl rtt` prints (see RTT.String); surrounding
// whitespace is ignored.
func ParseRTT(line string) (RTT, error) {
	bad := func(format string, args ...any) (RTT, error) {
		return RTT{}, fmt.Errorf("netrule: rtt line %q: %s (want \"rtt IP:PORT count N lost L min D median D max D\")",
			strings.TrimSpace(line), fmt.Sprintf(format, args...))
	}
	f := strings.Fields(line)
	if len(f) != 12 || f[0] != "rtt" || f[2] != "count" || f[4] != "lost" || f[6] != "min" || f[8] != "median" || f[10] != "max" {
		return bad("not an rtt line")
	}
	var r RTT
	var err error
	if r.To, err = netip.ParseAddrPort(f[1]); err != nil {
		return bad("bad address %q", f[1])
	}
	for _, n := range []struct {
		s   string
		dst *int
	}{{f[3], &r.Count}, {f[5], &r.Lost}} {
		if *n.dst, err = strconv.Atoi(n.s); err != nil || *n.dst < 0 {
			return bad("%q is not a count", n.s)
		}
	}
	for _, d := range []struct {
		s   string
		dst *time.Duration
	}{{f[7], &r.Min}, {f[9], &r.Median}, {f[11], &r.Max}} {
		if *d.dst, err = time.ParseDuration(d.s); err != nil || *d.dst < 0 {
			return bad("%q is not a duration", d.s)
		}
	}
	switch {
	case r.Count < 1 || r.Lost >= r.Count:
		return bad("count %d with %d lost: at least one probe must have been answered", r.Count, r.Lost)
	case r.Min > r.Median || r.Median > r.Max:
		return bad("min %v, median %v, max %v are out of order", r.Min, r.Median, r.Max)
	}
	return r, nil
}
