package system

import (
	"fmt"
	"sync"
	"time"
)

// Clock is the node's wall clock: real time plus a settable offset and an
// optional strobe (the offset flips between 0 and delta every period for a
// while). Containers share the host kernel clock, so this is how clock skew
// is injected into one node. The node reads wall time only through it.
type Clock struct {
	mu     sync.Mutex
	now    func() time.Time // real time source (time.Now)
	offset time.Duration

	strobeDelta  time.Duration
	strobePeriod time.Duration
	strobeStart  time.Time // real time
	strobeEnd    time.Time // real time
}

// NewClock returns a clock reading real time with no offset.
func NewClock() *Clock { return &Clock{now: time.Now} }

func (c *Clock) offsetLocked(real time.Time) time.Duration {
	off := c.offset
	if c.strobePeriod > 0 && real.Before(c.strobeEnd) {
		if (real.Sub(c.strobeStart)/c.strobePeriod)%2 == 1 {
			off += c.strobeDelta
		}
	}
	return off
}

// Now returns the skewed wall time. Like time.Now it carries a monotonic
// reading, so comparisons between two Now values include the skew only
// through the offset (use Time.Round(0) semantics if a pure wall reading is
// needed).
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	real := c.now()
	// Drop the monotonic reading: skew must affect comparisons.
	return real.Round(0).Add(c.offsetLocked(real))
}

// Offset returns the current total offset from real time.
func (c *Clock) Offset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offsetLocked(c.now())
}

// Bump adds delta (may be negative) to the offset.
func (c *Clock) Bump(delta time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += delta
}

// Strobe makes the clock alternate between its offset and offset+delta every
// period for duration.
func (c *Clock) Strobe(delta, period, duration time.Duration) error {
	if period <= 0 || duration <= 0 {
		return fmt.Errorf("clock strobe: period (%v) and duration (%v) must be positive", period, duration)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	real := c.now()
	c.strobeDelta, c.strobePeriod = delta, period
	c.strobeStart, c.strobeEnd = real, real.Add(duration)
	return nil
}

// Reset removes every offset and strobe.
func (c *Clock) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset, c.strobeDelta, c.strobePeriod = 0, 0, 0
}
