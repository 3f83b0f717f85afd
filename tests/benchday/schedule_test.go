package benchday

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScheduleFromTrace(t *testing.T) {
	confs, err := ParseTrace(strings.NewReader(TraceHeader + `
480,60,150,europe
540,60,150,europe
600,30,20,europe
1380,60,60,europe
`))
	require.NoError(t, err)
	windows, err := ScheduleFromTrace(confs, DefaultCapacity, DefaultTargetStress)
	require.NoError(t, err)
	assert.Equal(t, []ScheduleWindow{
		{From: "08:00", To: "10:00", MinReplicas: 5}, // 150 at 30 a bridge, two hours alike
		// 10:00: 20 participants fit one bridge, the autoscaler's own floor: no window
		{From: "23:00", To: "00:00", MinReplicas: 2}, // ends at midnight
	}, windows)

	_, err = ScheduleFromTrace(confs, 0, DefaultTargetStress)
	assert.Error(t, err, "the capacity is checked")
}

func TestScheduleFromTheUniversityDay(t *testing.T) {
	day := UniversityDay()
	windows, err := ScheduleFromTrace(day.Conferences, DefaultCapacity, DefaultTargetStress)
	require.NoError(t, err)
	oracle, err := OracleBridgesPerMinute(day.Conferences, DefaultCapacity, DefaultTargetStress)
	require.NoError(t, err)
	require.NotEmpty(t, windows)
	assert.Equal(t, "08:00", windows[0].From, "the first lectures")
	for m, need := range oracle {
		floor := 1
		for _, w := range windows {
			from, to := hourOf(t, w.From)*60, hourOf(t, w.To)*60
			if to == 0 {
				to = DayMinutes
			}
			if m >= from && m < to {
				floor = max(floor, w.MinReplicas)
			}
		}
		assert.GreaterOrEqual(t, floor, need, "minute %d: the timetable covers what the hour needs", m)
	}
	peak := 0
	for _, w := range windows {
		peak = max(peak, w.MinReplicas)
	}
	assert.Equal(t, 34, peak, "the 10:00 lectures")
}

func hourOf(t *testing.T, hhmm string) int {
	t.Helper()
	var h, m int
	_, err := fmt.Sscanf(hhmm, "%d:%d", &h, &m)
	require.NoError(t, err)
	return h
}
