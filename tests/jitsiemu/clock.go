// Package jitsiemu holds test doubles of the Jitsi components that carry participants: an
// emulated jitsi-videobridge per JVB pod (bridge.go, fleet.go), jicofo's bridge selection
// (jicofo.go), kube-metrics-adapter's json-path pod collector (metricsadapter.go) and the part
// of a kubelet that runs a terminating pod's preStop hook (kubelet.go).
//
// Each double behaves as the component does at the version this project pins, and its doc
// comment names the source it follows: jitsi-videobridge and jicofo at the git tag
// stable/jitsi-meet_11146 (the release behind the images stable-11146-2),
// kube-metrics-adapter v0.2.9.
package jitsiemu

import (
	"sort"
	"sync"
	"time"
)

// Clock is where the emulators take their time from: time.Now in the end-to-end tests, a
// manual clock in unit tests, a faster one in a benchmark that compresses a lecture day.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f once d has passed on this clock. Stop cancels a call not yet made.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	Stop() bool
}

// RealClock is the wall clock.
type RealClock struct{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (RealClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// ScaledClock runs Factor times faster than the wall clock, from the moment it was made:
// with Factor 60, a bridge's one-hour graceful-shutdown limit passes in one real minute.
type ScaledClock struct {
	Factor float64
	origin time.Time
}

// NewScaledClock starts a clock that runs factor times faster than the wall clock.
func NewScaledClock(factor float64) *ScaledClock {
	if factor <= 0 {
		factor = 1
	}
	return &ScaledClock{Factor: factor, origin: time.Now()}
}

// Now is the scaled time.
func (c *ScaledClock) Now() time.Time {
	return c.origin.Add(time.Duration(float64(time.Since(c.origin)) * c.Factor))
}

// AfterFunc waits d of scaled time.
func (c *ScaledClock) AfterFunc(d time.Duration, f func()) Timer {
	return time.AfterFunc(time.Duration(float64(d)/c.Factor), f)
}

// FakeClock moves only when told to. Advance runs the calls that fall due, in time order, in
// the caller's goroutine, so a unit test sees their effects as soon as Advance returns.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers []*fakeTimer
}

type fakeTimer struct {
	clock *FakeClock
	at    time.Time
	seq   int
	f     func()
	done  bool
}

// NewFakeClock starts at start.
func NewFakeClock(start time.Time) *FakeClock { return &FakeClock{now: start} }

// Now is the clock's current time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f at Now()+d.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{clock: c, at: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

// Advance moves the clock by d, running every call that falls due on the way.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		sort.Slice(c.timers, func(i, j int) bool {
			if c.timers[i].at.Equal(c.timers[j].at) {
				return c.timers[i].seq < c.timers[j].seq
			}
			return c.timers[i].at.Before(c.timers[j].at)
		})
		var next *fakeTimer
		if len(c.timers) > 0 && !c.timers[0].at.After(end) {
			next = c.timers[0]
			c.timers = c.timers[1:]
			next.done = true
			if next.at.After(c.now) {
				c.now = next.at
			}
		}
		if next == nil {
			c.now = end
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		next.f()
	}
}

func (t *fakeTimer) Stop() bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.done {
		return false
	}
	t.done = true
	for i, other := range c.timers {
		if other == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			break
		}
	}
	return true
}
