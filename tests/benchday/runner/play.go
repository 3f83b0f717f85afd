package runner

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/benchday"
	"github.com/crossplane-jitsi/crossplane-jitsi/tests/jitsiemu"
)

// playTick is how often, on the wall clock, the player lets participants join: 3 trace
// seconds at the default factor, against a ramp that takes minutes.
const playTick = 50 * time.Millisecond

// conferenceState is the player's view of one conference of the trace.
type conferenceState struct {
	conf   benchday.Conference
	name   string
	joined int
	ended  bool
}

// playStats is what the player and the sampler saw of their own timing and of the joins.
type playStats struct {
	// JoinFailures counts joins jicofo refused (no bridge at all); the participant tries
	// again on the next tick.
	JoinFailures int
	// Joined counts participants placed; Conferences the conferences played.
	Joined, Conferences int
	// MaxPlayGap is the longest wait between two player ticks, in trace time: how late a
	// join could be.
	MaxPlayGap time.Duration
	// MaxSampleLag is how late the latest sample came after its tick, in trace time.
	MaxSampleLag time.Duration
	// ClockT0 is the emulators' clock at the start of the day.
	ClockT0 time.Time
}

// minuteAt is the trace minute at wall time now, for a day that started at t0.
func (r *runConfig) minuteAt(t0, now time.Time) float64 {
	return now.Sub(t0).Seconds() * r.scale.Factor / 60
}

// play plays the trace on the cell from t0 (wall time) until the trace minute end and
// samples it, and returns the timeline.
func (c *cell) play(ctx context.Context, t0 time.Time, confs []benchday.Conference, end float64) (benchday.Timeline, playStats, error) {
	var stats playStats
	states := make([]*conferenceState, len(confs))
	for i, conf := range confs {
		states[i] = &conferenceState{conf: conf, name: fmt.Sprintf("c%03d-%02d%02d-%d", i, conf.StartMinute/60, conf.StartMinute%60, conf.Participants)}
	}
	stats.Conferences = len(confs)

	select {
	case <-ctx.Done():
		return benchday.Timeline{}, stats, ctx.Err()
	case <-time.After(time.Until(t0)):
	}
	stats.ClockT0 = c.clock.Now()

	playerDone := make(chan struct{})
	go func() {
		defer close(playerDone)
		c.playConferences(ctx, t0, states, end, &stats)
	}()
	scheduleCtx, stopSchedule := context.WithCancel(ctx)
	var scheduleErr error
	var schedule sync.WaitGroup
	schedule.Go(func() { scheduleErr = c.followSchedule(scheduleCtx, t0, end) })
	defer func() { stopSchedule(); schedule.Wait() }()

	tl := benchday.Timeline{Policy: c.policy.Name}
	period := c.run.scale.Wall(c.run.sampleEvery)
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	tl.Samples = append(tl.Samples, c.sample(0))
	for {
		var tick time.Time
		select {
		case <-ctx.Done():
			<-playerDone
			return tl, stats, ctx.Err()
		case tick = <-ticker.C:
		}
		now := time.Now()
		m := c.run.minuteAt(t0, now)
		if m >= end {
			break
		}
		if lag := c.run.scale.Trace(now.Sub(tick)); lag > stats.MaxSampleLag {
			stats.MaxSampleLag = lag
		}
		if m > tl.Samples[len(tl.Samples)-1].Minute {
			tl.Samples = append(tl.Samples, c.sample(m))
		}
		if err := c.exited(); err != nil {
			<-playerDone
			return tl, stats, err
		}
	}
	<-playerDone
	stopSchedule()
	schedule.Wait()
	if scheduleErr != nil {
		return tl, stats, scheduleErr
	}

	for _, cut := range c.jicofo.Cuts() {
		m := cut.At.Sub(stats.ClockT0).Minutes()
		if m < 0 || m > end {
			continue
		}
		tl.ConferencesCut = append(tl.ConferencesCut, benchday.ConferenceCut{Minute: m, Conference: cut.Conference,
			Bridge: cut.Bridge, Participants: cut.Participants})
	}
	return tl, stats, nil
}

// playConferences lets each conference's participants join over the ramp and ends it at its
// end, until the trace minute end.
func (c *cell) playConferences(ctx context.Context, t0 time.Time, states []*conferenceState, end float64, stats *playStats) {
	last := time.Now()
	for {
		now := time.Now()
		if gap := c.run.scale.Trace(now.Sub(last)); gap > stats.MaxPlayGap {
			stats.MaxPlayGap = gap
		}
		last = now
		m := c.run.minuteAt(t0, now)
		if m >= end || ctx.Err() != nil {
			return
		}
		for _, s := range states {
			if s.ended || m < float64(s.conf.StartMinute) {
				continue
			}
			if m >= float64(s.conf.EndMinute()) {
				s.ended = true
				if s.joined > 0 {
					// Everyone leaves at the end. A conference whose every participant was
					// dropped is gone from jicofo already.
					_, _ = c.jicofo.EndConference(s.name)
				}
				continue
			}
			for want := benchday.Joined(s.conf, m); s.joined < want; s.joined++ {
				if _, err := c.jicofo.Join(s.name, s.conf.Region); err != nil {
					stats.JoinFailures++
					c.logf("player: minute %.2f: %v", m, err)
					break
				}
				stats.Joined++
			}
		}
		time.Sleep(playTick)
	}
}

// followSchedule applies each change of the schedule's floor at its trace minute, as
// Crossplane would when the function's TTL brings it back at the change (with its ±10%
// jitter on a TTL of under a minute, within seconds of the change).
func (c *cell) followSchedule(ctx context.Context, t0 time.Time, end float64) error {
	for _, change := range c.changes {
		if change.minute >= end {
			return nil
		}
		at := t0.Add(c.run.scale.Wall(time.Duration(change.minute * float64(time.Minute))))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(at)):
		}
		if report := c.applier.Apply(ctx, []*unstructured.Unstructured{change.hpa}); len(report.Rejected()) > 0 {
			err := fmt.Errorf("the schedule's change at minute %.0f: the cluster refused the HPA:\n%s", change.minute, report)
			c.run.progressf(c.policy.Name)("%v", err)
			return err
		}
		c.logf("schedule at minute %.2f: the HPA's minReplicas is now %d", c.run.minuteAt(t0, time.Now()), change.minReplicas)
	}
	return nil
}

// logHPA writes the HPA's status to the cell's log whenever it changes: the metric it sees,
// what it wants, and why (its conditions' reasons).
func (c *cell) logHPA(m float64) {
	if !c.policy.Autoscaled() {
		return
	}
	h, err := c.hpas.HorizontalPodAutoscalers(namespace).Get(jvbName)
	if err != nil {
		return
	}
	current := "none"
	for _, metric := range h.Status.CurrentMetrics {
		if metric.Pods != nil && metric.Pods.Current.AverageValue != nil {
			current = metric.Pods.Current.AverageValue.String()
		}
	}
	var conditions []string
	for _, cond := range h.Status.Conditions {
		conditions = append(conditions, fmt.Sprintf("%s=%s(%s)", cond.Type, cond.Status, cond.Reason))
	}
	line := fmt.Sprintf("current %s, %d replicas, wants %d; %s", current, h.Status.CurrentReplicas, h.Status.DesiredReplicas, strings.Join(conditions, " "))
	if line != c.lastHPA {
		c.lastHPA = line
		c.logf("hpa at minute %.2f: %s", m, line)
	}
}

// sample is what the cell looks like now, at trace minute m.
func (c *cell) sample(m float64) benchday.Sample {
	c.logHPA(m)
	s := benchday.Sample{
		Minute:        m,
		Participants:  c.jicofo.Snapshot().Participants,
		BridgesWanted: c.bridgesWanted(),
		Nodes:         c.groupNodes(),
	}
	var stress float64
	for _, b := range c.fleet.Bridges() {
		if !strings.HasSuffix(b.URL(), ":8080") {
			if c.offPort == nil {
				c.offPort = map[string]bool{}
			}
			c.offPort[b.Name()] = true
		}
		st := b.Stats()
		if st.StressLevel > 1 {
			s.OverloadedParticipants += st.LocalEndpoints
		}
		if state, stopped := b.State(); state == jitsiemu.StateRunning && !stopped {
			s.BridgesServing++
			stress += st.StressLevel
		}
	}
	if s.BridgesServing > 0 {
		s.AverageStress = stress / float64(s.BridgesServing)
	}
	return s
}
