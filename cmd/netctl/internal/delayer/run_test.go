package delayer

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/nemesis/netrule"
)

// fakeClock is a Clock that moves only when told to.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

var _ Clock = (*fakeClock)(nil)

type fakeTimer struct {
	clk    *fakeClock
	c      chan time.Time
	at     time.Time
	active bool
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{clk: c, c: make(chan time.Time, 1)}
	c.mu.Lock()
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	t.Reset(d)
	return t
}

// Advance moves the clock by d and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		t.fireLocked()
	}
}

func (t *fakeTimer) fireLocked() {
	if t.active && !t.at.After(t.clk.now) {
		t.active = false
		t.c <- t.clk.now
	}
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Reset(d time.Duration) {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	t.drainLocked()
	t.at, t.active = t.clk.now.Add(d), true
	t.fireLocked()
}

func (t *fakeTimer) Stop() {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	t.active = false
	t.drainLocked()
}

func (t *fakeTimer) drainLocked() {
	select {
	case <-t.c:
	default:
	}
}

// fakeAcceptor records every accept with the fake time it happened at.
type fakeAcceptor struct {
	clk    *fakeClock
	refuse map[uint32]bool
	mu     sync.Mutex
	ids    []uint32
	at     []time.Time
}

func (a *fakeAcceptor) Accept(id uint32) error {
	if a.refuse[id] {
		return errors.New("no such packet")
	}
	now := a.clk.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ids = append(a.ids, id)
	a.at = append(a.at, now)
	return nil
}

func (a *fakeAcceptor) accepted() ([]uint32, []time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.ids), slices.Clone(a.at)
}

// waitAccepted polls until n packets were accepted (generous deadline).
func (a *fakeAcceptor) waitAccepted(t *testing.T, n int) ([]uint32, []time.Time) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ids, at := a.accepted()
		if len(ids) >= n {
			return ids, at
		}
		if time.Now().After(deadline) {
			t.Fatalf("accepted %v, want %d packets", ids, n)
		}
		time.Sleep(time.Millisecond)
	}
}

type runner struct {
	clk     *fakeClock
	acc     *fakeAcceptor
	packets chan Packet
	stop    chan chan<- Stats
	done    chan Stats
	cancel  context.CancelFunc
}

func startRun(t *testing.T, d netrule.Delay, refuse ...uint32) *runner {
	t.Helper()
	clk := &fakeClock{now: t0}
	r := &runner{
		clk:     clk,
		acc:     &fakeAcceptor{clk: clk, refuse: map[uint32]bool{}},
		packets: make(chan Packet),
		stop:    make(chan chan<- Stats),
		done:    make(chan Stats, 1),
	}
	for _, id := range refuse {
		r.acc.refuse[id] = true
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() { r.done <- Run(ctx, d, clk, r.acc, r.packets, r.stop, log) }()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

func (r *runner) send(id uint32, f Flow, after time.Duration) {
	r.packets <- Packet{ID: id, Flow: f, Arrived: t0.Add(after)}
}

func (r *runner) stopNow() Stats {
	reply := make(chan Stats, 1)
	r.stop <- reply
	return <-reply
}

func TestRunHoldsUntilDue(t *testing.T) {
	r := startRun(t, netrule.Delay{Mean: 100 * ms})
	r.send(1, flow(1), 0)
	r.send(2, flow(2), 30*ms)
	r.send(3, flow(1), 30*ms)
	r.clk.Advance(100 * ms)
	if ids, _ := r.acc.waitAccepted(t, 1); !slices.Equal(ids, []uint32{1}) {
		t.Fatalf("at t0+100ms accepted %v, want [1]", ids)
	}
	r.clk.Advance(29 * ms)
	r.clk.Advance(ms)
	ids, at := r.acc.waitAccepted(t, 3)
	if !slices.Equal(ids, []uint32{1, 2, 3}) {
		t.Fatalf("accepted %v, want [1 2 3]", ids)
	}
	for i, want := range []time.Duration{100 * ms, 130 * ms, 130 * ms} {
		if got := at[i].Sub(t0); got != want {
			t.Errorf("packet %d accepted at t0+%v, want t0+%v", ids[i], got, want)
		}
	}
	if st := r.stopNow(); st != (Stats{Delayed: 3, MaxHeld: 3}) {
		t.Fatalf("stats %+v", st)
	}
}

func TestRunLaterPacketDueFirst(t *testing.T) {
	// The timer is armed for packet 1 (t0+100ms); packet 2 arrives
	// with a shorter delay and must not wait for packet 1's timer.
	r := startRun(t, netrule.Delay{Mean: 100 * ms})
	r.send(1, flow(1), 0)
	r.send(2, flow(2), -60*ms) // reached the delayer earlier than it was handed over
	r.clk.Advance(40 * ms)
	if ids, _ := r.acc.waitAccepted(t, 1); !slices.Equal(ids, []uint32{2}) {
		t.Fatalf("at t0+40ms accepted %v, want [2]", ids)
	}
}

func TestRunStopReleasesAllThenPasses(t *testing.T) {
	r := startRun(t, netrule.Delay{Mean: 5 * time.Second, Jitter: time.Second, Seed: 9}, 4)
	for i := range 4 {
		r.send(uint32(i+1), flow(uint16(i)), time.Duration(i)*ms)
	}
	st := r.stopNow()
	if st.Released != 3 || st.Failed != 1 || st.Delayed != 0 || st.MaxHeld != 4 {
		t.Fatalf("stats at stop %+v, want 3 released, 1 failed, 4 held at most", st)
	}
	ids, at := r.acc.accepted()
	slices.Sort(ids)
	if !slices.Equal(ids, []uint32{1, 2, 3}) || !at[2].Equal(t0) {
		t.Fatalf("released %v at %v, want [1 2 3] at once", ids, at)
	}
	// After the stop every packet passes at once, without the clock moving.
	r.send(10, flow(1), 0)
	if ids, _ := r.acc.waitAccepted(t, 4); ids[3] != 10 {
		t.Fatalf("accepted %v, want 10 passed through", ids)
	}
	r.cancel()
	if st := <-r.done; st.Passed != 1 || st.Released != 3 {
		t.Fatalf("final stats %+v", st)
	}
	r.done <- st // for the cleanup
}

func TestRunEndsWhenPacketsClose(t *testing.T) {
	r := startRun(t, netrule.Delay{Mean: 100 * ms})
	r.send(1, flow(1), 0)
	close(r.packets)
	st := <-r.done
	r.done <- st
	if st.MaxHeld != 1 || st.Delayed != 0 {
		t.Fatalf("stats %+v", st)
	}
}
