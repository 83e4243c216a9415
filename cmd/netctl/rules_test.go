package main

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/google/nftables/xt"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/faultline/faultline/nemesis/netrule"
)

func TestRuleExprs(t *testing.T) {
	v4 := netip.MustParseAddr("172.18.0.3")
	v6 := netip.MustParseAddr("fd00::3")
	drop := &expr.Verdict{Kind: expr.VerdictDrop}
	match := func(proto byte, off uint32, raw []byte) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: uint32(len(raw))},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: raw},
		}
	}
	random := func(n uint32) []expr.Any {
		return []expr.Any{
			&expr.Numgen{Register: 1, Modulus: 100, Type: unix.NFT_NG_RANDOM},
			&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
			&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: binaryutil.BigEndian.PutUint32(n)},
		}
	}
	cat := func(parts ...[]expr.Any) []expr.Any {
		var out []expr.Any
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	queue := func(n uint16) []expr.Any {
		info := xt.Unknown{byte(n), byte(n >> 8), 1, 0, 1, 0, 0, 0} // xt_NFQ_info_v3, little endian
		return []expr.Any{&expr.Target{Name: "NFQUEUE", Rev: 3, Info: &info}}
	}
	tests := []struct {
		rule netrule.Rule
		want []expr.Any
		str  string
	}{
		{netrule.Drop(netrule.Inbound, v4), cat(match(unix.NFPROTO_IPV4, 12, []byte{172, 18, 0, 3}), []expr.Any{drop}), "drop from 172.18.0.3"},
		{netrule.Drop(netrule.Outbound, v4), cat(match(unix.NFPROTO_IPV4, 16, []byte{172, 18, 0, 3}), []expr.Any{drop}), "drop to 172.18.0.3"},
		{netrule.Drop(netrule.Inbound, v6), cat(match(unix.NFPROTO_IPV6, 8, v6.AsSlice()), []expr.Any{drop}), "drop from fd00::3"},
		{netrule.Drop(netrule.Outbound, v6), cat(match(unix.NFPROTO_IPV6, 24, v6.AsSlice()), []expr.Any{drop}), "drop to fd00::3"},
		{netrule.Loss(netrule.Inbound, v4, 30), cat(match(unix.NFPROTO_IPV4, 12, []byte{172, 18, 0, 3}), random(30), []expr.Any{drop}), "loss 30% from 172.18.0.3"},
		{netrule.Loss(netrule.Outbound, v4, 30), cat(match(unix.NFPROTO_IPV4, 16, []byte{172, 18, 0, 3}), random(30), []expr.Any{drop}), "loss 30% to 172.18.0.3"},
		{netrule.Loss(netrule.Inbound, netip.Addr{}, 5), cat([]expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname("lo")},
		}, random(5), []expr.Any{drop}), "loss 5% inbound"},
		{netrule.Delayed(netrule.Inbound, v4, 50*time.Millisecond, 10*time.Millisecond, 7),
			cat(match(unix.NFPROTO_IPV4, 12, []byte{172, 18, 0, 3}), queue(1003)), "delay 50ms±10ms seed 7 from 172.18.0.3"},
		{netrule.Delayed(netrule.Outbound, v6, 50*time.Millisecond, 0, 0),
			cat(match(unix.NFPROTO_IPV6, 24, v6.AsSlice()), queue(1003)), "delay 50ms to fd00::3"},
		{netrule.Delayed(netrule.Inbound, netip.Addr{}, 100*time.Millisecond, 0, 0), cat([]expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname("lo")},
		}, queue(1003)), "delay 100ms inbound"},
	}
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the expected xt_NFQ_info_v3 bytes are written for a little-endian host")
	}
	for _, tc := range tests {
		got, err := RuleExprs(tc.rule, 1003)
		if err != nil {
			t.Fatalf("%v: %v", tc.rule, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: exprs\n got %#v\nwant %#v", tc.rule, got, tc.want)
		}
		// The comment holds the list form, which list reads back.
		s, _ := userdata.GetString(Comment(tc.rule), userdata.TypeComment)
		if s != tc.str {
			t.Errorf("comment = %q, want %q", s, tc.str)
		}
		// As list reads it back: the comment's rule, while its queue
		// (if any) is bound; a note netrule refuses once it is not.
		kr := &nftables.Rule{Chain: &nftables.Chain{Name: chainFor(tc.rule)}, Handle: 9, Exprs: got, UserData: Comment(tc.rule)}
		if d := describeRule(kr, map[uint16]int{1003: 0}); d != tc.str {
			t.Errorf("describeRule = %q, want %q", d, tc.str)
		}
		q, isQueue := queueOf(kr)
		if isQueue != tc.rule.IsDelay() || isQueue && q != 1003 {
			t.Errorf("%v: queueOf = %d, %v", tc.rule, q, isQueue)
		}
		unbound := describeRule(kr, map[uint16]int{1004: 0})
		if _, err := netrule.ParseList(unbound); tc.rule.IsDelay() != (err != nil) {
			t.Errorf("%v without its delayer listed as %q (parse error %v)", tc.rule, unbound, err)
		}
	}
	foreign := describeRule(&nftables.Rule{Chain: &nftables.Chain{Name: chainInput}, Handle: 7,
		UserData: userdata.AppendString(nil, userdata.TypeComment, "someone else's")}, nil)
	if _, err := netrule.ParseList(foreign); err == nil || !strings.Contains(foreign, "not created by netctl") {
		t.Errorf("foreign rule listed as %q, parsed without error", foreign)
	}
}

func TestChains(t *testing.T) {
	a := netip.MustParseAddr("10.0.0.1")
	for _, tc := range []struct {
		rule  netrule.Rule
		chain string
		hook  *nftables.ChainHook
		prio  nftables.ChainPriority
	}{
		{netrule.Drop(netrule.Inbound, a), chainInput, nftables.ChainHookInput, 0},
		{netrule.Loss(netrule.Outbound, a, 20), chainOutput, nftables.ChainHookOutput, 0},
		{netrule.Delayed(netrule.Inbound, a, time.Millisecond, 0, 0), chainDelayInput, nftables.ChainHookInput, delayChainPriority},
		{netrule.Delayed(netrule.Outbound, a, time.Millisecond, 0, 0), chainDelayOutput, nftables.ChainHookOutput, delayChainPriority},
	} {
		name := chainFor(tc.rule)
		ch := ourChain(ourTable(), name)
		if name != tc.chain || *ch.Hooknum != *tc.hook || *ch.Priority != tc.prio {
			t.Errorf("%v: chain %s hook %d priority %d; want %s, %d, %d", tc.rule, name, *ch.Hooknum, *ch.Priority, tc.chain, *tc.hook, tc.prio)
		}
	}
	// Drop chains run before delay chains on the same hook: a packet a
	// delay rule lets through must still meet the drop rules.
	if delayChainPriority <= 0 {
		t.Errorf("delay chains have priority %d, not after the drop chains (0)", delayChainPriority)
	}
}

func TestRuleExprsInvalid(t *testing.T) {
	a := netip.MustParseAddr("10.0.0.1")
	for _, r := range []netrule.Rule{{Peer: a, Percent: 0}, {Peer: a, Percent: 101}, {Dir: 7, Peer: a, Percent: 50},
		{Dir: netrule.Outbound, Percent: 50}, {Peer: a, Delay: netrule.Delay{Mean: time.Millisecond, Jitter: 2 * time.Millisecond}}} {
		if _, err := RuleExprs(r, firstQueue); err == nil {
			t.Errorf("RuleExprs(%+v): want error", r)
		}
	}
}

// TestApplyMarshals checks that a whole batch serializes to netlink
// messages, using the library's fake socket (no kernel involved).
func TestApplyMarshals(t *testing.T) {
	var msgs int
	c, err := nftables.New(nftables.WithTestDial(func(req []netlink.Message) ([]netlink.Message, error) {
		msgs += len(req)
		return req, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	tb := c.AddTable(ourTable())
	added := map[string]*nftables.Chain{}
	for _, r := range []netrule.Rule{
		netrule.Drop(netrule.Inbound, netip.MustParseAddr("10.0.0.1")),
		netrule.Loss(netrule.Outbound, netip.MustParseAddr("10.0.0.2"), 40),
		netrule.Delayed(netrule.Inbound, netip.MustParseAddr("10.0.0.3"), 50*time.Millisecond, 5*time.Millisecond, 1),
	} {
		ex, err := RuleExprs(r, firstQueue)
		if err != nil {
			t.Fatal(err)
		}
		ch, ok := added[chainFor(r)]
		if !ok {
			ch = c.AddChain(ourChain(tb, chainFor(r)))
			added[chainFor(r)] = ch
		}
		c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: ex, UserData: Comment(r)})
	}
	if err := c.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if msgs < 8 { // batch begin/end + table + 3 chains + 3 rules
		t.Errorf("only %d netlink messages sent", msgs)
	}
}

func TestUsageExitCode(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"bogus"},
		{"drop"},
		{"drop", "--from", "not-an-ip"},
		{"drop", "--from", "10.0.0.1", "--to", "10.0.0.2"},
		{"drop", "--percent", "5", "--from", "10.0.0.1"},
		{"loss", "--from", "10.0.0.1"},
		{"loss", "--percent", "0"},
		{"loss", "--percent", "101"},
		{"heal", "extra"},
		{"heal", "--tag"},
		{"heal", "--tag", "Partition"},
		{"list", "extra"},
		{"delay"},
		{"delay", "--ms", "50", "--jitter-ms", "10"},
		{"delay", "--ms", "50", "--jitter-ms", "60", "--seed", "1"},
		{"delay", "--ms", "0"},
		{"rtt", "--to", "10.0.0.1"},
		{"rtt", "--port", "80"},
		{"rtt", "--to", "10.0.0.1", "--port", "80", "--count", "0"},
		{"delayer", "--queue", "5", "--ms", "50"},
	} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, errb.String())
		}
		if !strings.Contains(errb.String(), "usage:") {
			t.Errorf("%v: no usage text in %q", args, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "usage:") {
		t.Errorf("help: exit %d, out %q", code, out.String())
	}
}
