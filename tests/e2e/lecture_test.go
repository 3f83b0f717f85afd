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
	t.Parallel()
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
