package netrule

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestProbeArgs(t *testing.T) {
	peer := netip.MustParseAddrPort("172.18.0.3:7000")
	for _, tc := range []struct {
		args      string
		want      Probe
		canonical bool
		err       string
	}{
		{args: "rtt --to 172.18.0.3 --port 7000 --count 5 --timeout-ms 5000", want: Probe{peer, 5, 5 * time.Second}, canonical: true},
		{args: "rtt --to fd00::3 --port 1 --count 1000 --timeout-ms 60000",
			want: Probe{netip.MustParseAddrPort("[fd00::3]:1"), 1000, time.Minute}, canonical: true},
		{args: "rtt --to 172.18.0.3 --port 7000", want: Probe{peer, DefaultProbeCount, DefaultProbeTimeout}},
		{args: "rtt --port 7000 --to ::ffff:172.18.0.3 --count 5", want: Probe{peer, 5, DefaultProbeTimeout}},
		{args: "", err: "not an rtt command line"},
		{args: "delay --ms 5", err: "not an rtt command line"},
		{args: "rtt --port 7000", err: "rtt needs --to IP"},
		{args: "rtt --to n2 --port 7000", err: `bad IP address "n2"`},
		{args: "rtt --to fe80::1%eth0 --port 7000", err: "bad IP address"},
		{args: "rtt --to 172.18.0.3", err: "rtt needs --port P with P in 1..65535"},
		{args: "rtt --to 172.18.0.3 --port 65536", err: "rtt needs --port P"},
		{args: "rtt --to 172.18.0.3 --port 7000 --count 0", err: "--count 0 out of range: use 1..1000"},
		{args: "rtt --to 172.18.0.3 --port 7000 --count 1001", err: "--count 1001 out of range"},
		{args: "rtt --to 172.18.0.3 --port 7000 --timeout-ms 0", err: "--timeout-ms 0 out of range: use 1..60000"},
		{args: "rtt --to 172.18.0.3 --port 7000 --from 10.0.0.1", err: "flag provided but not defined: -from"},
		{args: "rtt --to 172.18.0.3 --port 7000 extra", err: `unexpected argument "extra"`},
	} {
		got, err := ParseProbeArgs(strings.Fields(tc.args))
		if tc.err != "" {
			var ae *ArgsError
			if err == nil || !errors.As(err, &ae) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: got %+v, %v; want an *ArgsError containing %q", tc.args, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %+v, %v; want %+v", tc.args, got, err, tc.want)
			continue
		}
		args, err := got.Args()
		if err != nil {
			t.Errorf("%q: Args: %v", tc.args, err)
			continue
		}
		if s := strings.Join(args, " "); tc.canonical && s != tc.args {
			t.Errorf("Args() = %q, want %q back", s, tc.args)
		}
		if back, err := ParseProbeArgs(args); err != nil || back != got {
			t.Errorf("%q: ParseProbeArgs(Args()) = %+v, %v", tc.args, back, err)
		}
	}
	for _, p := range []Probe{
		{Count: 5, Timeout: time.Second},
		{To: netip.MustParseAddrPort("10.0.0.1:0"), Count: 5, Timeout: time.Second},
		{To: netip.MustParseAddrPort("[::ffff:10.0.0.1]:80"), Count: 5, Timeout: time.Second},
		{To: netip.MustParseAddrPort("10.0.0.1:80"), Count: 0, Timeout: time.Second},
		{To: netip.MustParseAddrPort("10.0.0.1:80"), Count: 5, Timeout: 1500 * time.Microsecond},
	} {
		if _, err := p.Args(); err == nil {
			t.Errorf("Args(%+v): want an error", p)
		}
	}
}

func TestSummarize(t *testing.T) {
	to := netip.MustParseAddrPort("10.0.0.2:7000")
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	for _, tc := range []struct {
		times []time.Duration
		lost  int
		want  RTT
	}{
		{[]time.Duration{ms(3), ms(1), ms(2)}, 0, RTT{to, 3, 0, ms(1), ms(2), ms(3)}},
		{[]time.Duration{ms(4), ms(1), ms(2), ms(100)}, 1, RTT{to, 5, 1, ms(1), ms(3), ms(100)}},
		{[]time.Duration{ms(0.1234567)}, 4, RTT{to, 5, 4, ms(0.123), ms(0.123), ms(0.123)}},
	} {
		got, err := Summarize(to, tc.times, tc.lost)
		if err != nil || got != tc.want {
			t.Errorf("Summarize(%v, %d) = %+v, %v; want %+v", tc.times, tc.lost, got, err, tc.want)
		}
		back, err := ParseRTT(got.String())
		if err != nil || back != got {
			t.Errorf("ParseRTT(%q) = %+v, %v; want %+v", got, back, err, got)
		}
	}
	if _, err := Summarize(to, nil, 5); err == nil {
		t.Error("Summarize of no answered probe: want an error")
	}
}

func TestParseRTT(t *testing.T) {
	good := "rtt 172.18.0.3:7000 count 5 lost 1 min 850µs median 101.2ms max 1.5s"
	got, err := ParseRTT("  " + good + "\n")
	want := RTT{netip.MustParseAddrPort("172.18.0.3:7000"), 5, 1, 850 * time.Microsecond, 101200 * time.Microsecond, 1500 * time.Millisecond}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseRTT(%q) = %+v, %v; want %+v", good, got, err, want)
	}
	if got.String() != good {
		t.Errorf("String() = %q, want %q", got, good)
	}
	for _, tc := range []struct{ line, err string }{
		{"", "not an rtt line"},
		{"rtt 172.18.0.3:7000 count 5 lost 1 min 1ms median 2ms", "not an rtt line"},
		{"ping 172.18.0.3:7000 count 5 lost 1 min 1ms median 2ms max 3ms", "not an rtt line"},
		{"rtt 172.18.0.3 count 5 lost 1 min 1ms median 2ms max 3ms", `bad address "172.18.0.3"`},
		{"rtt 172.18.0.3:7000 count five lost 1 min 1ms median 2ms max 3ms", `"five" is not a count`},
		{"rtt 172.18.0.3:7000 count 5 lost -1 min 1ms median 2ms max 3ms", `"-1" is not a count`},
		{"rtt 172.18.0.3:7000 count 5 lost 5 min 1ms median 2ms max 3ms", "at least one probe must have been answered"},
		{"rtt 172.18.0.3:7000 count 0 lost 0 min 1ms median 2ms max 3ms", "at least one probe"},
		{"rtt 172.18.0.3:7000 count 5 lost 0 min 1 median 2ms max 3ms", `"1" is not a duration`},
		{"rtt 172.18.0.3:7000 count 5 lost 0 min -1ms median 2ms max 3ms", `"-1ms" is not a duration`},
		{"rtt 172.18.0.3:7000 count 5 lost 0 min 3ms median 2ms max 3ms", "out of order"},
	} {
		if got, err := ParseRTT(tc.line); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParseRTT(%q) = %+v, %v; want an error containing %q", tc.line, got, err, tc.err)
		}
	}
}
