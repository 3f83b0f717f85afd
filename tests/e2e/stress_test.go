package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
)

// TestBridgesScaleOnTheirStress runs the mission end to end: the HPA the function composes
// reads each bridge's stress level from custom.metrics.k8s.io (a test double standing in for
// kube-metrics-adapter), the real HPA controller adds bridges, cluster-autoscaler's loop adds
// a node for each through jitsi-nodescaler, and when the load falls the HPA removes bridges
// one at a time and cluster-autoscaler the nodes they leave.
func TestBridgesScaleOnTheirStress(t *testing.T) {
	s := startAutoscalerSuite(t, harness.Options{HPASyncPeriod: 5 * time.Second})
	ctx := testContext(t, 10*time.Minute)
	metrics, err := harness.StartCustomMetrics(ctx, s.cluster, s.applier, "jitsi-stress-level", "100m")
	require.NoError(t, err)
	t.Cleanup(metrics.Close)

	s.applyJVB(t, ctx,
		map[string]any{"type": "autoscaled", "minReplicas": int64(1), "maxReplicas": int64(4)},
		// The shortest window the API allows, so that the test need not wait ten minutes.
		map[string]any{"scaleDownStabilizationSeconds": int64(60)})

	start := time.Now()
	s.waitForBridges(t, ctx, 1, 1)
	t.Logf("night: minReplicas 1 -> 1 bridge on 1 new node after %s", time.Since(start).Round(100*time.Millisecond))
	require.NoError(t, harness.Poll(ctx, time.Minute, func() (bool, error) {
		h := s.hpa(t, ctx)
		return hpaCondition(h, autoscalingv2.ScalingActive) && len(h.Status.CurrentMetrics) > 0, nil
	}), "the HPA must read the stress metric: %+v", s.hpa(t, ctx).Status)

	// 10:00, the lecture starts: the bridge reports 0.9, three times the 0.3 target.
	metrics.SetValue("", "900m")
	start = time.Now()
	s.waitForBridges(t, ctx, 3, 3)
	t.Logf("stress 0.9 on 1 bridge -> HPA wants 3 -> 2 new nodes, 3 bridges running after %s", time.Since(start).Round(100*time.Millisecond))
	h := s.hpa(t, ctx)
	assert.EqualValues(t, 3, h.Status.DesiredReplicas)
	s.requireStable(t, ctx, 3, 3)

	// 11:30, the lecture ends: the load falls; after the window the HPA removes one bridge
	// per minute.
	metrics.SetValue("", "50m")
	start = time.Now()
	require.NoError(t, harness.Poll(ctx, 3*time.Minute, func() (bool, error) {
		return s.replicas(t, ctx) == 2, nil
	}), "the HPA must remove a bridge")
	t.Logf("stress 0.05 -> HPA removed 1 bridge after %s", time.Since(start).Round(100*time.Millisecond))
	time.Sleep(20 * time.Second)
	assert.EqualValues(t, 2, s.replicas(t, ctx), "one bridge at a time: the next goes a minute later")
	require.NoError(t, harness.Poll(ctx, 3*time.Minute, func() (bool, error) {
		return len(s.groupNodes(t, ctx)) == 2, nil
	}), "cluster-autoscaler must remove the node the bridge left")
	t.Logf("the emptied node was removed %s after the load fell", time.Since(start).Round(100*time.Millisecond))
	require.NoError(t, harness.Poll(ctx, 3*time.Minute, func() (bool, error) {
		return s.replicas(t, ctx) == 1 && len(s.groupNodes(t, ctx)) == 1, nil
	}), "down to minReplicas: 1 bridge on 1 node")
	t.Logf("night again: 1 bridge on 1 node, %s after the load fell", time.Since(start).Round(100*time.Millisecond))
}

func (s *autoscalerSuite) hpa(t *testing.T, ctx context.Context) *autoscalingv2.HorizontalPodAutoscaler {
	t.Helper()
	h, err := s.cluster.Client.AutoscalingV2().HorizontalPodAutoscalers(sampleNamespace).Get(ctx, jvbName, metav1.GetOptions{})
	require.NoError(t, err)
	return h
}

func (s *autoscalerSuite) replicas(t *testing.T, ctx context.Context) int32 {
	t.Helper()
	d, err := s.cluster.Client.AppsV1().Deployments(sampleNamespace).Get(ctx, jvbName, metav1.GetOptions{})
	require.NoError(t, err)
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

func hpaCondition(h *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType) bool {
	for _, c := range h.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
