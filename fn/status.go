package main

import (
	"fmt"

	"github.com/crossplane/function-sdk-go/resource/composed"

	"github.com/crossplane-jitsi/crossplane-jitsi/apis/v1alpha1"
)

// Condition the function sets on the XR and the claim.
const (
	conditionBridgesReady = "BridgesReady"
	reasonAllReady        = "AllBridgesReady"
	reasonWaiting         = "WaitingForBridges"
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
		status.JVB.Desired = *in.spec.JVB.Strategy.MinReplicas
	}
	return status
}

// bridgesMessage explains the BridgesReady condition.
func bridgesMessage(s v1alpha1.JVBStatus) string {
	if s.Replicas >= s.Desired {
		return fmt.Sprintf("%d of %d videobridges are ready", s.Replicas, s.Desired)
	}
	return fmt.Sprintf("%d of %d videobridges are ready; the others are starting or waiting for a node", s.Replicas, s.Desired)
}
