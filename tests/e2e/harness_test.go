package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
)

// TestApplyReportsRejections: the apply-and-check helper applies everything, counts what
// the API server accepted, and names each rejected object with the server's reason.
func TestApplyReportsRejections(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	ctx := testContext(t, time.Minute)
	applier, err := harness.NewApplier(c.Config, "e2e")
	require.NoError(t, err)

	hpa := func(apiVersion string, target map[string]any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": apiVersion, "kind": "HorizontalPodAutoscaler",
			"metadata": map[string]any{"name": "jvb", "namespace": "default"},
			"spec": map[string]any{
				"scaleTargetRef": target, "minReplicas": int64(1), "maxReplicas": int64(3),
			},
		}}
	}
	good := hpa("autoscaling/v2", map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "jvb"})
	// The 2021 operator's HPA: autoscaling/v2beta2 was removed in Kubernetes 1.26.
	removedKind := hpa("autoscaling/v2beta2", map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "jvb"})
	// An HPA whose target has no kind.
	noTargetKind := hpa("autoscaling/v2", map[string]any{"apiVersion": "apps/v1", "name": "jvb"})
	noTargetKind.SetName("no-target-kind")

	report := applier.Apply(ctx, []*unstructured.Unstructured{good, removedKind, noTargetKind})
	t.Log(report.String())
	assert.Equal(t, 1, report.Accepted())
	rejected := report.Rejected()
	require.Len(t, rejected, 2)
	assert.Equal(t, "HorizontalPodAutoscaler default/jvb", rejected[0].Ref)
	assert.Contains(t, rejected[0].Err.Error(), "autoscaling/v2beta2")
	assert.Equal(t, "HorizontalPodAutoscaler default/no-target-kind", rejected[1].Ref)
	assert.Contains(t, rejected[1].Err.Error(), "spec.scaleTargetRef.kind: Required value")
	assert.Contains(t, report.String(), "REJECTED HorizontalPodAutoscaler default/no-target-kind")
}
