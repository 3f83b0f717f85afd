package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
	"github.com/crossplane-jitsi/crossplane-jitsi/tests/jitsiemu"
)

// sampleRegion is the region of examples/xr.yaml: the bridges' JVB_OCTO_REGION and jicofo's
// JICOFO_OCTO_REGION.
const sampleRegion = "europe"

// loopbackCIDR is a pod range on a random /16 of 127.0.0.0/8 (harness.LoopbackPodCIDR).
func loopbackCIDR() string { return harness.LoopbackPodCIDR() }

// emulators are the doubles that carry participants: a bridge on each JVB pod, jicofo, and
// the kubelet's preStop step.
type emulators struct {
	network *jitsiemu.Network
	brewery *jitsiemu.Brewery
	fleet   *jitsiemu.Fleet
	kubelet *jitsiemu.Kubelet
	jicofo  *jitsiemu.Jicofo
}

func startEmulators(t *testing.T, ctx context.Context, c *harness.Cluster) *emulators {
	t.Helper()
	// The hook polls every second instead of every ten.
	em, err := jitsiemu.StartEmulators(ctx, jitsiemu.EmulatorsOptions{Client: c.Client, Namespace: sampleNamespace,
		Region: sampleRegion, KubeletEnv: []string{"DRAIN_POLL_SECONDS=1"}, Logf: t.Logf})
	require.NoError(t, err)
	t.Cleanup(em.Close)
	return &emulators{network: em.Network, brewery: em.Brewery, fleet: em.Fleet, kubelet: em.Kubelet, jicofo: em.Jicofo}
}

// join places n participants of conference and returns where they landed.
func (e *emulators) join(t *testing.T, conference string, n int) []jitsiemu.Placement {
	t.Helper()
	out := make([]jitsiemu.Placement, 0, n)
	for range n {
		p, err := e.jicofo.Join(conference, sampleRegion)
		require.NoError(t, err)
		out = append(out, p)
	}
	return out
}

func (s *autoscalerSuite) pod(t *testing.T, ctx context.Context, name string) (*corev1.Pod, bool) {
	t.Helper()
	p, err := s.cluster.Client.CoreV1().Pods(sampleNamespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	require.NoError(t, err)
	return p, true
}

func (s *autoscalerSuite) nodeExists(t *testing.T, ctx context.Context, name string) bool {
	t.Helper()
	n, err := s.cluster.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false
	}
	require.NoError(t, err)
	return n.DeletionTimestamp == nil
}

// TestBridgeDrainsBeforeItLeaves takes a bridge away while a lecture runs on it, the way the
// HPA or an operator does: the Deployment goes from 2 bridges to 1, and the ReplicaSet
// removes the busy one (the other carries a higher pod-deletion-cost). The pod stays
// Terminating while fn/jvb.go's own preStop script, run by the kubelet double, drains the
// emulated bridge; jicofo sends new conferences elsewhere; cluster-autoscaler keeps the node.
// When the lecture ends the hook returns, the pod goes, then its node. No conference is cut.
func TestBridgeDrainsBeforeItLeaves(t *testing.T) {
	s := startAutoscalerSuite(t, harness.Options{KwokCIDR: loopbackCIDR(), HoldTerminatingBridges: true})
	ctx := testContext(t, 5*time.Minute)
	e := startEmulators(t, ctx, s.cluster)

	s.apply(t, ctx, 2)
	start := time.Now()
	s.waitForBridges(t, ctx, 2, 2)
	require.NoError(t, e.fleet.WaitForBridges(ctx, 2, time.Minute))
	t.Logf("2 bridges on 2 new nodes, emulated bridges serving after %s", time.Since(start).Round(100*time.Millisecond))
	for _, b := range e.fleet.Bridges() {
		t.Logf("bridge %s at %s, graceful-shutdown-max-duration %s", b.Name(), b.URL(), b.Config().GracefulShutdownMaxDuration)
		assert.Equal(t, time.Hour, b.Config().GracefulShutdownMaxDuration, "read from the rendered custom-jvb.conf")
	}

	lecture := e.join(t, "lecture", 12)
	busy := lecture[0].Bridge
	for _, p := range lecture {
		require.Equal(t, busy, p.Bridge, "a 12-participant conference stays on one bridge")
	}
	var idle *jitsiemu.Bridge
	for _, b := range e.fleet.Bridges() {
		if b != busy {
			idle = b
		}
	}
	require.NotNil(t, idle)
	busyPod, _ := s.pod(t, ctx, busy.Name())
	busyNode := busyPod.Spec.NodeName
	t.Logf("lecture: 12 participants on %s (node %s); %s idle", busy.Name(), busyNode, idle.Name())

	// The ReplicaSet removes the pod with the lowest deletion cost first.
	_, err := s.cluster.Client.CoreV1().Pods(sampleNamespace).Patch(ctx, idle.Name(), types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"controller.kubernetes.io/pod-deletion-cost":"100"}}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	s.apply(t, ctx, 1)
	scaledAt := time.Now()
	require.NoError(t, harness.Poll(ctx, 30*time.Second, func() (bool, error) {
		p, ok := s.pod(t, ctx, busy.Name())
		return ok && p.DeletionTimestamp != nil, nil
	}), "the busy bridge must be the one removed")
	require.NoError(t, harness.Poll(ctx, 30*time.Second, func() (bool, error) {
		state, _ := busy.State()
		return state == jitsiemu.StateGracefulShutdown, nil
	}), "the preStop hook must ask the bridge for a graceful shutdown")
	t.Logf("replicas 2 -> 1: %s Terminating, in graceful shutdown %s after the scale-down",
		busy.Name(), time.Since(scaledAt).Round(100*time.Millisecond))

	// Once the bridge's presence told jicofo, new conferences go to the other bridge; so
	// does the lecture's latecomer, through a relay (jicofo prefers running bridges).
	require.NoError(t, harness.Poll(ctx, 30*time.Second, func() (bool, error) {
		return e.jicofo.Snapshot().Available == 1, nil
	}))
	seminar := e.join(t, "seminar", 5)
	assert.Equal(t, idle, seminar[0].Bridge, "no new conference on a bridge in graceful shutdown")
	latecomer := e.join(t, "lecture", 1)[0]
	assert.Equal(t, idle, latecomer.Bridge)
	assert.Equal(t, 2, latecomer.Bridges, "the lecture spans both bridges")

	// Hold: the lecture goes on for longer than cluster-autoscaler needs to call a node
	// unneeded (the group's unneededTime is 10 s); the pod and its node stay.
	hold := 25 * time.Second
	deadline := time.Now().Add(hold)
	for time.Now().Before(deadline) {
		p, ok := s.pod(t, ctx, busy.Name())
		require.True(t, ok, "the pod must stay while its conference lasts")
		require.NotNil(t, p.DeletionTimestamp)
		require.True(t, s.nodeExists(t, ctx, busyNode), "cluster-autoscaler must not remove the node of a draining bridge")
		time.Sleep(time.Second)
	}
	stats := busy.Stats()
	assert.Equal(t, 12, stats.LocalEndpoints)
	assert.Equal(t, 1, stats.OctoEndpoints, "it relays the latecomer")
	assert.True(t, stats.GracefulShutdown)
	assert.Len(t, e.kubelet.Runs(), 1)
	assert.True(t, e.kubelet.Runs()[0].Ended.IsZero(), "the hook is still polling")
	t.Logf("%s Terminating for %s with 12 local participants; node %s kept by cluster-autoscaler; %s",
		busy.Name(), time.Since(scaledAt).Round(100*time.Millisecond), busyNode, caVerdict(t, s, busyNode))

	// The lecture ends: the hook sees no local participant, the pod goes, then its node.
	n, err := e.jicofo.EndConference("lecture")
	require.NoError(t, err)
	assert.Equal(t, 13, n)
	endedAt := time.Now()
	require.NoError(t, harness.Poll(ctx, 30*time.Second, func() (bool, error) {
		_, ok := s.pod(t, ctx, busy.Name())
		return !ok, nil
	}), "the pod must go once its hook returned")
	podGone := time.Since(endedAt)
	require.NoError(t, harness.Poll(ctx, 2*time.Minute, func() (bool, error) {
		return !s.nodeExists(t, ctx, busyNode), nil
	}), "cluster-autoscaler must remove the emptied node")
	t.Logf("lecture ended -> hook returned and pod removed after %s, its node removed after %s; the drain lasted %s",
		podGone.Round(100*time.Millisecond), time.Since(endedAt).Round(100*time.Millisecond), endedAt.Sub(scaledAt).Round(100*time.Millisecond))

	run := e.kubelet.Runs()[0]
	assert.NoError(t, run.Err)
	assert.False(t, run.TimedOut)
	assert.Equal(t, 3690*time.Second, run.GracePeriod, "maxDuration 1h + 90 s")
	state, stopped := busy.State()
	assert.Equal(t, jitsiemu.StateShuttingDown, state)
	assert.True(t, stopped)
	bc, jc := busy.Counters(), e.jicofo.Counters()
	assert.Zero(t, bc.ParticipantsCut, "the bridge cut nobody")
	assert.Zero(t, jc.ConferencesCut, "no conference lost its bridge")
	assert.Zero(t, jc.ParticipantsCut)
	assert.Equal(t, map[string]int{idle.Name(): 5}, e.jicofo.ConferenceBridges("seminar"))
	totals := e.fleet.Totals()
	assert.Equal(t, jitsiemu.FleetTotals{BridgesStarted: 2, BridgesRunning: 1}, totals, "no bridge cut anyone")
	t.Logf("jicofo: %+v; bridge %s: %d endpoints, %d cut, stopped: %s", jc, busy.Name(), bc.EndpointsCreated, bc.ParticipantsCut, bc.StopReason)
}

// caVerdict is what cluster-autoscaler's log says about node, for the test's output.
func caVerdict(t *testing.T, s *autoscalerSuite, node string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.cluster.Dir, "tests", "logs", "cluster-autoscaler.log"))
	if err != nil {
		return "no cluster-autoscaler log: " + err.Error()
	}
	var last string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, node) && (strings.Contains(line, "remov") || strings.Contains(line, "evict")) {
			last = line
		}
	}
	if last == "" {
		return "cluster-autoscaler logged nothing about removing it"
	}
	return "cluster-autoscaler's last word on it: " + strings.TrimSpace(last)
}

// TestStressScalesBridgesThroughTheMetricsAdapter runs the metric path of production: the
// participants jicofo places raise an emulated bridge's stress_level; the kube-metrics-adapter
// double scrapes it from the pod's IP as the HPA's json-path annotations say; the real HPA
// controller adds a bridge; the next conference lands on the new one.
func TestStressScalesBridgesThroughTheMetricsAdapter(t *testing.T) {
	c := startClusterWith(t, harness.Options{KwokCIDR: loopbackCIDR(), HoldTerminatingBridges: true, HPASyncPeriod: 5 * time.Second})
	ctx := testContext(t, 5*time.Minute)
	procs := testProcesses(t, c)
	addNode(t, c, "base-1", nil)
	for _, n := range []string{"jvb-1", "jvb-2"} {
		addNode(t, c, n, map[string]string{"jitsi.org/role": "jvb"})
	}
	renderer, err := harness.StartFunction(ctx, tools, procs)
	require.NoError(t, err)
	applier, err := harness.NewApplier(c.Config, fieldManager)
	require.NoError(t, err)
	s := &autoscalerSuite{cluster: c, renderer: renderer, applier: applier}

	e := startEmulators(t, ctx, c)
	// The adapter's flags, shortened from 60 s and 30 s so that the test takes a minute.
	adapter, err := jitsiemu.StartMetricsAdapter(jitsiemu.MetricsAdapterOptions{Client: c.Client, Network: e.network,
		CollectionInterval: 5 * time.Second, ResourceUpdateInterval: 5 * time.Second, Logf: t.Logf})
	require.NoError(t, err)
	t.Cleanup(adapter.Close)
	require.NoError(t, adapter.Register(ctx, applier))

	s.applyJVB(t, ctx,
		map[string]any{"type": "autoscaled", "minReplicas": int64(1), "maxReplicas": int64(3)},
		map[string]any{"scaleDownStabilizationSeconds": int64(60)})
	start := time.Now()
	require.NoError(t, e.fleet.WaitForBridges(ctx, 1, 2*time.Minute))
	require.NoError(t, harness.Poll(ctx, time.Minute, func() (bool, error) {
		h := s.hpa(t, ctx)
		return hpaCondition(h, autoscalingv2.ScalingActive) && len(h.Status.CurrentMetrics) > 0, nil
	}), "the HPA must read the stress through the adapter: %+v", s.hpa(t, ctx).Status)
	t.Logf("night: 1 bridge, HPA reads stress %s through the adapter, %s after apply",
		averageStress(s.hpa(t, ctx)), time.Since(start).Round(100*time.Millisecond))

	// 10:00: a lecture of 45 on the one bridge: stress 0.45 against a target of 0.3.
	first := e.join(t, "lecture", 45)[0].Bridge
	start = time.Now()
	require.NoError(t, e.fleet.WaitForBridges(ctx, 2, 2*time.Minute), "the HPA must add a bridge")
	h := s.hpa(t, ctx)
	t.Logf("45 participants -> stress 0.45 -> HPA wants %d bridges (current average %s) -> 2 bridges serving after %s",
		h.Status.DesiredReplicas, averageStress(h), time.Since(start).Round(100*time.Millisecond))
	assert.EqualValues(t, 2, h.Status.DesiredReplicas, "ceil(0.45 / 0.3)")
	assert.Equal(t, "450m", adapter.Values("jitsi-stress-level", sampleNamespace)[first.Name()])

	// The new bridge is the least loaded: the next conference lands there once its
	// presence reached jicofo.
	var second *jitsiemu.Bridge
	for _, b := range e.fleet.Bridges() {
		if b != first {
			second = b
		}
	}
	require.NoError(t, harness.Poll(ctx, 30*time.Second, func() (bool, error) { return e.jicofo.Snapshot().Bridges == 2, nil }))
	seminar := e.join(t, "seminar", 10)
	assert.Equal(t, second, seminar[0].Bridge)
	assert.Equal(t, map[string]int{second.Name(): 10}, e.jicofo.ConferenceBridges("seminar"))

	// Both scraped: average (0.45 + 0.10) / 2 = 275m, under the target: 2 bridges stay.
	require.NoError(t, harness.Poll(ctx, time.Minute, func() (bool, error) {
		return averageStress(s.hpa(t, ctx)) == "275m", nil
	}), "the HPA must see both bridges' stress: %s", averageStress(s.hpa(t, ctx)))
	h = s.hpa(t, ctx)
	assert.EqualValues(t, 2, h.Status.DesiredReplicas)
	assert.Len(t, e.fleet.Bridges(), 2)
	total, failed := adapter.Scrapes()
	t.Logf("HPA average %s over 2 bridges, wants %d; adapter: %d scrapes, %d failed; jicofo: %+v",
		averageStress(h), h.Status.DesiredReplicas, total, failed, e.jicofo.Counters())
	assert.Zero(t, e.jicofo.Counters().PlacedOnOverloaded)
}

// averageStress is the HPA's current average of the stress metric.
func averageStress(h *autoscalingv2.HorizontalPodAutoscaler) string {
	for _, m := range h.Status.CurrentMetrics {
		if m.Pods != nil && m.Pods.Current.AverageValue != nil {
			return m.Pods.Current.AverageValue.String()
		}
	}
	return "none"
}
