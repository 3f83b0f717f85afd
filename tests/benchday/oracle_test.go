package benchday

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOracleBridges(t *testing.T) {
	tests := []struct {
		participants, capacity int
		target                 float64
		want                   int
	}{
		{0, 100, 0.3, 1}, // at least one bridge, even for nobody
		{1, 100, 0.3, 1},
		{30, 100, 0.3, 1}, // stress 0.3 exactly is at target (100 × 0.3 is 30.000000000000004 in binary)
		{31, 100, 0.3, 2},
		{60, 100, 0.3, 2},
		{61, 100, 0.3, 3},
		{90, 100, 0.3, 3},
		{1000, 100, 0.3, 34}, // the 10:00 peak
		{70, 100, 0.7, 1},
		{71, 100, 0.7, 2},
		{100, 100, 1, 1},
		{101, 100, 1, 2},
		{2, 100, 0.01, 2}, // the 2021 operator's 10m: a bridge per participant
		{5, 1, 1, 5},
	}
	for _, tt := range tests {
		got, err := OracleBridges(tt.participants, tt.capacity, tt.target)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got, "%d participants, capacity %d, target %v", tt.participants, tt.capacity, tt.target)
	}
}

func TestOracleBridgesRefusesBadParameters(t *testing.T) {
	tests := []struct {
		participants, capacity int
		target                 float64
		wantErr                string
	}{
		{10, 0, 0.3, "capacity: must be at least 1 participant per bridge at stress 1.0, not 0"},
		{10, 100, 0, "target stress: must be greater than 0 and at most 1, not 0"},
		{10, 100, 1.5, "target stress: must be greater than 0 and at most 1, not 1.5"},
		{10, 100, math.NaN(), "target stress: must be greater than 0 and at most 1, not NaN"},
		{-1, 100, 0.3, "participants: must be zero or more, not -1"},
	}
	for _, tt := range tests {
		_, err := OracleBridges(tt.participants, tt.capacity, tt.target)
		assert.EqualError(t, err, tt.wantErr)
	}
	_, err := OracleNodeHours(nil, 0, 0.3)
	assert.ErrorContains(t, err, "capacity: must be at least 1")
	_, err = OracleBridgesPerMinute(nil, 100, -1)
	assert.ErrorContains(t, err, "target stress: must be greater than 0")
}

// One 12-minute conference of 100 at midnight, by hand. Per minute m, the most present is the
// count at the end of the minute: 40 (1 min: 80% over 2 minutes), 80, then 82, 85, 87, 90, 92,
// 95, 97 (2.5 a minute, rounded down), then 100 until it ends at minute 12. At capacity 100 and
// target 0.3 a bridge carries 30: 2, 3, 3, 3, 3, 3 (90 is exactly 3 × 30), 4, 4, 4, 4, 4, 4
// bridges, and 1 for each of the other 1,428 minutes.
func TestOracleOnAHandComputedDay(t *testing.T) {
	confs := []Conference{{StartMinute: 0, DurationMinutes: 12, Participants: 100, Region: "europe"}}

	participants := ParticipantsPerMinute(confs)
	require.Len(t, participants, DayMinutes)
	assert.Equal(t, []int{40, 80, 82, 85, 87, 90, 92, 95, 97, 100, 100, 100, 0}, participants[:13])
	for m := 12; m < DayMinutes; m++ {
		require.Zero(t, participants[m], "minute %d", m)
	}

	bridges, err := OracleBridgesPerMinute(confs, DefaultCapacity, DefaultTargetStress)
	require.NoError(t, err)
	assert.Equal(t, []int{2, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 1}, bridges[:13])

	hours, err := OracleNodeHours(confs, DefaultCapacity, DefaultTargetStress)
	require.NoError(t, err)
	wantMinutes := 2 + 5*3 + 6*4 + (DayMinutes - 12)
	assert.InDelta(t, float64(wantMinutes)/60, hours, 1e-12) // 1,469 bridge-minutes
}

func TestOracleOfAnEmptyDayIsOneBridge(t *testing.T) {
	hours, err := OracleNodeHours(nil, DefaultCapacity, DefaultTargetStress)
	require.NoError(t, err)
	assert.InDelta(t, 24.0, hours, 1e-12)
}

func TestParticipantsPerMinuteOverlapsConferences(t *testing.T) {
	confs := []Conference{
		{StartMinute: 100, DurationMinutes: 3, Participants: 10, Region: "europe"},
		{StartMinute: 101, DurationMinutes: 2, Participants: 20, Region: "europe"},
	}
	participants := ParticipantsPerMinute(confs)
	// minute 100: 4 of the first; 101: 8 + 8; 102: 8 + 16; 103: both ended.
	assert.Equal(t, []int{0, 4, 16, 24, 0}, participants[99:104])
}
