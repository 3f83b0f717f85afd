// Package runner plays a lecture-day trace (tests/benchday) on real control planes: one
// fresh cluster per autoscaling policy, with the real kube-scheduler, HPA controller,
// cluster-autoscaler 1.33's core loop and jitsi-nodescaler's kwok driver (whose nodes boot
// like VMs), and emulated videobridges, jicofo, kubelet preStop and metrics adapter
// (tests/jitsiemu) that carry the participants. Time is compressed by one factor applied to
// every duration of the model; the policies play side by side.
package runner

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/benchday"
	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
	"github.com/crossplane-jitsi/crossplane-jitsi/tests/jitsiemu"
)

// Options describe a run.
type Options struct {
	// Tools are the pinned binaries (harness.FindTools).
	Tools *harness.Tools
	// Trace is the day to play.
	Trace benchday.Trace
	// Policies play side by side, each on its own cluster.
	Policies []Policy
	// Factor is the time compression (DefaultFactor when 0).
	Factor float64
	// BootDelay is the JVB nodes' boot, in trace time (DefaultBootDelay when 0).
	BootDelay time.Duration
	// SampleEvery is the timeline's resolution, in trace time (DefaultSampleEvery when 0).
	SampleEvery time.Duration
	// EndMinute is the trace minute the play stops at (benchday.DayMinutes when 0): a short
	// test plays the first hour of a day.
	EndMinute int
	// Root holds the clusters' directories.
	Root string
	// Keep leaves the clusters' directories (their logs) after a successful run.
	Keep bool
	// Logf reports progress.
	Logf func(format string, args ...any)
}

// Result is one policy's day.
type Result struct {
	Timeline benchday.Timeline
	// Notes say what could not be compressed exactly.
	Notes []string
	// Jicofo and Fleet are the emulators' counters at the end: the cuts seen from jicofo and
	// from the bridges.
	Jicofo jitsiemu.JicofoCounters
	Fleet  jitsiemu.FleetTotals
	// Drains counts the preStop hooks run; DrainsTimedOut those the grace period cut;
	// LongestDrain is the longest, in trace time; DrainLog lists them.
	Drains, DrainsTimedOut int
	LongestDrain           time.Duration
	DrainLog               []Drain
	Play                   playStats
	// BindLags are, for each JVB node that appeared during the day, the time from its
	// registration to a waiting bridge bound to it, in trace time, sorted: the real
	// scheduler's (and informers') latency, magnified by the compression.
	BindLags    []time.Duration
	Controllers ControllerStats
	// CPUSeconds is the CPU each of the cell's processes used during the day, by name.
	CPUSeconds map[string]float64
	// LogDir holds the cluster's logs while it is kept.
	LogDir string
	// BridgesOffPort counts the bridges that served elsewhere than their pod's port 8080,
	// because another process on this host held *:8080: jvb-deletion-cost could not read them.
	BridgesOffPort int
}

// Drain is one bridge's preStop hook, in trace time.
type Drain struct {
	Pod string `json:"pod"`
	// StartMinute is when the hook started; Minutes how long it ran (until the end of the
	// play if it had not ended).
	StartMinute float64 `json:"start_minute"`
	Minutes     float64 `json:"minutes"`
	Ended       bool    `json:"ended"`
	TimedOut    bool    `json:"timed_out"`
}

// ControllerStats tell whether the controllers kept up with the compressed time.
type ControllerStats struct {
	// AutoscalerLoops and AutoscalerLoopSeconds: cluster-autoscaler's main loops during the
	// day and their mean duration (wall clock); AutoscalerScanInterval the flag. A loop
	// starts a scan interval after the previous one ended.
	AutoscalerLoops        float64
	AutoscalerLoopSeconds  float64
	AutoscalerScanInterval time.Duration
	// HPASyncs and HPASyncSeconds: the HPA controller's reconciliations and their mean
	// duration (wall clock); HPAQueueSeconds the mean wait in its work queue;
	// HPASyncPeriod the flag.
	HPASyncs        float64
	HPASyncSeconds  float64
	HPAQueueSeconds float64
	HPASyncPeriod   time.Duration
	// AdapterScrapes and AdapterScrapeFailures count the metrics adapter's pod scrapes.
	AdapterScrapes, AdapterScrapeFailures int
}

// Report is a whole run.
type Report struct {
	Results []Result
	Factor  float64
	// Wall is how long the day played; Setup how long the clusters took to be ready.
	Wall, Setup time.Duration
	// MachineBusy is the machine's mean CPU use during the day, in cores; Cores its count.
	MachineBusy float64
	Cores       int
	// TestProcessCPU is this process's CPU during the day (emulators, players, samplers),
	// HookCPU that of the preStop hooks it ran.
	TestProcessCPU, HookCPU float64
}

// runConfig is what every cell shares.
type runConfig struct {
	tools       *harness.Tools
	scale       TimeScale
	bootDelay   time.Duration
	sampleEvery time.Duration
	maxNodes    int
	// bridgeGrace is the longest terminationGracePeriodSeconds of any policy's bridges,
	// uncompressed.
	bridgeGrace int64
	root        string
	cidrs       map[string]string
	logf        func(format string, args ...any)
}

func (r *runConfig) progressf(policy string) func(format string, args ...any) {
	return func(format string, args ...any) { r.logf("[%s] %s", policy, fmt.Sprintf(format, args...)) }
}

// Run plays the trace once per policy, side by side, and returns each policy's day.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Factor == 0 {
		opts.Factor = DefaultFactor
	}
	if opts.BootDelay == 0 {
		opts.BootDelay = DefaultBootDelay
	}
	if opts.SampleEvery == 0 {
		opts.SampleEvery = DefaultSampleEvery
	}
	if opts.EndMinute == 0 {
		opts.EndMinute = benchday.DayMinutes
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	scale := TimeScale{Factor: opts.Factor}
	if err := scale.Validate(); err != nil {
		return nil, err
	}
	switch {
	case opts.Tools == nil:
		return nil, errors.New("Options.Tools: must be set")
	case len(opts.Policies) == 0:
		return nil, errors.New("Options.Policies: must name at least one policy")
	case opts.EndMinute < 1 || opts.EndMinute > benchday.DayMinutes:
		return nil, fmt.Errorf("Options.EndMinute: must be from 1 to %d, not %d", benchday.DayMinutes, opts.EndMinute)
	}
	run := &runConfig{tools: opts.Tools, scale: scale, bootDelay: opts.BootDelay, sampleEvery: opts.SampleEvery,
		root: opts.Root, cidrs: loopbackCIDRs(PolicyNames(opts.Policies)), logf: opts.Logf}
	if err := os.MkdirAll(opts.Root, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(opts.Root, "bench-day-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	setupStart := time.Now()
	bins, err := buildBinaries(opts.Tools, work, opts.Policies)
	if err != nil {
		return nil, err
	}
	cells, err := render(ctx, run, work, opts.Policies, opts.EndMinute)
	if err != nil {
		return nil, err
	}
	failed := false
	defer func() {
		for _, c := range cells {
			keep := opts.Keep || failed
			if keep && c.cluster != nil {
				opts.Logf("[%s] logs kept in %s", c.policy.Name, c.logDir())
			}
			c.teardown(keep)
		}
	}()
	if err := forEach(cells, func(c *cell) error { return c.setup(ctx, bins) }); err != nil {
		failed = true
		return nil, err
	}
	setup := time.Since(setupStart)

	// Every policy starts its day at the same instant, so that they share the machine alike.
	t0 := time.Now().Add(time.Second)
	end := float64(opts.EndMinute)
	opts.Logf("all %d clusters ready after %s; the day starts (factor %v: a trace minute every %s, %s for minutes 0 to %d)",
		len(cells), setup.Round(time.Second), scale.Factor, scale.Wall(time.Minute), scale.Wall(time.Duration(opts.EndMinute)*time.Minute), opts.EndMinute)
	cpu := startCPU(cells)
	before := make([]controllerCounters, len(cells))
	for i, c := range cells {
		before[i] = c.controllerCounters(ctx)
		c.binds() // the setup's nodes are not the day's
	}
	results := make([]Result, len(cells))
	err = forEach(cells, func(c *cell) error {
		i := slices.Index(cells, c)
		tl, stats, err := c.play(ctx, t0, opts.Trace.Conferences, end)
		if err != nil {
			return fmt.Errorf("policy %s: %w", c.policy.Name, err)
		}
		results[i] = Result{Timeline: tl, Notes: c.notes, Play: stats}
		return nil
	})
	report := &Report{Factor: scale.Factor, Wall: time.Since(t0), Setup: setup}
	cpu.finish(cells, results, report)
	for i, c := range cells {
		results[i].Jicofo = c.jicofo.Counters()
		results[i].Fleet = c.fleet.Totals()
		playEnd := t0.Add(scale.Wall(time.Duration(end * float64(time.Minute))))
		for _, h := range c.kubelet.Runs() {
			if h.Started.Before(t0) || h.GracePeriod == 0 {
				continue // before the day, or a pod deleted at once (a pending bridge): no drain
			}
			results[i].Drains++
			if h.TimedOut {
				results[i].DrainsTimedOut++
			}
			ended := h.Ended
			if ended.IsZero() {
				ended = playEnd
			} else {
				results[i].LongestDrain = max(results[i].LongestDrain, scale.Trace(ended.Sub(h.Started)))
			}
			results[i].DrainLog = append(results[i].DrainLog, Drain{Pod: h.Pod, StartMinute: run.minuteAt(t0, h.Started),
				Minutes: scale.Trace(ended.Sub(h.Started)).Minutes(), Ended: !h.Ended.IsZero(), TimedOut: h.TimedOut})
		}
		results[i].Controllers = c.controllerStats(before[i], c.controllerCounters(ctx))
		results[i].LogDir = c.logDir()
		results[i].BridgesOffPort = len(c.offPort)
		for _, lag := range c.binds() {
			results[i].BindLags = append(results[i].BindLags, scale.Trace(lag))
		}
		slices.Sort(results[i].BindLags)
	}
	if err != nil {
		failed = true
		return nil, err
	}
	report.Results = results
	return report, nil
}

// loopbackCIDRs gives each policy's kwok a /16 of its own on 127.0.0.0/8 (all of which
// reaches lo on Linux), so that the emulated bridges of side-by-side clusters never share
// an address: from a random start, one apart.
func loopbackCIDRs(names []string) map[string]string {
	out := map[string]string{}
	first := 64 + rand.IntN(190-len(names))
	for i, n := range names {
		out[n] = fmt.Sprintf("127.%d.0.1/16", first+i)
	}
	return out
}

// forEach runs f on every cell at once and joins their errors.
func forEach(cells []*cell, f func(*cell) error) error {
	errs := make([]error, len(cells))
	var wg sync.WaitGroup
	for i, c := range cells {
		wg.Go(func() {
			if err := f(c); err != nil {
				errs[i] = fmt.Errorf("policy %s: %w", c.policy.Name, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// buildBinaries builds, once, the root module's commands every cell runs, and
// cluster-autoscaler's loop.
func buildBinaries(tools *harness.Tools, dir string, policies []Policy) (binaries, error) {
	var b binaries
	var err error
	if b.nodeScaler, err = tools.Build("nodescaler/cmd/jitsi-nodescaler", dir); err != nil {
		return b, err
	}
	if b.clusterAutoscaler, err = tools.BuildTestProgram("cmd/cluster-autoscaler", dir, "externalgrpc"); err != nil {
		return b, err
	}
	for _, p := range policies {
		if p.DeletionCost && b.deletionCost == "" {
			if b.deletionCost, err = tools.Build("deletioncost/cmd/jvb-deletion-cost", dir); err != nil {
				return b, err
			}
		}
	}
	return b, nil
}

// scheduleDay is the date the trace's minute 0 is the midnight of, in the claim's time
// zone: a Tuesday (the trace is a weekday) far from a daylight-saving change.
var scheduleDay = [3]int{2026, 12, 8}

// maxScheduleChanges bounds how many times a day the floor may change: a timetable has at
// most 64 windows, each opening (with its lead time) and closing once.
const maxScheduleChanges = 256

// scheduleChange is a change of the bridges' floor during the day: the HPA as the function
// renders it at that instant, which Crossplane would apply then.
type scheduleChange struct {
	minute      float64
	minReplicas int64
	hpa         *unstructured.Unstructured
}

// render renders the sample claim with each policy's settings, with the real Crossplane
// CLI against function-jitsi, at the trace's midnight, and compresses the objects'
// durations. A policy with a schedule is rendered again at every change of its floor
// until the end of the play.
func render(ctx context.Context, run *runConfig, dir string, policies []Policy, endMinute int) ([]*cell, error) {
	procs, err := harness.NewProcesses(filepath.Join(dir, "render"), nil)
	if err != nil {
		return nil, err
	}
	defer procs.Stop()
	renderer, err := harness.StartFunction(ctx, run.tools, procs)
	if err != nil {
		return nil, err
	}
	xr, err := os.ReadFile(filepath.Join(run.tools.Root, "examples", "xr.yaml"))
	if err != nil {
		return nil, err
	}
	var cells []*cell
	for _, p := range policies {
		objs, err := harness.SplitYAML(xr)
		if err != nil || len(objs) != 1 {
			return nil, fmt.Errorf("examples/xr.yaml: want one XR: %v", err)
		}
		spec := objs[0].Object["spec"].(map[string]any)
		loc, err := time.LoadLocation(fmt.Sprint(spec["timezone"]))
		if err != nil {
			return nil, fmt.Errorf("examples/xr.yaml: spec.timezone: %w", err)
		}
		midnight := time.Date(scheduleDay[0], time.Month(scheduleDay[1]), scheduleDay[2], 0, 0, 0, 0, loc)
		spec["jibri"] = map[string]any{"enabled": false}
		jvb := map[string]any{
			"strategy":     p.Strategy,
			"nodeSelector": map[string]any{"jitsi.org/role": "jvb"},
			"tolerations": []any{map[string]any{
				"key": "jitsi.org/role", "operator": "Equal", "value": "jvb", "effect": "NoSchedule",
			}},
		}
		if p.Autoscaling != nil {
			jvb["autoscaling"] = p.Autoscaling
		}
		if p.Schedule != nil {
			jvb["schedule"] = p.Schedule
		}
		if p.SpareNodes > 0 {
			jvb["headroom"] = map[string]any{"spareNodes": int64(p.SpareNodes)}
		}
		spec["jvb"] = jvb
		b, err := yaml.Marshal(objs[0].Object)
		if err != nil {
			return nil, err
		}
		file := filepath.Join(dir, p.Name+".yaml")
		if err := os.WriteFile(file, b, 0o644); err != nil {
			return nil, err
		}
		renderAt := func(at time.Time) (*harness.Rendered, []*unstructured.Unstructured, error) {
			r, err := renderer.Render(ctx, file, "--xrd="+run.tools.XRD(),
				fmt.Sprintf(`--context-values=apps.jit.si/now=%q`, at.Format(time.RFC3339)))
			if err != nil {
				return nil, nil, err
			}
			return r, harness.WithoutOwners(r.Composed), nil
		}
		r, composed, err := renderAt(midnight)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", p.Name, err)
		}
		c, err := newCell(run, p, composed)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", p.Name, err)
		}
		if p.Schedule != nil {
			renderScaledAt := func(at time.Time) (*harness.Rendered, []*unstructured.Unstructured, error) {
				r, composed, err := renderAt(at)
				if err != nil {
					return nil, nil, err
				}
				_, err = ScaleObjects(composed, run.scale, p)
				return r, composed, err
			}
			if c.changes, err = scheduleChanges(r, midnight, endMinute, renderScaledAt); err != nil {
				return nil, fmt.Errorf("policy %s: %w", p.Name, err)
			}
		}
		cells = append(cells, c)
	}
	return cells, nil
}

// newCell is the cell that plays policy p with the objects rendered at midnight: it sizes the
// cell from them, widens run's node group and CA bound to cover it, and compresses the objects.
func newCell(run *runConfig, p Policy, composed []*unstructured.Unstructured) (*cell, error) {
	// The grace period is read before ScaleObjects compresses it: autoscalerFlags compresses
	// CA's bound with the rest of its flags.
	grace, err := bridgeGrace(composed)
	if err != nil {
		return nil, err
	}
	notes, err := ScaleObjects(composed, run.scale, p)
	if err != nil {
		return nil, err
	}
	c := &cell{run: run, policy: p, objs: composed, notes: notes}
	if c.initial, err = initialBridges(composed); err != nil {
		return nil, err
	}
	if c.spares, err = spareNodes(composed); err != nil {
		return nil, err
	}
	most, err := maxBridges(composed)
	if err != nil {
		return nil, err
	}
	run.bridgeGrace = max(run.bridgeGrace, grace)
	// One node group size for every cluster: the most bridges and spares any policy may want.
	run.maxNodes = max(run.maxNodes, most+c.spares)
	return c, nil
}

// scheduleChanges follows the schedule through the play, as Crossplane would: from the
// render at midnight, it renders the claim again at each status.jvb.schedule.nextChange
// the function reports, and keeps each render's HPA.
func scheduleChanges(first *harness.Rendered, midnight time.Time, endMinute int,
	renderAt func(time.Time) (*harness.Rendered, []*unstructured.Unstructured, error)) ([]scheduleChange, error) {
	var changes []scheduleChange
	r := first
	at := midnight
	for range maxScheduleChanges {
		next, found, err := unstructured.NestedString(r.XR.Object, "status", "jvb", "schedule", "nextChange")
		if err != nil {
			return nil, fmt.Errorf("the XR's status.jvb.schedule.nextChange: %w", err)
		}
		if !found {
			return changes, nil
		}
		t, err := time.Parse(time.RFC3339, next)
		if err != nil {
			return nil, fmt.Errorf("the XR's status.jvb.schedule.nextChange: %w", err)
		}
		if !t.After(at) {
			return nil, fmt.Errorf("the render at %s reported the next change at %s, not after it", at.Format(time.RFC3339), next)
		}
		minute := t.Sub(midnight).Minutes()
		if minute >= float64(endMinute) {
			return changes, nil
		}
		var composed []*unstructured.Unstructured
		if r, composed, err = renderAt(t); err != nil {
			return nil, fmt.Errorf("the render at %s: %w", t.Format(time.RFC3339), err)
		}
		hpa := findHPA(composed)
		if hpa == nil {
			return nil, fmt.Errorf("the render at %s has no HorizontalPodAutoscaler", t.Format(time.RFC3339))
		}
		floor, _, err := nestedWholeNumber(hpa.Object, "spec", "minReplicas")
		if err != nil {
			return nil, fmt.Errorf("the render at %s: spec.minReplicas: %w", t.Format(time.RFC3339), err)
		}
		changes = append(changes, scheduleChange{minute: minute, minReplicas: floor, hpa: hpa})
		at = t
	}
	return nil, fmt.Errorf("the floor changed more than %d times in a day", maxScheduleChanges)
}

// findRendered returns the first rendered object of kind whose component label is
// component ("" for any component), or nil.
func findRendered(objs []*unstructured.Unstructured, kind, component string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && (component == "" || o.GetLabels()["app.kubernetes.io/component"] == component) {
			return o
		}
	}
	return nil
}

// findHPA returns the bridges' HorizontalPodAutoscaler, nil for a static strategy.
func findHPA(objs []*unstructured.Unstructured) *unstructured.Unstructured {
	return findRendered(objs, "HorizontalPodAutoscaler", "")
}

// initialBridges is how many bridges serve when the day starts: the HPA's minReplicas (the
// claim's default, 1, unless set or raised by the schedule), or the static replicas.
func initialBridges(objs []*unstructured.Unstructured) (int, error) {
	if hpa := findHPA(objs); hpa != nil {
		n, found, err := nestedWholeNumber(hpa.Object, "spec", "minReplicas")
		if err != nil {
			return 0, fmt.Errorf("HorizontalPodAutoscaler %s: spec.minReplicas: %w", hpa.GetName(), err)
		}
		if !found {
			return 1, nil // the API server's default
		}
		return int(n), nil
	}
	return maxBridges(objs)
}

// spareNodes is how many placeholders keep spare nodes: the replicas of the spare
// Deployment, if the render has one.
func spareNodes(objs []*unstructured.Unstructured) (int, error) {
	o := findRendered(objs, "Deployment", spareComponent)
	if o == nil {
		return 0, nil
	}
	n, err := renderedWholeNumber(o, "spec", "replicas")
	return int(n), err
}

// spareComponent labels the placeholder pods of spare nodes (fn/headroom.go).
const spareComponent = "jvb-spare"

// errNoBridges is the error of a render without the bridges' Deployment.
var errNoBridges = errors.New("no videobridge Deployment in the render")

// bridgeGrace is the bridges' terminationGracePeriodSeconds in the rendered objects.
func bridgeGrace(objs []*unstructured.Unstructured) (int64, error) {
	o := findRendered(objs, "Deployment", "jvb")
	if o == nil {
		return 0, errNoBridges
	}
	return renderedWholeNumber(o, "spec", "template", "spec", "terminationGracePeriodSeconds")
}

// maxBridges is the most bridges the rendered objects may ask for: the HPA's maxReplicas, or
// the static replicas.
func maxBridges(objs []*unstructured.Unstructured) (int, error) {
	if hpa := findHPA(objs); hpa != nil {
		n, err := renderedWholeNumber(hpa, "spec", "maxReplicas")
		return int(n), err
	}
	o := findRendered(objs, "Deployment", "jvb")
	if o == nil {
		return 0, errNoBridges
	}
	n, err := renderedWholeNumber(o, "spec", "replicas")
	if err != nil {
		return 0, fmt.Errorf("without an HPA, %w", err)
	}
	return int(n), nil
}

// renderedWholeNumber reads the whole number a rendered object must have at fields; the error
// names the object and the field.
func renderedWholeNumber(o *unstructured.Unstructured, fields ...string) (int64, error) {
	n, found, err := nestedWholeNumber(o.Object, fields...)
	if err == nil && !found {
		err = errors.New("must be set")
	}
	if err != nil {
		return 0, fmt.Errorf("%s %s: %s: %w", o.GetKind(), o.GetName(), strings.Join(fields, "."), err)
	}
	return n, nil
}

// cpuMeter measures the CPU of the day.
type cpuMeter struct {
	start          time.Time
	busy, total    float64
	self, children float64
	processes      []map[string]int
	processStart   []map[string]float64
}

func startCPU(cells []*cell) *cpuMeter {
	m := &cpuMeter{start: time.Now()}
	m.busy, m.total, _ = machineCPU()
	m.self, m.children = selfCPUSeconds()
	for _, c := range cells {
		pids := c.pids()
		start := map[string]float64{}
		for name, pid := range pids {
			start[name], _ = processCPUSeconds(pid)
		}
		m.processes = append(m.processes, pids)
		m.processStart = append(m.processStart, start)
	}
	return m
}

func (m *cpuMeter) finish(cells []*cell, results []Result, r *Report) {
	busy, total, err := machineCPU()
	if err == nil && total > m.total {
		r.Cores = runtime.NumCPU()
		r.MachineBusy = (busy - m.busy) / (total - m.total) * float64(r.Cores)
	}
	self, children := selfCPUSeconds()
	r.TestProcessCPU, r.HookCPU = self-m.self, children-m.children
	for i := range cells {
		results[i].CPUSeconds = map[string]float64{}
		for name, pid := range m.processes[i] {
			if now, err := processCPUSeconds(pid); err == nil {
				results[i].CPUSeconds[name] = now - m.processStart[i][name]
			}
		}
	}
}

// pids maps the names of the cell's processes, the control plane's and the others, to
// their PIDs.
func (c *cell) pids() map[string]int {
	out := c.cluster.PIDs()
	for name, pid := range c.procs.PIDs() {
		out[name] = pid
	}
	return out
}

// controllerCounters are the cumulative counters the controllers report about their own
// pace.
type controllerCounters struct {
	caLoops, caSeconds           float64
	hpaSyncs, hpaSeconds         float64
	hpaQueued, hpaQueuedSeconds  float64
	adapterScrapes, adapterFails int
}

func (c *cell) controllerCounters(ctx context.Context) controllerCounters {
	var k controllerCounters
	if text, err := scrape(ctx, c.caMetricsURL); err == nil {
		k.caSeconds, _ = metricSum(text, "cluster_autoscaler_function_duration_seconds_sum", `function="main"`)
		k.caLoops, _ = metricSum(text, "cluster_autoscaler_function_duration_seconds_count", `function="main"`)
	} else {
		c.logf("cannot read cluster-autoscaler's metrics: %v", err)
	}
	if text, err := c.cluster.MetricsText(ctx, c.cluster.ControllerManagerURL); err == nil {
		k.hpaSyncs, _ = metricSum(text, "horizontal_pod_autoscaler_controller_reconciliation_duration_seconds_count")
		k.hpaSeconds, _ = metricSum(text, "horizontal_pod_autoscaler_controller_reconciliation_duration_seconds_sum")
		k.hpaQueued, _ = metricSum(text, "workqueue_queue_duration_seconds_count", `name="horizontalpodautoscaler"`)
		k.hpaQueuedSeconds, _ = metricSum(text, "workqueue_queue_duration_seconds_sum", `name="horizontalpodautoscaler"`)
	} else {
		c.logf("cannot read kube-controller-manager's metrics: %v", err)
	}
	k.adapterScrapes, k.adapterFails = c.adapter.Scrapes()
	return k
}

// controllerStats is what the controllers did between two readings of their counters.
func (c *cell) controllerStats(before, after controllerCounters) ControllerStats {
	s := ControllerStats{
		AutoscalerScanInterval: c.run.scale.Wall(10 * time.Second),
		HPASyncPeriod:          c.run.scale.Wall(hpaSyncPeriod),
		AutoscalerLoops:        after.caLoops - before.caLoops,
		HPASyncs:               after.hpaSyncs - before.hpaSyncs,
		AdapterScrapes:         after.adapterScrapes - before.adapterScrapes,
		AdapterScrapeFailures:  after.adapterFails - before.adapterFails,
	}
	if s.AutoscalerLoops > 0 {
		s.AutoscalerLoopSeconds = (after.caSeconds - before.caSeconds) / s.AutoscalerLoops
	}
	if s.HPASyncs > 0 {
		s.HPASyncSeconds = (after.hpaSeconds - before.hpaSeconds) / s.HPASyncs
	}
	if n := after.hpaQueued - before.hpaQueued; n > 0 {
		s.HPAQueueSeconds = (after.hpaQueuedSeconds - before.hpaQueuedSeconds) / n
	}
	return s
}

// SortedCPU lists a result's processes by CPU used, most first.
func (r Result) SortedCPU() []string {
	names := make([]string, 0, len(r.CPUSeconds))
	for n := range r.CPUSeconds {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return r.CPUSeconds[names[i]] > r.CPUSeconds[names[j]] })
	return names
}
