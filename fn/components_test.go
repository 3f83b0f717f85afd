package main

import (
	"encoding/hex"
	"slices"
	"testing"
	"time"

	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/resource"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	kresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func container(t *testing.T, d *appsv1.Deployment) corev1.Container {
	t.Helper()
	require.Len(t, d.Spec.Template.Spec.Containers, 1)
	return d.Spec.Template.Spec.Containers[0]
}

func requireEnv(t *testing.T, c corev1.Container, name, want string) {
	t.Helper()
	got, ok := envValue(c.Env, name)
	require.True(t, ok, "container %s has no %s", c.Name, name)
	assert.Equal(t, want, got, "container %s: %s", c.Name, name)
}

func requireSecretEnv(t *testing.T, c corev1.Container, name, secret string) {
	t.Helper()
	for _, e := range c.Env {
		if e.Name == name {
			require.NotNil(t, e.ValueFrom, "%s must come from a Secret, not a literal", name)
			require.NotNil(t, e.ValueFrom.SecretKeyRef)
			assert.Equal(t, secret, e.ValueFrom.SecretKeyRef.Name)
			assert.Equal(t, name, e.ValueFrom.SecretKeyRef.Key)
			return
		}
	}
	t.Fatalf("container %s has no %s", c.Name, name)
}

func TestJVBDeployment(t *testing.T) {
	spec := sampleSpec()
	spec["jvb"] = map[string]any{
		"strategy":         map[string]any{"type": "autoscaled"},
		"udpPort":          int64(10500),
		"stunServers":      []any{"stun.example.org:3478"},
		"gracefulShutdown": map[string]any{"maxDuration": "2h"},
		"nodeSelector":     map[string]any{"jitsi.org/role": "jvb"},
		"tolerations":      []any{map[string]any{"key": "jitsi.org/role", "operator": "Equal", "value": "jvb", "effect": "NoSchedule"}},
	}
	rsp := mustCompose(t, claimXR(spec), nil)
	d := desired[appsv1.Deployment](t, rsp, resourceJVB)
	c := container(t, d)
	pod := d.Spec.Template.Spec

	t.Run("OneBridgePerNode", func(t *testing.T) {
		media := c.Ports[slices.IndexFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "media" })]
		assert.Equal(t, corev1.ProtocolUDP, media.Protocol)
		assert.EqualValues(t, 10500, media.ContainerPort)
		assert.EqualValues(t, 10500, media.HostPort, "the media port must be taken on the node")
		require.NotNil(t, pod.Affinity)
		require.NotNil(t, pod.Affinity.PodAntiAffinity)
		terms := pod.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
		require.Len(t, terms, 1, "the anti-affinity must be required, not preferred")
		assert.Equal(t, corev1.LabelHostname, terms[0].TopologyKey)
		selector, err := metav1.LabelSelectorAsSelector(terms[0].LabelSelector)
		require.NoError(t, err)
		assert.True(t, selector.Matches(labels.Set(d.Spec.Template.Labels)), "the anti-affinity must select the bridges themselves")
		assert.True(t, selector.Matches(labels.Set{labelName: appName, labelInstance: "physics", labelComponent: componentJVB}),
			"and every other Jitsi's bridges")
		assert.True(t, selector.Matches(labels.Set{labelName: appName, labelInstance: "physics", labelComponent: componentSpare}),
			"and the placeholders of spare nodes, which a bridge preempts instead of sharing their node")
		assert.False(t, selector.Matches(labels.Set{labelName: appName, labelInstance: "jitsi-sample", labelComponent: componentWeb}))
	})
	t.Run("RollingUpdateNeverSurges", func(t *testing.T) {
		require.NotNil(t, d.Spec.Strategy.RollingUpdate)
		assert.Equal(t, intstr.FromInt32(0), *d.Spec.Strategy.RollingUpdate.MaxSurge)
		assert.NotEqual(t, intstr.FromInt32(0), *d.Spec.Strategy.RollingUpdate.MaxUnavailable)
	})
	t.Run("RESTAndRelay", func(t *testing.T) {
		requireEnv(t, c, "COLIBRI_REST_ENABLED", "true")
		requireEnv(t, c, "SHUTDOWN_REST_ENABLED", "true")
		requireEnv(t, c, "ENABLE_OCTO", "1")
		requireEnv(t, c, "JVB_OCTO_REGION", "europe")
		requireEnv(t, c, "JVB_PORT", "10500")
		requireEnv(t, c, "JVB_STUN_SERVERS", "stun.example.org:3478")
		requireEnv(t, c, "XMPP_SERVER", "jitsi-sample-prosody")
		requireEnv(t, c, "TZ", "Europe/Paris")
		requireSecretEnv(t, c, "JVB_AUTH_PASSWORD", "jitsi-sample-xmpp")
	})
	t.Run("GracefulShutdown", func(t *testing.T) {
		require.NotNil(t, c.Lifecycle)
		require.NotNil(t, c.Lifecycle.PreStop)
		require.NotNil(t, c.Lifecycle.PreStop.Exec)
		hook := c.Lifecycle.PreStop.Exec.Command[len(c.Lifecycle.PreStop.Exec.Command)-1]
		assert.Contains(t, hook, "/colibri/shutdown", "the hook starts the graceful shutdown")
		assert.Contains(t, hook, `"graceful-shutdown": true`)
		assert.Contains(t, hook, "/colibri/stats", "the hook waits on the participant count")
		require.NotNil(t, pod.TerminationGracePeriodSeconds)
		assert.GreaterOrEqual(t, *pod.TerminationGracePeriodSeconds, int64((2 * time.Hour).Seconds()),
			"the grace period must cover gracefulShutdown.maxDuration")
		assert.Equal(t, "false", d.Spec.Template.Annotations["cluster-autoscaler.kubernetes.io/safe-to-evict"])

		cm := desired[corev1.ConfigMap](t, rsp, resourceJVBConfig)
		assert.Equal(t, "videobridge.shutdown.graceful-shutdown-max-duration = 7200 seconds\n", cm.Data[customJVBConfigFile])
		mount := c.VolumeMounts[slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == "custom-config" })]
		assert.Equal(t, "/config/custom-jvb.conf", mount.MountPath)
	})
	t.Run("ReadinessOnHealth", func(t *testing.T) {
		require.NotNil(t, c.ReadinessProbe)
		require.NotNil(t, c.ReadinessProbe.HTTPGet)
		assert.Equal(t, "/about/health", c.ReadinessProbe.HTTPGet.Path)
		assert.Equal(t, intstr.FromInt32(8080), c.ReadinessProbe.HTTPGet.Port)
	})
	t.Run("Placement", func(t *testing.T) {
		assert.Equal(t, map[string]string{"jitsi.org/role": "jvb"}, pod.NodeSelector)
		require.Len(t, pod.Tolerations, 1)
		assert.Equal(t, "jitsi.org/role", pod.Tolerations[0].Key)
		assert.Equal(t, corev1.TaintEffectNoSchedule, pod.Tolerations[0].Effect)
	})
	t.Run("DefaultResources", func(t *testing.T) {
		assert.Equal(t, kresource.MustParse("1"), c.Resources.Requests[corev1.ResourceCPU])
		assert.Equal(t, kresource.MustParse("1Gi"), c.Resources.Requests[corev1.ResourceMemory])
	})
	t.Run("AutoscalerOwnsReplicas", func(t *testing.T) {
		assert.NotContains(t, desiredMap(t, rsp, resourceJVB)["spec"], "replicas",
			"with the autoscaled strategy the HPA owns replicas; setting it would fight the HPA")
	})
}

func TestJVBAutoscaler(t *testing.T) {
	spec := sampleSpec()
	spec["jvb"] = map[string]any{
		"strategy":    map[string]any{"type": "autoscaled", "minReplicas": int64(2), "maxReplicas": int64(40)},
		"autoscaling": map[string]any{"scaleDownStabilizationSeconds": int64(900)},
	}
	rsp := mustCompose(t, claimXR(spec), nil)
	hpa := desired[autoscalingv2.HorizontalPodAutoscaler](t, rsp, resourceJVBAutoscaler)

	assert.Equal(t, autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "jitsi-sample-jvb"}, hpa.Spec.ScaleTargetRef)
	assert.Equal(t, ptr.To(int32(2)), hpa.Spec.MinReplicas)
	assert.EqualValues(t, 40, hpa.Spec.MaxReplicas)

	require.Len(t, hpa.Spec.Metrics, 1)
	m := hpa.Spec.Metrics[0]
	assert.Equal(t, autoscalingv2.PodsMetricSourceType, m.Type, "the bridges scale on their own load, not on CPU")
	require.NotNil(t, m.Pods)
	assert.Equal(t, "jitsi-stress-level", m.Pods.Metric.Name)
	assert.Equal(t, autoscalingv2.AverageValueMetricType, m.Pods.Target.Type)
	assert.Equal(t, "300m", m.Pods.Target.AverageValue.String(), "the default target is a stress level of 0.3")

	assert.Equal(t, map[string]string{
		"metric-config.pods.jitsi-stress-level.json-path/json-key": "$.stress_level",
		"metric-config.pods.jitsi-stress-level.json-path/path":     "/colibri/stats",
		"metric-config.pods.jitsi-stress-level.json-path/port":     "8080",
		"metric-config.pods.jitsi-stress-level.json-path/scheme":   "http",
	}, hpa.Annotations)

	require.NotNil(t, hpa.Spec.Behavior)
	up, down := hpa.Spec.Behavior.ScaleUp, hpa.Spec.Behavior.ScaleDown
	require.NotNil(t, up)
	require.NotNil(t, down)
	assert.LessOrEqual(t, *up.StabilizationWindowSeconds, int32(60), "scale up quickly")
	assert.Equal(t, ptr.To(int32(900)), down.StabilizationWindowSeconds)
	assert.Equal(t, []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 60}}, down.Policies,
		"scale down one bridge at a time")
}

func TestJVBAutoscalerTarget(t *testing.T) {
	for level, want := range map[float64]string{0.3: "300m", 0.45: "450m", 1: "1", 0.01: "10m"} {
		spec := sampleSpec()
		spec["jvb"] = map[string]any{"autoscaling": map[string]any{"targetStressLevel": level}}
		hpa := desired[autoscalingv2.HorizontalPodAutoscaler](t, mustCompose(t, claimXR(spec), nil), resourceJVBAutoscaler)
		assert.Equal(t, want, hpa.Spec.Metrics[0].Pods.Target.AverageValue.String(), "targetStressLevel %v", level)
	}
}

func TestStaticStrategy(t *testing.T) {
	spec := sampleSpec()
	spec["jvb"] = map[string]any{"strategy": map[string]any{"type": "static", "replicas": int64(4)}}
	rsp := mustCompose(t, claimXR(spec), nil)
	assert.NotContains(t, rsp.GetDesired().GetResources(), string(resourceJVBAutoscaler))
	d := desired[appsv1.Deployment](t, rsp, resourceJVB)
	assert.Equal(t, ptr.To(int32(4)), d.Spec.Replicas)
}

func TestJibri(t *testing.T) {
	t.Run("Enabled", func(t *testing.T) {
		spec := sampleSpec()
		spec["jibri"] = map[string]any{"enabled": true, "replicas": int64(2)}
		rsp := mustCompose(t, claimXR(spec), nil)
		set := desired[appsv1.StatefulSet](t, rsp, resourceJibri)
		assert.Equal(t, ptr.To(int32(2)), set.Spec.Replicas)
		assert.Equal(t, appsv1.ParallelPodManagement, set.Spec.PodManagementPolicy)
		require.Len(t, set.Spec.Template.Spec.Containers, 1)
		c := set.Spec.Template.Spec.Containers[0]
		requireSecretEnv(t, c, keyJibriXMPPPassword, "jitsi-sample-xmpp")
		requireSecretEnv(t, c, keyJibriRecorderPassword, "jitsi-sample-xmpp")
		requireEnv(t, c, "DISPLAY", ":0")
		requireEnv(t, c, "JIBRI_RECORDING_DIR", "/storage/recordings")

		shm := slices.IndexFunc(set.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "dshm" })
		require.GreaterOrEqual(t, shm, 0, "jibri needs a /dev/shm volume")
		v := set.Spec.Template.Spec.Volumes[shm]
		require.NotNil(t, v.EmptyDir)
		assert.Equal(t, corev1.StorageMediumMemory, v.EmptyDir.Medium)
		assert.Equal(t, kresource.MustParse("2Gi"), *v.EmptyDir.SizeLimit)
		assert.Contains(t, c.VolumeMounts, corev1.VolumeMount{Name: "dshm", MountPath: "/dev/shm"})

		for _, n := range []resource.Name{resourceProsody, resourceJicofo, resourceWeb} {
			requireEnv(t, container(t, desired[appsv1.Deployment](t, rsp, n)), "ENABLE_RECORDING", "1")
		}
	})
	t.Run("Disabled", func(t *testing.T) {
		spec := sampleSpec()
		spec["jibri"] = map[string]any{"enabled": false}
		rsp := mustCompose(t, claimXR(spec), nil)
		assert.NotContains(t, rsp.GetDesired().GetResources(), string(resourceJibri),
			"a jibri the function no longer returns is deleted by Crossplane")
		for _, n := range []resource.Name{resourceProsody, resourceJicofo, resourceWeb} {
			requireEnv(t, container(t, desired[appsv1.Deployment](t, rsp, n)), "ENABLE_RECORDING", "0")
		}
	})
}

func TestWeb(t *testing.T) {
	rsp := mustCompose(t, claimXR(sampleSpec()), nil)
	d := desired[appsv1.Deployment](t, rsp, resourceWeb)
	c := container(t, d)
	requireEnv(t, c, "PUBLIC_URL", "https://hack.liiib.re")
	requireEnv(t, c, "XMPP_BOSH_URL_BASE", "http://jitsi-sample-prosody.university.svc.cluster.local:5280")
	requireEnv(t, c, "DEPLOYMENTINFO_REGION", "europe")
	assert.Equal(t, ptr.To(int32(1)), d.Spec.Replicas)

	svc := desired[corev1.Service](t, rsp, resourceWebService)
	assert.Equal(t, d.Spec.Selector.MatchLabels, svc.Spec.Selector)
	assert.Equal(t, []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}}, svc.Spec.Ports)
}

func TestIngress(t *testing.T) {
	cases := map[string]struct {
		reason          string
		ingress         map[string]any
		wantAnnotations map[string]string
		wantTLS         []networkingv1.IngressTLS
		wantClass       *string
	}{
		"ClusterIssuer": {
			reason:  "With a ClusterIssuer, cert-manager's annotation asks for a certificate in the default Secret.",
			ingress: map[string]any{"className": "nginx", "tls": map[string]any{"clusterIssuer": "letsencrypt"}},
			wantAnnotations: map[string]string{
				"cert-manager.io/cluster-issuer":                 "letsencrypt",
				"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
				"nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
			},
			wantTLS:   []networkingv1.IngressTLS{{Hosts: []string{"hack.liiib.re"}, SecretName: "jitsi-sample-tls"}},
			wantClass: ptr.To("nginx"),
		},
		"GivenSecret": {
			reason:  "Without a ClusterIssuer the given Secret serves TLS and cert-manager is not asked.",
			ingress: map[string]any{"tls": map[string]any{"secretName": "wildcard-cert"}},
			wantAnnotations: map[string]string{
				"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
				"nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
			},
			wantTLS: []networkingv1.IngressTLS{{Hosts: []string{"hack.liiib.re"}, SecretName: "wildcard-cert"}},
		},
		"TenantAnnotationsWin": {
			reason: "The tenant's annotations override the defaults.",
			ingress: map[string]any{"annotations": map[string]any{
				"nginx.ingress.kubernetes.io/proxy-read-timeout": "7200", "example.org/team": "physics",
			}},
			wantAnnotations: map[string]string{
				"nginx.ingress.kubernetes.io/proxy-read-timeout": "7200",
				"nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
				"example.org/team": "physics",
			},
			wantTLS: []networkingv1.IngressTLS{{Hosts: []string{"hack.liiib.re"}, SecretName: "jitsi-sample-tls"}},
		},
		"TLSOff": {
			reason:  "With TLS off there is no TLS section and no certificate request, even with an issuer.",
			ingress: map[string]any{"tls": map[string]any{"enabled": false, "clusterIssuer": "letsencrypt"}},
			wantAnnotations: map[string]string{
				"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
				"nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			spec := sampleSpec()
			spec["ingress"] = tc.ingress
			rsp := mustCompose(t, claimXR(spec), nil)
			ing := desired[networkingv1.Ingress](t, rsp, resourceWebIngress)
			if diff := cmp.Diff(tc.wantAnnotations, ing.Annotations); diff != "" {
				t.Errorf("%s\nannotations (-want +got):\n%s", tc.reason, diff)
			}
			if diff := cmp.Diff(tc.wantTLS, ing.Spec.TLS); diff != "" {
				t.Errorf("%s\ntls (-want +got):\n%s", tc.reason, diff)
			}
			assert.Equal(t, tc.wantClass, ing.Spec.IngressClassName)
			require.Len(t, ing.Spec.Rules, 1)
			assert.Equal(t, "hack.liiib.re", ing.Spec.Rules[0].Host)
			backend := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service
			assert.Equal(t, "jitsi-sample-web", backend.Name)
			assert.Equal(t, "http", backend.Port.Name)
		})
	}
}

func TestProsody(t *testing.T) {
	spec := sampleSpec()
	spec["turn"] = map[string]any{"host": "turn.example.org", "secretRef": map[string]any{"name": "turn-shared"}}
	rsp := mustCompose(t, claimXR(spec), nil)
	d := desired[appsv1.Deployment](t, rsp, resourceProsody)
	assert.Equal(t, appsv1.RecreateDeploymentStrategyType, d.Spec.Strategy.Type, "one prosody at a time")
	c := container(t, d)
	for _, key := range secretKeys {
		requireSecretEnv(t, c, key, "jitsi-sample-xmpp")
	}
	requireEnv(t, c, "TURN_HOST", "turn.example.org")
	requireEnv(t, c, "TURN_PORT", "443")
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "TURN_CREDENTIALS" })
	require.GreaterOrEqual(t, i, 0)
	assert.Equal(t, &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "turn-shared"}, Key: "secret"},
		c.Env[i].ValueFrom.SecretKeyRef)

	svc := desired[corev1.Service](t, rsp, resourceProsodyService)
	var ports []int32
	for _, p := range svc.Spec.Ports {
		ports = append(ports, p.Port)
	}
	assert.Equal(t, []int32{5222, 5280}, ports, "nothing listens on the component port 5347 at stable-11146")
	assert.Equal(t, d.Spec.Selector.MatchLabels, svc.Spec.Selector)
}

func TestJicofo(t *testing.T) {
	rsp := mustCompose(t, claimXR(sampleSpec()), nil)
	c := container(t, desired[appsv1.Deployment](t, rsp, resourceJicofo))
	requireEnv(t, c, "JICOFO_ENABLE_REST", "1")
	requireEnv(t, c, "OCTO_BRIDGE_SELECTION_STRATEGY", "RegionBasedBridgeSelectionStrategy")
	requireEnv(t, c, "JICOFO_OCTO_REGION", "europe")
	requireEnv(t, c, "ENABLE_OCTO", "1")
	requireSecretEnv(t, c, keyJicofoPassword, "jitsi-sample-xmpp")
	assert.Equal(t, "/about/health", c.ReadinessProbe.HTTPGet.Path)
}

func TestImages(t *testing.T) {
	spec := sampleSpec()
	spec["image"] = map[string]any{"registry": "registry.example.org/mirror", "tag": "stable-11146-1", "pullPolicy": "Always"}
	rsp := mustCompose(t, claimXR(spec), nil)
	for name, component := range map[resource.Name]string{
		resourceProsody: "prosody", resourceJicofo: "jicofo", resourceWeb: "web", resourceJVB: "jvb",
	} {
		c := container(t, desired[appsv1.Deployment](t, rsp, name))
		assert.Equal(t, "registry.example.org/mirror/"+component+":stable-11146-1", c.Image)
		assert.Equal(t, corev1.PullAlways, c.ImagePullPolicy)
		assert.Equal(t, ptr.To(true), c.SecurityContext.ReadOnlyRootFilesystem)
	}
	recorder := desired[appsv1.StatefulSet](t, rsp, resourceJibri).Spec.Template.Spec.Containers[0]
	assert.Equal(t, "registry.example.org/mirror/jibri:stable-11146-1", recorder.Image)
	assert.Equal(t, ptr.To(true), recorder.SecurityContext.ReadOnlyRootFilesystem)
}

// secretData returns the decoded data of the desired Secret.
func secretData(t *testing.T, rsp *fnv1.RunFunctionResponse) map[string][]byte {
	t.Helper()
	return desired[corev1.Secret](t, rsp, resourceSecret).Data
}

func TestSecretsAreGeneratedOnce(t *testing.T) {
	xr := claimXR(sampleSpec())

	first := secretData(t, mustCompose(t, xr, nil))
	require.Len(t, first, len(secretKeys))
	seen := map[string]bool{}
	for _, key := range secretKeys {
		v := first[key]
		assert.Len(t, v, 32, "%s is 16 random bytes in hex", key)
		_, err := hex.DecodeString(string(v))
		assert.NoError(t, err, "%s is hex", key)
		assert.False(t, seen[string(v)], "every password is different")
		seen[string(v)] = true
	}

	// Crossplane creates the Secret; every later reconcile observes it and must keep it.
	current := desiredMap(t, mustCompose(t, xr, nil), resourceSecret)
	var firstSeen map[string][]byte
	for i := range 5 {
		rsp := mustCompose(t, xr, map[resource.Name]map[string]any{resourceSecret: current})
		data := secretData(t, rsp)
		if i == 0 {
			firstSeen = data
		}
		if diff := cmp.Diff(firstSeen, data); diff != "" {
			t.Fatalf("reconcile %d changed the passwords (-before +after):\n%s", i, diff)
		}
		current = desiredMap(t, rsp, resourceSecret)
	}

	// Without the observed Secret the function has no memory: new passwords, as expected on
	// the very first reconcile only.
	assert.NotEqual(t, first, secretData(t, mustCompose(t, xr, nil)))
}

func TestSecretsKeepWhatExists(t *testing.T) {
	xr := claimXR(sampleSpec())
	observed := map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "jitsi-sample-xmpp", "namespace": "university"},
		// A Secret made before jibri's passwords existed: only two keys.
		"data": map[string]any{
			keyJicofoPassword: "ZmlzaC1hbmQtY2hpcHM=", // fish-and-chips
			keyJVBPassword:    "c2FsdA==",             // salt
		},
	}
	data := secretData(t, mustCompose(t, xr, map[resource.Name]map[string]any{resourceSecret: observed}))
	assert.Equal(t, "fish-and-chips", string(data[keyJicofoPassword]))
	assert.Equal(t, "salt", string(data[keyJVBPassword]))
	assert.Len(t, data[keyJibriXMPPPassword], 32, "a missing password is generated")
	assert.Len(t, data[keyJibriRecorderPassword], 32)
}

func TestSecretsNeverReplaceUnreadable(t *testing.T) {
	observed := map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "jitsi-sample-xmpp", "namespace": "university"},
		"data":     map[string]any{keyJicofoPassword: "not base64!"},
	}
	rsp := runFunction(t, newRequest(t, claimXR(sampleSpec()), map[resource.Name]map[string]any{resourceSecret: observed}))
	require.Len(t, rsp.GetResults(), 1)
	assert.Equal(t, fnv1.Severity_SEVERITY_FATAL, rsp.GetResults()[0].GetSeverity())
	assert.Contains(t, rsp.GetResults()[0].GetMessage(), "data.JICOFO_AUTH_PASSWORD is not base64")
	assert.Empty(t, rsp.GetDesired().GetResources(), "nothing is composed, so nothing is replaced")
}
