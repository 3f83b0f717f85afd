package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
	"github.com/crossplane-jitsi/crossplane-jitsi/tests/jitsiemu"
)

// deletionCostAnnotation is what the ReplicaSet controller ranks pods by when it removes some.
const deletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// startDeletionCost runs jvb-deletion-cost, built from this repository, against the cluster,
// reading the emulated bridges' /colibri/stats on the pods' addresses.
func startDeletionCost(t *testing.T, ctx context.Context, s *autoscalerSuite, procs *harness.Processes) {
	t.Helper()
	bin, err := tools.Build("deletioncost/cmd/jvb-deletion-cost", procs.Dir)
	require.NoError(t, err)
	port, err := harness.FreePort()
	require.NoError(t, err)
	metrics := fmt.Sprintf("127.0.0.1:%d", port)
	require.NoError(t, procs.Start("jvb-deletion-cost", bin, "--kubeconfig="+s.cluster.Kubeconfig,
		"--namespace="+sampleNamespace, "--interval=2s", "--timeout=1s", "--metrics-address="+metrics))
	require.NoError(t, harness.Poll(ctx, time.Minute, func() (bool, error) {
		if err := procs.Exited(); err != nil {
			return false, err
		}
		rsp, err := http.Get("http://" + metrics + "/readyz")
		if err != nil {
			return false, nil
		}
		_ = rsp.Body.Close()
		return rsp.StatusCode == http.StatusOK, nil
	}), "jvb-deletion-cost never became ready")
}

// TestEmptiestBridgeLeavesFirst: three bridges carry 40, 0 and 12 participants. jvb-deletion-cost
// keeps each pod's deletion cost at its participants; when the real HPA wants one bridge fewer,
// the ReplicaSet removes the empty one. Then the tenant lowers maxReplicas to 1: the 12 one goes
// next, not the 40 one; it stays Terminating while its conference lasts (fn/jvb.go's preStop
// hook, run by the kubelet double against the emulated bridge), and cluster-autoscaler removes
// its node only after it has gone. No conference is cut.
func TestEmptiestBridgeLeavesFirst(t *testing.T) {
	t.Parallel()
	s := startAutoscalerSuite(t, harness.Options{KwokCIDR: loopbackCIDR(), HoldTerminatingBridges: true, HPASyncPeriod: 5 * time.Second})
	ctx := testContext(t, 8*time.Minute)
	e := startEmulators(t, ctx, s.cluster)
	adapter, err := jitsiemu.StartMetricsAdapter(jitsiemu.MetricsAdapterOptions{Client: s.cluster.Client, Network: e.network,
		CollectionInterval: 5 * time.Second, ResourceUpdateInterval: 5 * time.Second, Logf: t.Logf})
	require.NoError(t, err)
	t.Cleanup(adapter.Close)
	require.NoError(t, adapter.Register(ctx, s.applier))
	procs := testProcesses(t, s.cluster)
	startDeletionCost(t, ctx, s, procs)

	// Three bridges held by the claim's floor, then the floor lowered, as a schedule does.
	autoscaling := map[string]any{"scaleDownStabilizationSeconds": int64(60)}
	s.applyJVB(t, ctx, map[string]any{"type": "autoscaled", "minReplicas": int64(3), "maxReplicas": int64(3)}, autoscaling)
	start := time.Now()
	s.waitForBridges(t, ctx, 3, 3)
	require.NoError(t, e.fleet.WaitForBridges(ctx, 3, time.Minute))
	require.NoError(t, harness.Poll(ctx, 30*time.Second, func() (bool, error) { return e.jicofo.Snapshot().Bridges == 3, nil }))
	t.Logf("3 bridges serving on 3 new nodes after %s", time.Since(start).Round(100*time.Millisecond))

	big := e.join(t, "big lecture", 40)[0].Bridge
	small := e.join(t, "seminar", 12)[0].Bridge
	require.NotEqual(t, big, small, "jicofo puts a new conference on the least loaded bridge")
	var empty *jitsiemu.Bridge
	for _, b := range e.fleet.Bridges() {
		if b != big && b != small {
			empty = b
		}
	}
	require.NotNil(t, empty)
	want := map[string]string{big.Name(): "40", small.Name(): "12", empty.Name(): "0"}
	require.NoError(t, harness.Poll(ctx, 30*time.Second, func() (bool, error) {
		return s.deletionCosts(t, ctx) == fmt.Sprint(want), nil
	}), "jvb-deletion-cost must set each bridge's cost to its participants: have %s, want %v", s.deletionCosts(t, ctx), want)
	t.Logf("costs from /colibri/stats: %s", s.deletionCosts(t, ctx))

	// The floor goes: stress (0.40 + 0.00 + 0.12) / 3, and the HPA wants ceil(0.52 / 0.3) = 2.
	s.applyJVB(t, ctx, map[string]any{"type": "autoscaled", "minReplicas": int64(1), "maxReplicas": int64(3)}, autoscaling)
	lowered := time.Now()
	require.NoError(t, harness.Poll(ctx, 3*time.Minute, func() (bool, error) {
		p, ok := s.pod(t, ctx, empty.Name())
		return !ok || p.DeletionTimestamp != nil, nil
	}), "the HPA must remove a bridge, and it must be the empty one")
	h := s.hpa(t, ctx)
	t.Logf("HPA (average stress %s) wants %d bridges %s after the floor fell; the ReplicaSet removed %s, the empty bridge",
		averageStress(h), h.Status.DesiredReplicas, time.Since(lowered).Round(100*time.Millisecond), empty.Name())
	assert.EqualValues(t, 2, h.Status.DesiredReplicas)
	for _, b := range []*jitsiemu.Bridge{big, small} {
		p, ok := s.pod(t, ctx, b.Name())
		require.True(t, ok)
		assert.Nil(t, p.DeletionTimestamp, "the busy bridge %s stays", b.Name())
	}
	require.NoError(t, harness.Poll(ctx, 30*time.Second, func() (bool, error) {
		_, ok := s.pod(t, ctx, empty.Name())
		return !ok, nil
	}), "an empty bridge drains at once")

	// Now the 12 one is asked to go: the tenant allows one bridge only.
	emptyNodes := len(s.groupNodes(t, ctx))
	s.applyJVB(t, ctx, map[string]any{"type": "autoscaled", "minReplicas": int64(1), "maxReplicas": int64(1)}, autoscaling)
	asked := time.Now()
	require.NoError(t, harness.Poll(ctx, 3*time.Minute, func() (bool, error) {
		p, ok := s.pod(t, ctx, small.Name())
		return ok && p.DeletionTimestamp != nil, nil
	}), "the bridge with 12 participants must go before the one with 40")
	smallPod, _ := s.pod(t, ctx, small.Name())
	smallNode := smallPod.Spec.NodeName
	t.Logf("maxReplicas 1: %s (12 participants, node %s) Terminating %s later; %s (40) stays",
		small.Name(), smallNode, time.Since(asked).Round(100*time.Millisecond), big.Name())

	// While its seminar lasts the bridge drains: the pod stays, and so does its node, for
	// longer than cluster-autoscaler needs to call a node unneeded.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		p, ok := s.pod(t, ctx, small.Name())
		require.True(t, ok, "the pod must stay while its conference lasts")
		require.NotNil(t, p.DeletionTimestamp)
		require.True(t, s.nodeExists(t, ctx, smallNode), "cluster-autoscaler must not remove a draining bridge's node")
		time.Sleep(time.Second)
	}
	t.Logf("%s draining for 20 s, its node %s kept; %s", small.Name(), smallNode, caVerdict(t, s, smallNode))
	state, _ := small.State()
	assert.Equal(t, jitsiemu.StateGracefulShutdown, state)
	assert.Equal(t, 12, small.Stats().LocalEndpoints)
	bigPod, ok := s.pod(t, ctx, big.Name())
	require.True(t, ok)
	assert.Nil(t, bigPod.DeletionTimestamp)

	// The seminar ends: the hook returns, the pod goes, and only then its node.
	n, err := e.jicofo.EndConference("seminar")
	require.NoError(t, err)
	assert.Equal(t, 12, n)
	ended := time.Now()
	var podGone time.Duration
	require.NoError(t, harness.Poll(ctx, 2*time.Minute, func() (bool, error) {
		_, podThere := s.pod(t, ctx, small.Name())
		nodeThere := s.nodeExists(t, ctx, smallNode)
		if podThere && !nodeThere {
			return false, fmt.Errorf("node %s was removed while bridge %s was still on it", smallNode, small.Name())
		}
		if !podThere && podGone == 0 {
			podGone = time.Since(ended)
		}
		return !podThere && !nodeThere, nil
	}))
	t.Logf("seminar ended -> %s gone after %s, node %s removed after %s (%d JVB nodes before, %d now)",
		small.Name(), podGone.Round(100*time.Millisecond), smallNode, time.Since(ended).Round(100*time.Millisecond),
		emptyNodes, len(s.groupNodes(t, ctx)))

	jc := e.jicofo.Counters()
	assert.Zero(t, jc.ConferencesCut, "no conference lost its bridge")
	assert.Zero(t, jc.ParticipantsCut)
	assert.Zero(t, small.Counters().ParticipantsCut)
	assert.Zero(t, empty.Counters().ParticipantsCut)
	assert.Equal(t, map[string]int{big.Name(): 40}, e.jicofo.ConferenceBridges("big lecture"), "the lecture never moved")
	for _, r := range e.kubelet.Runs() {
		assert.NoError(t, r.Err)
		assert.False(t, r.TimedOut)
	}
	t.Logf("jicofo: %+v", jc)
}

// deletionCosts lists each running bridge's deletion cost annotation, by pod name.
func (s *autoscalerSuite) deletionCosts(t *testing.T, ctx context.Context) string {
	t.Helper()
	pods, err := s.cluster.Client.CoreV1().Pods(sampleNamespace).List(ctx, metav1.ListOptions{LabelSelector: sampleBridges})
	require.NoError(t, err)
	out := map[string]string{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			continue
		}
		if v, ok := p.Annotations[deletionCostAnnotation]; ok {
			if _, err := strconv.Atoi(v); err == nil {
				out[p.Name] = v
			}
		}
	}
	return fmt.Sprint(out)
}
