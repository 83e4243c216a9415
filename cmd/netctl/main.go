// Command netctl injects network faults into the network namespace it runs
// in, through nftables (github.com/google/nftables; no nft binary needed). It
// is shipped in the faultline node image and run by the nemeses with
// `docker exec` as root in a container that has CAP_NET_ADMIN.
//
// All rules live in the inet table "faultline", so `netctl heal` simply
// deletes that table and never disturbs Docker's own rules.
//
//	netctl drop --from IP[,IP]              drop inbound packets from those peers
//	netctl drop --to IP[,IP]                drop outbound packets to them (one-way)
//	netctl loss --percent N [--from IP[,IP] | --to IP[,IP]]
//	                                        drop N% of the packets at random
//	netctl heal                             remove every netctl rule
//	netctl list                             print the rules, one per line
//
// The command lines and the list output are netctl's rule format, defined
// (written and parsed) by package nemesis/netrule, which the nemesis uses
// to run netctl and to read its list back.
//
// Exit codes: 0 success, 2 bad usage, 1 the operation failed.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/faultline/faultline/nemesis/netrule"
	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

const usageText = `usage:
  netctl drop --from IP[,IP]    drop inbound packets from those peers
  netctl drop --to IP[,IP]      drop outbound packets to those peers (one-way)
  netctl loss --percent N [--from IP[,IP] | --to IP[,IP]]
                                drop N% (1..100) of the packets at random;
                                without --from/--to: all inbound traffic but loopback
  netctl heal                   remove every netctl rule (table inet faultline)
  netctl list                   print the rules in place, one per line

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
	err := dispatch(args, stdout)
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
func dispatch(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError{"no command given"}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usageText)
		return nil
	case "drop", "loss":
		rules, err := netrule.ParseArgs(args)
		if err != nil {
			return usageError{err.Error()}
		}
		return apply(rules)
	case "heal", "list":
		if len(rest) != 0 {
			return usageError{cmd + " takes no arguments"}
		}
		if cmd == "heal" {
			return heal()
		}
		return list(stdout)
	}
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}

// apply adds the rules (creating the table and chains when missing) in one
// netlink batch: either all of them are in place afterwards or none.
func apply(rules []netrule.Rule) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("open netlink: %w", err)
	}
	t := c.AddTable(ourTable())
	chains := map[string]*nftables.Chain{}
	for _, r := range rules {
		name := chainFor(r.Dir)
		ch, ok := chains[name]
		if !ok {
			ch = c.AddChain(ourChain(t, name))
			chains[name] = ch
		}
		ex, err := RuleExprs(r)
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

// heal deletes our table; a missing table is success.
func heal() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("open netlink: %w", err)
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

// list prints our rules in netrule's list form, one per line; nothing
// when there are none.
func list(w io.Writer) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("open netlink: %w", err)
	}
	t := ourTable()
	if _, err := c.ListTableOfFamily(TableName, nftables.TableFamilyINet); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("read table inet %s: %w", TableName, err)
	}
	var lines []string
	for _, name := range []string{chainInput, chainOutput} {
		rules, err := c.GetRules(t, &nftables.Chain{Name: name, Table: t})
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("read chain %s: %w", name, err)
		}
		for _, r := range rules {
			lines = append(lines, describeRule(name, r))
		}
	}
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	return nil
}

// describeRule is the list form of one rule: the netrule its comment
// holds, or a note that someone else put it there (which netrule.ParseList
// reports as an error naming the line).
func describeRule(chain string, r *nftables.Rule) string {
	if s, ok := userdata.GetString(r.UserData, userdata.TypeComment); ok {
		if nr, err := netrule.Parse(s); err == nil {
			return nr.String()
		}
	}
	return fmt.Sprintf("%s: rule handle %d (not created by netctl)", chain, r.Handle)
}

// explain adds what to do to the errors a person is likely to hit.
func explain(err error) string {
	msg := err.Error()
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, os.ErrPermission):
		return msg + "\nneeds CAP_NET_ADMIN: run netctl as root (docker exec --user 0) in a container started with --cap-add NET_ADMIN"
	case errors.Is(err, unix.EPROTONOSUPPORT), errors.Is(err, unix.EAFNOSUPPORT),
		strings.Contains(msg, "protocol not supported"):
		return msg + "\nthe kernel has no nftables support: load nf_tables (modprobe nf_tables) on the Docker host"
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.EOPNOTSUPP):
		return msg + "\nthe kernel lacks an nftables expression netctl needs (nft_numgen, nft_meta, nft_payload): load it on the Docker host"
	}
	return msg
}
