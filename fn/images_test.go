package main

import (
	"slices"
	"strings"
	"testing"

	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/resource"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	kresource "k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

// What the images at stable-11146 need, defect by defect (docs/images.md).

// TestPublicURLStaysHTTPSWithoutIngressTLS: web's system-config.js strips only "https://"
// from PUBLIC_URL to build the BOSH and websocket URLs, so an http:// URL gives
// https://http://<domain>/http-bind. TLS off at the Ingress means TLS ends in front of it.
func TestPublicURLStaysHTTPSWithoutIngressTLS(t *testing.T) {
	spec := sampleSpec()
	spec["ingress"] = map[string]any{"tls": map[string]any{"enabled": false}}
	rsp := mustCompose(t, claimXR(spec), nil)
	requireEnv(t, container(t, desired[appsv1.Deployment](t, rsp, resourceWeb)), "PUBLIC_URL", "https://hack.liiib.re")
	requireEnv(t, jibriContainer(t, rsp), "PUBLIC_URL", "https://hack.liiib.re")
	assert.Equal(t, "https://hack.liiib.re", rsp.GetDesired().GetComposite().GetResource().AsMap()["status"].(map[string]any)["url"])
}

// TestJicofoHealthEndpointExists: /about/health answers only with jicofo's health checks on;
// without them the readiness probe gets 404 for ever and the claim is never Ready.
func TestJicofoHealthEndpointExists(t *testing.T) {
	c := container(t, desired[appsv1.Deployment](t, mustCompose(t, claimXR(sampleSpec()), nil), resourceJicofo))
	require.NotNil(t, c.ReadinessProbe.HTTPGet)
	assert.Equal(t, "/about/health", c.ReadinessProbe.HTTPGet.Path)
	requireEnv(t, c, "JICOFO_ENABLE_HEALTH_CHECKS", "1")
}

// TestJibriPendingTimeoutHasAUnit: jicofo reads the pending timeout with getDuration, where a
// bare number is milliseconds.
func TestJibriPendingTimeoutHasAUnit(t *testing.T) {
	c := container(t, desired[appsv1.Deployment](t, mustCompose(t, claimXR(sampleSpec()), nil), resourceJicofo))
	if v, ok := envValue(c.Env, "JIBRI_PENDING_TIMEOUT"); ok {
		assert.Regexp(t, `^[0-9]+ ?(ms|s|seconds|m|minutes)$`, v, "a duration needs a unit")
	}
}

// TestClusterDomain: nginx in web resolves prosody itself, without a search path.
func TestClusterDomain(t *testing.T) {
	spec := sampleSpec()
	spec["clusterDomain"] = "k8s.example.internal"
	c := container(t, desired[appsv1.Deployment](t, mustCompose(t, claimXR(spec), nil), resourceWeb))
	requireEnv(t, c, "XMPP_BOSH_URL_BASE", "http://jitsi-sample-prosody.university.svc.k8s.example.internal:5280")
}

// TestJibriAccountsOnlyWithJibri: prosody registers the recorder's accounts whenever their
// passwords are set; the passwords themselves stay in the Secret, stable, for when jibri
// comes back.
func TestJibriAccountsOnlyWithJibri(t *testing.T) {
	spec := sampleSpec()
	spec["jibri"] = map[string]any{"enabled": false}
	rsp := mustCompose(t, claimXR(spec), nil)
	c := container(t, desired[appsv1.Deployment](t, rsp, resourceProsody))
	for _, key := range []string{keyJibriXMPPPassword, keyJibriRecorderPassword} {
		assert.False(t, slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == key }), "prosody must not get %s", key)
	}
	requireSecretEnv(t, c, keyJicofoPassword, "jitsi-sample-xmpp")
	requireSecretEnv(t, c, keyJVBPassword, "jitsi-sample-xmpp")
	assert.Len(t, secretData(t, rsp), len(secretKeys), "the Secret keeps every password, so turning jibri on changes none")
}

// TestJibriReadinessWantsHealthy: jibri's health API answers 200 whatever its state.
func TestJibriReadinessWantsHealthy(t *testing.T) {
	c := jibriContainer(t, mustCompose(t, claimXR(sampleSpec()), nil))
	require.NotNil(t, c.ReadinessProbe)
	require.NotNil(t, c.ReadinessProbe.Exec, "an HTTP probe takes any 200 as ready")
	script := strings.Join(c.ReadinessProbe.Exec.Command, " ")
	assert.Contains(t, script, "/jibri/api/v1.0/health")
	assert.Contains(t, script, `healthStatus == "HEALTHY"`)
}

func jibriContainer(t *testing.T, rsp *fnv1.RunFunctionResponse) corev1.Container {
	t.Helper()
	set := desired[appsv1.StatefulSet](t, rsp, resourceJibri)
	require.Len(t, set.Spec.Template.Spec.Containers, 1)
	return set.Spec.Template.Spec.Containers[0]
}

// TestRecordings: recordings outlive the recorder.
func TestRecordings(t *testing.T) {
	withRecordings := func(m map[string]any) map[string]any {
		spec := sampleSpec()
		spec["jibri"] = map[string]any{"enabled": true, "recordings": m}
		return spec
	}
	t.Run("AClaimPerRecorderByDefault", func(t *testing.T) {
		set := desired[appsv1.StatefulSet](t, mustCompose(t, claimXR(sampleSpec()), nil), resourceJibri)
		require.Len(t, set.Spec.VolumeClaimTemplates, 1)
		pvc := set.Spec.VolumeClaimTemplates[0]
		assert.Equal(t, "recordings", pvc.Name)
		assert.Equal(t, kresource.MustParse("10Gi"), pvc.Spec.Resources.Requests[corev1.ResourceStorage])
		assert.Nil(t, pvc.Spec.StorageClassName, "the cluster's default class")
		assert.Equal(t, &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
			WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		}, set.Spec.PersistentVolumeClaimRetentionPolicy, "recordings stay when the recorder or the Jitsi goes")
		c := set.Spec.Template.Spec.Containers[0]
		assert.Contains(t, c.VolumeMounts, corev1.VolumeMount{Name: "recordings", MountPath: "/storage"})
		assert.False(t, slices.ContainsFunc(set.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "recordings" }),
			"the claim template provides the volume")
	})
	t.Run("StorageClassAndSize", func(t *testing.T) {
		set := desired[appsv1.StatefulSet](t, mustCompose(t, claimXR(withRecordings(map[string]any{
			"size": "50Gi", "storageClassName": "fast",
		})), nil), resourceJibri)
		pvc := set.Spec.VolumeClaimTemplates[0]
		assert.Equal(t, kresource.MustParse("50Gi"), pvc.Spec.Resources.Requests[corev1.ResourceStorage])
		assert.Equal(t, ptr.To("fast"), pvc.Spec.StorageClassName)
	})
	t.Run("EmptyDirWithALimit", func(t *testing.T) {
		set := desired[appsv1.StatefulSet](t, mustCompose(t, claimXR(withRecordings(map[string]any{
			"volume": "EmptyDir", "size": "5Gi",
		})), nil), resourceJibri)
		assert.Empty(t, set.Spec.VolumeClaimTemplates)
		i := slices.IndexFunc(set.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "recordings" })
		require.GreaterOrEqual(t, i, 0)
		require.NotNil(t, set.Spec.Template.Spec.Volumes[i].EmptyDir)
		assert.Equal(t, ptr.To(kresource.MustParse("5Gi")), set.Spec.Template.Spec.Volumes[i].EmptyDir.SizeLimit,
			"a full disk evicts the pod; a limit says how much it may take")
	})
	t.Run("FinalizeScript", func(t *testing.T) {
		set := desired[appsv1.StatefulSet](t, mustCompose(t, claimXR(withRecordings(map[string]any{
			"finalizeScript": map[string]any{"configMapName": "upload-recordings", "key": "upload.sh"},
		})), nil), resourceJibri)
		c := set.Spec.Template.Spec.Containers[0]
		requireEnv(t, c, "JIBRI_FINALIZE_RECORDING_SCRIPT_PATH", "/opt/jitsi-recordings/finalize.sh")
		assert.Contains(t, c.VolumeMounts, corev1.VolumeMount{Name: "finalize", MountPath: "/opt/jitsi-recordings", ReadOnly: true})
		i := slices.IndexFunc(set.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "finalize" })
		require.GreaterOrEqual(t, i, 0)
		cm := set.Spec.Template.Spec.Volumes[i].ConfigMap
		require.NotNil(t, cm)
		assert.Equal(t, "upload-recordings", cm.Name)
		assert.Equal(t, []corev1.KeyToPath{{Key: "upload.sh", Path: "finalize.sh"}}, cm.Items)
		assert.Equal(t, ptr.To(int32(0o555)), cm.DefaultMode, "jibri runs the script: it must be executable")
	})
	t.Run("AClaimTemplateThatCannotChangeIsKept", func(t *testing.T) {
		xr := claimXR(sampleSpec())
		observed := desiredMap(t, mustCompose(t, xr, nil), resourceJibri) // 10Gi on the default class
		rsp := mustCompose(t, claimXR(withRecordings(map[string]any{"size": "20Gi", "storageClassName": "fast"})),
			map[resource.Name]map[string]any{resourceJibri: observed})
		set := desired[appsv1.StatefulSet](t, rsp, resourceJibri)
		assert.Equal(t, kresource.MustParse("10Gi"), set.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage],
			"an apply that changed the template would fail on every reconcile")
		assert.Nil(t, set.Spec.VolumeClaimTemplates[0].Spec.StorageClassName)
		require.Len(t, rsp.GetResults(), 1)
		msg := rsp.GetResults()[0].GetMessage()
		assert.Contains(t, msg, "spec.jibri.recordings: StatefulSet jitsi-sample-jibri keeps a claim of 10Gi on the default StorageClass per recorder")
		assert.Contains(t, msg, "To move to a claim of 20Gi on StorageClass fast per recorder")
		assert.Contains(t, msg, "--cascade=orphan")
	})
}
