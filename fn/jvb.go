package main

import (
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

const (
	// shuttingDownDelay is how long a bridge lingers after its graceful shutdown ends
	// (videobridge.shutdown.shutting-down-delay), while jicofo moves anyone left.
	shuttingDownDelaySeconds = 60
	// terminationMarginSeconds covers the hook's polling interval and the process exit.
	terminationMarginSeconds = 30

	customJVBConfigFile = "custom-jvb.conf"
)

// gracefulShutdownHook runs before the kubelet sends SIGTERM, which would stop the bridge at
// once and cut its conferences. It asks the bridge to shut down gracefully (no new
// conferences; running ones go on), then waits until no local participant is left. It ends
// early, and SIGTERM follows, when the REST API does not answer: the bridge is gone already.
// The image has sh, curl and jq.
//
// JVB_REST_URL and DRAIN_POLL_SECONDS are never set in the pod; they let the end-to-end tests
// run this very script against an emulated bridge on the pod's address, in compressed time.
const gracefulShutdownHook = `api=${JVB_REST_URL:-http://127.0.0.1:8080}
curl -sf -X POST -H 'Content-Type: application/json' \
  -d '{"graceful-shutdown": true}' "$api/colibri/shutdown" || exit 0
while stats=$(curl -sf "$api/colibri/stats"); do
  left=$(printf '%s' "$stats" | jq '.local_endpoints // ((.participants // 0) - (.octo_endpoints // 0))')
  [ "${left:-0}" -le 0 ] && exit 0
  sleep "${DRAIN_POLL_SECONDS:-10}"
done
exit 0
`

// jvb returns the videobridges and their configuration file.
//
// Each bridge takes its UDP media port on the node (hostPort) and a required anti-affinity
// keeps bridges on different nodes, so a bridge that does not fit stays Pending and
// cluster-autoscaler adds exactly one node for it. Because a new bridge only fits once an
// old one has left its node, a rolling update must not surge (maxSurge 0).
func jvb(in *instance) []composedObject {
	spec := &in.spec.JVB
	maxDuration := spec.GracefulShutdown.MaxDuration.Duration
	graceSeconds := int64(maxDuration.Seconds()) + shuttingDownDelaySeconds + terminationMarginSeconds

	config := &corev1.ConfigMap{
		ObjectMeta: in.objectMeta(in.objectName("jvb-config"), componentJVB),
		Data: map[string]string{
			// The image copies /config into its run-time configuration and jvb.conf includes
			// this file; this setting has no environment variable.
			customJVBConfigFile: fmt.Sprintf("videobridge.shutdown.graceful-shutdown-max-duration = %d seconds\n",
				int64(maxDuration.Seconds())),
		},
	}

	volumes, mounts := scratchVolumes("16Mi")
	volumes = append(volumes, corev1.Volume{Name: "custom-config", VolumeSource: corev1.VolumeSource{
		ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: config.Name}},
	}})
	// A subPath mount never sees ConfigMap updates. It does not need to: the file derives
	// from maxDuration alone, which also sets the grace period and so rolls the pods.
	mounts = append(mounts, corev1.VolumeMount{
		Name: "custom-config", MountPath: "/config/" + customJVBConfigFile, SubPath: customJVBConfigFile, ReadOnly: true,
	})

	env := append(in.sharedEnv(envTZ, envXMPPServer, envXMPPPort, envXMPPAuthDomain, envXMPPInternalMUCDomain),
		in.secretEnv(keyJVBPassword),
		envVar("JVB_BREWERY_MUC", jvbBreweryMUC),
		envVar("JVB_PORT", strconv.Itoa(int(*spec.UDPPort))),
		// /colibri/stats feeds the autoscaler's metric; /colibri/shutdown the preStop hook.
		envVar("COLIBRI_REST_ENABLED", "true"),
		envVar("SHUTDOWN_REST_ENABLED", "true"),
		// Relays (secure octo) let a conference span bridges once one is full.
		envVar("ENABLE_OCTO", "1"),
		envVar("JVB_OCTO_REGION", *in.spec.Region),
		corev1.EnvVar{Name: "JVB_OCTO_RELAY_ID", ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"},
		}},
	)
	env = append(env, in.publicAddressEnv()...)
	if len(spec.STUNServers) > 0 {
		env = append(env, envVar("JVB_STUN_SERVERS", strings.Join(spec.STUNServers, ",")))
	}

	resources := bridgeResources(spec.Resources)

	deployment := in.deployment(componentJVB, corev1.Container{
		Env: env,
		Ports: []corev1.ContainerPort{
			{Name: "media", ContainerPort: *spec.UDPPort, HostPort: *spec.UDPPort, Protocol: corev1.ProtocolUDP},
			{Name: "http", ContainerPort: portJVBREST, Protocol: corev1.ProtocolTCP},
		},
		ReadinessProbe: httpProbe("/about/health", portJVBREST),
		Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
			Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", gracefulShutdownHook}},
		}},
		Resources:    resources,
		VolumeMounts: mounts,
	}, volumes)
	in.resolvePublicAddressAtStart(deployment)
	deployment.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{
		MaxSurge:       ptr.To(intstr.FromInt32(0)),
		MaxUnavailable: ptr.To(intstr.FromString("25%")),
	}
	deployment.Spec.Template.Annotations = notSafeToEvict
	pod := &deployment.Spec.Template.Spec
	pod.TerminationGracePeriodSeconds = ptr.To(graceSeconds)
	pod.Affinity = jvbAffinity()
	pod.NodeSelector = spec.NodeSelector
	pod.Tolerations = spec.Tolerations
	if !in.autoscaled() {
		deployment.Spec.Replicas = ptr.To(*spec.Strategy.Replicas)
	}
	// With the autoscaled strategy, replicas is left out on purpose: the HPA owns it, and a
	// value here would make Crossplane and the HPA fight over it on every reconcile.

	return []composedObject{{resourceJVBConfig, config}, {resourceJVB, deployment}}
}

// bridgeResources are what a bridge asks for: the claim's, or 1 CPU and 1Gi.
func bridgeResources(claim *corev1.ResourceRequirements) corev1.ResourceRequirements {
	if claim != nil {
		return *claim
	}
	return requests("1", "1Gi")
}

// jvbAffinity keeps every videobridge, of any Jitsi in any namespace, on a node of its own,
// and off the nodes that placeholders hold for spare capacity (headroom.go): a bridge that
// finds no free node preempts a placeholder rather than sharing its node. One bridge
// saturates a node's network, and the bridges share the media hostPort anyway.
func jvbAffinity() *corev1.Affinity {
	return &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{labelName: appName},
				MatchExpressions: []metav1.LabelSelectorRequirement{{
					Key: labelComponent, Operator: metav1.LabelSelectorOpIn, Values: []string{componentJVB, componentSpare},
				}},
			},
			NamespaceSelector: &metav1.LabelSelector{},
			TopologyKey:       corev1.LabelHostname,
		}},
	}}
}
