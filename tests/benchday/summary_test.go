package benchday

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tinyRun: the hand-computed oracle day (one 12-minute conference of 100 at 10:00: 1,469
// bridge-minutes), and two policies.
func tinyRun() (Run, []Timeline) {
	run := Run{
		Trace:           Trace{Name: "tiny", Conferences: []Conference{{StartMinute: 600, DurationMinutes: 12, Participants: 100, Region: "europe"}}},
		TimeCompression: 60,
		Machine:         "2 cores, kwok nodes",
	}
	static := Timeline{Policy: "static-4", Samples: []Sample{{Minute: 0, BridgesWanted: 4, BridgesServing: 4, Nodes: 4}}}
	return run, []Timeline{handBuiltTimeline(), static}
}

const tinySummaryJSON = `{
  "trace": "tiny",
  "machine": "2 cores, kwok nodes",
  "time_compression": 60,
  "capacity_participants_per_bridge": 100,
  "target_stress": 0.3,
  "conferences": 1,
  "peak_participants": 100,
  "peak_hour": "10:00",
  "oracle_node_hours": 24.483,
  "policies": [
    {
      "policy": "hpa-0.3",
      "node_hours": 27.367,
      "oracle_node_hours": 24.483,
      "overloaded_participant_minutes": 240,
      "conferences_cut": 2,
      "p95_scale_up_seconds": 180,
      "scale_ups": 1,
      "scale_ups_unserved": 2,
      "peak_hour_p95_scale_up_seconds": 180,
      "peak_hour_scale_ups": 1
    },
    {
      "policy": "static-4",
      "node_hours": 96,
      "oracle_node_hours": 24.483,
      "overloaded_participant_minutes": 0,
      "conferences_cut": 0,
      "p95_scale_up_seconds": null,
      "scale_ups": 0,
      "scale_ups_unserved": 0,
      "peak_hour_p95_scale_up_seconds": null,
      "peak_hour_scale_ups": 0
    }
  ]
}
`

func TestSummarizeWritesTheFieldsInOrder(t *testing.T) {
	run, timelines := tinyRun()
	s, err := Summarize(run, timelines)
	require.NoError(t, err)

	var out bytes.Buffer
	require.NoError(t, WriteSummaryJSON(&out, s))
	assert.Equal(t, tinySummaryJSON, out.String())

	assert.InDelta(t, 27.367/24.483, s.Policies[0].Ratio(), 1e-12)
	assert.True(t, math.IsNaN(PolicySummary{NodeHours: 1}.Ratio()), "no oracle, no ratio")
}

func TestSummaryJSONRoundTrips(t *testing.T) {
	run, timelines := tinyRun()
	s, err := Summarize(run, timelines)
	require.NoError(t, err)

	var out bytes.Buffer
	require.NoError(t, WriteSummaryJSON(&out, s))
	back, err := ReadSummaryJSON(&out)
	require.NoError(t, err)
	assert.Equal(t, s, back)

	_, err = ReadSummaryJSON(strings.NewReader(`{"trace": "x", "node_hours": 3}`))
	assert.ErrorContains(t, err, `decoding the summary: json: unknown field "node_hours"`)
	_, err = ReadSummaryJSON(strings.NewReader(`{"trace": `))
	assert.ErrorContains(t, err, "decoding the summary")
}

func TestSummarizeTakesTheDefaultsAndOtherTargets(t *testing.T) {
	run, timelines := tinyRun()
	s, err := Summarize(run, timelines)
	require.NoError(t, err)
	assert.Equal(t, DefaultCapacity, s.Capacity)
	assert.Equal(t, DefaultTargetStress, s.TargetStress)

	// At target 1 a bridge carries 100: the tiny day needs one bridge all day, and the
	// hand-built timeline's stress of 0.35 to 0.6 is no longer over target.
	run.TargetStress = 1
	s, err = Summarize(run, timelines)
	require.NoError(t, err)
	assert.Equal(t, 24.0, s.OracleNodeHours)
	assert.Equal(t, 1, s.Policies[0].ScaleUps, "only 1.2 at 10:01 is over 1")
	assert.Zero(t, s.Policies[0].ScaleUpsUnserved)
	require.NotNil(t, s.Policies[0].P95ScaleUpSeconds)
	assert.Equal(t, 120.0, *s.Policies[0].P95ScaleUpSeconds, "from 10:01 to 10:03")
}

func TestSummarizeRefusesBadRuns(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Run, *[]Timeline)
		wantErr string
	}{
		{"no timeline", func(_ *Run, tls *[]Timeline) { *tls = nil }, "timelines: must hold one timeline per policy, not none"},
		{"a policy twice", func(_ *Run, tls *[]Timeline) { (*tls)[1].Policy = "hpa-0.3" }, `timelines: policy "hpa-0.3": must appear once, not twice`},
		{"a bad timeline", func(_ *Run, tls *[]Timeline) { (*tls)[1].Samples = nil }, `timeline "static-4": samples: must hold at least one sample`},
		{"no compression", func(r *Run, _ *[]Timeline) { r.TimeCompression = 0 }, "time compression: must be trace seconds per wall-clock second, greater than 0, not 0"},
		{"no machine", func(r *Run, _ *[]Timeline) { r.Machine = "  " }, "machine: must describe the machine the run used"},
		{"a target above 1", func(r *Run, _ *[]Timeline) { r.TargetStress = 2 }, "target stress: must be greater than 0 and at most 1, not 2"},
		{"a negative capacity", func(r *Run, _ *[]Timeline) { r.Capacity = -100 }, "capacity: must be at least 1 participant per bridge at stress 1.0, not -100"},
		{"a bad trace name", func(r *Run, _ *[]Timeline) { r.Trace.Name = "../x" }, "trace name: must be"},
		{"a bad conference", func(r *Run, _ *[]Timeline) { r.Trace.Conferences[0].Participants = 0 }, "trace tiny: conference 0: participants: must be a positive integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, timelines := tinyRun()
			tt.change(&run, &timelines)
			_, err := Summarize(run, timelines)
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}
