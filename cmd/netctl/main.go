// Command netctl injects network faults into the network namespace it runs
// in, through nftables (github.com/google/nftables; no nft binary needed). It
// is shipped in the faultline node image and run by the nemeses with
// `docker exec` as root in a container that has CAP_NET_ADMIN.
//
// All rules live in the inet table "faultline", so `netctl heal` simply
// deletes that table (after stopping the delayers) and never disturbs
// Docker's own rules. A fault command's --tag T is kept in each rule's
// comment, and `netctl heal --tag T` removes only those rules (and stops
// the delayers only they fed): one fault's stop leaves another's rules.
//
//	netctl drop --from IP[,IP]              drop inbound packets from those peers
//	netctl drop --to IP[,IP]                drop outbound packets to them (one-way)
//	netctl loss --percent N [--from IP[,IP] | --to IP[,IP]]
//	                                        drop N% of the packets at random
//	netctl delay --ms N [--jitter-ms J --seed S] [--from IP[,IP] | --to IP[,IP]]
//	                                        hold every packet N ms ± J ms
//	netctl heal [--tag T]                   release held packets, remove every rule
//	                                        (or only the rules tagged T)
//	netctl list                             print the rules, one per line
//	netctl rtt --to IP --port P [--count N] [--timeout-ms T]
//	                                        measure the round trip to a peer
//
// The command lines, the list output and rtt's output line are netctl's
// rule format, defined (written and parsed) by package nemesis/netrule,
// which the nemesis uses to run netctl and to read its output back.
//
// The kernel here has no netem, so delay is done in userspace: each
// `netctl delay` call picks a free nfnetlink queue number (from 1000 up),
// starts a delayer for it (netctl re-executes itself as `netctl delayer`,
// detached in a session of its own, logging to $TMPDIR/netctl-delay-Q.log;
// see package cmd/netctl/internal/delayer), waits until the delayer has
// bound the queue, and only then adds rules that queue the peers' packets
// to it, with the bypass flag (while no delayer listens, packets pass
// undelayed; a dead delayer never cuts a link). So one delayer serves one
// call: several delay calls (other peers, other delays) run several
// delayers side by side. heal first deletes the delay rules, then stops
// every delayer of the namespace (each accepts every packet it holds at
// once, waits until its kernel queue is empty, and exits), then deletes
// the table. list shows a delay rule only while its delayer is bound, and
// reports a delayer without rules as a line netrule refuses. A delayer
// holds at most 16384 packets; beyond that, or when it falls behind, the
// kernel lets packets through undelayed rather than drop them. Two netctl
// delay calls racing in one namespace may pick the same queue: the second
// fails (exit 1) and can be retried.
//
// The delay rules queue packets with the xtables NFQUEUE target through
// nft_compat, since kernels without CONFIG_NFT_QUEUE (like this project's)
// refuse nftables' own queue expression; `nft list ruleset` therefore
// calls the table "managed by iptables-nft". When netctl delay exits, its
// delayer is adopted by the namespace's init (the container's PID 1); one
// that reaps no children (a node server) keeps each exited delayer as a
// zombie until the container stops, which `docker run --init` avoids.
//
// Exit codes: 0 success, 2 bad usage, 1 the operation failed.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"

	"github.com/faultline/faultline/cmd/netctl/internal/delayer"
	"github.com/faultline/faultline/nemesis/netrule"
)

const usageText = `usage:
  netctl drop --from IP[,IP]    drop inbound packets from those peers
  netctl drop --to IP[,IP]      drop outbound packets to those peers (one-way)
  netctl loss --percent N [--from IP[,IP] | --to IP[,IP]]
                                drop N% (1..100) of the packets at random;
                                without --from/--to: all inbound traffic but loopback
  netctl delay --ms N [--jitter-ms J --seed S] [--from IP[,IP] | --to IP[,IP]]
                                hold every packet N ms (1..10000) ± J ms (0..N,
                                drawn by a PRNG seeded with S; --seed is required
                                with --jitter-ms); without --from/--to: all
                                inbound traffic but loopback; returns once the
                                delay is in effect
  netctl heal [--tag T]         release every held packet, stop the delayers and
                                remove every netctl rule (table inet faultline);
                                with --tag, only the rules tagged T (a fault
                                command's --tag) and the delayers they feed
  netctl list                   print the rules in place, one per line
  netctl rtt --to IP --port P [--count N] [--timeout-ms T]
                                time N (default 5) TCP connects to the peer, each
                                up to T ms (default 5000); a refused connect
                                counts too; prints
                                "rtt IP:P count N lost L min D median D max D"

exit codes: 0 ok, 1 operation failed, 2 bad usage
`

// usageError is a command-line mistake: exit code 2 with the usage text.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one netctl command and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), unix.SIGTERM, unix.SIGINT, unix.SIGHUP)
	defer stop()
	err := dispatch(ctx, args, stdout)
	if err == nil {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "netctl: %s\n\n%s", ue.msg, usageText)
		return 2
	}
	fmt.Fprintf(stderr, "netctl: %s\n", explain(err))
	return 1
}

// dispatch parses args and runs the command.
func dispatch(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError{"no command given"}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usageText)
		return nil
	case "drop", "loss", "delay":
		rules, err := netrule.ParseArgs(args)
		if err != nil {
			return usageError{err.Error()}
		}
		if cmd == "delay" {
			return delay(ctx, rules)
		}
		return apply(rules, 0)
	case "rtt":
		p, err := netrule.ParseProbeArgs(args)
		if err != nil {
			return usageError{err.Error()}
		}
		return rtt(ctx, p, stdout)
	case "delayer":
		cfg, err := parseDelayerArgs(rest)
		if err != nil {
			return usageError{err.Error()}
		}
		return serveDelayer(ctx, cfg)
	case "heal":
		tag, err := netrule.ParseHealArgs(args)
		if err != nil {
			return usageError{err.Error()}
		}
		if tag != "" {
			return healTag(ctx, tag, stdout)
		}
		return heal(ctx, stdout)
	case "list":
		if len(rest) != 0 {
			return usageError{cmd + " takes no arguments"}
		}
		return list(stdout)
	}
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}

// apply adds the rules (creating the table and chains when missing) in one
// netlink batch: either all of them are in place afterwards or none. Delay
// rules send their packets to nfnetlink queue queue.
func apply(rules []netrule.Rule, queue uint16) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("open netlink: %w", err)
	}
	t := c.AddTable(ourTable())
	added := map[string]*nftables.Chain{}
	for _, r := range rules {
		name := chainFor(r)
		ch, ok := added[name]
		if !ok {
			ch = c.AddChain(ourChain(t, name))
			added[name] = ch
		}
		ex, err := RuleExprs(r, queue)
		if err != nil {
			return err
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: ex, UserData: Comment(r)})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("add rules: %w", err)
	}
	return nil
}

// heal deletes the delay rules, stops every delayer (each releases what it
// holds), then deletes our table; a missing table is success.
func heal(ctx context.Context, stdout io.Writer) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("open netlink: %w", err)
	}
	if err := flushDelayChains(c); err != nil {
		return err
	}
	queues, err := delayer.Running()
	if err != nil {
		return err
	}
	if err := stopDelayers(ctx, queues, stdout); err != nil {
		return err
	}
	c.DelTable(ourTable())
	if err := c.Flush(); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("delete table inet %s: %w", TableName, err)
	}
	return nil
}

// healTag deletes the rules tagged tag (their comment's netrule.Rule.Tag),
// then stops the delayers whose queues only those rules fed (each releases
// what it holds); other rules and delayers stay. No such rule is success.
func healTag(ctx context.Context, tag string, stdout io.Writer) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("open netlink: %w", err)
	}
	rules, err := ourRules(c)
	if err != nil {
		return err
	}
	tagged, other := map[uint16]bool{}, map[uint16]bool{}
	n := 0
	for _, r := range rules {
		s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
		nr, err := netrule.Parse(s)
		q, isQueue := queueOf(r)
		switch {
		case err == nil && nr.Tag == tag:
			if err := c.DelRule(r); err != nil {
				return fmt.Errorf("delete rule %q: %w", nr, err)
			}
			n++
			if isQueue {
				tagged[q] = true
			}
		case isQueue:
			other[q] = true // a rule of another fault still feeds it
		}
	}
	if n == 0 {
		return nil
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete the rules tagged %s: %w", tag, err)
	}
	queues := slices.DeleteFunc(slices.Sorted(maps.Keys(tagged)), func(q uint16) bool { return other[q] })
	return stopDelayers(ctx, queues, stdout)
}

// flushDelayChains deletes every delay rule but leaves the chains: deleting
// a chain unhooks it, and the kernel then drops every packet still queued.
func flushDelayChains(c *nftables.Conn) error {
	chs, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return fmt.Errorf("list chains: %w", err)
	}
	n := 0
	for _, ch := range chs {
		if ch.Table.Name == TableName && (ch.Name == chainDelayInput || ch.Name == chainDelayOutput) {
			c.FlushChain(ch)
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete the delay rules: %w", err)
	}
	return nil
}

// stopTimeout bounds stopping one delayer.
const stopTimeout = 10 * time.Second

// stopDelayers stops the delayers of queues, one after another, and
// prints a line for each.
func stopDelayers(ctx context.Context, queues []uint16, stdout io.Writer) error {
	var errs []error
	for _, q := range queues {
		sctx, cancel := context.WithTimeout(ctx, stopTimeout)
		st, err := delayer.Stop(sctx, q)
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(stdout, "delayer of queue %d stopped: %s\n", q, st)
	}
	return errors.Join(errs...)
}

// list prints our rules in netrule's list form, one per line; nothing
// when there are none. A delay rule whose delayer is not bound, and a
// delayer or a bound queue (from firstQueue up) without a rule, are
// printed as lines netrule refuses.
func list(w io.Writer) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("open netlink: %w", err)
	}
	bound, err := delayer.BoundQueues()
	if err != nil {
		return err
	}
	running, err := delayer.Running()
	if err != nil {
		return err
	}
	rules, err := ourRules(c)
	if err != nil {
		return err
	}
	var lines []string
	used := map[uint16]bool{}
	for _, r := range rules {
		lines = append(lines, describeRule(r, bound))
		if q, ok := queueOf(r); ok {
			used[q] = true
		}
	}
	// Delayers and bound queues of ours that no rule uses: left behind.
	orphans := slices.Clone(running)
	for q := range bound {
		if q >= firstQueue && !slices.Contains(orphans, q) {
			orphans = append(orphans, q)
		}
	}
	slices.Sort(orphans)
	for _, q := range orphans {
		if !used[q] {
			lines = append(lines, fmt.Sprintf("delayer of queue %d: no rule sends packets to it (run netctl heal)", q))
		}
	}
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	return nil
}

// ourRules reads every rule of our table, chain by chain (chains order);
// none when the table is missing.
func ourRules(c *nftables.Conn) ([]*nftables.Rule, error) {
	t := ourTable()
	if _, err := c.ListTableOfFamily(TableName, nftables.TableFamilyINet); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, nil
		}
		return nil, fmt.Errorf("read table inet %s: %w", TableName, err)
	}
	var out []*nftables.Rule
	for _, name := range chains {
		rules, err := c.GetRules(t, &nftables.Chain{Name: name, Table: t})
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return nil, fmt.Errorf("read chain %s: %w", name, err)
		}
		out = append(out, rules...)
	}
	return out, nil
}

// describeRule is the list form of one rule: the netrule its comment
// holds, or a note that someone else put it there, or that its delayer is
// gone (which netrule.ParseList reports as an error naming the line).
// bound holds the nfnetlink queues that have a listener.
func describeRule(r *nftables.Rule, bound map[uint16]int) string {
	s, ok := userdata.GetString(r.UserData, userdata.TypeComment)
	nr, err := netrule.Parse(s)
	if !ok || err != nil {
		return fmt.Sprintf("%s: rule handle %d (not created by netctl)", r.Chain.Name, r.Handle)
	}
	if q, isQueue := queueOf(r); isQueue {
		if _, ok := bound[q]; !ok {
			return fmt.Sprintf("%s: rule handle %d (%s): no delayer serves its queue %d, its packets pass undelayed (run netctl heal)", r.Chain.Name, r.Handle, nr, q)
		}
	}
	return nr.String()
}

// explain adds what to do to the errors a person is likely to hit. A
// delayer's errors reach netctl delay as text, so the text is matched too.
func explain(err error) string {
	msg := err.Error()
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, os.ErrPermission),
		strings.Contains(msg, "operation not permitted"):
		return msg + "\nneeds CAP_NET_ADMIN: run netctl as root (docker exec --user 0) in a container started with --cap-add NET_ADMIN"
	case errors.Is(err, unix.EPROTONOSUPPORT), errors.Is(err, unix.EAFNOSUPPORT),
		strings.Contains(msg, "protocol not supported"):
		return msg + "\nthe kernel has no nftables or nfnetlink_queue support: load nf_tables and nfnetlink_queue (modprobe) on the Docker host"
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.EOPNOTSUPP):
		return msg + "\nthe kernel lacks an nftables expression netctl needs (nft_numgen, nft_meta, nft_payload; for delay nft_compat with xt_NFQUEUE): load it on the Docker host"
	}
	return msg
}
