package main

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/crossplane/function-sdk-go/resource/composed"

	"github.com/crossplane-jitsi/crossplane-jitsi/apis/v1alpha1"
)

// Condition the function sets on the XR and the claim.
const (
	conditionBridgesReady = "BridgesReady"
	reasonAllReady        = "AllBridgesReady"
	reasonWaiting         = "WaitingForBridges"

	// conditionScheduled says whether a window of jvb.schedule holds the autoscaler's floor.
	conditionScheduled = "Scheduled"
	reasonWindowOpen   = "WindowOpen"
	reasonNoWindowOpen = "NoWindowOpen"
)

// observeStatus reports what tenants care about: where to join, and how many bridges run
// against how many are wanted. More wanted than ready usually means nodes are being added.
func observeStatus(in *instance, jvbDeployment, jvbAutoscaler *composed.Unstructured) v1alpha1.JitsiStatus {
	available, _ := nestedInt(jvbDeployment, "status", "availableReplicas")
	wantedByHPA, hpaDecided := nestedInt(jvbAutoscaler, "status", "desiredReplicas")
	// The HPA writes the Deployment's replicas.
	replicas, replicasSet := nestedInt(jvbDeployment, "spec", "replicas")

	status := v1alpha1.JitsiStatus{URL: in.publicURL()}
	status.JVB.Replicas = int32(available)
	switch {
	case !in.autoscaled():
		status.JVB.Desired = *in.spec.JVB.Strategy.Replicas
	case hpaDecided:
		status.JVB.Desired = int32(wantedByHPA)
	case replicasSet:
		status.JVB.Desired = int32(replicas)
	default:
		status.JVB.Desired = in.floor.minReplicas
	}
	if in.spec.JVB.Schedule != nil {
		status.JVB.Schedule = &v1alpha1.JVBScheduleStatus{MinReplicas: in.floor.minReplicas, Windows: int32s(in.floor.windows)}
		if !in.floor.next.IsZero() {
			status.JVB.Schedule.NextChange = ptr.To(metav1.NewTime(in.floor.next.UTC()))
		}
	}
	return status
}

// bridgesMessage explains the BridgesReady condition.
func bridgesMessage(s v1alpha1.JVBStatus) string {
	if s.Replicas > s.Desired {
		return fmt.Sprintf("%d videobridges are ready and %d wanted; the others are being replaced or are draining their conferences", s.Replicas, s.Desired)
	}
	if s.Replicas == s.Desired {
		return fmt.Sprintf("%d of %d videobridges are ready", s.Replicas, s.Desired)
	}
	return fmt.Sprintf("%d of %d videobridges are ready; the others are starting or waiting for a node", s.Replicas, s.Desired)
}

func int32s(v []int) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}
