package main

import (
	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/resource"
	"github.com/crossplane/function-sdk-go/resource/composed"
	corev1 "k8s.io/api/core/v1"
)

// readiness says whether a composed object is ready, from its observed state, the way
// function-auto-ready would. Crossplane counts an object as ready only when a function says
// so, and the XR is Ready once all of them are.
func readiness(name resource.Name, observed *composed.Unstructured) fnv1.Ready {
	if observed == nil {
		// Not created yet.
		return fnv1.Ready_READY_FALSE
	}
	var ready bool
	switch observed.GetKind() {
	case "Deployment":
		if name == resourceJVB {
			ready = bridgesServing(observed)
		} else {
			ready = deploymentComplete(observed)
		}
	case "StatefulSet":
		ready = statefulSetComplete(observed)
	case "Ingress":
		// Ready once the ingress controller has published an address.
		ready = hasItems(observed, "status", "loadBalancer", "ingress")
	case "HorizontalPodAutoscaler":
		// ScalingActive is False while the metric is missing (no metrics adapter, or no
		// bridge reporting yet): the bridges would not scale, so the HPA is not ready.
		ready = conditionTrue(observed, "ScalingActive")
	default:
		// Secrets, ConfigMaps, ClusterIP Services, ServiceAccounts, RBAC objects and
		// NetworkPolicies are ready as soon as they exist.
		ready = true
	}
	if ready {
		return fnv1.Ready_READY_TRUE
	}
	return fnv1.Ready_READY_FALSE
}

// deploymentComplete: every replica is updated and available.
func deploymentComplete(d *composed.Unstructured) bool {
	if !generationObserved(d) || !conditionTrue(d, "Available") {
		return false
	}
	want := int64(1)
	if r, ok := nestedInt(d, "spec", "replicas"); ok {
		want = r
	}
	updated, _ := nestedInt(d, "status", "updatedReplicas")
	available, _ := nestedInt(d, "status", "availableReplicas")
	return updated >= want && available >= want
}

// statefulSetComplete: every replica is updated and ready.
func statefulSetComplete(s *composed.Unstructured) bool {
	if !generationObserved(s) {
		return false
	}
	want := int64(1)
	if r, ok := nestedInt(s, "spec", "replicas"); ok {
		want = r
	}
	updated, _ := nestedInt(s, "status", "updatedReplicas")
	ready, _ := nestedInt(s, "status", "readyReplicas")
	return updated >= want && ready >= want
}

// bridgesServing: at least one videobridge takes conferences. Bridges waiting for a node
// while the cluster scales up are normal; status.jvb reports them instead.
func bridgesServing(d *composed.Unstructured) bool {
	available, _ := nestedInt(d, "status", "availableReplicas")
	return generationObserved(d) && available >= 1
}

func generationObserved(u *composed.Unstructured) bool {
	// Not u.GetGeneration(): it reads an int64, and numbers from a protobuf Struct are float64.
	generation, _ := nestedInt(u, "metadata", "generation")
	observed, _ := nestedInt(u, "status", "observedGeneration")
	return observed >= generation
}

func conditionTrue(u *composed.Unstructured, conditionType string) bool {
	conditions, _ := nested(u, "status", "conditions").([]any)
	for _, c := range conditions {
		if m, ok := c.(map[string]any); ok && m["type"] == conditionType {
			return m["status"] == string(corev1.ConditionTrue)
		}
	}
	return false
}

func hasItems(u *composed.Unstructured, path ...string) bool {
	items, ok := nested(u, path...).([]any)
	return ok && len(items) > 0
}

// nestedInt reads an integer field. Observed objects come from protobuf Structs, where
// every number is a float64.
func nestedInt(u *composed.Unstructured, path ...string) (int64, bool) {
	switch n := nested(u, path...).(type) {
	case float64:
		return int64(n), true
	case int64:
		return n, true
	case int32:
		return int64(n), true
	case int:
		return int64(n), true
	}
	return 0, false
}

// nested returns the value at path, or nil where the object or any part of the path is
// missing: an object observed before its controller wrote a status has none.
func nested(u *composed.Unstructured, path ...string) any {
	if u == nil {
		return nil
	}
	return nestedIn(u.Object, path...)
}

// nestedIn returns the value at path in v, or nil where any part of the path is missing.
func nestedIn(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}
