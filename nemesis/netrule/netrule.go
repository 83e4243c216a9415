// Package netrule is netctl's rule format, the contract between the
// nemesis and the netctl binary that runs inside each node's container.
//
// A Rule is typed: the direction the dropped packets travel (from a peer
// into this node, or from this node to a peer: a one-way cut), the peer's
// address, and the share of matching packets dropped (100 drops them all,
// 1..99 is random packet loss). A rule has two text forms, both written and
// read here:
//
//   - the list form, one rule per line, which `netctl list` prints and the
//     nemesis parses to confirm a fault is in effect (String, Parse,
//     FormatList, ParseList):
//
//     drop from 172.18.0.3
//     drop to 172.18.0.3
//     loss 20% from 172.18.0.3
//     loss 20% to 172.18.0.3
//     loss 20% inbound          (every peer: all inbound traffic but loopback)
//     drop inbound              (the same, every packet)
//
//   - the command-line form, which the nemesis runs and netctl parses
//     (Args, ParseArgs):
//
//     drop --from IP[,IP] | drop --to IP[,IP]
//     loss --percent N [--from IP[,IP] | --to IP[,IP]]
//
// Rules are comparable values: a fault is confirmed by comparing the rules
// netctl lists with the rules that were asked for, never by matching text.
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

// Rule is one netctl rule: drop Percent% of the packets travelling in
// direction Dir between this node and Peer.
type Rule struct {
	Dir Direction
	// Peer is the other end. The zero Addr means every peer (all inbound
	// traffic except loopback); such a rule is always Inbound.
	Peer netip.Addr
	// Percent is the share of matching packets dropped: 100 drops all of
	// them, 1..99 drops that share at random.
	Percent int
}

// Drop returns the rule that drops every packet from (Inbound) or to
// (Outbound) peer.
func Drop(dir Direction, peer netip.Addr) Rule { return Rule{Dir: dir, Peer: peer, Percent: 100} }

// Loss returns the rule that drops percent% of the packets from (Inbound)
// or to (Outbound) peer.
func Loss(dir Direction, peer netip.Addr, percent int) Rule {
	return Rule{Dir: dir, Peer: peer, Percent: percent}
}

// Validate reports a Rule that netctl cannot install.
func (r Rule) Validate() error {
	if r.Percent < 1 || r.Percent > 100 {
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
	return nil
}

// String is the rule's list form, e.g. "drop from 172.18.0.3",
// "loss 20% to 172.18.0.3", "loss 5% inbound". Parse reads it back.
func (r Rule) String() string {
	var b strings.Builder
	if r.Percent == 100 {
		b.WriteString("drop")
	} else {
		b.WriteString("loss " + strconv.Itoa(r.Percent) + "%")
	}
	if r.Peer.IsValid() {
		b.WriteString(" " + r.Dir.String() + " " + r.Peer.String())
	} else {
		b.WriteString(" inbound")
	}
	return b.String()
}

// Parse reads one rule in its list form (see String). Surrounding
// whitespace is ignored; anything else that String would not print is an
// error saying what was expected.
func Parse(line string) (Rule, error) {
	fields := strings.Fields(line)
	bad := func(format string, args ...any) (Rule, error) {
		return Rule{}, fmt.Errorf("netrule: rule %q: %s (want \"drop from|to IP\", \"loss N%% from|to IP\" or \"loss N%% inbound\")",
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
	default:
		return bad("unknown action %q", fields[0])
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

// FormatList is the list form of rules: one rule per line, each ending in
// a newline; "" for none.
func FormatList(rules []Rule) string {
	var b strings.Builder
	for _, r := range rules {
		b.WriteString(r.String() + "\n")
	}
	return b.String()
}

// ParseList reads the output of `netctl list` (FormatList): one rule per
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
// share direction and percentage (netctl takes one direction and one
// percentage per call): "drop --from IP,IP", "drop --to IP",
// "loss --percent N --from IP", "loss --percent N". ParseArgs reads it back.
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
		if r.Dir != first.Dir || r.Percent != first.Percent || r.Peer.IsValid() != first.Peer.IsValid() {
			return nil, fmt.Errorf("netrule: %q and %q need separate netctl calls (one direction and percentage per call)", first, r)
		}
		if r.Peer.IsValid() {
			peers = append(peers, r.Peer.String())
		}
	}
	if !first.Peer.IsValid() {
		if len(rules) > 1 {
			return nil, fmt.Errorf("netrule: %q given %d times", first, len(rules))
		}
		return []string{"loss", "--percent", strconv.Itoa(first.Percent)}, nil
	}
	peerArgs := []string{"--" + first.Dir.String(), strings.Join(peers, ",")}
	if first.Percent == 100 {
		return append([]string{"drop"}, peerArgs...), nil
	}
	return append([]string{"loss", "--percent", strconv.Itoa(first.Percent)}, peerArgs...), nil
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
	if cmd != "drop" && cmd != "loss" {
		return usage("unknown fault command %q (want drop or loss)", cmd)
	}
	fs := flag.NewFlagSet("netctl "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	from := fs.String("from", "", "peers whose inbound packets are dropped")
	to := fs.String("to", "", "peers whose outbound packets are dropped")
	percent := 100
	if cmd == "loss" {
		fs.IntVar(&percent, "percent", 0, "share of packets to drop (1..100)")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return usage("%v", err)
	}
	if fs.NArg() != 0 {
		return usage("unexpected argument %q", fs.Arg(0))
	}
	if *from != "" && *to != "" {
		return usage("give --from or --to, not both (run netctl twice)")
	}
	if cmd == "loss" && (percent < 1 || percent > 100) {
		return usage("loss needs --percent N with N in 1..100")
	}
	if cmd == "drop" && *from == "" && *to == "" {
		return usage("drop needs --from IP[,IP] or --to IP[,IP]")
	}
	dir, list := Inbound, *from
	if *to != "" {
		dir, list = Outbound, *to
	}
	if list == "" { // loss on all inbound traffic
		return []Rule{{Dir: Inbound, Percent: percent}}, nil
	}
	ips, err := parseIPs(list)
	if err != nil {
		return usage("%v", err)
	}
	rules := make([]Rule, 0, len(ips))
	for _, ip := range ips {
		rules = append(rules, Rule{Dir: dir, Peer: ip, Percent: percent})
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
