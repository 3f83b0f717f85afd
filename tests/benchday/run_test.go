package benchday_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/benchday"
	"github.com/crossplane-jitsi/crossplane-jitsi/tests/benchday/runner"
	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
)

// defaultTrace is the trace `make bench-day` plays without TRACE.
const defaultTrace = "tests/benchday/testdata/university-day.csv"

// BenchmarkLectureDay plays a lecture day (TRACE, a CSV path relative to the repository
// root or absolute; the university day by default) once per policy, each on a fresh local
// control plane, side by side, compressed BENCH_DAY_FACTOR times (60 by default), and
// writes _output/bench-day/<trace>/summary.json and day.svg. It runs only with
// BENCH_DAY=1 (`make bench-day`): a day takes 24 minutes at the default factor. END_MINUTE
// stops the day early (a quick look at the morning, say); POLICIES=default,static-peak plays
// only those; KEEP=1 keeps the clusters' logs.
func BenchmarkLectureDay(b *testing.B) {
	if os.Getenv("BENCH_DAY") != "1" {
		b.Skip("BENCH_DAY=1 plays a whole day (about 26 minutes): make bench-day")
	}
	tools, err := harness.FindTools("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok",
		"crossplane", "crossplane-core")
	if err != nil {
		b.Fatal(err)
	}
	path := os.Getenv("TRACE")
	if path == "" {
		path = defaultTrace
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(tools.Root, path)
	}
	trace, err := benchday.LoadTrace(path)
	if err != nil {
		b.Fatal(err)
	}
	factor, err := envNumber("BENCH_DAY_FACTOR", runner.DefaultFactor)
	if err != nil {
		b.Fatal(err)
	}
	endMinute, err := envNumber("END_MINUTE", benchday.DayMinutes)
	if err != nil {
		b.Fatal(err)
	}
	oracle, err := benchday.OracleBridgesPerMinute(trace.Conferences, benchday.DefaultCapacity, benchday.DefaultTargetStress)
	if err != nil {
		b.Fatal(err)
	}
	peak := slices.Max(oracle)
	_, statErr := os.Stat(filepath.Join(tools.Root, "deletioncost", "cmd", "jvb-deletion-cost"))
	policies, err := runner.Policies(trace.Conferences, statErr == nil)
	if err != nil {
		b.Fatal(err)
	}
	if only := os.Getenv("POLICIES"); only != "" {
		var chosen []runner.Policy
		for _, name := range strings.Split(only, ",") {
			i := slices.IndexFunc(policies, func(p runner.Policy) bool { return p.Name == name })
			if i < 0 {
				b.Fatalf("POLICIES: %q is not a policy; the policies are %s", name, strings.Join(runner.PolicyNames(policies), ", "))
			}
			chosen = append(chosen, policies[i])
		}
		policies = chosen
	}
	b.Logf("trace %s: %d conferences, the oracle's peak %d bridges; policies %s; factor %v",
		trace.Name, len(trace.Conferences), peak, strings.Join(runner.PolicyNames(policies), ", "), factor)

	var report *runner.Report
	for range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), 55*time.Minute)
		report, err = runner.Run(ctx, runner.Options{
			Tools:     tools,
			Trace:     trace,
			Policies:  policies,
			Factor:    factor,
			EndMinute: int(endMinute),
			Root:      filepath.Join(tools.Root, ".cache", "e2e"),
			Keep:      os.Getenv("KEEP") == "1",
			Logf:      b.Logf,
		})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()

	timelines := make([]benchday.Timeline, len(report.Results))
	for i, r := range report.Results {
		timelines[i] = r.Timeline
	}
	machine := fmt.Sprintf("%d cores; local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler v1.35.4, kwok v0.8.0) per policy, %d side by side; cluster-autoscaler 1.33 core loop; emulated bridges, jicofo and metrics adapter",
		report.Cores, len(report.Results))
	dir := benchday.OutputDir(tools.Root, trace.Name)
	summary, err := benchday.WriteReport(dir, benchday.Run{Trace: trace, TimeCompression: report.Factor, Machine: machine}, timelines)
	if err != nil {
		b.Fatal(err)
	}
	if err := writeDetails(filepath.Join(dir, detailsFile), report); err != nil {
		b.Fatal(err)
	}
	b.Logf("wrote %s, %s and %s in %s", benchday.SummaryFile, benchday.DaySVGFile, detailsFile, dir)
	b.Logf("time compression %v: the day played in %s after %s of setup; the machine was %.2f of %d cores busy; this process %.0f CPU-s, the preStop hooks %.0f CPU-s",
		report.Factor, report.Wall.Round(time.Second), report.Setup.Round(time.Second), report.MachineBusy, report.Cores, report.TestProcessCPU, report.HookCPU)
	runCPU := report.TestProcessCPU + report.HookCPU
	for _, r := range report.Results {
		logResult(b, r, report.Wall)
		for _, sec := range r.CPUSeconds {
			runCPU += sec
		}
	}
	runCores := runCPU / report.Wall.Seconds()
	b.Logf("the run's own processes used %.0f CPU-s during the day: %.2f cores on average (the machine as a whole: %.2f of %d)",
		runCPU, runCores, report.MachineBusy, report.Cores)
	b.Logf("\n%s", benchday.MarkdownTable(summary))

	for _, p := range summary.Policies {
		b.ReportMetric(p.NodeHours, p.Policy+"_node-hours")
		b.ReportMetric(p.OverloadedParticipantMinutes, p.Policy+"_overloaded-participant-min")
		b.ReportMetric(float64(p.ConferencesCut), p.Policy+"_conferences-cut")
		if p.P95ScaleUpSeconds != nil {
			b.ReportMetric(*p.P95ScaleUpSeconds, p.Policy+"_p95-scale-up-s")
		}
		if p.PeakHourP95ScaleUpSeconds != nil {
			b.ReportMetric(*p.PeakHourP95ScaleUpSeconds, p.Policy+"_peak-hour-p95-scale-up-s")
		}
	}
	b.ReportMetric(report.MachineBusy, "machine-cores-busy")
	b.ReportMetric(runCores, "run-cores")
	b.ReportMetric(report.Factor, "time-compression")
}

func logResult(b *testing.B, r runner.Result, wall time.Duration) {
	name := r.Timeline.Policy
	ctl := r.Controllers
	b.Logf("[%s] jicofo %+v", name, r.Jicofo)
	b.Logf("[%s] bridges %+v; %d drains (longest %s trace, %d cut by the grace period)", name, r.Fleet, r.Drains, r.LongestDrain.Round(time.Second), r.DrainsTimedOut)
	b.Logf("[%s] player: %d of the trace's participants joined in %d conferences, %d join failures; longest gap between joins %s, latest sample %s (trace time)",
		name, r.Play.Joined, r.Play.Conferences, r.Play.JoinFailures, r.Play.MaxPlayGap.Round(time.Second), r.Play.MaxSampleLag.Round(time.Second))
	b.Logf("[%s] cluster-autoscaler: %.0f loops in %s, %.0f ms each on average, every %s + the loop; HPA controller: %.0f syncs (%.0f expected at one per %s), %.1f ms each, %.1f ms queued; metrics adapter: %d scrapes, %d failed",
		name, ctl.AutoscalerLoops, wall.Round(time.Second), ctl.AutoscalerLoopSeconds*1000, ctl.AutoscalerScanInterval,
		ctl.HPASyncs, wall.Seconds()/ctl.HPASyncPeriod.Seconds(), ctl.HPASyncPeriod, ctl.HPASyncSeconds*1000, ctl.HPAQueueSeconds*1000,
		ctl.AdapterScrapes, ctl.AdapterScrapeFailures)
	if n := len(r.BindLags); n > 0 {
		// The worst case is not shown: a node whose pending bridge was removed meanwhile waits
		// for the next scale-up, which is no delay of the scheduler's.
		b.Logf("[%s] %d new JVB nodes: the first bridge bound %s after the node registered (median, trace time), %s at the 95th percentile",
			name, n, r.BindLags[n/2].Round(100*time.Millisecond), r.BindLags[(n*95+99)/100-1].Round(100*time.Millisecond))
	}
	var cpu []string
	total := 0.0
	for _, p := range r.SortedCPU() {
		cpu = append(cpu, fmt.Sprintf("%s %.0f", p, r.CPUSeconds[p]))
		total += r.CPUSeconds[p]
	}
	b.Logf("[%s] CPU-seconds during the day: %.0f (%s)", name, total, strings.Join(cpu, ", "))
	if r.BridgesOffPort > 0 {
		b.Logf("[%s] WARNING: %d bridges could not serve on their pod's port 8080 (another process on this host held *:8080); jvb-deletion-cost could not read them", name, r.BridgesOffPort)
	}
	for _, cut := range r.Timeline.ConferencesCut {
		b.Logf("[%s] conference cut at %s: %s lost bridge %s with %d participants on it", name, clock(cut.Minute), cut.Conference, cut.Bridge, cut.Participants)
	}
	for _, d := range r.DrainLog {
		if d.Minutes >= 55 || d.TimedOut || !d.Ended {
			b.Logf("[%s] long drain: %s from %s for %.1f minutes (ended: %t, cut by the grace period: %t)", name, d.Pod, clock(d.StartMinute), d.Minutes, d.Ended, d.TimedOut)
		}
	}
	for _, n := range r.Notes {
		b.Logf("[%s] compressed inexactly: %s", name, n)
	}
}

// detailsFile holds what summary.json leaves out: every policy's timeline (samples and
// cuts), its drains, and the figures the log shows.
const detailsFile = "details.json"

func writeDetails(path string, report *runner.Report) error {
	b, err := json.MarshalIndent(report, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// clock formats a trace minute as the time of day.
func clock(minute float64) string {
	s := int(minute * 60)
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
}

// envNumber reads a positive number from the environment, or def.
func envNumber(name string, def float64) (float64, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("%s: must be a positive number, not %q", name, v)
	}
	return f, nil
}
