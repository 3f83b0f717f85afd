package benchday

import (
	"fmt"
	"math"
)

// DefaultCapacity is how many participants make one bridge's stress 1.0. Stress is taken as
// participants ÷ capacity per bridge, jicofo's own load model: jicofo-selector's
// reference.conf adds jicofo.bridge.average-participant-stress = 0.01 per participant, so 100
// participants are a full bridge (the bridge's videobridge.load-management has the same
// 0.01). tests/jitsiemu's emulated bridge reports stress_level the same way.
const DefaultCapacity = 100

// DefaultTargetStress is the average stress the HPA keeps: the claim's default
// jvb.autoscaling.targetStressLevel, which is the scale-up threshold of Jitsi's production
// pools (jitsi/infra-provisioning create-jvb-pool.sh, scaleUpThreshold 0.3).
const DefaultTargetStress = 0.3

// stressEpsilon: a stress within it of a threshold counts as at the threshold. 0.3 has no
// exact binary form, and 100 × 0.3 is 30.000000000000004; without it 30 participants on a
// bridge of 100 would count as over target.
const stressEpsilon = 1e-9

// OracleBridges is the fewest bridges, at least one, whose average stress stays at or below
// target while they carry participants: max(1, ceil(participants ÷ (capacity × target))).
// A capacity below 1 or a target outside (0, 1] is refused.
func OracleBridges(participants, capacity int, target float64) (int, error) {
	if err := checkCapacityTarget(capacity, target); err != nil {
		return 0, err
	}
	if participants < 0 {
		return 0, fmt.Errorf("participants: must be zero or more, not %d", participants)
	}
	return oracleBridges(participants, capacity, target), nil
}

func oracleBridges(participants, capacity int, target float64) int {
	n := math.Ceil(float64(participants)/(float64(capacity)*target) - stressEpsilon)
	return max(1, int(n))
}

func checkCapacityTarget(capacity int, target float64) error {
	if capacity < 1 {
		return fmt.Errorf("capacity: must be at least 1 participant per bridge at stress 1.0, not %d", capacity)
	}
	if math.IsNaN(target) || target <= 0 || target > 1 {
		return fmt.Errorf("target stress: must be greater than 0 and at most 1, not %v", target)
	}
	return nil
}

// ParticipantsPerMinute is, for each minute m of the day (DayMinutes values), the most
// participants present at any instant of [m, m+1). No conference starts or ends inside a
// minute and participants only join while a conference runs, so that is each running
// conference's count at the end of the minute (its last instant, before it may end).
// Conferences outside the day are clamped to it.
func ParticipantsPerMinute(confs []Conference) []int {
	perMinute := make([]int, DayMinutes)
	for _, c := range confs {
		for m := max(c.StartMinute, 0); m < min(c.EndMinute(), DayMinutes); m++ {
			perMinute[m] += joinedAfter(c, float64(m+1-c.StartMinute))
		}
	}
	return perMinute
}

// OracleBridgesPerMinute is what a perfect-foresight autoscaler keeps serving in each minute
// of the day: OracleBridges of that minute's ParticipantsPerMinute. It knows the load before
// it comes and has bridges serving in no time, so it never runs over target and never keeps
// a bridge it does not need.
func OracleBridgesPerMinute(confs []Conference, capacity int, target float64) ([]int, error) {
	if err := checkCapacityTarget(capacity, target); err != nil {
		return nil, err
	}
	participants := ParticipantsPerMinute(confs)
	bridges := make([]int, len(participants))
	for m, p := range participants {
		bridges[m] = oracleBridges(p, capacity, target)
	}
	return bridges, nil
}

// OracleNodeHours is the oracle's cost for the day: the sum over the day's minutes of
// OracleBridgesPerMinute, one node per bridge, in node-hours (÷ 60). It is the same
// reference for every policy that plays the trace.
func OracleNodeHours(confs []Conference, capacity int, target float64) (float64, error) {
	bridges, err := OracleBridgesPerMinute(confs, capacity, target)
	if err != nil {
		return 0, err
	}
	minutes := 0
	for _, b := range bridges {
		minutes += b
	}
	return float64(minutes) / 60, nil
}
