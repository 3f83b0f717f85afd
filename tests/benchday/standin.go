// Package benchday: STAND-IN for the pure pieces the benchday-report branch brings (trace,
// ramp, oracle, timeline, report). Only what the runner calls, with the same names and
// signatures, simplified. Delete this file when that branch is merged.
package benchday

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const (
	DayMinutes          = 24 * 60
	DefaultCapacity     = 100
	DefaultTargetStress = 0.3
	SummaryFile         = "summary.json"
	DaySVGFile          = "day.svg"
)

type Conference struct {
	StartMinute, DurationMinutes, Participants int
	Region                                     string
}

func (c Conference) EndMinute() int { return c.StartMinute + c.DurationMinutes }

type Trace struct {
	Name        string
	Conferences []Conference
}

func ParseTrace(r io.Reader) ([]Conference, error) {
	var out []Conference
	s := bufio.NewScanner(r)
	header := false
	for n := 1; s.Scan(); n++ {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !header {
			header = true
			continue
		}
		f := strings.Split(line, ",")
		if len(f) != 4 {
			return nil, fmt.Errorf("line %d: 4 fields", n)
		}
		a, _ := strconv.Atoi(f[0])
		b, _ := strconv.Atoi(f[1])
		c, _ := strconv.Atoi(f[2])
		out = append(out, Conference{a, b, c, f[3]})
	}
	return out, s.Err()
}

func LoadTrace(path string) (Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return Trace{}, err
	}
	defer f.Close()
	c, err := ParseTrace(f)
	return Trace{Name: strings.TrimSuffix(filepath.Base(path), ".csv"), Conferences: c}, err
}

func JoinedFraction(e float64) float64 {
	switch {
	case e <= 0:
		return 0
	case e < 2:
		return 0.8 * e / 2
	case e < 10:
		return 0.8 + 0.2*(e-2)/8
	}
	return 1
}

func Joined(c Conference, minute float64) int {
	if minute < float64(c.StartMinute) || minute >= float64(c.EndMinute()) {
		return 0
	}
	return int(math.Floor(JoinedFraction(minute-float64(c.StartMinute))*float64(c.Participants) + 1e-9))
}

func OracleBridgesPerMinute(confs []Conference, capacity int, target float64) ([]int, error) {
	out := make([]int, DayMinutes)
	for m := range out {
		p := 0
		for _, c := range confs {
			if m >= c.StartMinute && m < c.EndMinute() {
				p += int(math.Floor(JoinedFraction(float64(m+1-c.StartMinute))*float64(c.Participants) + 1e-9))
			}
		}
		out[m] = max(1, int(math.Ceil(float64(p)/(float64(capacity)*target)-1e-9)))
	}
	return out, nil
}

type Sample struct {
	Minute                 float64 `json:"minute"`
	Participants           int     `json:"participants"`
	BridgesWanted          int     `json:"bridges_wanted"`
	BridgesServing         int     `json:"bridges_serving"`
	Nodes                  int     `json:"nodes"`
	OverloadedParticipants int     `json:"overloaded_participants"`
	AverageStress          float64 `json:"average_stress"`
}

type ConferenceCut struct {
	Minute       float64 `json:"minute"`
	Conference   string  `json:"conference"`
	Bridge       string  `json:"bridge"`
	Participants int     `json:"participants"`
}

type Timeline struct {
	Policy         string          `json:"policy"`
	Samples        []Sample        `json:"samples"`
	ConferencesCut []ConferenceCut `json:"conferences_cut"`
}

type Run struct {
	Trace           Trace
	Capacity        int
	TargetStress    float64
	TimeCompression float64
	Machine         string
}

type PolicySummary struct {
	Policy                       string   `json:"policy"`
	NodeHours                    float64  `json:"node_hours"`
	OracleNodeHours              float64  `json:"oracle_node_hours"`
	OverloadedParticipantMinutes float64  `json:"overloaded_participant_minutes"`
	ConferencesCut               int      `json:"conferences_cut"`
	P95ScaleUpSeconds            *float64 `json:"p95_scale_up_seconds"`
}

type Summary struct {
	Trace    string          `json:"trace"`
	Policies []PolicySummary `json:"policies"`
}

func OutputDir(repoRoot, traceName string) string {
	return filepath.Join(repoRoot, "_output", "bench-day", traceName)
}

func WriteReport(dir string, run Run, timelines []Timeline) (Summary, error) {
	s := Summary{Trace: run.Trace.Name}
	for _, tl := range timelines {
		nh := 0.0
		for i, x := range tl.Samples {
			end := float64(DayMinutes)
			if i+1 < len(tl.Samples) {
				end = tl.Samples[i+1].Minute
			}
			nh += float64(x.Nodes) * (end - x.Minute) / 60
		}
		s.Policies = append(s.Policies, PolicySummary{Policy: tl.Policy, NodeHours: nh, ConferencesCut: len(tl.ConferencesCut)})
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return s, err
	}
	b, _ := json.MarshalIndent(map[string]any{"summary": s, "timelines": timelines}, "", " ")
	if err := os.WriteFile(filepath.Join(dir, SummaryFile), b, 0o644); err != nil {
		return s, err
	}
	return s, os.WriteFile(filepath.Join(dir, DaySVGFile), []byte("<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n"), 0o644)
}

func MarkdownTable(s Summary) string {
	var b strings.Builder
	for _, p := range s.Policies {
		fmt.Fprintf(&b, "| %s | %.3f | %d |\n", p.Policy, p.NodeHours, p.ConferencesCut)
	}
	return b.String()
}
