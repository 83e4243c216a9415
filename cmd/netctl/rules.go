package main

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// TableName is the nftables table (family inet) that holds every netctl
// rule. netctl never touches any other table, so heal is "delete this table".
const TableName = "faultline"

// Chain names inside TableName.
const (
	chainInput  = "input"
	chainOutput = "output"
)

// Direction says which way the matched packets travel, seen from this node.
type Direction int

// Directions.
const (
	// Inbound matches packets arriving from a peer (chain input, ip saddr).
	Inbound Direction = iota
	// Outbound matches packets leaving for a peer (chain output, ip daddr).
	Outbound
)

// Spec is one netctl rule: drop (a share of) the packets between this node
// and Peer in direction Dir.
type Spec struct {
	Dir Direction
	// Peer is the other end; the zero Addr means "every peer" (all traffic
	// except loopback), used by loss without --from/--to.
	Peer netip.Addr
	// Percent is the share of matching packets dropped: 100 drops all of
	// them, 1..99 drops that share at random (nftables numgen random).
	Percent int
}

// Validate reports a Spec that cannot become a rule.
func (s Spec) Validate() error {
	if s.Percent < 1 || s.Percent > 100 {
		return fmt.Errorf("percent %d out of range: use 1..100", s.Percent)
	}
	if s.Dir != Inbound && s.Dir != Outbound {
		return fmt.Errorf("unknown direction %d", s.Dir)
	}
	if s.Peer.IsValid() && s.Peer.Zone() != "" {
		return fmt.Errorf("peer %s: zoned addresses are not supported", s.Peer)
	}
	return nil
}

// String is the readable form printed by netctl list, e.g.
// "drop from 172.18.0.3", "drop to 172.18.0.3", "loss 20% from 172.18.0.3",
// "loss 20% inbound".
func (s Spec) String() string {
	var b strings.Builder
	if s.Percent >= 100 {
		b.WriteString("drop")
	} else {
		b.WriteString("loss " + strconv.Itoa(s.Percent) + "%")
	}
	switch {
	case s.Peer.IsValid() && s.Dir == Inbound:
		b.WriteString(" from " + s.Peer.String())
	case s.Peer.IsValid():
		b.WriteString(" to " + s.Peer.String())
	case s.Dir == Inbound:
		b.WriteString(" inbound")
	default:
		b.WriteString(" outbound")
	}
	return b.String()
}

// chainFor returns the chain name a Spec's rule lives in.
func chainFor(d Direction) string {
	if d == Outbound {
		return chainOutput
	}
	return chainInput
}

// RuleExprs builds the nftables expressions for s. It touches no netlink
// socket, so it is unit-tested directly. The rule is, in nft syntax:
//
//	meta nfproto ipv4 ip saddr PEER [numgen random mod 100 < N] drop
//
// (daddr for Outbound; ip6 for IPv6 peers; "meta iifname != lo" /
// "meta oifname != lo" when Peer is unset).
func RuleExprs(s Spec) ([]expr.Any, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var ex []expr.Any
	if s.Peer.IsValid() {
		addr := s.Peer.Unmap()
		proto := byte(unix.NFPROTO_IPV4)
		off := uint32(12) // IPv4 saddr
		if s.Dir == Outbound {
			off = 16 // IPv4 daddr
		}
		if addr.Is6() {
			proto = unix.NFPROTO_IPV6
			off = 8 // IPv6 saddr
			if s.Dir == Outbound {
				off = 24 // IPv6 daddr
			}
		}
		raw := addr.AsSlice()
		ex = append(ex,
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: uint32(len(raw))},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: raw},
		)
	} else {
		key := expr.MetaKeyIIFNAME
		if s.Dir == Outbound {
			key = expr.MetaKeyOIFNAME
		}
		ex = append(ex,
			&expr.Meta{Key: key, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname("lo")},
		)
	}
	if s.Percent < 100 {
		// numgen yields a host-order u32; cmp lt compares bytes with
		// memcmp, so convert to network order first (as nft itself does).
		ex = append(ex,
			&expr.Numgen{Register: 1, Modulus: 100, Type: unix.NFT_NG_RANDOM},
			&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
			&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: binaryutil.BigEndian.PutUint32(uint32(s.Percent))},
		)
	}
	ex = append(ex, &expr.Verdict{Kind: expr.VerdictDrop})
	return ex, nil
}

// ifname pads an interface name to IFNAMSIZ as the kernel compares it.
func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}

// Comment returns the rule's user data: an nft comment holding s.String(),
// which netctl list prints (and `nft list ruleset` shows too).
func Comment(s Spec) []byte {
	return userdata.AppendString(nil, userdata.TypeComment, s.String())
}

// ParseIPs parses a comma-separated list of IP addresses.
func ParseIPs(list string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("bad IP address %q: give IPv4/IPv6 addresses separated by commas", f)
		}
		out = append(out, a.Unmap())
	}
	if len(out) == 0 {
		return nil, errors.New("no IP address given")
	}
	return out, nil
}

// table and chain definitions shared by apply, heal and list.
func ourTable() *nftables.Table {
	return &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}
}

func ourChain(t *nftables.Table, name string) *nftables.Chain {
	hook := nftables.ChainHookInput
	if name == chainOutput {
		hook = nftables.ChainHookOutput
	}
	accept := nftables.ChainPolicyAccept
	return &nftables.Chain{
		Name:     name,
		Table:    t,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  hook,
		Priority: nftables.ChainPriorityFilter,
		Policy:   &accept,
	}
}
