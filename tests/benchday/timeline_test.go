package benchday

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// handBuiltTimeline: one bridge all night; at 10:00 a lecture drives the stress over target,
// the HPA wants 4, two nodes come at 10:02, their bridges serve at 10:03, a fourth at 10:04;
// the lecture ends at 11:00 and the bridges go at 11:10; at 11:40 a small rise over target
// subsides without a new bridge; at 16:40 the stress is over target at the last sample.
func handBuiltTimeline() Timeline {
	return Timeline{
		Policy: "hpa-0.3",
		Samples: []Sample{
			{Minute: 0, Participants: 0, BridgesWanted: 1, BridgesServing: 1, Nodes: 1},
			{Minute: 600, Participants: 60, BridgesWanted: 1, BridgesServing: 1, Nodes: 1, AverageStress: 0.6},
			{Minute: 601, Participants: 120, BridgesWanted: 4, BridgesServing: 1, Nodes: 1, OverloadedParticipants: 120, AverageStress: 1.2},
			{Minute: 602, Participants: 120, BridgesWanted: 4, BridgesServing: 1, Nodes: 3, OverloadedParticipants: 120, AverageStress: 1.2},
			{Minute: 603, Participants: 120, BridgesWanted: 4, BridgesServing: 3, Nodes: 3, AverageStress: 0.4},
			{Minute: 604, Participants: 120, BridgesWanted: 4, BridgesServing: 4, Nodes: 4, AverageStress: 0.3},
			{Minute: 660, Participants: 0, BridgesWanted: 4, BridgesServing: 4, Nodes: 4},
			{Minute: 670, Participants: 0, BridgesWanted: 1, BridgesServing: 1, Nodes: 1},
			{Minute: 700, Participants: 35, BridgesWanted: 1, BridgesServing: 1, Nodes: 1, AverageStress: 0.35},
			{Minute: 710, Participants: 20, BridgesWanted: 1, BridgesServing: 1, Nodes: 1, AverageStress: 0.2},
			{Minute: 1000, Participants: 50, BridgesWanted: 2, BridgesServing: 1, Nodes: 1, AverageStress: 0.5},
		},
		ConferencesCut: []ConferenceCut{
			{Minute: 669, Conference: "conf-011", Bridge: "jitsi-jvb-abc", Participants: 3},
			{Minute: 669.5, Conference: "conf-012", Bridge: "jitsi-jvb-abc", Participants: 1},
		},
	}
}

func TestNodeHoursIntegratesTheNodes(t *testing.T) {
	tl := handBuiltTimeline()
	// 1 node for 602 minutes, 3 for 2, 4 for 66, then 1 for the 770 minutes to midnight.
	assert.InDelta(t, float64(602+3*2+4*66+770)/60, NodeHours(tl), 1e-12)

	allDay := Timeline{Policy: "static", Samples: []Sample{{Minute: 0, Nodes: 34}}}
	assert.InDelta(t, 34*24.0, NodeHours(allDay), 1e-12, "the last sample holds until midnight")

	halfMinutes := Timeline{Policy: "fine", Samples: []Sample{{Minute: 0, Nodes: 1}, {Minute: 0.5, Nodes: 2}, {Minute: 1, Nodes: 0}}}
	assert.InDelta(t, 1.5/60, NodeHours(halfMinutes), 1e-12, "samples finer than a minute")
}

func TestOverloadedParticipantMinutes(t *testing.T) {
	// 120 participants on an overloaded bridge from 10:01 to 10:03.
	assert.InDelta(t, 240.0, OverloadedParticipantMinutes(handBuiltTimeline()), 1e-12)
	assert.Zero(t, OverloadedParticipantMinutes(Timeline{Policy: "idle", Samples: []Sample{{Minute: 0}}}))
}

func TestScaleUpsAreTimedFromStressToANewBridge(t *testing.T) {
	tests := []struct {
		name    string
		samples []Sample
		want    []ScaleUp
	}{{
		name:    "the hand-built day",
		samples: handBuiltTimeline().Samples,
		want: []ScaleUp{
			{StartMinute: 600, EndMinute: 603, Served: true},    // 3 minutes to the first new bridge
			{StartMinute: 700, EndMinute: 710, Served: false},   // fell back to target without one
			{StartMinute: 1000, EndMinute: 1000, Served: false}, // the day ended first
		},
	}, {
		name: "still over target after the first new bridge: one episode per stretch",
		samples: []Sample{
			{Minute: 0, BridgesServing: 1, AverageStress: 0.9},
			{Minute: 1, BridgesServing: 2, AverageStress: 0.6},
			{Minute: 2, BridgesServing: 3, AverageStress: 0.4},
			{Minute: 3, BridgesServing: 3, AverageStress: 0.3},
			{Minute: 4, BridgesServing: 3, AverageStress: 0.5},
			{Minute: 4.5, BridgesServing: 4, AverageStress: 0.3},
		},
		want: []ScaleUp{
			{StartMinute: 0, EndMinute: 1, Served: true},
			{StartMinute: 4, EndMinute: 4.5, Served: true},
		},
	}, {
		name: "a bridge that leaves and comes back is not a new bridge",
		samples: []Sample{
			{Minute: 0, BridgesServing: 2},
			{Minute: 1, BridgesServing: 2, AverageStress: 0.5},
			{Minute: 2, BridgesServing: 1, AverageStress: 1.0},
			{Minute: 3, BridgesServing: 2, AverageStress: 0.5},
			{Minute: 4, BridgesServing: 3, AverageStress: 0.33},
		},
		want: []ScaleUp{{StartMinute: 1, EndMinute: 4, Served: true}},
	}, {
		name: "the new bridge brings the stress down in the same sample: served",
		samples: []Sample{
			{Minute: 0, BridgesServing: 1},
			{Minute: 1, BridgesServing: 1, AverageStress: 0.4},
			{Minute: 2, BridgesServing: 2, AverageStress: 0.2},
		},
		want: []ScaleUp{{StartMinute: 1, EndMinute: 2, Served: true}},
	}, {
		name: "never over target",
		samples: []Sample{
			{Minute: 0, BridgesServing: 1, AverageStress: 0.3},
			{Minute: 1, BridgesServing: 2, AverageStress: 0.1},
		},
		want: nil,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ScaleUps(Timeline{Policy: "p", Samples: tt.samples}, DefaultTargetStress)
			assert.Equal(t, tt.want, got)
		})
	}
	assert.InDelta(t, 180.0, ScaleUp{StartMinute: 600, EndMinute: 603}.Seconds(), 1e-9)
}

func TestP95ScaleUpSecondsCountsServedEpisodesOnly(t *testing.T) {
	seconds, ok := P95ScaleUpSeconds(handBuiltTimeline(), DefaultTargetStress)
	require.True(t, ok)
	assert.InDelta(t, 180.0, seconds, 1e-9)

	_, ok = P95ScaleUpSeconds(Timeline{Policy: "idle", Samples: []Sample{{Minute: 0, BridgesServing: 1}}}, DefaultTargetStress)
	assert.False(t, ok, "no episode, no p95")
}

func TestNearestRank(t *testing.T) {
	seq := func(n int) []float64 {
		values := make([]float64, n)
		for i := range values {
			values[i] = float64(n - i) // descending: nearestRank sorts
		}
		return values
	}
	tests := []struct {
		n    int
		want float64
	}{
		{1, 1},    // a single episode is its own p95
		{5, 5},    // fewer than 20: the slowest
		{19, 19},  // ceil(18.05) = 19
		{20, 19},  // ceil(19) = 19
		{21, 20},  // ceil(19.95) = 20
		{100, 95}, // ceil(95) = 95
		{101, 96}, // ceil(95.95) = 96
	}
	for _, tt := range tests {
		got, ok := nearestRank(seq(tt.n), 95)
		require.True(t, ok)
		assert.Equal(t, tt.want, got, "n = %d", tt.n)
	}
	_, ok := nearestRank(nil, 95)
	assert.False(t, ok)
}

func TestTimelineValidate(t *testing.T) {
	valid := handBuiltTimeline()
	require.NoError(t, valid.Validate())

	tests := []struct {
		name    string
		change  func(*Timeline)
		wantErr string
	}{
		{"no policy", func(tl *Timeline) { tl.Policy = "" }, `policy: must be a name of 1 to 64 characters`},
		{"a pipe in the policy", func(tl *Timeline) { tl.Policy = "a|b" }, `policy: must be a name`},
		{"no sample", func(tl *Timeline) { tl.Samples = nil }, `timeline "hpa-0.3": samples: must hold at least one sample, at minute 0`},
		{"starts late", func(tl *Timeline) { tl.Samples = tl.Samples[1:] }, `timeline "hpa-0.3": samples[0].minute: must be 0 (a timeline starts at midnight), not 600`},
		{"out of order", func(tl *Timeline) { tl.Samples[3].Minute = 600.5 }, `timeline "hpa-0.3": samples[3].minute: must be after the previous sample's 601, not 600.5`},
		{"repeated minute", func(tl *Timeline) { tl.Samples[2].Minute = 600 }, `samples[2].minute: must be after the previous sample's 600, not 600`},
		{"past midnight", func(tl *Timeline) { tl.Samples[10].Minute = 1500 }, `samples[10].minute: must be a trace minute from 0 to 1440, not 1500`},
		{"NaN minute", func(tl *Timeline) { tl.Samples[1].Minute = math.NaN() }, `samples[1].minute: must be a trace minute from 0 to 1440, not NaN`},
		{"negative nodes", func(tl *Timeline) { tl.Samples[4].Nodes = -1 }, `samples[4].nodes: must be zero or more, not -1`},
		{"negative wanted", func(tl *Timeline) { tl.Samples[4].BridgesWanted = -2 }, `samples[4].bridges_wanted: must be zero or more, not -2`},
		{"infinite stress", func(tl *Timeline) { tl.Samples[4].AverageStress = math.Inf(1) }, `samples[4].average_stress: must be a stress level of zero or more, not +Inf`},
		{"cut without a name", func(tl *Timeline) { tl.ConferencesCut[1].Conference = "" }, `conferences_cut[1].conference: must name the conference, not be empty`},
		{"cut of nobody", func(tl *Timeline) { tl.ConferencesCut[0].Participants = 0 }, `conferences_cut[0].participants: must be at least 1`},
		{"cut past midnight", func(tl *Timeline) { tl.ConferencesCut[0].Minute = 1441 }, `conferences_cut[0].minute: must be a trace minute from 0 to 1440, not 1441`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := handBuiltTimeline()
			tt.change(&tl)
			assert.ErrorContains(t, tl.Validate(), tt.wantErr)
		})
	}
}

func TestMetricsOfAnUnsortedTimelineDoNotCrash(t *testing.T) {
	tl := Timeline{Policy: "bad", Samples: []Sample{{Minute: 10, Nodes: 1}, {Minute: 5, Nodes: 2}}}
	require.Error(t, tl.Validate())
	assert.NotPanics(t, func() {
		NodeHours(tl)
		OverloadedParticipantMinutes(tl)
		P95ScaleUpSeconds(tl, DefaultTargetStress)
	})
}

func TestP95ScaleUpSecondsOfAWindow(t *testing.T) {
	episodes := ScaleUps(handBuiltTimeline(), DefaultTargetStress)
	seconds, ok, n := p95Between(episodes, 600, 660)
	assert.True(t, ok)
	assert.Equal(t, 180.0, seconds, "the 10:00 episode, served at 10:03")
	assert.Equal(t, 1, n)
	_, ok, n = p95Between(episodes, 700, 800)
	assert.False(t, ok, "the 11:40 episode ended without a new bridge")
	assert.Equal(t, 1, n)
	_, ok, n = p95Between(episodes, 0, 600)
	assert.False(t, ok)
	assert.Zero(t, n, "nothing went over target before 10:00")
}
