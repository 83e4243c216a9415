package delayer

import (
	"context"
	"log/slog"
	"time"

	"github.com/faultline/faultline/nemesis/netrule"
)

// Packet is one queued packet: the kernel's id for it, its flow, and when
// it reached the delayer (its delay counts from then).
type Packet struct {
	ID      uint32
	Flow    Flow
	Arrived time.Time
}

// Acceptor lets a held packet through (the kernel's NF_ACCEPT verdict).
type Acceptor interface {
	Accept(id uint32) error
}

// Clock is the time source of Run's timers: the real one in netctl, a fake
// in tests.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer that Run uses.
type Timer interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

// Stats counts what a delayer did with the packets it was handed.
type Stats struct {
	// Delayed packets were held and accepted when due.
	Delayed uint64
	// Released packets were still held when the delayer was stopped and
	// were accepted then, early.
	Released uint64
	// Passed packets arrived after the stop and were accepted at once.
	Passed uint64
	// Failed counts accepts the kernel refused (the packet is gone:
	// dropped by the kernel, e.g. when its rule's chain was deleted).
	Failed uint64
	// MaxHeld is the most packets held at one time.
	MaxHeld int
}

// Run holds each packet from packets for its delay and accepts it when due,
// until ctx is done or packets is closed. A request on stop makes it
// accept every held packet at once (in the order they would have been
// due), answer with the counts so far, and from then on accept every
// packet as soon as it arrives. It returns the final counts.
func Run(ctx context.Context, d netrule.Delay, clk Clock, acc Acceptor, packets <-chan Packet, stop <-chan chan<- Stats, log *slog.Logger) Stats {
	var (
		st      Stats
		sched   = NewSchedule(d)
		stopped bool
		ids     []uint32
		timer   Timer
		timerC  <-chan time.Time // nil while disarmed
		armed   time.Time        // when the armed timer fires
	)
	accept := func(id uint32) bool {
		if err := acc.Accept(id); err != nil {
			if st.Failed == 0 {
				log.Warn("delayer: accept failed", "packet", id, "err", err)
			}
			st.Failed++
			return false
		}
		return true
	}
	// arm points the timer at the first due packet, or disarms it.
	arm := func() {
		next, ok := sched.Next()
		if !ok {
			if timer != nil {
				timer.Stop()
			}
			timerC = nil
			return
		}
		armed = next
		wait := max(next.Sub(clk.Now()), 0)
		if timer == nil {
			timer = clk.NewTimer(wait)
		} else {
			timer.Stop()
			timer.Reset(wait)
		}
		timerC = timer.C()
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return st
		case p, ok := <-packets:
			if !ok {
				return st
			}
			if stopped {
				if accept(p.ID) {
					st.Passed++
				}
				continue
			}
			sched.Hold(p.Arrived, p.ID, p.Flow)
			st.MaxHeld = max(st.MaxHeld, sched.Len())
			if next, _ := sched.Next(); timerC == nil || next.Before(armed) {
				arm()
			}
		case <-timerC:
			ids = sched.Due(clk.Now(), ids[:0])
			for _, id := range ids {
				if accept(id) {
					st.Delayed++
				}
			}
			arm()
		case reply := <-stop:
			ids = sched.Drain(ids[:0])
			for _, id := range ids {
				if accept(id) {
					st.Released++
				}
			}
			stopped = true
			arm()
			reply <- st
		}
	}
}
