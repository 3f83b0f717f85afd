package e2e

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

)

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
