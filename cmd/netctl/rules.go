package main

import (
	"encoding/binary"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/google/nftables/xt"
	"golang.org/x/sys/unix"

	"github.com/faultline/faultline/nemesis/netrule"
)

// TableName is the nftables table (family inet) that holds every netctl
// rule. netctl never touches any other table, so heal is "delete this table".
const TableName = "faultline"

// Chain names inside TableName. Delay rules live in chains of their own
// that run after the drop chains (delayChainPriority): a packet a delay
// rule lets through is accepted for the rest of its chain, so a drop rule
// placed after it in the same chain would never see it.
const (
	chainInput       = "input"
	chainOutput      = "output"
	chainDelayInput  = "delay-input"
	chainDelayOutput = "delay-output"
)

// chains are every chain name, in the order list reads them.
var chains = []string{chainInput, chainOutput, chainDelayInput, chainDelayOutput}

// delayChainPriority orders the delay chains after the drop chains
// (filter priority, 0) on the same hooks.
const delayChainPriority = 10

// chainFor returns the name of the chain rule r lives in.
func chainFor(r netrule.Rule) string {
	switch {
	case r.IsDelay() && r.Dir == netrule.Outbound:
		return chainDelayOutput
	case r.IsDelay():
		return chainDelayInput
	case r.Dir == netrule.Outbound:
		return chainOutput
	}
	return chainInput
}

// RuleExprs builds the nftables expressions for r; queue is the nfnetlink
// queue a delay rule hands its packets to (drop and loss rules ignore it).
// It touches no netlink socket, so it is unit-tested directly. The rule
// is, in nft syntax:
//
//	meta nfproto ipv4 ip saddr PEER [numgen random mod 100 < N] drop
//	meta nfproto ipv4 ip saddr PEER queue num QUEUE bypass
//
// (daddr for Outbound; ip6 for IPv6 peers; "meta iifname != lo" when Peer
// is unset, which netrule allows for inbound rules only). The bypass flag
// lets packets through undelayed while no delayer listens on the queue,
// so a dead delayer never cuts a link. The queue statement is the xtables
// NFQUEUE target through nft_compat (what iptables-nft installs for
// -j NFQUEUE), not nftables' own queue expression: kernels built without
// CONFIG_NFT_QUEUE, like the one this project runs on, refuse that one.
func RuleExprs(r netrule.Rule, queue uint16) ([]expr.Any, error) {
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
	if r.IsDelay() {
		return append(ex, nfqueueTarget(queue)), nil
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
	if name == chainOutput || name == chainDelayOutput {
		hook = nftables.ChainHookOutput
	}
	prio := nftables.ChainPriorityFilter
	if name == chainDelayInput || name == chainDelayOutput {
		prio = nftables.ChainPriorityRef(delayChainPriority)
	}
	accept := nftables.ChainPolicyAccept
	return &nftables.Chain{
		Name:     name,
		Table:    t,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  hook,
		Priority: prio,
		Policy:   &accept,
	}
}

// The xtables NFQUEUE target, revision 3: its info is struct
// xt_NFQ_info_v3 {u16 queuenum, queues_total, flags} in host byte order,
// padded to 8 bytes (XT_ALIGN).
const (
	nfqueueName   = "NFQUEUE"
	nfqueueRev    = 3
	nfqueueBypass = 0x01 // NFQ_FLAG_BYPASS
)

// nfqueueTarget sends a packet to queue, or lets it through while nobody
// listens there.
func nfqueueTarget(queue uint16) *expr.Target {
	info := make(xt.Unknown, 8)
	binary.NativeEndian.PutUint16(info[0:], queue)
	binary.NativeEndian.PutUint16(info[2:], 1) // one queue, no fanout
	binary.NativeEndian.PutUint16(info[4:], nfqueueBypass)
	return &expr.Target{Name: nfqueueName, Rev: nfqueueRev, Info: &info}
}

// queueOf returns the queue number of a delay rule read back from the
// kernel; false for any other rule.
func queueOf(r *nftables.Rule) (uint16, bool) {
	for _, e := range r.Exprs {
		t, ok := e.(*expr.Target)
		if !ok || t.Name != nfqueueName || t.Rev != nfqueueRev {
			continue
		}
		if info, ok := t.Info.(*xt.Unknown); ok && len(*info) >= 2 {
			return binary.NativeEndian.Uint16((*info)[0:2]), true
		}
	}
	return 0, false
}
