package delayer

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestParseQueues(t *testing.T) {
	got, err := parseQueues(strings.NewReader(
		" 1000  12333     0 2   128     0     0        0  1\n" +
			" 1001  12400    17 2   128     0     0      345  1\n"))
	if want := map[uint16]int{1000: 0, 1001: 17}; err != nil || !maps.Equal(got, want) {
		t.Fatalf("parseQueues = %v, %v; want %v", got, err, want)
	}
	if got, err := parseQueues(strings.NewReader("")); err != nil || len(got) != 0 {
		t.Fatalf("parseQueues(empty) = %v, %v", got, err)
	}
	if _, err := parseQueues(strings.NewReader(" x 1 2 3\n")); err == nil || !strings.Contains(err.Error(), "unexpected line") {
		t.Fatalf("parseQueues(garbage) = %v, want an error naming the line", err)
	}
}

func TestParseUnix(t *testing.T) {
	text := `Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 43210 @faultline-netctl-delay-1001
0000000000000000: 00000003 00000000 00000000 0001 03 43299 @faultline-netctl-delay-1001
0000000000000000: 00000002 00000000 00010000 0001 01 43211 @faultline-netctl-delay-1000
0000000000000000: 00000002 00000000 00010000 0001 01 43212 @faultline-netctl-delay-x
0000000000000000: 00000002 00000000 00010000 0001 01 43213 /run/other.sock
0000000000000000: 00000003 00000000 00000000 0001 03 43214
`
	got, err := parseUnix(strings.NewReader(text))
	if want := []uint16{1000, 1001}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("parseUnix = %v, %v; want %v", got, err, want)
	}
}

func TestProcState(t *testing.T) {
	for _, tc := range []struct {
		stat string
		want byte
	}{
		{"42 (netctl) S 1 42 42 0", 'S'},
		{"42 (net ctl) (x) Z 1 42", 'Z'},
		{"42 (netctl)", 0},
		{"garbage", 0},
	} {
		if got := procState([]byte(tc.stat)); got != tc.want {
			t.Errorf("procState(%q) = %q, want %q", tc.stat, got, tc.want)
		}
	}
}

func TestStatsRoundTrip(t *testing.T) {
	st := Stats{Delayed: 812, Released: 4, Passed: 2, Failed: 1, MaxHeld: 33}
	got, err := parseStats(st.String())
	if err != nil || got != st {
		t.Fatalf("parseStats(%q) = %+v, %v", st, got, err)
	}
	if _, err := parseStats("delayed x"); err == nil {
		t.Fatal("parseStats(garbage): want an error")
	}
}
