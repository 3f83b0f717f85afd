package main

import (
	"context"
	"testing"
	"time"

	"github.com/crossplane/function-sdk-go/logging"
	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

var paris = func() *time.Location {
	l, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		panic(err)
	}
	return l
}()

// lectureTimetable is the example: mornings on weekdays, Monday and Wednesday
// afternoons.
func lectureTimetable() map[string]any {
	spec := sampleSpec()
	spec["jvb"] = map[string]any{
		"strategy": map[string]any{"type": "autoscaled", "minReplicas": int64(1), "maxReplicas": int64(30)},
		"schedule": map[string]any{
			"leadTime": "10m",
			"windows": []any{
				map[string]any{"days": []any{"Mon", "Tue", "Wed", "Thu", "Fri"}, "from": "08:00", "to": "12:30", "minReplicas": int64(6)},
				map[string]any{"days": []any{"Mon", "Wed"}, "from": "14:00", "to": "16:00", "minReplicas": int64(4)},
			},
		},
	}
	return spec
}

// runAt runs the function with its clock at t.
func runAt(t *testing.T, spec map[string]any, at time.Time) *fnv1.RunFunctionResponse {
	t.Helper()
	f := &Function{log: logging.NewNopLogger(), random: newTestFunction().random, now: func() time.Time { return at }}
	rsp, err := f.RunFunction(context.Background(), newRequest(t, claimXR(spec), nil))
	require.NoError(t, err)
	for _, r := range rsp.GetResults() {
		require.NotEqual(t, fnv1.Severity_SEVERITY_FATAL, r.GetSeverity(), r.GetMessage())
	}
	return rsp
}

func hpaMin(t *testing.T, rsp *fnv1.RunFunctionResponse) int32 {
	t.Helper()
	h := desired[autoscalingv2.HorizontalPodAutoscaler](t, rsp, resourceJVBAutoscaler)
	require.NotNil(t, h.Spec.MinReplicas)
	return *h.Spec.MinReplicas
}

func scheduleStatus(t *testing.T, rsp *fnv1.RunFunctionResponse) map[string]any {
	t.Helper()
	status := rsp.GetDesired().GetComposite().GetResource().AsMap()["status"].(map[string]any)
	return status["jvb"].(map[string]any)["schedule"].(map[string]any)
}

func condition(rsp *fnv1.RunFunctionResponse, typ string) *fnv1.Condition {
	for _, c := range rsp.GetConditions() {
		if c.GetType() == typ {
			return c
		}
	}
	return nil
}

func TestScheduleFloor(t *testing.T) {
	// Monday 2026-12-07, in Paris (CET, UTC+1).
	monday := func(h, m int) time.Time { return time.Date(2026, 12, 7, h, m, 0, 0, paris) }
	cases := map[string]struct {
		at       time.Time
		want     int32
		windows  []any
		nextWant time.Time
	}{
		"night: the strategy's floor":       {at: monday(3, 0), want: 1, windows: []any{}, nextWant: monday(7, 50)},
		"just before the lead time":         {at: monday(7, 49), want: 1, windows: []any{}, nextWant: monday(7, 50)},
		"the lead time raises it early":     {at: monday(7, 50), want: 6, windows: []any{float64(0)}, nextWant: monday(12, 30)},
		"in the morning window":             {at: monday(10, 0), want: 6, windows: []any{float64(0)}, nextWant: monday(12, 30)},
		"the window closes on time":         {at: monday(12, 30), want: 1, windows: []any{}, nextWant: monday(13, 50)},
		"afternoon, with its own lead time": {at: monday(13, 55), want: 4, windows: []any{float64(1)}, nextWant: monday(16, 0)},
		"after the last window of Monday":   {at: monday(16, 0), want: 1, windows: []any{}, nextWant: monday(7, 50).AddDate(0, 0, 1)},
		"Saturday: nothing until Monday":    {at: monday(10, 0).AddDate(0, 0, 5), want: 1, windows: []any{}, nextWant: monday(7, 50).AddDate(0, 0, 7)},
		"Tuesday afternoon has no window":   {at: monday(14, 30).AddDate(0, 0, 1), want: 1, windows: []any{}, nextWant: monday(7, 50).AddDate(0, 0, 2)},
		"a UTC clock reads the Paris wall":  {at: monday(10, 0).UTC(), want: 6, windows: []any{float64(0)}, nextWant: monday(12, 30)},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rsp := runAt(t, lectureTimetable(), tc.at)
			assert.Equal(t, tc.want, hpaMin(t, rsp), "HPA minReplicas")
			st := scheduleStatus(t, rsp)
			assert.EqualValues(t, tc.want, st["minReplicas"])
			assert.Equal(t, tc.windows, st["windows"])
			assert.Equal(t, tc.nextWant.UTC().Format(time.RFC3339), st["nextChange"])
			c := condition(rsp, conditionScheduled)
			require.NotNil(t, c)
			assert.Equal(t, len(tc.windows) > 0, c.GetStatus() == fnv1.Status_STATUS_CONDITION_TRUE)
			t.Log(c.GetMessage())
		})
	}
}

func TestScheduleOverlappingWindowsTakeTheLargest(t *testing.T) {
	spec := lectureTimetable()
	spec["jvb"].(map[string]any)["schedule"].(map[string]any)["windows"] = []any{
		map[string]any{"days": []any{"Mon"}, "from": "09:00", "to": "12:00", "minReplicas": int64(5)},
		map[string]any{"days": []any{"Mon"}, "from": "10:00", "to": "11:00", "minReplicas": int64(12)},
		map[string]any{"days": []any{"Mon"}, "from": "10:30", "to": "13:00", "minReplicas": int64(3)},
	}
	rsp := runAt(t, spec, time.Date(2026, 12, 7, 10, 45, 0, 0, paris))
	assert.EqualValues(t, 12, hpaMin(t, rsp))
	assert.Equal(t, []any{float64(0), float64(1), float64(2)}, scheduleStatus(t, rsp)["windows"])
	assert.Contains(t, condition(rsp, conditionScheduled).GetMessage(), "windows[1] (Mon 10:00-11:00, 12 bridges)")
}

func TestScheduleNeverAboveMaxReplicas(t *testing.T) {
	in, err := loadInstance(t.Context(), mustComposite(t, claimXR(lectureTimetable())))
	require.NoError(t, err)
	in.spec.JVB.Schedule.Windows[0].MinReplicas = 50 // past validation, as a later edit of maxReplicas could leave it
	got := in.scheduledFloor(time.Date(2026, 12, 7, 10, 0, 0, 0, paris))
	assert.EqualValues(t, 30, got.minReplicas)
}

func TestScheduleOvernightWindow(t *testing.T) {
	spec := lectureTimetable()
	spec["jvb"].(map[string]any)["schedule"] = map[string]any{"leadTime": "0s", "windows": []any{
		map[string]any{"days": []any{"Fri"}, "from": "22:00", "to": "02:00", "minReplicas": int64(3)},
	}}
	friday := func(d, h int) time.Time { return time.Date(2026, 12, 11+d, h, 0, 0, 0, paris) }
	assert.EqualValues(t, 3, hpaMin(t, runAt(t, spec, friday(0, 23))), "Friday 23:00")
	assert.EqualValues(t, 3, hpaMin(t, runAt(t, spec, friday(1, 1))), "Saturday 01:00, the window opened on Friday")
	assert.EqualValues(t, 1, hpaMin(t, runAt(t, spec, friday(1, 2))), "Saturday 02:00: closed")
	assert.EqualValues(t, 1, hpaMin(t, runAt(t, spec, friday(-1, 1))), "Friday 01:00: Thursday opened nothing")
}

// TestScheduleAcrossClockChanges: both daylight-saving changes in Europe/Paris. On Sunday
// 2026-03-29 clocks go from 02:00 CET to 03:00 CEST: a window from 02:30 opens when the wall
// clock passes 02:30, at 03:00. On Sunday 2026-10-25 they go back from 03:00 CEST to 02:00 CET.
func TestScheduleAcrossClockChanges(t *testing.T) {
	window := func(from, to string) map[string]any {
		spec := lectureTimetable()
		spec["jvb"].(map[string]any)["schedule"] = map[string]any{"leadTime": "0s", "windows": []any{
			map[string]any{"days": []any{"Sun"}, "from": from, "to": to, "minReplicas": int64(7)},
		}}
		return spec
	}
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return v
	}
	t.Run("SpringForward", func(t *testing.T) {
		spec := window("02:30", "04:00")
		// 00:59 UTC is 01:59 CET; 01:00 UTC is 03:00 CEST.
		before := runAt(t, spec, utc("2026-03-29T00:59:00Z"))
		assert.EqualValues(t, 1, hpaMin(t, before))
		assert.Equal(t, "2026-03-29T01:00:00Z", scheduleStatus(t, before)["nextChange"], "the window opens when the clocks jump past 02:30")
		assert.EqualValues(t, 7, hpaMin(t, runAt(t, spec, utc("2026-03-29T01:00:00Z"))))
		after := runAt(t, spec, utc("2026-03-29T01:30:00Z"))
		assert.Equal(t, "2026-03-29T02:00:00Z", scheduleStatus(t, after)["nextChange"], "04:00 CEST")
	})
	t.Run("FallBack", func(t *testing.T) {
		spec := window("02:15", "02:45")
		// 02:15 CEST is 00:15 UTC; the repeated 02:15 CET is 01:15 UTC.
		assert.EqualValues(t, 7, hpaMin(t, runAt(t, spec, utc("2026-10-25T00:20:00Z"))), "the first 02:20")
		between := runAt(t, spec, utc("2026-10-25T00:50:00Z"))
		assert.EqualValues(t, 1, hpaMin(t, between), "02:50 CEST")
		assert.Equal(t, "2026-10-25T01:15:00Z", scheduleStatus(t, between)["nextChange"], "the repeated hour opens it again")
		assert.EqualValues(t, 7, hpaMin(t, runAt(t, spec, utc("2026-10-25T01:20:00Z"))), "the second 02:20")
	})
}

func TestScheduleTTL(t *testing.T) {
	now := time.Date(2026, 12, 7, 7, 0, 0, 0, paris)
	assert.Equal(t, time.Minute, scheduleTTL(now, now.Add(50*time.Minute)), "far from a change: the default")
	assert.Equal(t, time.Minute, scheduleTTL(now, time.Time{}), "no change ahead")
	ttl := scheduleTTL(now, now.Add(45*time.Second))
	assert.GreaterOrEqual(t, time.Duration(float64(ttl)*0.9), 45*time.Second, "never called before the change, whatever the jitter")
	assert.LessOrEqual(t, time.Duration(float64(ttl)*1.1), 56*time.Second, "and soon after it")
	assert.Equal(t, time.Second, scheduleTTL(now, now.Add(100*time.Millisecond)), "at least a second")

	rsp := runAt(t, lectureTimetable(), time.Date(2026, 12, 7, 7, 49, 30, 0, paris))
	assert.Equal(t, scheduleTTL(time.Time{}, time.Time{}.Add(30*time.Second)), rsp.GetMeta().GetTtl().AsDuration(), "30 s before the lead time opens the window")
	rsp = runAt(t, sampleSpec(), time.Date(2026, 12, 7, 7, 49, 30, 0, paris))
	assert.Equal(t, time.Minute, rsp.GetMeta().GetTtl().AsDuration(), "without a schedule, today's TTL")
	assert.Nil(t, condition(rsp, conditionScheduled))
}
