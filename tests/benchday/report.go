package benchday

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Report file names, in OutputDir.
const (
	SummaryFile = "summary.json"
	DaySVGFile  = "day.svg"
)

// OutputDir is where a run of the trace named traceName writes its report:
// <repoRoot>/_output/bench-day/<traceName>/ (_output/ is git-ignored).
func OutputDir(repoRoot, traceName string) string {
	return filepath.Join(repoRoot, "_output", "bench-day", traceName)
}

// WriteReport summarizes a run and writes summary.json and day.svg into dir, creating it.
// It returns the summary, for the runner to log or render with MarkdownTable.
func WriteReport(dir string, run Run, timelines []Timeline) (Summary, error) {
	s, err := Summarize(run, timelines)
	if err != nil {
		return Summary{}, fmt.Errorf("summarizing the run of %s: %w", run.Trace.Name, err)
	}
	var summaryJSON, svg bytes.Buffer
	if err := WriteSummaryJSON(&summaryJSON, s); err != nil {
		return Summary{}, err
	}
	if err := WriteDaySVG(&svg, run, s, timelines); err != nil {
		return Summary{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Summary{}, fmt.Errorf("creating the report directory: %w", err)
	}
	for _, file := range []struct {
		name string
		data []byte
	}{{SummaryFile, summaryJSON.Bytes()}, {DaySVGFile, svg.Bytes()}} {
		if err := os.WriteFile(filepath.Join(dir, file.name), file.data, 0o644); err != nil {
			return Summary{}, fmt.Errorf("writing the report: %w", err)
		}
	}
	return s, nil
}

// MarkdownTable renders the summary as the README's table: one row per policy, in the
// summary's order, the columns named as summary.json names them.
func MarkdownTable(s Summary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| policy | node_hours | oracle_node_hours | ratio | overloaded_participant_minutes | conferences_cut | p95_scale_up_seconds | %s p95_scale_up_seconds |\n",
		markdownCell(s.PeakHour))
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, p := range s.Policies {
		p95 := "—"
		if p.P95ScaleUpSeconds != nil {
			p95 = fmt.Sprintf("%.1f", *p.P95ScaleUpSeconds)
		}
		peak := "—"
		switch {
		case p.PeakHourP95ScaleUpSeconds != nil:
			peak = fmt.Sprintf("%.1f", *p.PeakHourP95ScaleUpSeconds)
		case p.PeakHourScaleUps == 0:
			peak = "none needed"
		}
		fmt.Fprintf(&b, "| %s | %.3f | %.3f | %.2f | %.1f | %d | %s | %s |\n",
			markdownCell(p.Policy), p.NodeHours, p.OracleNodeHours, p.Ratio(), p.OverloadedParticipantMinutes, p.ConferencesCut, p95, peak)
	}
	return b.String()
}

// markdownCell keeps a policy name from breaking the table (Validate refuses '|' already).
func markdownCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// The picture's geometry, in SVG user units (pixels at 100%).
const (
	svgWidth        = 960.0
	svgMarginLeft   = 64.0
	svgMarginRight  = 80.0
	svgHeaderHeight = 100.0
	panelTitleH     = 42.0
	panelPlotH      = 150.0
	panelAxisH      = 26.0
	panelGap        = 16.0
	panelHeight     = panelTitleH + panelPlotH + panelAxisH + panelGap
	svgPlotWidth    = svgWidth - svgMarginLeft - svgMarginRight
)

// The colours of the series, chosen to stay apart for the common colour-vision deficiencies.
const (
	colourParticipants = "#d6e2ee"
	colourOverloaded   = "#d62728"
	colourOracle       = "#222222"
	colourNodes        = "#2ca02c"
	colourServing      = "#1f77b4"
	colourWanted       = "#ff7f0e"
)

// WriteDaySVG draws day.svg: one panel per policy, stacked in the summary's order, sharing
// the axes so that panels compare at a glance. x is the hour of the day (0 to 24). The left
// axis counts bridges and nodes: the oracle (dashed black), bridges wanted (dashed orange),
// bridges serving (blue) and JVB nodes (wide green). The right axis counts participants (grey
// area; those on overloaded bridges in red), scaled so that one bridge's load at the target
// stress (capacity × target, 30 participants by default) lines up with one bridge: the oracle
// is the participant area rounded up to whole bridges, and where the area rises above the
// blue line the serving bridges run over target.
func WriteDaySVG(w io.Writer, run Run, s Summary, timelines []Timeline) error {
	run = run.withDefaults()
	if len(timelines) != len(s.Policies) {
		return fmt.Errorf("day.svg: must have one timeline per policy of the summary (%d), not %d", len(s.Policies), len(timelines))
	}
	oracle, err := OracleBridgesPerMinute(run.Trace.Conferences, run.Capacity, run.TargetStress)
	if err != nil {
		return fmt.Errorf("day.svg: %w", err)
	}
	perBridge := float64(run.Capacity) * run.TargetStress

	// One left scale for every panel, high enough for every series.
	top := float64(maxOf(oracle))
	for _, tl := range timelines {
		for _, smp := range tl.Samples {
			top = math.Max(top, float64(max(smp.BridgesWanted, smp.BridgesServing, smp.Nodes)))
			top = math.Max(top, float64(smp.Participants)/perBridge)
		}
	}
	step, top := niceScale(top)

	height := svgHeaderHeight + float64(len(timelines))*panelHeight
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="Helvetica, Arial, sans-serif" font-size="12" fill="#222222">`+"\n",
		svgWidth, height, svgWidth, height)
	title := fmt.Sprintf("A lecture day on the cluster: %s, %d conferences, %d participants at the peak",
		s.Trace, s.Conferences, s.PeakParticipants)
	fmt.Fprintf(&b, "<title>%s</title>\n", esc(title))
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="24" font-size="16" font-weight="bold">%s</text>`+"\n", svgMarginLeft, esc(title))
	fmt.Fprintf(&b, `<text x="%.0f" y="42" fill="#555555">%s</text>`+"\n", svgMarginLeft, esc(fmt.Sprintf(
		"time compression ×%g · %s", s.TimeCompression, s.Machine)))
	fmt.Fprintf(&b, `<text x="%.0f" y="58" fill="#555555">%s</text>`+"\n", svgMarginLeft, esc(fmt.Sprintf(
		"oracle: the fewest bridges at average stress ≤ %g, %d participants per bridge at stress 1 · right axis: %g participants line up with one bridge",
		run.TargetStress, run.Capacity, perBridge)))
	writeLegend(&b, 80)

	for i, tl := range timelines {
		writePanel(&b, svgHeaderHeight+float64(i)*panelHeight, i, tl, s.Policies[i], oracle, perBridge, step, top)
	}
	b.WriteString("</svg>\n")
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("writing day.svg: %w", err)
	}
	return nil
}

func writeLegend(b *bytes.Buffer, y float64) {
	x := svgMarginLeft
	item := func(swatch, label string) {
		fmt.Fprintf(b, `<g transform="translate(%.0f %.0f)">%s<text x="26" y="4">%s</text></g>`+"\n", x, y, swatch, esc(label))
		x += 26 + 6.3*float64(len([]rune(label))) + 18
	}
	line := func(colour, width, dash, opacity string) string {
		return fmt.Sprintf(`<line x1="0" y1="0" x2="20" y2="0" stroke="%s" stroke-width="%s" stroke-dasharray="%s" stroke-opacity="%s"/>`,
			colour, width, dash, opacity)
	}
	area := func(colour, opacity string) string {
		return fmt.Sprintf(`<rect x="0" y="-6" width="20" height="12" fill="%s" fill-opacity="%s"/>`, colour, opacity)
	}
	item(area(colourParticipants, "1"), "participants (right axis)")
	item(area(colourOverloaded, "0.6"), "on overloaded bridges")
	item(line(colourOracle, "1.4", "4 3", "1"), "oracle")
	item(line(colourWanted, "1.6", "7 4", "1"), "bridges wanted")
	item(line(colourServing, "1.8", "none", "1"), "bridges serving")
	item(line(colourNodes, "5", "none", "0.5"), "JVB nodes")
}

func writePanel(b *bytes.Buffer, y0 float64, index int, tl Timeline, p PolicySummary, oracle []int, perBridge, step, top float64) {
	plotTop := y0 + panelTitleH
	plotBottom := plotTop + panelPlotH
	xOf := func(minute float64) float64 { return svgMarginLeft + minute/DayMinutes*svgPlotWidth }
	yOf := func(bridges float64) float64 { return plotBottom - bridges/top*panelPlotH }
	yOfParticipants := func(n float64) float64 { return yOf(n / perBridge) }

	fmt.Fprintf(b, `<g class="panel" id="panel-%d">`+"\n", index)
	cost, harm := panelFigures(p)
	fmt.Fprintf(b, `<text x="%.0f" y="%.1f" font-size="13"><tspan font-weight="bold">%s</tspan>: %s</text>`+"\n",
		svgMarginLeft, y0+16, esc(p.Policy), esc(cost))
	fmt.Fprintf(b, `<text x="%.0f" y="%.1f">%s</text>`+"\n", svgMarginLeft, y0+33, esc(harm))

	// Grid and axes.
	for v := 0.0; v <= top+step/2; v += step {
		y := yOf(v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e4e4e4"/>`+"\n", svgMarginLeft, y, svgMarginLeft+svgPlotWidth, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%g</text>`+"\n", svgMarginLeft-6, y+4, v)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" fill="#666666">%g</text>`+"\n", svgMarginLeft+svgPlotWidth+6, y+4, round(v*perBridge, 2))
	}
	for hour := 0; hour <= 24; hour += 3 {
		x := xOf(float64(hour * 60))
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e4e4e4"/>`+"\n", x, plotTop, x, plotBottom)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%02d:00</text>`+"\n", x, plotBottom+16, hour)
	}
	fmt.Fprintf(b, `<text transform="translate(%.1f %.1f) rotate(-90)" text-anchor="middle" fill="#555555">bridges, nodes</text>`+"\n",
		svgMarginLeft-40, plotTop+panelPlotH/2)
	fmt.Fprintf(b, `<text transform="translate(%.1f %.1f) rotate(90)" text-anchor="middle" fill="#555555">participants</text>`+"\n",
		svgMarginLeft+svgPlotWidth+54, plotTop+panelPlotH/2)

	minutes := make([]float64, len(tl.Samples))
	for i, smp := range tl.Samples {
		minutes[i] = smp.Minute
	}
	series := func(value func(Sample) int) []float64 {
		values := make([]float64, len(tl.Samples))
		for i, smp := range tl.Samples {
			values[i] = float64(value(smp))
		}
		return values
	}
	oracleMinutes := make([]float64, len(oracle))
	oracleValues := make([]float64, len(oracle))
	for m, n := range oracle {
		oracleMinutes[m], oracleValues[m] = float64(m), float64(n)
	}

	// Areas first, lines over them; the wide nodes line under the serving line it often equals.
	fmt.Fprintf(b, `<path d="%s" fill="%s"/>`+"\n",
		areaPath(minutes, series(func(s Sample) int { return s.Participants }), xOf, yOfParticipants, plotBottom), colourParticipants)
	if overloaded := series(func(s Sample) int { return s.OverloadedParticipants }); maxOf(overloaded) > 0 {
		fmt.Fprintf(b, `<path d="%s" fill="%s" fill-opacity="0.6"/>`+"\n", areaPath(minutes, overloaded, xOf, yOfParticipants, plotBottom), colourOverloaded)
	}
	fmt.Fprintf(b, `<path d="%s" fill="none" stroke="%s" stroke-width="5" stroke-opacity="0.5"/>`+"\n",
		stepPath(minutes, series(func(s Sample) int { return s.Nodes }), xOf, yOf), colourNodes)
	fmt.Fprintf(b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.4" stroke-dasharray="4 3"/>`+"\n",
		stepPath(oracleMinutes, oracleValues, xOf, yOf), colourOracle)
	fmt.Fprintf(b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.8"/>`+"\n",
		stepPath(minutes, series(func(s Sample) int { return s.BridgesServing }), xOf, yOf), colourServing)
	fmt.Fprintf(b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.6" stroke-dasharray="7 4"/>`+"\n",
		stepPath(minutes, series(func(s Sample) int { return s.BridgesWanted }), xOf, yOf), colourWanted)
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999999"/>`+"\n",
		svgMarginLeft, plotTop, svgPlotWidth, panelPlotH)
	b.WriteString("</g>\n")
}

// panelFigures is a panel's headline, the summary's figures for its policy: what the day
// cost, and what the participants suffered.
func panelFigures(p PolicySummary) (cost, harm string) {
	p95 := "no scale-up served"
	if p.P95ScaleUpSeconds != nil {
		p95 = fmt.Sprintf("p95 scale-up %.0f s", *p.P95ScaleUpSeconds)
	}
	cut := "conferences cut"
	if p.ConferencesCut == 1 {
		cut = "conference cut"
	}
	cost = fmt.Sprintf("%.1f node-hours, %.2f × the oracle's %.1f", p.NodeHours, p.Ratio(), p.OracleNodeHours)
	harm = fmt.Sprintf("%.0f overloaded participant-minutes · %d %s · %s", p.OverloadedParticipantMinutes, p.ConferencesCut, cut, p95)
	return cost, harm
}

// stepPath draws values as a step function: each holds from its minute to the next one's, the
// last to midnight. Only changes are drawn, which keeps a day of minute samples small.
func stepPath(minutes, values []float64, xOf, yOf func(float64) float64) string {
	if len(values) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "M%.1f %.1f", xOf(minutes[0]), yOf(values[0]))
	writeSteps(&b, minutes, values, xOf, yOf)
	return b.String()
}

// areaPath fills under a step function down to the plot's bottom.
func areaPath(minutes, values []float64, xOf, yOf func(float64) float64, bottom float64) string {
	if len(values) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "M%.1f %.1fV%.1f", xOf(minutes[0]), bottom, yOf(values[0]))
	writeSteps(&b, minutes, values, xOf, yOf)
	fmt.Fprintf(&b, "V%.1fZ", bottom)
	return b.String()
}

func writeSteps(b *strings.Builder, minutes, values []float64, xOf, yOf func(float64) float64) {
	last := values[0]
	for i := 1; i < len(values); i++ {
		if values[i] == last {
			continue
		}
		fmt.Fprintf(b, "H%.1fV%.1f", xOf(minutes[i]), yOf(values[i]))
		last = values[i]
	}
	fmt.Fprintf(b, "H%.1f", xOf(DayMinutes))
}

// niceScale picks a tick step of 1, 2 or 5 times a power of ten giving at most five steps up
// to at least top (and at least 1), and the axis top, a whole number of steps.
func niceScale(top float64) (step, axisTop float64) {
	top = math.Max(top, 1)
	for magnitude := 1.0; ; magnitude *= 10 {
		for _, m := range []float64{1, 2, 5} {
			step = m * magnitude
			if math.Ceil(top/step) <= 5 {
				return step, math.Ceil(top/step) * step
			}
		}
	}
}

func maxOf[T int | float64](values []T) T {
	var m T
	for _, v := range values {
		m = max(m, v)
	}
	return m
}

// esc escapes text for XML character data and attribute values.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder never fails to write
	return b.String()
}
