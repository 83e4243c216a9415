package delayer

import (
	"encoding/binary"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/faultline/faultline/nemesis/netrule"
)

const ms = time.Millisecond

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func flow(port uint16) Flow {
	return Flow{Proto: 6, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), SrcPort: port, DstPort: 7000}
}

func TestScheduleFixedDelay(t *testing.T) {
	s := NewSchedule(netrule.Delay{Mean: 100 * ms})
	for i := range 3 {
		if due := s.Hold(t0.Add(time.Duration(i)*10*ms), uint32(i), flow(1)); !due.Equal(t0.Add(time.Duration(100+10*i) * ms)) {
			t.Fatalf("packet %d due %v after t0, want %v", i, due.Sub(t0), time.Duration(100+10*i)*ms)
		}
	}
	if next, ok := s.Next(); !ok || !next.Equal(t0.Add(100*ms)) {
		t.Fatalf("Next = %v, %v", next.Sub(t0), ok)
	}
	for _, tc := range []struct {
		at   time.Duration
		want []uint32
	}{
		{99 * ms, nil},
		{100 * ms, []uint32{0}},
		{100 * ms, nil},
		{125 * ms, []uint32{1, 2}},
	} {
		if got := s.Due(t0.Add(tc.at), nil); !slices.Equal(got, tc.want) {
			t.Fatalf("Due(t0+%v) = %v, want %v", tc.at, got, tc.want)
		}
	}
	if _, ok := s.Next(); ok || s.Len() != 0 || len(s.flows) != 0 {
		t.Fatalf("after every packet left: Next ok %v, Len %d, %d flows kept", ok, s.Len(), len(s.flows))
	}
}

// draws holds n packets of distinct flows at t0 and returns their delays.
func draws(d netrule.Delay, n int) []time.Duration {
	s := NewSchedule(d)
	out := make([]time.Duration, n)
	for i := range n {
		out[i] = s.Hold(t0, uint32(i), flow(uint16(i))).Sub(t0)
	}
	return out
}

func TestScheduleJitter(t *testing.T) {
	d := netrule.Delay{Mean: 100 * ms, Jitter: 10 * ms, Seed: 7}
	a := draws(d, 2000)
	lo, hi := slices.Min(a), slices.Max(a)
	if lo < 90*ms || hi > 110*ms {
		t.Fatalf("delays span %v..%v, outside 100ms±10ms", lo, hi)
	}
	if lo > 91*ms || hi < 109*ms { // uniform: 2000 draws reach both ends
		t.Fatalf("delays span only %v..%v of 90ms..110ms", lo, hi)
	}
	var sum time.Duration
	for _, x := range a {
		sum += x
	}
	if mean := sum / time.Duration(len(a)); mean < 99*ms || mean > 101*ms {
		t.Fatalf("mean delay %v, want about 100ms", mean)
	}
	if b := draws(d, 2000); !slices.Equal(a, b) {
		t.Fatal("the same seed gave different delays")
	}
	d.Seed = 8
	if c := draws(d, 2000); slices.Equal(a, c) {
		t.Fatal("seeds 7 and 8 gave the same delays")
	}
}

func TestScheduleKeepsFlowOrder(t *testing.T) {
	// Jitter as large as the mean: later packets often draw shorter
	// delays than earlier ones.
	s := NewSchedule(netrule.Delay{Mean: 50 * ms, Jitter: 50 * ms, Seed: 1})
	const n = 500
	type sent struct {
		id  uint32
		f   Flow
		due time.Time
	}
	var all []sent
	for i := range n {
		f := flow(uint16(i % 3))
		due := s.Hold(t0.Add(time.Duration(i)*ms/10), uint32(i), f)
		all = append(all, sent{uint32(i), f, due})
	}
	var order []uint32
	for at := t0; s.Len() > 0; at = at.Add(ms) {
		order = s.Due(at, order)
	}
	pos := map[uint32]int{}
	for i, id := range order {
		pos[id] = i
	}
	overtaken := 0
	for i := 1; i < n; i++ {
		for j := range i {
			if pos[all[j].id] > pos[all[i].id] {
				if all[i].f == all[j].f {
					t.Fatalf("packet %d left before packet %d of its flow", i, j)
				}
				overtaken++
			}
		}
	}
	if overtaken == 0 {
		t.Fatal("no packet overtook one of another flow: the jitter did nothing")
	}
}

func TestScheduleNextIsEarliest(t *testing.T) {
	// Packets of other flows may be due before the current first one:
	// Next always names the earliest, and it leaves first.
	s := NewSchedule(netrule.Delay{Mean: 100 * ms, Jitter: 90 * ms, Seed: 3})
	earliest, headChanged := time.Time{}, 0
	for i := range 50 {
		due := s.Hold(t0.Add(time.Duration(i)*ms), uint32(i), flow(uint16(i)))
		if i == 0 || due.Before(earliest) {
			if i > 0 {
				headChanged++
			}
			earliest = due
		}
		if next, _ := s.Next(); !next.Equal(earliest) {
			t.Fatalf("after packet %d: Next = t0+%v, want t0+%v", i, next.Sub(t0), earliest.Sub(t0))
		}
	}
	if headChanged == 0 {
		t.Fatal("no later packet was due before the first: the case is not exercised")
	}
	if got := s.Due(earliest, nil); len(got) != 1 {
		t.Fatalf("Due(earliest) = %v, want one packet", got)
	}
}

func TestFlowOf(t *testing.T) {
	v4 := func(proto byte, frag uint16, ports ...uint16) []byte {
		b := make([]byte, 20, 40)
		b[0] = 0x45
		binary.BigEndian.PutUint16(b[6:8], frag)
		b[9] = proto
		copy(b[12:16], []byte{10, 0, 0, 1})
		copy(b[16:20], []byte{10, 0, 0, 2})
		for _, p := range ports {
			b = binary.BigEndian.AppendUint16(b, p)
		}
		return b
	}
	v6 := make([]byte, 44)
	v6[0] = 0x60
	v6[6] = 17
	v6[8], v6[23] = 0xfd, 1
	v6[24], v6[39] = 0xfd, 2
	binary.BigEndian.PutUint16(v6[40:], 53)
	binary.BigEndian.PutUint16(v6[42:], 9000)
	a1, a2 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	for _, tc := range []struct {
		name string
		pkt  []byte
		want Flow
	}{
		{"ipv4 tcp", v4(6, 0, 40000, 7000), Flow{6, a1, a2, 40000, 7000}},
		{"ipv4 udp, don't-fragment bit", v4(17, 0x4000, 53, 9000), Flow{17, a1, a2, 53, 9000}},
		{"ipv4 icmp", v4(1, 0, 0x0800, 0), Flow{Proto: 1, Src: a1, Dst: a2}},
		{"ipv4 later fragment", v4(6, 0x0010, 40000, 7000), Flow{Proto: 6, Src: a1, Dst: a2}},
		{"ipv4 header only", v4(6, 0), Flow{Proto: 6, Src: a1, Dst: a2}},
		{"ipv6 udp", v6, Flow{17, netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2"), 53, 9000}},
		{"ipv6 truncated", v6[:30], Flow{}},
		{"ipv4 truncated", v4(6, 0)[:12], Flow{}},
		{"ipv4 bad ihl", append([]byte{0x41}, make([]byte, 30)...), Flow{}},
		{"not ip", []byte{0x00, 1, 2, 3}, Flow{}},
		{"empty", nil, Flow{}},
	} {
		if got := FlowOf(tc.pkt); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: FlowOf = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// BenchmarkSchedule measures holding and releasing one packet, with about
// 1000 held at a time across 64 flows (a busy link under 100ms).
func BenchmarkSchedule(b *testing.B) {
	s := NewSchedule(netrule.Delay{Mean: 100 * ms, Jitter: 10 * ms, Seed: 1})
	const gap = 100 * time.Microsecond // 10k packets/s
	var ids []uint32
	now := t0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now = now.Add(gap)
		s.Hold(now, uint32(i), flow(uint16(i%64)))
		ids = s.Due(now, ids[:0])
	}
	b.ReportMetric(float64(s.Len()), "held")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}
