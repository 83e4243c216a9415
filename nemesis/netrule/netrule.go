// Package netrule is netctl's rule format, the contract between the
// nemesis and the netctl binary that runs inside each node's container.
//
// A Rule is typed: the direction the matched packets travel (from a peer
// into this node, or from this node to a peer: a one-way fault), the
// peer's address, and what happens to them: a share of them is dropped
// (100 drops them all, 1..99 is random packet loss), or every one of them
// is held for a delay (mean ± a seeded random jitter) and then let through.
// A rule has two text forms, both written and read here:
//
//   - the list form, one rule per line, which `netctl list` prints and the
//     nemesis parses to confirm a fault is in effect (String, Parse,
//     ParseList):
//
//     drop from 172.18.0.3
//     drop to 172.18.0.3
//     loss 20% from 172.18.0.3
//     loss 20% to 172.18.0.3
//     loss 20% inbound          (every peer: all inbound traffic but loopback)
//     drop inbound              (the same, every packet)
//     delay 50ms from 172.18.0.3
//     delay 50ms±10ms seed 7 to 172.18.0.3
//     delay 50ms±10ms seed 7 inbound
//     drop from 172.18.0.3 tag partition
//
//   - the command-line form, which the nemesis runs and netctl parses
//     (Args, ParseArgs):
//
//     drop --from IP[,IP] | drop --to IP[,IP]
//     loss --percent N [--from IP[,IP] | --to IP[,IP]]
//     delay --ms N [--jitter-ms J --seed S] [--from IP[,IP] | --to IP[,IP]]
//     (each with --tag T to name the fault that installs it)
//
// A rule's tag names the fault that installed it (the nemesis uses its
// kind: partition, loss, delay), so that the fault's stop removes its own
// rules (`netctl heal --tag T`) and leaves another fault's in place.
//
// Rules are comparable values: a fault is confirmed by comparing the rules
// netctl lists with the rules that were asked for, never by matching text.
//
// The package also holds the format of `netctl rtt`, which measures the
// round trip to a peer (TCP connect time) so that the nemesis can confirm
// a delay is in effect: Probe is its command line, RTT what it prints.
//
// The package touches no netlink socket; cmd/netctl turns rules into
// nftables expressions.
package netrule

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Direction says which way the matched packets travel, seen from the node
// that holds the rule.
type Direction int

// Directions.
const (
	// Inbound matches packets arriving from the peer ("from").
	Inbound Direction = iota
	// Outbound matches packets leaving for the peer ("to"): the node can
	// hear the peer but not answer it.
	Outbound
)

// String returns "from" or "to", the word both text forms use.
func (d Direction) String() string {
	switch d {
	case Inbound:
		return "from"
	case Outbound:
		return "to"
	}
	return fmt.Sprintf("direction(%d)", int(d))
}

// Rule is one netctl rule about the packets travelling in direction Dir
// between this node and Peer: either drop Percent% of them (a drop or loss
// rule, Delay zero) or hold each for Delay (a delay rule, Percent 0).
type Rule struct {
	Dir Direction
	// Peer is the other end. The zero Addr means every peer (all inbound
	// traffic except loopback); such a rule is always Inbound.
	Peer netip.Addr
	// Percent is the share of matching packets dropped: 100 drops all of
	// them, 1..99 drops that share at random; 0 for a delay rule.
	Percent int
	// Delay is how long each matching packet is held; zero for a drop or
	// loss rule.
	Delay Delay
	// Tag names the fault that installed the rule ("" for none): a word
	// of lower-case letters, digits and dashes (ValidTag).
	Tag string
}

// ValidTag reports whether tag can name a rule's fault: empty, or a
// lower-case letter followed by lower-case letters, digits and dashes, at
// most 32 bytes.
func ValidTag(tag string) bool {
	if len(tag) > 32 {
		return false
	}
	for i, c := range tag {
		if !(c >= 'a' && c <= 'z' || i > 0 && (c >= '0' && c <= '9' || c == '-')) {
			return false
		}
	}
	return true
}

// Tagged returns r with tag t.
func (r Rule) Tagged(t string) Rule {
	r.Tag = t
	return r
}

// Delay is how long a delay rule holds each packet: Mean plus a jitter
// drawn uniformly from [-Jitter, +Jitter] by a PRNG seeded with Seed. Both
// durations are whole milliseconds, 0 <= Jitter <= Mean <= MaxDelay. Seed
// matters only with a jitter and is 0 without one.
type Delay struct {
	Mean, Jitter time.Duration
	Seed         uint64
}

// MaxDelay is the longest mean delay netctl accepts. Longer holds only
// make TCP retransmit everything and overflow the queue.
const MaxDelay = 10 * time.Second

// IsZero reports whether d is no delay at all.
func (d Delay) IsZero() bool { return d == Delay{} }

// Validate reports a delay netctl cannot apply.
func (d Delay) Validate() error {
	switch {
	case d.Mean < time.Millisecond || d.Mean > MaxDelay:
		return fmt.Errorf("netrule: delay %v out of range: use 1ms..%v", d.Mean, MaxDelay)
	case d.Mean%time.Millisecond != 0 || d.Jitter%time.Millisecond != 0:
		return fmt.Errorf("netrule: delay %v±%v: give whole milliseconds", d.Mean, d.Jitter)
	case d.Jitter < 0 || d.Jitter > d.Mean:
		return fmt.Errorf("netrule: jitter %v out of range: use 0..%v (the mean), so no packet is due before it arrives", d.Jitter, d.Mean)
	case d.Jitter == 0 && d.Seed != 0:
		return fmt.Errorf("netrule: seed %d without a jitter: a fixed delay draws no random numbers; use seed 0", d.Seed)
	}
	return nil
}

// String is the delay as the list form writes it: "50ms", "50ms±10ms".
func (d Delay) String() string {
	s := strconv.FormatInt(d.Mean.Milliseconds(), 10) + "ms"
	if d.Jitter != 0 {
		s += "±" + strconv.FormatInt(d.Jitter.Milliseconds(), 10) + "ms"
	}
	return s
}

// Drop returns the rule that drops every packet from (Inbound) or to
// (Outbound) peer.
func Drop(dir Direction, peer netip.Addr) Rule { return Rule{Dir: dir, Peer: peer, Percent: 100} }

// Loss returns the rule that drops percent% of the packets from (Inbound)
// or to (Outbound) peer.
func Loss(dir Direction, peer netip.Addr, percent int) Rule {
	return Rule{Dir: dir, Peer: peer, Percent: percent}
}

// Delayed returns the rule that holds every packet from (Inbound) or to
// (Outbound) peer for mean ± jitter, the jitter drawn by a PRNG seeded with
// seed. Without a jitter the seed is meaningless and set to 0.
func Delayed(dir Direction, peer netip.Addr, mean, jitter time.Duration, seed uint64) Rule {
	if jitter == 0 {
		seed = 0
	}
	return Rule{Dir: dir, Peer: peer, Delay: Delay{Mean: mean, Jitter: jitter, Seed: seed}}
}

// IsDelay reports whether r is a delay rule (rather than a drop or loss
// rule).
func (r Rule) IsDelay() bool { return !r.Delay.IsZero() }

// Validate reports a Rule that netctl cannot install.
func (r Rule) Validate() error {
	if r.IsDelay() {
		if r.Percent != 0 {
			return fmt.Errorf("netrule: a rule either drops (percent %d) or delays (%v), not both: use two rules", r.Percent, r.Delay)
		}
		if err := r.Delay.Validate(); err != nil {
			return err
		}
	} else if r.Percent < 1 || r.Percent > 100 {
		return fmt.Errorf("netrule: percent %d out of range: use 1..100", r.Percent)
	}
	if r.Dir != Inbound && r.Dir != Outbound {
		return fmt.Errorf("netrule: unknown direction %d", r.Dir)
	}
	if !r.Peer.IsValid() && r.Dir != Inbound {
		return errors.New("netrule: a rule for every peer must be inbound (give a peer for an outbound rule)")
	}
	if r.Peer.IsValid() && r.Peer.Zone() != "" {
		return fmt.Errorf("netrule: peer %s: zoned addresses are not supported", r.Peer)
	}
	if r.Peer.Is4In6() {
		return fmt.Errorf("netrule: peer %s: give the IPv4 address %s", r.Peer, r.Peer.Unmap())
	}
	if !ValidTag(r.Tag) {
		return fmt.Errorf("netrule: tag %q: use a lower-case word (letters, digits, dashes; at most 32 bytes)", r.Tag)
	}
	return nil
}

// String is the rule's list form, e.g. "drop from 172.18.0.3",
// "loss 20% to 172.18.0.3", "loss 5% inbound",
// "delay 50ms±10ms seed 7 from 172.18.0.3". Parse reads it back.
func (r Rule) String() string {
	var b strings.Builder
	switch {
	case r.IsDelay():
		b.WriteString("delay " + r.Delay.String())
		if r.Delay.Jitter != 0 {
			b.WriteString(" seed " + strconv.FormatUint(r.Delay.Seed, 10))
		}
	case r.Percent == 100:
		b.WriteString("drop")
	default:
		b.WriteString("loss " + strconv.Itoa(r.Percent) + "%")
	}
	if r.Peer.IsValid() {
		b.WriteString(" " + r.Dir.String() + " " + r.Peer.String())
	} else {
		b.WriteString(" inbound")
	}
	if r.Tag != "" {
		b.WriteString(" tag " + r.Tag)
	}
	return b.String()
}

// Parse reads one rule in its list form (see String). Surrounding
// whitespace is ignored; anything else that String would not print is an
// error saying what was expected.
func Parse(line string) (Rule, error) {
	fields := strings.Fields(line)
	bad := func(format string, args ...any) (Rule, error) {
		return Rule{}, fmt.Errorf("netrule: rule %q: %s (want \"drop from|to IP\", \"loss N%% from|to IP|inbound\" or \"delay Nms[±Jms seed S] from|to IP|inbound\", each optionally followed by \"tag T\")",
			strings.TrimSpace(line), fmt.Sprintf(format, args...))
	}
	if len(fields) == 0 {
		return bad("empty")
	}
	var r Rule
	rest := fields[1:]
	switch fields[0] {
	case "drop":
		r.Percent = 100
	case "loss":
		if len(rest) == 0 {
			return bad("no percentage after loss")
		}
		p, ok := strings.CutSuffix(rest[0], "%")
		n, err := strconv.Atoi(p)
		if !ok || err != nil || p != strconv.Itoa(n) {
			return bad("percentage %q is not a whole number followed by %%", rest[0])
		}
		if n < 1 || n > 99 {
			return bad("loss percentage %d out of range 1..99 (100%% is written drop)", n)
		}
		r.Percent, rest = n, rest[1:]
	case "delay":
		if len(rest) == 0 {
			return bad("no duration after delay")
		}
		d, err := parseDelay(rest[0])
		if err != nil {
			return bad("%v", err)
		}
		rest = rest[1:]
		if d.Jitter != 0 {
			if len(rest) < 2 || rest[0] != "seed" {
				return bad("a jittered delay needs its seed: \"delay %v seed S\"", d)
			}
			seed, err := strconv.ParseUint(rest[1], 10, 64)
			if err != nil || rest[1] != strconv.FormatUint(seed, 10) {
				return bad("seed %q is not a whole number 0..2^64-1", rest[1])
			}
			d.Seed, rest = seed, rest[2:]
		}
		if err := d.Validate(); err != nil {
			return bad("%v", strings.TrimPrefix(err.Error(), "netrule: "))
		}
		r.Delay = d
	default:
		return bad("unknown action %q", fields[0])
	}
	if n := len(rest); n >= 2 && rest[n-2] == "tag" {
		if !ValidTag(rest[n-1]) {
			return bad("tag %q is not a lower-case word (letters, digits, dashes)", rest[n-1])
		}
		r.Tag, rest = rest[n-1], rest[:n-2]
	}
	switch {
	case len(rest) == 1 && rest[0] == "inbound":
		return r, nil
	case len(rest) == 2 && (rest[0] == "from" || rest[0] == "to"):
		if rest[0] == "to" {
			r.Dir = Outbound
		}
		a, err := netip.ParseAddr(rest[1])
		if err != nil {
			return bad("bad IP address %q", rest[1])
		}
		r.Peer = a
		if err := r.Validate(); err != nil {
			return bad("%v", strings.TrimPrefix(err.Error(), "netrule: "))
		}
		return r, nil
	}
	return bad("expected \"from IP\", \"to IP\" or \"inbound\" after %q", strings.Join(fields[:len(fields)-len(rest)], " "))
}

// parseDelay reads a delay's list form, "50ms" or "50ms±10ms" ("+-" for
// "±" is accepted too), without its seed.
func parseDelay(s string) (Delay, error) {
	mean, jitter, hasJitter := strings.Cut(s, "±")
	if !hasJitter {
		mean, jitter, hasJitter = strings.Cut(s, "+-")
	}
	ms := func(s string) (time.Duration, error) {
		n, ok := strings.CutSuffix(s, "ms")
		v, err := strconv.Atoi(n)
		if !ok || err != nil || n != strconv.Itoa(v) {
			return 0, fmt.Errorf("duration %q is not a whole number of milliseconds followed by ms", s)
		}
		return time.Duration(v) * time.Millisecond, nil
	}
	var d Delay
	var err error
	if d.Mean, err = ms(mean); err != nil {
		return Delay{}, err
	}
	if hasJitter {
		if d.Jitter, err = ms(jitter); err != nil {
			return Delay{}, err
		}
	}
	return d, nil
}

// ParseList reads the output of `netctl list`: one rule per
// line, blank lines ignored. A line that is not a rule (e.g. a rule
// someone else put in netctl's table) is an error naming its line.
func ParseList(text string) ([]Rule, error) {
	var rules []Rule
	var errs []error
	for i, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		r, err := Parse(line)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", i+1, err))
			continue
		}
		rules = append(rules, r)
	}
	return rules, errors.Join(errs...)
}

// Args returns the netctl command line that installs rules, which must
// share direction, percentage, delay and tag (netctl takes one direction
// and one action per call): "drop --from IP,IP", "drop --to IP",
// "loss --percent N --from IP", "loss --percent N",
// "delay --ms N --jitter-ms J --seed S --to IP". ParseArgs reads it back.
func Args(rules ...Rule) ([]string, error) {
	if len(rules) == 0 {
		return nil, errors.New("netrule: no rules to install")
	}
	first := rules[0]
	peers := make([]string, 0, len(rules))
	for _, r := range rules {
		if err := r.Validate(); err != nil {
			return nil, err
		}
		if r.Dir != first.Dir || r.Percent != first.Percent || r.Delay != first.Delay || r.Tag != first.Tag || r.Peer.IsValid() != first.Peer.IsValid() {
			return nil, fmt.Errorf("netrule: %q and %q need separate netctl calls (one direction and action per call)", first, r)
		}
		if r.Peer.IsValid() {
			peers = append(peers, r.Peer.String())
		}
	}
	if !first.Peer.IsValid() && len(rules) > 1 {
		return nil, fmt.Errorf("netrule: %q given %d times", first, len(rules))
	}
	var args []string
	switch {
	case first.IsDelay():
		d := first.Delay
		args = []string{"delay", "--ms", strconv.FormatInt(d.Mean.Milliseconds(), 10)}
		if d.Jitter != 0 {
			args = append(args, "--jitter-ms", strconv.FormatInt(d.Jitter.Milliseconds(), 10), "--seed", strconv.FormatUint(d.Seed, 10))
		}
	case first.Percent == 100 && first.Peer.IsValid():
		args = []string{"drop"}
	default:
		args = []string{"loss", "--percent", strconv.Itoa(first.Percent)}
	}
	if first.Peer.IsValid() {
		args = append(args, "--"+first.Dir.String(), strings.Join(peers, ","))
	}
	if first.Tag != "" {
		args = append(args, "--tag", first.Tag)
	}
	return args, nil
}

// HealArgs returns the netctl command line that removes the rules tagged
// tag, or every rule when tag is "": "heal --tag T" or "heal".
// ParseHealArgs reads it back.
func HealArgs(tag string) []string {
	if tag == "" {
		return []string{"heal"}
	}
	return []string{"heal", "--tag", tag}
}

// ParseHealArgs reads a netctl heal command line (see HealArgs), the
// command word included, and returns its tag ("" for every rule). Every
// error is an *ArgsError.
func ParseHealArgs(args []string) (string, error) {
	if len(args) == 0 || args[0] != "heal" {
		return "", &ArgsError{Msg: fmt.Sprintf("not a heal command: %q", args)}
	}
	fs := flag.NewFlagSet("netctl heal", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	tag := fs.String("tag", "", "remove only the rules with this tag")
	if err := fs.Parse(args[1:]); err != nil {
		return "", &ArgsError{Msg: err.Error()}
	}
	if fs.NArg() != 0 {
		return "", &ArgsError{Msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "tag" })
	if given && *tag == "" {
		return "", &ArgsError{Msg: "--tag needs a tag (heal without --tag removes every rule)"}
	}
	if !ValidTag(*tag) {
		return "", &ArgsError{Msg: fmt.Sprintf("--tag %q: use a lower-case word (letters, digits, dashes; at most 32 bytes)", *tag)}
	}
	return *tag, nil
}

// ArgsError is a netctl command line that ParseArgs rejects: a usage
// mistake (netctl exits 2 and prints its usage).
type ArgsError struct{ Msg string }

func (e *ArgsError) Error() string { return e.Msg }

// ParseArgs reads a netctl fault command line (see Args), the command word
// included: ["drop", "--from", "10.0.0.1,10.0.0.2"] gives one inbound drop
// rule per address. Every error is an *ArgsError.
func ParseArgs(args []string) ([]Rule, error) {
	usage := func(format string, a ...any) ([]Rule, error) {
		return nil, &ArgsError{Msg: fmt.Sprintf(format, a...)}
	}
	if len(args) == 0 {
		return usage("no command given")
	}
	cmd := args[0]
	if cmd != "drop" && cmd != "loss" && cmd != "delay" {
		return usage("unknown fault command %q (want drop, loss or delay)", cmd)
	}
	fs := flag.NewFlagSet("netctl "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	from := fs.String("from", "", "peers whose inbound packets are matched")
	to := fs.String("to", "", "peers whose outbound packets are matched")
	tag := fs.String("tag", "", "the fault that installs the rules")
	var (
		percent            int
		ms, jitterMS       int
		seed               uint64
		seedGiven, msGiven bool
	)
	switch cmd {
	case "drop":
		percent = 100
	case "loss":
		fs.IntVar(&percent, "percent", 0, "share of packets to drop (1..100)")
	case "delay":
		fs.IntVar(&ms, "ms", 0, "mean delay in milliseconds")
		fs.IntVar(&jitterMS, "jitter-ms", 0, "jitter in milliseconds (0..ms)")
		fs.Uint64Var(&seed, "seed", 0, "seed of the jitter's PRNG")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return usage("%v", err)
	}
	fs.Visit(func(f *flag.Flag) {
		seedGiven = seedGiven || f.Name == "seed"
		msGiven = msGiven || f.Name == "ms"
	})
	if fs.NArg() != 0 {
		return usage("unexpected argument %q", fs.Arg(0))
	}
	if *from != "" && *to != "" {
		return usage("give --from or --to, not both (run netctl twice)")
	}
	if !ValidTag(*tag) {
		return usage("--tag %q: use a lower-case word (letters, digits, dashes; at most 32 bytes)", *tag)
	}
	tmpl := Rule{Percent: percent} // the rule, but for direction and peer
	switch cmd {
	case "drop":
		if *from == "" && *to == "" {
			return usage("drop needs --from IP[,IP] or --to IP[,IP]")
		}
	case "loss":
		if percent < 1 || percent > 100 {
			return usage("loss needs --percent N with N in 1..100")
		}
	case "delay":
		if max := int(MaxDelay / time.Millisecond); !msGiven || ms < 1 || ms > max {
			return usage("delay needs --ms N with N in 1..%d", max)
		}
		if jitterMS < 0 || jitterMS > ms {
			return usage("--jitter-ms %d out of range: use 0..%d (the mean, --ms)", jitterMS, ms)
		}
		if jitterMS > 0 && !seedGiven {
			return usage("--jitter-ms needs --seed S: the jitter is drawn from a PRNG seeded with S")
		}
		tmpl = Delayed(Inbound, netip.Addr{}, time.Duration(ms)*time.Millisecond, time.Duration(jitterMS)*time.Millisecond, seed)
	}
	dir, list := Inbound, *from
	if *to != "" {
		dir, list = Outbound, *to
	}
	tmpl.Tag = *tag
	if list == "" { // loss or delay on all inbound traffic
		return []Rule{tmpl}, nil
	}
	ips, err := parseIPs(list)
	if err != nil {
		return usage("%v", err)
	}
	rules := make([]Rule, 0, len(ips))
	for _, ip := range ips {
		r := tmpl
		r.Dir, r.Peer = dir, ip
		rules = append(rules, r)
	}
	return rules, nil
}

// parseIPs parses a comma-separated list of IP addresses (IPv4-mapped IPv6
// addresses become IPv4), without duplicates.
func parseIPs(list string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("bad IP address %q: give IPv4/IPv6 addresses (no zone) separated by commas", f)
		}
		a = a.Unmap()
		for _, o := range out {
			if o == a {
				return nil, fmt.Errorf("IP address %s given twice", a)
			}
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, errors.New("no IP address given")
	}
	return out, nil
}

// Missing returns the rules of want that are not in have, in want's order.
func Missing(want, have []Rule) []Rule {
	var out []Rule
	for _, w := range want {
		found := false
		for _, h := range have {
			if h == w {
				found = true
				break
			}
		}
		if !found {
			out = append(out, w)
		}
	}
	return out
}
