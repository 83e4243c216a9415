package main

import (
	"github.com/faultline/faultline/nemesis/netrule"
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

// chainFor returns the chain name a rule of direction d lives in.
func chainFor(d netrule.Direction) string {
	if d == netrule.Outbound {
		return chainOutput
	}
	return chainInput
}

// RuleExprs builds the nftables expressions for r. It touches no netlink
// socket, so it is unit-tested directly. The rule is, in nft syntax:
//
//	meta nfproto ipv4 ip saddr PEER [numgen random mod 100 < N] drop
//
// (daddr for Outbound; ip6 for IPv6 peers; "meta iifname != lo" when Peer
// is unset, which netrule allows for inbound rules only).
func RuleExprs(r netrule.Rule) ([]expr.Any, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	var ex []expr.Any
	if r.Peer.IsValid() {
		addr := r.Peer
		proto := byte(unix.NFPROTO_IPV4)
		off := uint32(12) // IPv4 saddr
		if r.Dir == netrule.Outbound {
			off = 16 // IPv4 daddr
		}
		if addr.Is6() {
			proto = unix.NFPROTO_IPV6
			off = 8 // IPv6 saddr
			if r.Dir == netrule.Outbound {
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
		ex = append(ex,
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname("lo")},
		)
	}
	if r.Percent < 100 {
		// numgen yields a host-order u32; cmp lt compares bytes with
		// memcmp, so convert to network order first (as nft itself does).
		ex = append(ex,
			&expr.Numgen{Register: 1, Modulus: 100, Type: unix.NFT_NG_RANDOM},
			&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
			&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: binaryutil.BigEndian.PutUint32(uint32(r.Percent))},
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

// Comment returns the rule's user data: an nft comment holding its list
// form (r.String()), which netctl list reads back (and `nft list ruleset`
// shows too).
func Comment(r netrule.Rule) []byte {
	return userdata.AppendString(nil, userdata.TypeComment, r.String())
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
