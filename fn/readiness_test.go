package main

import (
	"testing"

	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/resource"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func deploymentState(replicas, updated, available int64, availableCondition string) map[string]any {
	return map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "x", "generation": int64(2)},
		"spec":     map[string]any{"replicas": replicas},
		"status": map[string]any{
			"observedGeneration": int64(2), "updatedReplicas": updated, "availableReplicas": available,
			"conditions": []any{map[string]any{"type": "Available", "status": availableCondition}},
		},
	}
}

func hpaState(desired int64, scalingActive string) map[string]any {
	return map[string]any{
		"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
		"metadata": map[string]any{"name": "x"},
		"status": map[string]any{
			"desiredReplicas": desired,
			"conditions":      []any{map[string]any{"type": "ScalingActive", "status": scalingActive}},
		},
	}
}

func TestReadiness(t *testing.T) {
	staleGeneration := deploymentState(1, 1, 1, "True")
	staleGeneration["metadata"].(map[string]any)["generation"] = int64(3)

	cases := map[string]struct {
		reason   string
		name     resource.Name
		observed map[string]any
		want     fnv1.Ready
	}{
		"NotCreatedYet": {
			reason: "An object Crossplane has not created yet is not ready.",
			name:   resourceProsody, observed: nil, want: fnv1.Ready_READY_FALSE,
		},
		"DeploymentAvailable": {
			reason: "A Deployment with every replica updated and available is ready.",
			name:   resourceProsody, observed: deploymentState(1, 1, 1, "True"), want: fnv1.Ready_READY_TRUE,
		},
		"DeploymentRollingOut": {
			reason: "A Deployment still rolling out is not ready.",
			name:   resourceWeb, observed: deploymentState(3, 2, 3, "True"), want: fnv1.Ready_READY_FALSE,
		},
		"DeploymentUnavailable": {
			reason: "A Deployment whose Available condition is False is not ready.",
			name:   resourceJicofo, observed: deploymentState(1, 1, 0, "False"), want: fnv1.Ready_READY_FALSE,
		},
		"DeploymentStaleGeneration": {
			reason: "A Deployment whose controller has not seen the last change is not ready.",
			name:   resourceJicofo, observed: staleGeneration, want: fnv1.Ready_READY_FALSE,
		},
		"BridgesWaitingForNodes": {
			reason: "Videobridges serve as soon as one is available; the others may wait for nodes.",
			name:   resourceJVB, observed: deploymentState(5, 5, 3, "False"), want: fnv1.Ready_READY_TRUE,
		},
		"NoBridge": {
			reason: "Without a single available videobridge no meeting can happen.",
			name:   resourceJVB, observed: deploymentState(2, 2, 0, "False"), want: fnv1.Ready_READY_FALSE,
		},
		"HPAWithMetric": {
			reason: "An HPA that gets its metric is ready.",
			name:   resourceJVBAutoscaler, observed: hpaState(3, "True"), want: fnv1.Ready_READY_TRUE,
		},
		"HPAWithoutMetric": {
			reason: "An HPA without its metric (no metrics adapter) cannot scale, so it is not ready.",
			name:   resourceJVBAutoscaler, observed: hpaState(1, "False"), want: fnv1.Ready_READY_FALSE,
		},
		"IngressWithAddress": {
			reason: "An Ingress is ready once the controller published an address.",
			name:   resourceWebIngress,
			observed: map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": map[string]any{"name": "x"},
				"status": map[string]any{"loadBalancer": map[string]any{"ingress": []any{map[string]any{"ip": "192.0.2.1"}}}}},
			want: fnv1.Ready_READY_TRUE,
		},
		"IngressWithoutAddress": {
			reason: "An Ingress no controller has picked up is not ready.",
			name:   resourceWebIngress,
			observed: map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": map[string]any{"name": "x"},
				"status": map[string]any{"loadBalancer": map[string]any{}}},
			want: fnv1.Ready_READY_FALSE,
		},
		"DeploymentWithoutStatus": {
			reason: "A Deployment observed before its controller wrote any status is not ready (and reading it must not panic).",
			name:   resourceProsody,
			observed: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "x"},
				"spec": map[string]any{"replicas": int64(1)}},
			want: fnv1.Ready_READY_FALSE,
		},
		"HPAWithoutStatus": {
			reason:   "An HPA observed before its controller wrote any status is not ready.",
			name:     resourceJVBAutoscaler,
			observed: map[string]any{"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": map[string]any{"name": "x"}},
			want:     fnv1.Ready_READY_FALSE,
		},
		"SecretExists": {
			reason: "A Secret is ready once it exists.",
			name:   resourceSecret,
			observed: map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "x"},
				"data": map[string]any{}},
			want: fnv1.Ready_READY_TRUE,
		},
		"ServiceExists": {
			reason:   "A ClusterIP Service is ready once it exists.",
			name:     resourceWebService,
			observed: map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "x"}},
			want:     fnv1.Ready_READY_TRUE,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			observed := map[resource.Name]map[string]any{}
			if tc.observed != nil {
				observed[tc.name] = tc.observed
			}
			rsp := mustCompose(t, claimXR(sampleSpec()), observed)
			got := rsp.GetDesired().GetResources()[string(tc.name)].GetReady()
			assert.Equal(t, tc.want, got, tc.reason)
		})
	}
}

func TestStatus(t *testing.T) {
	static := sampleSpec()
	static["jvb"] = map[string]any{"strategy": map[string]any{"type": "static", "replicas": int64(3)}}
	cases := map[string]struct {
		reason        string
		spec          map[string]any
		observed      map[resource.Name]map[string]any
		wantReplicas  float64
		wantDesired   float64
		wantCondition string
	}{
		"ScalingUp": {
			reason: "The HPA wants 5 bridges and 3 run: status says so and BridgesReady is False.",
			spec:   sampleSpec(),
			observed: map[resource.Name]map[string]any{
				resourceJVB: deploymentState(5, 5, 3, "False"), resourceJVBAutoscaler: hpaState(5, "True"),
			},
			wantReplicas: 3, wantDesired: 5, wantCondition: "False",
		},
		"AllUp": {
			reason: "Every bridge the HPA wants runs.",
			spec:   sampleSpec(),
			observed: map[resource.Name]map[string]any{
				resourceJVB: deploymentState(2, 2, 2, "True"), resourceJVBAutoscaler: hpaState(2, "True"),
			},
			wantReplicas: 2, wantDesired: 2, wantCondition: "True",
		},
		"BeforeTheHPA": {
			reason:       "Before anything exists, the autoscaler's minimum is what is wanted.",
			spec:         sampleSpec(),
			wantReplicas: 0, wantDesired: 1, wantCondition: "False",
		},
		"Static": {
			reason:        "The static strategy wants its replicas.",
			spec:          static,
			observed:      map[resource.Name]map[string]any{resourceJVB: deploymentState(3, 3, 3, "True")},
			wantReplicas:  3,
			wantDesired:   3,
			wantCondition: "True",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rsp := mustCompose(t, claimXR(tc.spec), tc.observed)
			status := rsp.GetDesired().GetComposite().GetResource().AsMap()["status"].(map[string]any)
			assert.Equal(t, "https://hack.liiib.re", status["url"])
			jvb := status["jvb"].(map[string]any)
			assert.Equal(t, tc.wantReplicas, jvb["replicas"], tc.reason)
			assert.Equal(t, tc.wantDesired, jvb["desired"], tc.reason)

			require.Len(t, rsp.GetConditions(), 1)
			c := rsp.GetConditions()[0]
			assert.Equal(t, "BridgesReady", c.GetType())
			assert.Equal(t, tc.wantCondition, map[fnv1.Status]string{fnv1.Status_STATUS_CONDITION_TRUE: "True", fnv1.Status_STATUS_CONDITION_FALSE: "False"}[c.GetStatus()])
			assert.Equal(t, fnv1.Target_TARGET_COMPOSITE_AND_CLAIM, c.GetTarget(), "tenants see the condition on their claim")
		})
	}
}
