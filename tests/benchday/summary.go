package benchday

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// Run describes one play of a trace, for the summary: what was played, against which
// reference, how fast, on what.
type Run struct {
	// Trace is the trace played.
	Trace Trace
	// Capacity is the participants at stress 1.0 per bridge; 0 means DefaultCapacity.
	Capacity int
	// TargetStress is the benchmark's target, for the oracle and the scale-up episodes of every
	// policy; 0 means DefaultTargetStress.
	TargetStress float64
	// TimeCompression is trace seconds per wall-clock second (60: a trace minute plays in a
	// second).
	TimeCompression float64
	// Machine describes the machine the run used (cores, memory, what played the cluster).
	Machine string
}

func (r Run) withDefaults() Run {
	if r.Capacity == 0 {
		r.Capacity = DefaultCapacity
	}
	if r.TargetStress == 0 {
		r.TargetStress = DefaultTargetStress
	}
	return r
}

func (r Run) validate() error {
	if err := r.Trace.Validate(); err != nil {
		return err
	}
	if err := checkCapacityTarget(r.Capacity, r.TargetStress); err != nil {
		return err
	}
	if !isFinite(r.TimeCompression) || r.TimeCompression <= 0 {
		return fmt.Errorf("time compression: must be trace seconds per wall-clock second, greater than 0, not %v", r.TimeCompression)
	}
	if strings.TrimSpace(r.Machine) == "" {
		return fmt.Errorf("machine: must describe the machine the run used (such as \"2 cores, 8 GiB, kwok nodes\"), not be empty")
	}
	return nil
}

// Summary is summary.json. Its fields are written in this order.
type Summary struct {
	Trace string `json:"trace"`
	// Machine and TimeCompression are Run's.
	Machine         string  `json:"machine"`
	TimeCompression float64 `json:"time_compression"`
	// Capacity and TargetStress are the reference the oracle and the scale-ups used.
	Capacity     int     `json:"capacity_participants_per_bridge"`
	TargetStress float64 `json:"target_stress"`
	// Conferences and PeakParticipants describe the trace (ParticipantsPerMinute's maximum).
	Conferences      int `json:"conferences"`
	PeakParticipants int `json:"peak_participants"`
	// PeakHour is the clock hour (HH:00) in which the trace first reaches PeakParticipants:
	// the lectures every policy must be ready for (10:00 in the university day).
	PeakHour string `json:"peak_hour"`
	// OracleNodeHours is OracleNodeHours of the trace, the same for every policy.
	OracleNodeHours float64         `json:"oracle_node_hours"`
	Policies        []PolicySummary `json:"policies"`
}

// PolicySummary is one policy's figures, in the order the timelines were given.
type PolicySummary struct {
	Policy string `json:"policy"`
	// NodeHours is NodeHours, rounded to 0.001.
	NodeHours float64 `json:"node_hours"`
	// OracleNodeHours repeats Summary.OracleNodeHours, so that each row reads alone.
	OracleNodeHours float64 `json:"oracle_node_hours"`
	// OverloadedParticipantMinutes is OverloadedParticipantMinutes, rounded to 0.1.
	OverloadedParticipantMinutes float64 `json:"overloaded_participant_minutes"`
	// ConferencesCut counts the timeline's ConferencesCut events.
	ConferencesCut int `json:"conferences_cut"`
	// P95ScaleUpSeconds is P95ScaleUpSeconds rounded to 0.1, null when no episode was served.
	P95ScaleUpSeconds *float64 `json:"p95_scale_up_seconds"`
	// ScaleUps counts the served scale-up episodes; ScaleUpsUnserved those that ended without
	// a new bridge (ScaleUps).
	ScaleUps         int `json:"scale_ups"`
	ScaleUpsUnserved int `json:"scale_ups_unserved"`
	// PeakHourP95ScaleUpSeconds is the p95 of the scale-ups that started in the peak hour
	// (p95Between), null when none was served; PeakHourScaleUps counts them,
	// served or not: 0 when the stress never went over target in that hour.
	PeakHourP95ScaleUpSeconds *float64 `json:"peak_hour_p95_scale_up_seconds"`
	PeakHourScaleUps          int      `json:"peak_hour_scale_ups"`
}

// Ratio is NodeHours ÷ OracleNodeHours: 1 is the perfect-foresight autoscaler's cost.
func (p PolicySummary) Ratio() float64 {
	if p.OracleNodeHours <= 0 {
		return math.NaN()
	}
	return p.NodeHours / p.OracleNodeHours
}

// Summarize computes the summary of a run from its policies' timelines (one per policy, in
// the order they should be shown). Capacity and TargetStress left 0 take their defaults.
func Summarize(run Run, timelines []Timeline) (Summary, error) {
	run = run.withDefaults()
	if err := run.validate(); err != nil {
		return Summary{}, err
	}
	if len(timelines) == 0 {
		return Summary{}, fmt.Errorf("timelines: must hold one timeline per policy, not none")
	}
	seen := map[string]bool{}
	for _, tl := range timelines {
		if err := tl.Validate(); err != nil {
			return Summary{}, err
		}
		if seen[tl.Policy] {
			return Summary{}, fmt.Errorf("timelines: policy %q: must appear once, not twice", tl.Policy)
		}
		seen[tl.Policy] = true
	}

	oracle, err := OracleNodeHours(run.Trace.Conferences, run.Capacity, run.TargetStress)
	if err != nil {
		return Summary{}, err
	}
	oracle = round(oracle, 3)
	s := Summary{
		Trace:           run.Trace.Name,
		Machine:         run.Machine,
		TimeCompression: run.TimeCompression,
		Capacity:        run.Capacity,
		TargetStress:    run.TargetStress,
		Conferences:     len(run.Trace.Conferences),
		OracleNodeHours: oracle,
	}
	perMinute := ParticipantsPerMinute(run.Trace.Conferences)
	s.PeakParticipants = slices.Max(perMinute)
	peakHour := slices.Index(perMinute, s.PeakParticipants) / 60
	s.PeakHour = clock(peakHour)
	for _, tl := range timelines {
		p := PolicySummary{
			Policy:                       tl.Policy,
			NodeHours:                    round(NodeHours(tl), 3),
			OracleNodeHours:              oracle,
			OverloadedParticipantMinutes: round(OverloadedParticipantMinutes(tl), 1),
			ConferencesCut:               len(tl.ConferencesCut),
		}
		episodes := ScaleUps(tl, run.TargetStress)
		if seconds, ok, _ := p95Between(episodes, math.Inf(-1), math.Inf(1)); ok {
			seconds = round(seconds, 1)
			p.P95ScaleUpSeconds = &seconds
		}
		from := float64(peakHour * 60)
		seconds, ok, n := p95Between(episodes, from, from+60)
		p.PeakHourScaleUps = n
		if ok {
			seconds = round(seconds, 1)
			p.PeakHourP95ScaleUpSeconds = &seconds
		}
		for _, e := range episodes {
			if e.Served {
				p.ScaleUps++
			} else {
				p.ScaleUpsUnserved++
			}
		}
		s.Policies = append(s.Policies, p)
	}
	return s, nil
}

func round(f float64, decimals int) float64 {
	scale := math.Pow(10, float64(decimals))
	return math.Round(f*scale) / scale
}

// WriteSummaryJSON writes s as indented JSON, fields in Summary's order, and a final newline.
func WriteSummaryJSON(w io.Writer, s Summary) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the summary: %w", err)
	}
	if _, err := w.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("writing the summary: %w", err)
	}
	return nil
}

// ReadSummaryJSON reads a summary.json; an unknown field is an error, so that a summary of
// another shape is not read as this one.
func ReadSummaryJSON(r io.Reader) (Summary, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var s Summary
	if err := dec.Decode(&s); err != nil {
		return Summary{}, fmt.Errorf("decoding the summary: %w", err)
	}
	return s, nil
}
