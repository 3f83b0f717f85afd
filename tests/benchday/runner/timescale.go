package runner

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// DefaultFactor is the time compression of a benchmark run: a trace minute plays in a
// wall-clock second, so a 24-hour day plays in 24 minutes. It is the highest factor the
// project's HPA allows: its scale-up and scale-down policies count per 60-second period, and
// a period must stay a whole number of seconds, at least 1.
const DefaultFactor = 60

// TimeScale compresses time by one factor: Factor trace seconds pass in one wall-clock
// second. Everything time-based in a run goes through it: the trace, the HPA's windows and
// periods, the controllers' intervals, the drain, the node boot.
type TimeScale struct {
	Factor float64
}

// Validate checks the factor against the smallest period that must stay whole seconds.
func (s TimeScale) Validate() error {
	if math.IsNaN(s.Factor) || math.IsInf(s.Factor, 0) || s.Factor < 1 {
		return fmt.Errorf("time compression factor: must be 1 or more (trace seconds per wall-clock second), not %v", s.Factor)
	}
	if s.Factor > DefaultFactor {
		return fmt.Errorf("time compression factor: must be at most %d, not %v: the HPA's 60-second policy periods must stay whole seconds of at least 1", DefaultFactor, s.Factor)
	}
	return nil
}

// Wall is how long a trace duration lasts on the wall clock.
func (s TimeScale) Wall(trace time.Duration) time.Duration {
	return time.Duration(float64(trace) / s.Factor)
}

// Trace is how much trace time a wall-clock duration stands for.
func (s TimeScale) Trace(wall time.Duration) time.Duration {
	return time.Duration(float64(wall) * s.Factor)
}

// Flag formats a trace duration, compressed, as a Go duration flag value (ms precision).
func (s TimeScale) Flag(trace time.Duration) string {
	return s.Wall(trace).Round(time.Millisecond).String()
}

// Seconds compresses a trace duration given in whole seconds to whole seconds, as the
// Kubernetes API and some flags want them: rounded up, so that nothing the policy waits
// for becomes shorter than it is, and never below min. It says when that is not exact,
// and what it means in trace time.
func (s TimeScale) Seconds(traceSeconds int64, min int64) (wall int64, note string) {
	exact := float64(traceSeconds) / s.Factor
	wall = int64(math.Ceil(exact - 1e-9))
	if wall < min {
		wall = min
	}
	if float64(wall) != exact {
		note = fmt.Sprintf("%d s becomes %d s, not %s s: %s trace seconds", traceSeconds, wall,
			strconv.FormatFloat(exact, 'f', -1, 64), strconv.FormatFloat(float64(wall)*s.Factor, 'f', -1, 64))
	}
	return wall, note
}

// Fraction formats a trace duration, compressed, in seconds with a fractional part, as a
// shell's sleep takes it.
func (s TimeScale) Fraction(trace time.Duration) string {
	return strconv.FormatFloat(s.Wall(trace).Seconds(), 'f', 3, 64)
}
