package benchday

import (
	"fmt"
	"math"
	"slices"
	"unicode"
)

// Sample is what the runner saw of one policy's cluster at one instant of the trace. Times
// are trace time, whatever the time compression of the run.
type Sample struct {
	// Minute is the trace minute of the sample (600.5 is 10:00:30).
	Minute float64 `json:"minute"`
	// Participants is how many participants the conferences hold (on any bridge).
	Participants int `json:"participants"`
	// BridgesWanted is the JVB replicas the policy asks for: the HPA's status.desiredReplicas,
	// or the fixed replicas of a static policy.
	BridgesWanted int `json:"bridges_wanted"`
	// BridgesServing is the bridges that can take participants: JVB pods Ready and not
	// terminating (a bridge in graceful shutdown takes no new conference).
	BridgesServing int `json:"bridges_serving"`
	// Nodes is the JVB nodes that exist (registered Nodes of the bridges' node group,
	// whether or not a bridge runs on them): what the day costs.
	Nodes int `json:"nodes"`
	// OverloadedParticipants is the participants on bridges whose stress_level is above 1.
	OverloadedParticipants int `json:"overloaded_participants"`
	// AverageStress is the HPA's metric: the mean stress_level of the serving bridges, 0 when
	// none serves.
	AverageStress float64 `json:"average_stress"`
}

// ConferenceCut is a conference that lost its participants: its bridge went SHUTTING_DOWN or
// stopped while they were still on it (jicofo moves them; they reconnect).
type ConferenceCut struct {
	// Minute is the trace minute of the cut.
	Minute float64 `json:"minute"`
	// Conference names the conference as the runner named it.
	Conference string `json:"conference"`
	// Bridge names the bridge (pod) that cut it.
	Bridge string `json:"bridge"`
	// Participants is how many were on it at the cut.
	Participants int `json:"participants"`
}

// Timeline is one policy's day, as the runner recorded it: samples in time order, the first
// at minute 0, at least one per trace minute (finer is better: a scale-up is timed to the
// sample), and the conferences cut. Each sample's values hold until the next sample, the
// last one's until midnight (DayMinutes).
type Timeline struct {
	// Policy names the autoscaling policy, such as "hpa-0.3" or "static-34".
	Policy         string          `json:"policy"`
	Samples        []Sample        `json:"samples"`
	ConferencesCut []ConferenceCut `json:"conferences_cut"`
}

// Validate checks what the metrics rely on; an error names the policy, the field and what it
// must be.
func (tl Timeline) Validate() error {
	if err := validatePolicyName(tl.Policy); err != nil {
		return err
	}
	if len(tl.Samples) == 0 {
		return fmt.Errorf("timeline %q: samples: must hold at least one sample, at minute 0", tl.Policy)
	}
	if tl.Samples[0].Minute != 0 {
		return fmt.Errorf("timeline %q: samples[0].minute: must be 0 (a timeline starts at midnight), not %v", tl.Policy, tl.Samples[0].Minute)
	}
	for i, s := range tl.Samples {
		field := func(name string) string { return fmt.Sprintf("timeline %q: samples[%d].%s", tl.Policy, i, name) }
		if !isFinite(s.Minute) || s.Minute < 0 || s.Minute > DayMinutes {
			return fmt.Errorf("%s: must be a trace minute from 0 to %d, not %v", field("minute"), DayMinutes, s.Minute)
		}
		if i > 0 && s.Minute <= tl.Samples[i-1].Minute {
			return fmt.Errorf("%s: must be after the previous sample's %v, not %v", field("minute"), tl.Samples[i-1].Minute, s.Minute)
		}
		for _, count := range []struct {
			name  string
			value int
		}{
			{"participants", s.Participants},
			{"bridges_wanted", s.BridgesWanted},
			{"bridges_serving", s.BridgesServing},
			{"nodes", s.Nodes},
			{"overloaded_participants", s.OverloadedParticipants},
		} {
			if count.value < 0 {
				return fmt.Errorf("%s: must be zero or more, not %d", field(count.name), count.value)
			}
		}
		if !isFinite(s.AverageStress) || s.AverageStress < 0 {
			return fmt.Errorf("%s: must be a stress level of zero or more, not %v", field("average_stress"), s.AverageStress)
		}
	}
	for i, c := range tl.ConferencesCut {
		field := func(name string) string {
			return fmt.Sprintf("timeline %q: conferences_cut[%d].%s", tl.Policy, i, name)
		}
		if !isFinite(c.Minute) || c.Minute < 0 || c.Minute > DayMinutes {
			return fmt.Errorf("%s: must be a trace minute from 0 to %d, not %v", field("minute"), DayMinutes, c.Minute)
		}
		if c.Conference == "" {
			return fmt.Errorf("%s: must name the conference, not be empty", field("conference"))
		}
		if c.Participants < 1 {
			return fmt.Errorf("%s: must be at least 1 (a conference cut with nobody on it was not cut), not %d", field("participants"), c.Participants)
		}
	}
	return nil
}

func validatePolicyName(name string) error {
	valid := name != "" && len(name) <= 64
	for _, r := range name {
		if unicode.IsControl(r) || r == '|' {
			valid = false
		}
	}
	if !valid {
		return fmt.Errorf("policy: must be a name of 1 to 64 characters without control characters or '|' (it heads a panel and a table row), not %q", name)
	}
	return nil
}

func isFinite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// integrate sums value × duration over the timeline, in trace minutes: each sample's value
// holds from its minute to the next sample's, the last one's to midnight.
func (tl Timeline) integrate(value func(Sample) int) float64 {
	total := 0.0
	for i, s := range tl.Samples {
		end := float64(DayMinutes)
		if i+1 < len(tl.Samples) {
			end = tl.Samples[i+1].Minute
		}
		if d := end - s.Minute; d > 0 {
			total += float64(value(s)) * d
		}
	}
	return total
}

// NodeHours is what the policy's day cost: JVB nodes existing, integrated over the day, in
// node-hours.
func NodeHours(tl Timeline) float64 {
	return tl.integrate(func(s Sample) int { return s.Nodes }) / 60
}

// OverloadedParticipantMinutes is how long participants spent on overloaded bridges (stress
// above 1): OverloadedParticipants integrated over the day, in participant-minutes.
func OverloadedParticipantMinutes(tl Timeline) float64 {
	return tl.integrate(func(s Sample) int { return s.OverloadedParticipants })
}

// ScaleUp is one scale-up episode (ScaleUps).
type ScaleUp struct {
	// StartMinute is the sample at which the average stress first went over target.
	StartMinute float64 `json:"start_minute"`
	// EndMinute is the first later sample with more bridges serving than at StartMinute
	// (Served), or the sample at which the stress fell back to target without one, or the
	// last sample when the day ended first (not Served).
	EndMinute float64 `json:"end_minute"`
	// Served says a new bridge served before the stress fell back.
	Served bool `json:"served"`
}

// Seconds is the episode's length in trace seconds.
func (e ScaleUp) Seconds() float64 { return (e.EndMinute - e.StartMinute) * 60 }

// ScaleUps finds the scale-up episodes of a timeline, measured against target (the
// benchmark's target stress, the same for every policy):
//
//   - an episode starts at a sample whose AverageStress is over target (by more than 1e-9)
//     when the previous sample's was not, or at the first sample;
//   - it is served at the first later sample with more BridgesServing than at its start:
//     a new bridge serves (checked first, since the new bridge is what brings the stress
//     down);
//   - it ends unserved at the first later sample whose stress is back at or below target
//     without a new bridge, or at the last sample if the day ends first.
//
// While the stress stays over target after an episode is served, no new episode starts: one
// stretch over target is one episode, timed to its first relief. How long the rest of the
// stretch hurt is what OverloadedParticipantMinutes measures.
func ScaleUps(tl Timeline, target float64) []ScaleUp {
	var (
		episodes   []ScaleUp
		open       bool
		wasOver    bool
		current    ScaleUp
		baseBridge int
	)
	for i, s := range tl.Samples {
		over := s.AverageStress > target+stressEpsilon
		switch {
		case open && s.BridgesServing > baseBridge:
			current.EndMinute, current.Served = s.Minute, true
			episodes, open = append(episodes, current), false
		case open && !over:
			current.EndMinute = s.Minute
			episodes, open = append(episodes, current), false
		case !open && over && (i == 0 || !wasOver):
			current, baseBridge, open = ScaleUp{StartMinute: s.Minute}, s.BridgesServing, true
		}
		wasOver = over
	}
	if open {
		current.EndMinute = tl.Samples[len(tl.Samples)-1].Minute
		episodes = append(episodes, current)
	}
	return episodes
}

// P95ScaleUpSeconds is the 95th percentile, by nearest rank, of the served scale-up episodes'
// lengths in trace seconds: sorted ascending, the value at rank ceil(0.95 × n), 1-based. With
// fewer than 20 episodes that rank is n: the p95 is the slowest. ok is false when no episode
// was served; unserved episodes are counted apart (Summary), never timed.
func P95ScaleUpSeconds(tl Timeline, target float64) (seconds float64, ok bool) {
	seconds, ok, _ = p95Between(ScaleUps(tl, target), math.Inf(-1), math.Inf(1))
	return seconds, ok
}

// p95Between is the p95 of P95ScaleUpSeconds over the episodes of all (ScaleUps) that start
// in the trace minutes [from, to); episodes counts them all, served or not: none means the
// stress never went over target there (nothing had to scale up).
func p95Between(all []ScaleUp, from, to float64) (seconds float64, ok bool, episodes int) {
	var served []float64
	for _, e := range all {
		if e.StartMinute < from || e.StartMinute >= to {
			continue
		}
		episodes++
		if e.Served {
			served = append(served, e.Seconds())
		}
	}
	seconds, ok = nearestRank(served, 95)
	return seconds, ok, episodes
}

// nearestRank is the p-th percentile of values by the nearest-rank method.
func nearestRank(values []float64, p int) (float64, bool) {
	if len(values) == 0 {
		return 0, false
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 × n) in integers
	return sorted[max(rank, 1)-1], true
}
