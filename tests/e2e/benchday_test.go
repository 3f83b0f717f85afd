package e2e

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/benchday"
	"github.com/crossplane-jitsi/crossplane-jitsi/tests/benchday/runner"
)

// lectureHour is an hour of a day: a lecture of 150 from 00:05 to 00:35, a seminar of 20
// inside it, and a small meeting that outlasts the lecture by twenty minutes, so that a
// bridge may have to drain it when the lecture's bridges go.
const lectureHour = `start_minute,duration_minutes,participants,region
5,30,150,europe
10,20,20,europe
15,40,8,europe
`

// TestLectureHourFollowsTheLoad plays an hour of trace time with the project's default
// policy, at the benchmark's time compression, on the lecture-day runner: the real HPA,
// cluster-autoscaler's loop and jitsi-nodescaler's kwok nodes that boot in 90 s. The JVB
// nodes rise with the lecture and fall back after it, and no conference is cut.
func TestLectureHourFollowsTheLoad(t *testing.T) {
	t.Parallel()
	confs, err := benchday.ParseTrace(strings.NewReader(lectureHour))
	require.NoError(t, err)
	oracle, err := benchday.OracleBridgesPerMinute(confs, benchday.DefaultCapacity, benchday.DefaultTargetStress)
	require.NoError(t, err)
	peak := slices.Max(oracle)
	policies, err := runner.Policies(confs, false)
	require.NoError(t, err)
	policy := policies[slices.IndexFunc(policies, func(p runner.Policy) bool { return p.Name == runner.PolicyDefault })]

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const endMinute = 80
	report, err := runner.Run(ctx, runner.Options{
		Tools:     tools,
		Trace:     benchday.Trace{Name: "lecture-hour", Conferences: confs},
		Policies:  []runner.Policy{policy},
		EndMinute: endMinute,
		Root:      filepath.Join(tools.Root, ".cache", "e2e"),
		Logf:      t.Logf,
	})
	require.NoError(t, err)
	require.Len(t, report.Results, 1)
	r := report.Results[0]
	tl := r.Timeline

	nodesAt := func(from, to float64) (lowest, highest int) {
		lowest = 1 << 30
		for _, s := range tl.Samples {
			if s.Minute >= from && s.Minute < to {
				lowest, highest = min(lowest, s.Nodes), max(highest, s.Nodes)
			}
		}
		return lowest, highest
	}
	for _, m := range []float64{0, 5, 8, 12, 20, 35, 40, 45, 50, 55, 60, 65, 70, 75} {
		i := max(0, slices.IndexFunc(tl.Samples, func(s benchday.Sample) bool { return s.Minute >= m })-0)
		s := tl.Samples[i]
		t.Logf("minute %5.1f: %3d participants, %d bridges wanted, %d serving, %d JVB nodes, average stress %.2f, %d overloaded",
			s.Minute, s.Participants, s.BridgesWanted, s.BridgesServing, s.Nodes, s.AverageStress, s.OverloadedParticipants)
	}
	_, before := nodesAt(0, 5)
	_, during := nodesAt(5, 35)
	after, _ := nodesAt(endMinute-5, endMinute)
	t.Logf("JVB nodes: %d before the lecture, up to %d during it (the oracle's peak: %d bridges), %d at the end", before, during, peak, after)
	t.Logf("jicofo: %+v", r.Jicofo)
	t.Logf("bridges: %+v; drains: %d (longest %s of trace time, %d timed out)", r.Fleet, r.Drains, r.LongestDrain, r.DrainsTimedOut)
	t.Logf("player: %d joined, %d join failures, longest gap %s, sample lag up to %s (trace time)",
		r.Play.Joined, r.Play.JoinFailures, r.Play.MaxPlayGap, r.Play.MaxSampleLag)
	t.Logf("controllers: %+v", r.Controllers)
	t.Logf("wall %s for %d trace minutes at factor %v (setup %s); machine busy %.2f of %d cores",
		report.Wall.Round(100*time.Millisecond), endMinute, report.Factor, report.Setup.Round(100*time.Millisecond), report.MachineBusy, report.Cores)

	assert.Equal(t, 1, before, "one node at night: minReplicas")
	assert.GreaterOrEqual(t, during, peak-1, "the nodes rise with the lecture")
	assert.Equal(t, 1, after, "and fall back after it")
	assert.Empty(t, tl.ConferencesCut, "no conference is cut")
	assert.Zero(t, r.Jicofo.ConferencesCut)
	assert.Zero(t, r.Fleet.ConferencesCut)
	assert.Zero(t, r.Play.JoinFailures, "every participant found a bridge")
	assert.Equal(t, 178, r.Play.Joined)
}
