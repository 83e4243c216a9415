package main

import (
	"bytes"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/faultline/faultline/nemesis/netrule"
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
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
	}
	for _, tc := range tests {
		got, err := RuleExprs(tc.rule)
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
		if d := describeRule(chainFor(tc.rule.Dir), &nftables.Rule{UserData: Comment(tc.rule)}); d != tc.str {
			t.Errorf("describeRule = %q, want %q", d, tc.str)
		}
	}
	foreign := describeRule(chainInput, &nftables.Rule{Handle: 7,
		UserData: userdata.AppendString(nil, userdata.TypeComment, "someone else's")})
	if _, err := netrule.ParseList(foreign); err == nil || !strings.Contains(foreign, "not created by netctl") {
		t.Errorf("foreign rule listed as %q, parsed without error", foreign)
	}
}

func TestRuleExprsInvalid(t *testing.T) {
	a := netip.MustParseAddr("10.0.0.1")
	for _, r := range []netrule.Rule{{Peer: a, Percent: 0}, {Peer: a, Percent: 101}, {Dir: 7, Peer: a, Percent: 50},
		{Dir: netrule.Outbound, Percent: 50}} {
		if _, err := RuleExprs(r); err == nil {
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
	in := c.AddChain(ourChain(tb, chainInput))
	out := c.AddChain(ourChain(tb, chainOutput))
	for _, r := range []netrule.Rule{
		netrule.Drop(netrule.Inbound, netip.MustParseAddr("10.0.0.1")),
		netrule.Loss(netrule.Outbound, netip.MustParseAddr("10.0.0.2"), 40),
	} {
		ex, err := RuleExprs(r)
		if err != nil {
			t.Fatal(err)
		}
		ch := in
		if r.Dir == netrule.Outbound {
			ch = out
		}
		c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: ex, UserData: Comment(r)})
	}
	if err := c.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if msgs < 5 { // batch begin/end + table + 2 chains + 2 rules
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
		{"list", "extra"},
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
