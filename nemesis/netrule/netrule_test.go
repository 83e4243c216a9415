package netrule

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// dataCase is one line of a testdata file: INPUT => WANT (canonical) or
// INPUT ~> WANT (accepted, written differently).
type dataCase struct {
	pos       string // file:line
	input     string
	canonical bool
	wantErr   string // "error: TEXT" cases
	want      []Rule // other cases
}

// readCases reads testdata/name; '#' lines and blank lines are comments.
func readCases(t *testing.T, name string) []dataCase {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []dataCase
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c := dataCase{pos: fmt.Sprintf("%s:%d", name, n), canonical: true}
		in, want, ok := strings.Cut(line, " => ")
		if !ok {
			in, want, ok = strings.Cut(line, " ~> ")
			c.canonical = false
		}
		if !ok {
			t.Fatalf("%s: no \" => \" or \" ~> \" in %q", c.pos, line)
		}
		c.input = in
		if e, isErr := strings.CutPrefix(want, "error: "); isErr {
			c.wantErr = e
		} else {
			for _, r := range strings.Split(want, ";") {
				c.want = append(c.want, rule(t, c.pos, r))
			}
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatalf("no cases in %s", name)
	}
	return cases
}

// rule reads the neutral notation "DIR PEER PERCENT" or "DIR PEER delay
// MS JITTER-MS SEED" (in|out, - for every peer), either followed by
// "tag T" for a tagged rule, independent of the format under test.
func rule(t *testing.T, pos, s string) Rule {
	t.Helper()
	f := strings.Fields(s)
	if n := len(f); n >= 2 && f[n-2] == "tag" {
		r := rule(t, pos, strings.Join(f[:n-2], " "))
		r.Tag = f[n-1]
		return r
	}
	if len(f) != 3 && (len(f) != 6 || f[2] != "delay") {
		t.Fatalf("%s: rule %q: want DIR PEER PERCENT or DIR PEER delay MS JITTER-MS SEED", pos, s)
	}
	var r Rule
	switch f[0] {
	case "in":
		r.Dir = Inbound
	case "out":
		r.Dir = Outbound
	default:
		t.Fatalf("%s: direction %q", pos, f[0])
	}
	if f[1] != "-" {
		r.Peer = netip.MustParseAddr(f[1])
	}
	if f[2] == "delay" {
		n := make([]uint64, 3)
		for i, v := range f[3:] {
			var err error
			if n[i], err = strconv.ParseUint(v, 10, 64); err != nil {
				t.Fatalf("%s: delay field %q", pos, v)
			}
		}
		r.Delay = Delay{Mean: time.Duration(n[0]) * time.Millisecond, Jitter: time.Duration(n[1]) * time.Millisecond, Seed: n[2]}
		return r
	}
	p, err := strconv.Atoi(f[2])
	if err != nil {
		t.Fatalf("%s: percent %q", pos, f[2])
	}
	r.Percent = p
	return r
}

func (c dataCase) check(t *testing.T, got []Rule, err error) bool {
	t.Helper()
	if c.wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%s: %q: got %v, %v; want an error containing %q", c.pos, c.input, got, err, c.wantErr)
		}
		return false
	}
	if err != nil || !reflect.DeepEqual(got, c.want) {
		t.Errorf("%s: %q: got %+v, %v; want %+v", c.pos, c.input, got, err, c.want)
		return false
	}
	return true
}

func TestListFormData(t *testing.T) {
	for _, c := range readCases(t, "list.txt") {
		r, err := Parse(c.input)
		var got []Rule
		if err == nil {
			got = []Rule{r}
		}
		if !c.check(t, got, err) {
			continue
		}
		if err := r.Validate(); err != nil {
			t.Errorf("%s: parsed %+v does not validate: %v", c.pos, r, err)
		}
		if s := r.String(); c.canonical && s != c.input {
			t.Errorf("%s: String() = %q, want the input %q back", c.pos, s, c.input)
		}
		if back, err := Parse(r.String()); err != nil || back != r {
			t.Errorf("%s: Parse(String()) = %+v, %v; want %+v", c.pos, back, err, r)
		}
	}
}

func TestArgsFormData(t *testing.T) {
	for _, c := range readCases(t, "args.txt") {
		got, err := ParseArgs(strings.Fields(c.input))
		var ae *ArgsError
		if err != nil && !errors.As(err, &ae) {
			t.Errorf("%s: error %v is not an *ArgsError", c.pos, err)
		}
		if !c.check(t, got, err) {
			continue
		}
		args, err := Args(got...)
		if err != nil {
			t.Errorf("%s: Args(%+v): %v", c.pos, got, err)
			continue
		}
		if s := strings.Join(args, " "); c.canonical && s != c.input {
			t.Errorf("%s: Args() = %q, want the input %q back", c.pos, s, c.input)
		}
		if back, err := ParseArgs(args); err != nil || !reflect.DeepEqual(back, got) {
			t.Errorf("%s: ParseArgs(Args()) = %+v, %v; want %+v", c.pos, back, err, got)
		}
	}
}

func TestListRoundTrip(t *testing.T) {
	rules := []Rule{
		Drop(Inbound, netip.MustParseAddr("10.0.0.2")),
		Drop(Outbound, netip.MustParseAddr("fd00::2")),
		Loss(Inbound, netip.MustParseAddr("10.0.0.3"), 20),
		Loss(Inbound, netip.Addr{}, 5),
		Delayed(Inbound, netip.MustParseAddr("10.0.0.4"), 50*time.Millisecond, 10*time.Millisecond, 7),
		Delayed(Inbound, netip.Addr{}, 100*time.Millisecond, 0, 7),
	}
	text := formatList(rules)
	if want := "drop from 10.0.0.2\ndrop to fd00::2\nloss 20% from 10.0.0.3\nloss 5% inbound\n" +
		"delay 50ms±10ms seed 7 from 10.0.0.4\ndelay 100ms inbound\n"; text != want {
		t.Fatalf("FormatList = %q, want %q", text, want)
	}
	got, err := ParseList(text)
	if err != nil || !reflect.DeepEqual(got, rules) {
		t.Fatalf("ParseList = %+v, %v", got, err)
	}
	if got, err := ParseList(""); err != nil || len(got) != 0 {
		t.Fatalf("ParseList(\"\") = %v, %v", got, err)
	}
	got, err = ParseList("drop from 10.0.0.2\n\ninput: rule handle 7 (not created by netctl)\nloss 20% from 10.0.0.3\n")
	if err == nil || !strings.Contains(err.Error(), "line 3:") || len(got) != 2 {
		t.Fatalf("ParseList with a foreign line: %v, %v; want the two rules and an error naming line 3", got, err)
	}
}

func TestValidate(t *testing.T) {
	a := netip.MustParseAddr("10.0.0.1")
	const ms = time.Millisecond
	for _, tc := range []struct {
		r    Rule
		want string
	}{
		{Rule{Dir: Inbound, Peer: a, Percent: 100}, ""},
		{Rule{Dir: Inbound, Percent: 40}, ""},
		{Rule{Dir: Inbound, Peer: a, Percent: 0}, "percent 0 out of range"},
		{Rule{Dir: Inbound, Peer: a, Percent: 101}, "percent 101 out of range"},
		{Rule{Dir: 7, Peer: a, Percent: 50}, "unknown direction 7"},
		{Rule{Dir: Outbound, Percent: 50}, "must be inbound"},
		{Rule{Dir: Inbound, Peer: netip.MustParseAddr("fe80::1%eth0"), Percent: 50}, "zoned"},
		{Rule{Dir: Inbound, Peer: netip.MustParseAddr("::ffff:10.0.0.1"), Percent: 50}, "give the IPv4 address"},
		{Delayed(Outbound, a, 50*ms, 10*ms, 7), ""},
		{Delayed(Inbound, netip.Addr{}, 50*ms, 0, 7), ""}, // the seed is dropped without a jitter
		{Delayed(Inbound, a, MaxDelay, MaxDelay, 0), ""},
		{Delayed(Outbound, netip.Addr{}, 50*ms, 0, 0), "must be inbound"},
		{Rule{Dir: Inbound, Peer: a, Percent: 100, Delay: Delay{Mean: 50 * ms}}, "either drops (percent 100) or delays (50ms), not both"},
		{Rule{Dir: Inbound, Peer: a, Delay: Delay{Mean: 50 * ms, Seed: 3}}, "seed 3 without a jitter"},
		{Delayed(Inbound, a, 50*ms, 51*ms, 1), "jitter 51ms out of range: use 0..50ms"},
		{Delayed(Inbound, a, 50*ms, -ms, 1), "jitter -1ms out of range"},
		{Delayed(Inbound, a, 1500*time.Microsecond, 0, 0), "give whole milliseconds"},
		{Delayed(Inbound, a, 50*ms, 500*time.Microsecond, 1), "give whole milliseconds"},
		{Delayed(Inbound, a, MaxDelay+ms, 0, 0), "out of range: use 1ms..10s"},
		{Delayed(Inbound, a, 0, ms, 1), "delay 0s out of range"},
	} {
		err := tc.r.Validate()
		if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.r, err, tc.want)
		}
	}
}

func TestArgsErrors(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	for _, tc := range []struct {
		rules []Rule
		want  string
	}{
		{nil, "no rules"},
		{[]Rule{Drop(Inbound, a), Drop(Outbound, b)}, "need separate netctl calls"},
		{[]Rule{Drop(Inbound, a), Loss(Inbound, b, 20)}, "need separate netctl calls"},
		{[]Rule{Loss(Inbound, netip.Addr{}, 20), Loss(Inbound, a, 20)}, "need separate netctl calls"},
		{[]Rule{Loss(Inbound, netip.Addr{}, 20), Loss(Inbound, netip.Addr{}, 20)}, "given 2 times"},
		{[]Rule{Loss(Inbound, a, 0)}, "out of range"},
		{[]Rule{Delayed(Inbound, a, 50*time.Millisecond, 0, 0), Delayed(Inbound, b, 60*time.Millisecond, 0, 0)}, "need separate netctl calls"},
		{[]Rule{Delayed(Inbound, a, 50*time.Millisecond, 5*time.Millisecond, 1), Delayed(Inbound, b, 50*time.Millisecond, 5*time.Millisecond, 2)}, "need separate netctl calls"},
		{[]Rule{Delayed(Inbound, a, 50*time.Millisecond, 0, 0), Drop(Inbound, b)}, "need separate netctl calls"},
		{[]Rule{Delayed(Inbound, a, 50*time.Millisecond, 60*time.Millisecond, 1)}, "jitter 60ms out of range"},
	} {
		if _, err := Args(tc.rules...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Args(%v) = %v, want an error containing %q", tc.rules, err, tc.want)
		}
	}
}

// TestHealArgs: heal's command line round-trips, and a bad one is an
// *ArgsError.
func TestHealArgs(t *testing.T) {
	for _, tc := range []struct {
		args    string
		tag     string
		wantErr string
	}{
		{"heal", "", ""},
		{"heal --tag partition", "partition", ""},
		{"heal --tag=loss", "loss", ""},
		{"heal --tag", "", "flag needs an argument"},
		{"heal --tag=", "", "--tag needs a tag"},
		{"heal --tag Loss", "", "lower-case word"},
		{"heal loss", "", "unexpected argument"},
		{"list", "", "not a heal command"},
	} {
		tag, err := ParseHealArgs(strings.Fields(tc.args))
		var ae *ArgsError
		switch {
		case tc.wantErr != "":
			if err == nil || !errors.As(err, &ae) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseHealArgs(%q) = %q, %v; want an *ArgsError containing %q", tc.args, tag, err, tc.wantErr)
			}
		case err != nil || tag != tc.tag:
			t.Errorf("ParseHealArgs(%q) = %q, %v; want %q", tc.args, tag, err, tc.tag)
		default:
			if back, err := ParseHealArgs(HealArgs(tag)); err != nil || back != tag {
				t.Errorf("ParseHealArgs(HealArgs(%q)) = %q, %v", tag, back, err)
			}
		}
	}
}

func TestMissing(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	have := []Rule{Drop(Inbound, a), Loss(Inbound, b, 30)}
	if m := Missing([]Rule{Drop(Inbound, a)}, have); len(m) != 0 {
		t.Errorf("Missing = %v, want none", m)
	}
	// Same peer, other direction or percentage: not the rule asked for.
	want := []Rule{Drop(Outbound, a), Drop(Inbound, b), Loss(Inbound, b, 30)}
	if m := Missing(want, have); !reflect.DeepEqual(m, want[:2]) {
		t.Errorf("Missing = %v, want %v", m, want[:2])
	}
	// A delay differs by its mean, its jitter and its seed.
	d := Delayed(Inbound, a, 50*time.Millisecond, 10*time.Millisecond, 7)
	have = []Rule{d}
	want = []Rule{
		Delayed(Inbound, a, 60*time.Millisecond, 10*time.Millisecond, 7),
		Delayed(Inbound, a, 50*time.Millisecond, 5*time.Millisecond, 7),
		Delayed(Inbound, a, 50*time.Millisecond, 10*time.Millisecond, 8),
		d,
	}
	if m := Missing(want, have); !reflect.DeepEqual(m, want[:3]) {
		t.Errorf("Missing = %v, want %v", m, want[:3])
	}
}

// formatList is netctl list's output for rules: one rule a line.
func formatList(rules []Rule) string {
	var b strings.Builder
	for _, r := range rules {
		b.WriteString(r.String() + "\n")
	}
	return b.String()
}
