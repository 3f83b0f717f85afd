package jitsiemu

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestFakeClockRunsTimersInOrder(t *testing.T) {
	c := NewFakeClock(epoch)
	var fired []string
	c.AfterFunc(2*time.Second, func() {
		fired = append(fired, "b")
		c.AfterFunc(time.Second, func() { fired = append(fired, "d") }) // due at 3 s
	})
	c.AfterFunc(time.Second, func() { fired = append(fired, "a") })
	cancelled := c.AfterFunc(time.Second, func() { fired = append(fired, "never") })
	c.AfterFunc(5*time.Second, func() { fired = append(fired, "later") })
	assert.True(t, cancelled.Stop())
	assert.False(t, cancelled.Stop(), "stopped once")

	c.Advance(3 * time.Second)
	assert.Equal(t, []string{"a", "b", "d"}, fired)
	assert.Equal(t, epoch.Add(3*time.Second), c.Now())
	c.Advance(2 * time.Second)
	assert.Equal(t, []string{"a", "b", "d", "later"}, fired)
}

func TestScaledClockRunsFaster(t *testing.T) {
	c := NewScaledClock(3600) // an hour a second
	start := c.Now()
	done := make(chan time.Time, 1)
	c.AfterFunc(30*time.Minute, func() { done <- c.Now() })
	select {
	case at := <-done:
		assert.GreaterOrEqual(t, at.Sub(start), 30*time.Minute)
	case <-time.After(5 * time.Second):
		t.Fatal("half an hour of scaled time took more than 5 s")
	}
}
