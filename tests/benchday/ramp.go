package benchday

import "math"

// The ramp: how a conference's participants arrive. Students do not join a lecture in one
// second, nor spread evenly over it: most click the link in the minute or two around the
// start, a few come late. The model is front-loaded and piecewise linear, so that it stays
// deterministic and easy to check by hand:
//
//   - RampEarlyShare (80%) of the participants join at a steady rate over the first
//     RampEarlyMinutes (2) minutes;
//   - the other 20% join at a steady rate from minute 2 to RampFullMinutes (10);
//   - everyone is in from minute 10 to the end, and everyone leaves at the end, at once (the
//     host ends the meeting; students leave within seconds, well under the one-minute
//     resolution of a trace). So nobody outlasts the conference, and a conference that ends
//     by midnight leaves nobody past it.
//
// A conference shorter than 10 minutes ends before its late joiners arrive; they never join.
const (
	RampEarlyMinutes = 2.0
	RampEarlyShare   = 0.8
	RampFullMinutes  = 10.0
)

// countEpsilon absorbs binary floating-point error before a count is rounded down, so that
// 0.8 × 100 participants is 80, not 79.
const countEpsilon = 1e-9

// JoinedFraction is the share of a conference's participants that have joined elapsed
// minutes after its start, ignoring its end: 0 before the start, 1 from RampFullMinutes on.
func JoinedFraction(elapsed float64) float64 {
	switch {
	case math.IsNaN(elapsed) || elapsed <= 0:
		return 0
	case elapsed < RampEarlyMinutes:
		return RampEarlyShare * elapsed / RampEarlyMinutes
	case elapsed < RampFullMinutes:
		return RampEarlyShare + (1-RampEarlyShare)*(elapsed-RampEarlyMinutes)/(RampFullMinutes-RampEarlyMinutes)
	default:
		return 1
	}
}

// Joined is how many of c's participants are in it at the trace minute minute (minute 600.5
// is 10:00:30): none before its start or from its end on, floor(JoinedFraction × Participants)
// in between. It never decreases while the conference runs.
func Joined(c Conference, minute float64) int {
	if math.IsNaN(minute) || minute < float64(c.StartMinute) || minute >= float64(c.EndMinute()) {
		return 0
	}
	return joinedAfter(c, minute-float64(c.StartMinute))
}

// joinedAfter counts the participants joined elapsed minutes after the start, ignoring the end.
func joinedAfter(c Conference, elapsed float64) int {
	n := int(math.Floor(JoinedFraction(elapsed)*float64(c.Participants) + countEpsilon))
	return min(max(n, 0), c.Participants)
}

// ParticipantsAt is how many participants every conference of the trace holds together at
// the trace minute minute.
func ParticipantsAt(confs []Conference, minute float64) int {
	total := 0
	for _, c := range confs {
		total += Joined(c, minute)
	}
	return total
}
