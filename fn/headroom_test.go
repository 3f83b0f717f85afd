package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
)

// TestHeadroom: placeholders hold spare nodes the way bridges would, at the lowest priority,
// and nothing that serves or scales the bridges ever sees them.
func TestHeadroom(t *testing.T) {
	spec := sampleSpec()
	spec["jvb"] = map[string]any{
		"headroom":     map[string]any{"spareNodes": int64(2)},
		"nodeSelector": map[string]any{"jitsi.org/role": "jvb"},
		"tolerations":  []any{map[string]any{"key": "jitsi.org/role", "operator": "Equal", "value": "jvb", "effect": "NoSchedule"}},
		"resources":    map[string]any{"requests": map[string]any{"cpu": "2", "memory": "3Gi"}},
	}
	rsp := mustCompose(t, claimXR(spec), nil)
	spares := desired[appsv1.Deployment](t, rsp, resourceJVBSpares)
	bridges := desired[appsv1.Deployment](t, rsp, resourceJVB)
	pod, bridge := spares.Spec.Template.Spec, bridges.Spec.Template.Spec

	assert.Equal(t, "jitsi-sample-jvb-spare", spares.Name)
	assert.Equal(t, ptr.To(int32(2)), spares.Spec.Replicas, "one placeholder per spare node")
	assert.Equal(t, "crossplane-jitsi-jvb-spare", pod.PriorityClassName)
	assert.Equal(t, ptr.To(int64(0)), pod.TerminationGracePeriodSeconds, "a preempted placeholder frees its node at once")
	assert.Equal(t, bridge.NodeSelector, pod.NodeSelector, "the bridges' nodes")
	assert.Equal(t, bridge.Tolerations, pod.Tolerations)
	assert.Equal(t, bridge.Affinity, pod.Affinity, "one per node, like a bridge, and never beside one")
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	assert.Equal(t, bridges.Spec.Template.Spec.Containers[0].Resources, c.Resources, "the node looks as a bridge's would")
	assert.Equal(t, "registry.k8s.io/pause:3.10.1", c.Image)
	assert.Empty(t, c.Ports, "a placeholder receives no traffic")
	assert.Equal(t, ptr.To(true), pod.SecurityContext.RunAsNonRoot)
	assert.Equal(t, ptr.To(false), pod.AutomountServiceAccountToken)

	// The placeholders' pods match the bridges' anti-affinity (so a bridge preempts rather
	// than shares), and nothing of the bridges selects them.
	term := bridge.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0]
	anti, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
	require.NoError(t, err)
	assert.True(t, anti.Matches(labels.Set(spares.Spec.Template.Labels)))
	jvbSelector, err := metav1.LabelSelectorAsSelector(bridges.Spec.Selector)
	require.NoError(t, err)
	assert.False(t, jvbSelector.Matches(labels.Set(spares.Spec.Template.Labels)),
		"the HPA counts the pods of the bridges' Deployment: never a placeholder")
	hpa := desired[autoscalingv2.HorizontalPodAutoscaler](t, rsp, resourceJVBAutoscaler)
	assert.Equal(t, "jitsi-sample-jvb", hpa.Spec.ScaleTargetRef.Name)
	for _, n := range networkPolicyResources {
		if _, ok := rsp.GetDesired().GetResources()[string(n)]; !ok {
			continue
		}
		np := desired[networkingv1.NetworkPolicy](t, rsp, n)
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		require.NoError(t, err)
		assert.False(t, sel.Matches(labels.Set(spares.Spec.Template.Labels)), "no policy of the components applies to a placeholder")
	}

	t.Run("NoneByDefault", func(t *testing.T) {
		rsp := mustCompose(t, claimXR(sampleSpec()), nil)
		assert.NotContains(t, rsp.GetDesired().GetResources(), string(resourceJVBSpares))
	})
	t.Run("ZeroRemovesThem", func(t *testing.T) {
		spec := sampleSpec()
		spec["jvb"] = map[string]any{"headroom": map[string]any{"spareNodes": int64(0)}}
		rsp := mustCompose(t, claimXR(spec), nil)
		assert.NotContains(t, rsp.GetDesired().GetResources(), string(resourceJVBSpares),
			"a resource the function stops returning is deleted by Crossplane; the emptied nodes scale down")
	})
	t.Run("TheirOwnImage", func(t *testing.T) {
		spec := sampleSpec()
		spec["jvb"] = map[string]any{"headroom": map[string]any{"spareNodes": int64(1), "image": "registry.example.org/mirror/pause:3.10.1"}}
		d := desired[appsv1.Deployment](t, mustCompose(t, claimXR(spec), nil), resourceJVBSpares)
		assert.Equal(t, "registry.example.org/mirror/pause:3.10.1", d.Spec.Template.Spec.Containers[0].Image)
	})
}
