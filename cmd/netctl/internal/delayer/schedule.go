package delayer

import (
	"container/heap"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/faultline/faultline/nemesis/netrule"
)

// Flow identifies the flow a packet belongs to. Packets whose headers
// cannot be read (too short, neither IPv4 nor IPv6) share the zero Flow.
type Flow struct {
	Proto            uint8
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
}

// FlowOf reads the flow of a packet from its network header on (what an
// nfnetlink queue delivers). Ports are read for TCP, UDP, UDP-Lite, DCCP
// and SCTP; IPv6 extension headers are not followed, and IPv4 fragments
// after the first carry no ports.
func FlowOf(pkt []byte) Flow {
	if len(pkt) < 1 {
		return Flow{}
	}
	var f Flow
	var l4 []byte
	switch pkt[0] >> 4 {
	case 4:
		ihl := int(pkt[0]&0x0f) * 4
		if len(pkt) < 20 || ihl < 20 {
			return Flow{}
		}
		f.Proto = pkt[9]
		f.Src = netip.AddrFrom4([4]byte(pkt[12:16]))
		f.Dst = netip.AddrFrom4([4]byte(pkt[16:20]))
		if binary.BigEndian.Uint16(pkt[6:8])&0x1fff == 0 && len(pkt) >= ihl { // first fragment or whole
			l4 = pkt[ihl:]
		}
	case 6:
		if len(pkt) < 40 {
			return Flow{}
		}
		f.Proto = pkt[6]
		f.Src = netip.AddrFrom16([16]byte(pkt[8:24]))
		f.Dst = netip.AddrFrom16([16]byte(pkt[24:40]))
		l4 = pkt[40:]
	default:
		return Flow{}
	}
	switch f.Proto {
	case 6, 17, 33, 132, 136: // TCP, UDP, DCCP, SCTP, UDP-Lite
		if len(l4) >= 4 {
			f.SrcPort = binary.BigEndian.Uint16(l4[0:2])
			f.DstPort = binary.BigEndian.Uint16(l4[2:4])
		}
	}
	return f
}

// Schedule decides when each held packet is due: its arrival plus a delay
// drawn uniformly from [Mean-Jitter, Mean+Jitter], but never before an
// earlier packet of its flow. The draws come from a PCG seeded with the
// delay's seed, so the same packets arriving at the same times get the
// same schedule. It reads no clock: callers pass the time. Not safe for
// concurrent use.
type Schedule struct {
	delay netrule.Delay
	rng   *rand.Rand
	held  byDue
	flows map[Flow]*flowState
	seq   uint64
}

type flowState struct {
	last time.Time // due time of the flow's latest packet
	held int
}

type entry struct {
	due  time.Time
	seq  uint64 // arrival order: ties leave first come first
	id   uint32
	flow Flow
}

// NewSchedule returns an empty schedule for d.
func NewSchedule(d netrule.Delay) *Schedule {
	return &Schedule{
		delay: d,
		rng:   rand.New(rand.NewPCG(d.Seed, d.Seed^0x9e3779b97f4a7c15)),
		flows: map[Flow]*flowState{},
	}
}

// draw returns the next delay.
func (s *Schedule) draw() time.Duration {
	j := int64(s.delay.Jitter)
	if j == 0 {
		return s.delay.Mean
	}
	return s.delay.Mean - s.delay.Jitter + time.Duration(s.rng.Int64N(2*j+1))
}

// Hold schedules packet id of flow f, arrived at now, and returns when it
// is due.
func (s *Schedule) Hold(now time.Time, id uint32, f Flow) time.Time {
	due := now.Add(s.draw())
	fs := s.flows[f]
	if fs == nil {
		fs = &flowState{}
		s.flows[f] = fs
	}
	if due.Before(fs.last) {
		due = fs.last
	}
	fs.last = due
	fs.held++
	s.seq++
	heap.Push(&s.held, entry{due: due, seq: s.seq, id: id, flow: f})
	return due
}

// Next returns when the first held packet is due; false when none is held.
func (s *Schedule) Next() (time.Time, bool) {
	if len(s.held) == 0 {
		return time.Time{}, false
	}
	return s.held[0].due, true
}

// Due removes the packets due at now (due time not after it) and appends
// their ids to out in the order they are due.
func (s *Schedule) Due(now time.Time, out []uint32) []uint32 {
	for len(s.held) > 0 && !s.held[0].due.After(now) {
		out = append(out, s.pop())
	}
	return out
}

// Drain removes every held packet and appends their ids to out in the
// order they would have been due.
func (s *Schedule) Drain(out []uint32) []uint32 {
	for len(s.held) > 0 {
		out = append(out, s.pop())
	}
	return out
}

// Len is the number of held packets.
func (s *Schedule) Len() int { return len(s.held) }

func (s *Schedule) pop() uint32 {
	e := heap.Pop(&s.held).(entry)
	fs := s.flows[e.flow]
	if fs.held--; fs.held == 0 {
		delete(s.flows, e.flow)
	}
	return e.id
}

// byDue is a min-heap of entries by (due, seq).
type byDue []entry

func (h byDue) Len() int { return len(h) }
func (h byDue) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h byDue) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *byDue) Push(x any)   { *h = append(*h, x.(entry)) }
func (h *byDue) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
