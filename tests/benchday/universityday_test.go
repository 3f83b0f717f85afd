package benchday

import (
	"bytes"
	"os"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const universityDayFile = "testdata/university-day.csv"

func TestUniversityDayFileIsGenerated(t *testing.T) {
	committed, err := os.ReadFile(universityDayFile)
	require.NoError(t, err)
	if !bytes.Equal(UniversityDayCSV(), committed) {
		t.Fatalf("%s differs from what universityday.go generates: run go generate ./benchday in tests/", universityDayFile)
	}

	trace, err := LoadTrace(universityDayFile)
	require.NoError(t, err)
	assert.Equal(t, UniversityDay(), trace)
	assert.NoError(t, trace.Validate())
}

func TestUniversityDayHasTheShapeOfALectureDay(t *testing.T) {
	day := UniversityDay()
	participants := ParticipantsPerMinute(day.Conferences)

	peak := slices.Max(participants)
	assert.Equal(t, 1000, peak, "1,000 students at the peak")
	for m, p := range participants {
		if p == peak {
			assert.True(t, m >= 10*60 && m < 11*60, "the peak falls in the 10:00 hour, not at minute %d", m)
		}
	}
	tenOClock := 0
	for _, c := range day.Conferences {
		if c.StartMinute == 10*60 {
			tenOClock += c.Participants
		}
	}
	assert.Equal(t, 1000, tenOClock, "the 10:00 lectures total 1,000 students")

	lunch := slices.Max(participants[12*60 : 14*60])
	assert.LessOrEqual(t, lunch, 105, "lunch is quiet")
	assert.Less(t, lunch, slices.Max(participants[14*60:15*60])/4, "lunch dips below the afternoon")

	assert.Zero(t, slices.Max(participants[:8*60]), "nobody before 08:00")
	assert.Zero(t, slices.Max(participants[21*60:]), "nobody from 21:00")

	for _, c := range day.Conferences {
		assert.Equal(t, UniversityDayRegion, c.Region)
		assert.True(t, c.Participants >= 6 && c.Participants <= 300, "size %d", c.Participants)
		if c.StartMinute <= 18*60 {
			assert.Zero(t, c.StartMinute%60, "lectures start on the hour, not at minute %d", c.StartMinute)
			assert.Contains(t, []int{60, 90}, c.DurationMinutes, "lectures last 60 or 90 minutes")
		}
	}

	bridges, err := OracleBridgesPerMinute(day.Conferences, DefaultCapacity, DefaultTargetStress)
	require.NoError(t, err)
	assert.Equal(t, 34, slices.Max(bridges), "ceil(1000 / 30) bridges at the peak")
	hours, err := OracleNodeHours(day.Conferences, DefaultCapacity, DefaultTargetStress)
	require.NoError(t, err)
	t.Logf("university-day: %d conferences, peak %d participants, oracle %d bridges at the peak, %.3f node-hours",
		len(day.Conferences), peak, slices.Max(bridges), hours)
}
