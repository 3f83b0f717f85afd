package benchday

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syntheticDay is the university day under two made-up policies, to draw and check the
// picture with; no cluster played them. "lagging" serves the oracle's bridges 3 minutes late,
// and its nodes leave 10 minutes after its bridges; "static-34" keeps the peak's 34 bridges all
// day, as the university of the seed post provisions for its estimated peak.
func syntheticDay(t *testing.T) (Run, []Timeline) {
	t.Helper()
	day := UniversityDay()
	oracle, err := OracleBridgesPerMinute(day.Conferences, DefaultCapacity, DefaultTargetStress)
	require.NoError(t, err)
	participants := ParticipantsPerMinute(day.Conferences)

	lagging := Timeline{Policy: "lagging <3 min> & late nodes"}
	static := Timeline{Policy: "static-34"}
	for m := range DayMinutes {
		serving := oracle[max(m-3, 0)]
		nodes := serving
		for back := 0; back <= 10 && m-back >= 0; back++ {
			nodes = max(nodes, oracle[max(m-back-3, 0)])
		}
		stress := float64(participants[m]) / float64(serving*DefaultCapacity)
		overloaded := 0
		if stress > 1 {
			overloaded = participants[m]
		}
		lagging.Samples = append(lagging.Samples, Sample{
			Minute: float64(m), Participants: participants[m], BridgesWanted: oracle[m], BridgesServing: serving,
			Nodes: nodes, OverloadedParticipants: overloaded, AverageStress: stress,
		})
		static.Samples = append(static.Samples, Sample{
			Minute: float64(m), Participants: participants[m], BridgesWanted: 34, BridgesServing: 34, Nodes: 34,
			AverageStress: float64(participants[m]) / (34 * DefaultCapacity),
		})
	}
	lagging.ConferencesCut = []ConferenceCut{{Minute: 700, Conference: "conf-20", Bridge: "jitsi-jvb-x", Participants: 12}}
	run := Run{Trace: day, TimeCompression: 60, Machine: "synthetic: no cluster"}
	return run, []Timeline{lagging, static}
}

func TestDaySVGIsWellFormedWithOnePanelPerPolicy(t *testing.T) {
	run, timelines := syntheticDay(t)
	for _, n := range []int{1, 2} {
		s, err := Summarize(run, timelines[:n])
		require.NoError(t, err)
		var svg bytes.Buffer
		require.NoError(t, WriteDaySVG(&svg, run, s, timelines[:n]))

		root, panels, texts := parseSVG(t, svg.Bytes())
		assert.Equal(t, "svg", root)
		assert.Equal(t, n, panels, "one panel per policy")
		all := strings.Join(texts, "\n")
		assert.Contains(t, all, "lagging <3 min> & late nodes", "policy names escaped and kept")
		assert.Contains(t, all, "university-day, 52 conferences, 1000 participants at the peak")
		assert.Contains(t, all, "24:00")
		t.Logf("day.svg with %d panels: %d bytes", n, svg.Len())
	}
}

// parseSVG decodes the whole document, failing on any XML error, and returns the root
// element's name, the number of <g class="panel"> elements and the text content.
func parseSVG(t *testing.T, data []byte) (root string, panels int, texts []string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "day.svg is well-formed XML")
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
				assert.Equal(t, "http://www.w3.org/2000/svg", tok.Name.Space)
			}
			if tok.Name.Local == "g" {
				for _, a := range tok.Attr {
					if a.Name.Local == "class" && a.Value == "panel" {
						panels++
					}
				}
			}
		case xml.CharData:
			if s := strings.TrimSpace(string(tok)); s != "" {
				texts = append(texts, s)
			}
		}
	}
	return root, panels, texts
}

func TestDaySVGRefusesAMismatchedSummary(t *testing.T) {
	run, timelines := syntheticDay(t)
	s, err := Summarize(run, timelines)
	require.NoError(t, err)
	err = WriteDaySVG(io.Discard, run, s, timelines[:1])
	assert.EqualError(t, err, "day.svg: must have one timeline per policy of the summary (2), not 1")
}

func TestWriteReportWritesSummaryAndPicture(t *testing.T) {
	run, timelines := syntheticDay(t)
	dir := OutputDir(t.TempDir(), run.Trace.Name)
	assert.True(t, strings.HasSuffix(dir, filepath.Join("_output", "bench-day", "university-day")))

	s, err := WriteReport(dir, run, timelines)
	require.NoError(t, err)

	f, err := os.Open(filepath.Join(dir, SummaryFile))
	require.NoError(t, err)
	defer f.Close()
	back, err := ReadSummaryJSON(f)
	require.NoError(t, err)
	assert.Equal(t, s, back)

	svg, err := os.ReadFile(filepath.Join(dir, DaySVGFile))
	require.NoError(t, err)
	_, panels, _ := parseSVG(t, svg)
	assert.Equal(t, 2, panels)

	static := s.Policies[1]
	assert.Equal(t, 816.0, static.NodeHours, "34 nodes × 24 h")
	assert.Zero(t, static.ScaleUps+static.ScaleUpsUnserved, "never over target")
	t.Logf("synthetic university day:\n%s", MarkdownTable(s))

	_, err = WriteReport(dir, Run{Trace: run.Trace}, timelines)
	assert.ErrorContains(t, err, "summarizing the run of university-day: time compression: must be")
}

func TestMarkdownTable(t *testing.T) {
	run, timelines := tinyRun()
	s, err := Summarize(run, timelines)
	require.NoError(t, err)
	assert.Equal(t, `| policy | node_hours | oracle_node_hours | ratio | overloaded_participant_minutes | conferences_cut | p95_scale_up_seconds | 10:00 p95_scale_up_seconds |
|---|--:|--:|--:|--:|--:|--:|--:|
| hpa-0.3 | 27.367 | 24.483 | 1.12 | 240.0 | 2 | 180.0 | 180.0 |
| static-4 | 96.000 | 24.483 | 3.92 | 0.0 | 0 | — | none needed |
`, MarkdownTable(s))
}

func TestNiceScale(t *testing.T) {
	for _, tt := range []struct{ top, step, axisTop float64 }{
		{0, 1, 1}, {1, 1, 1}, {4.5, 1, 5}, {6, 2, 6}, {11, 5, 15}, {34, 10, 40}, {51, 20, 60}, {816, 200, 1000},
	} {
		step, axisTop := niceScale(tt.top)
		assert.Equal(t, []float64{tt.step, tt.axisTop}, []float64{step, axisTop}, "top %v", tt.top)
	}
}
