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
// The image has sh, curl and jq. The pod never sets JVB_REST_URL or DRAIN_POLL_SECONDS; the
// e2e tests' kubelet double does, to run this very script against an emulated bridge.
const gracefulShutdownHook = `curl -sf -X POST -H 'Content-Type: application/json' \
  -d '{"graceful-shutdown": true}' ${JVB_REST_URL:-http://127.0.0.1:8080}/colibri/shutdown || exit 0
while stats=$(curl -sf ${JVB_REST_URL:-http://127.0.0.1:8080}/colibri/stats); do
  left=$(printf '%s' "$stats" | jq '.local_endpoints // ((.participants // 0) - (.octo_endpoints // 0))')
  [ "${left:-0}" -le 0 ] && exit 0
  sleep ${DRAIN_POLL_SECONDS:-10}
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

	env := append(in.commonEnv(),
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
	if len(spec.AdvertiseIPs) > 0 {
		env = append(env, envVar("JVB_ADVERTISE_IPS", strings.Join(spec.AdvertiseIPs, ",")))
	}
	if len(spec.STUNServers) > 0 {
		env = append(env, envVar("JVB_STUN_SERVERS", strings.Join(spec.STUNServers, ",")))
	}

	resources := requests("1", "1Gi")
	if spec.Resources != nil {
		resources = *spec.Resources
	}

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

// jvbAffinity keeps every videobridge, of any Jitsi in any namespace, on a node of its own.
// One bridge saturates a node's network, and the bridges share the media hostPort anyway.
func jvbAffinity() *corev1.Affinity {
	return &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
				labelName:      appName,
				labelComponent: componentJVB,
			}},
			NamespaceSelector: &metav1.LabelSelector{},
			TopologyKey:       corev1.LabelHostname,
		}},
	}}
}
