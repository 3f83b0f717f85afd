package main

import (
	"testing"

	"github.com/crossplane/function-sdk-go/resource"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/utils/ptr"
)

// TestPublicAddress: each bridge advertises its own node's address, however nodes come and
// go; only a fixed set of bridges may share a static list.
func TestPublicAddress(t *testing.T) {
	jvbSpec := func(m map[string]any) map[string]any {
		spec := sampleSpec()
		spec["jvb"] = m
		return spec
	}
	advertised := func(c corev1.Container) *corev1.EnvVar {
		for i := range c.Env {
			if c.Env[i].Name == "JVB_ADVERTISE_IPS" {
				return &c.Env[i]
			}
		}
		return nil
	}

	t.Run("NodeExternalIPByDefault", func(t *testing.T) {
		rsp := mustCompose(t, claimXR(sampleSpec()), nil)
		d := desired[appsv1.Deployment](t, rsp, resourceJVB)
		c := container(t, d)
		assert.Nil(t, advertised(c), "the address is looked up at start, not fixed in the pod spec")
		require.Len(t, c.Command, 5)
		assert.Equal(t, []string{"/bin/sh", "-c"}, c.Command[:2])
		assert.Equal(t, nodeExternalIPLookup, c.Command[2])
		assert.Equal(t, []string{"jvb-public-address", "/init"}, c.Command[3:], "the lookup then runs the image's own entrypoint")
		assert.Contains(t, c.Env, corev1.EnvVar{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.nodeName"},
		}})
		pod := d.Spec.Template.Spec
		assert.Equal(t, "jitsi-sample-jvb", pod.ServiceAccountName)
		assert.Equal(t, ptr.To(true), pod.AutomountServiceAccountToken)

		sa := desired[corev1.ServiceAccount](t, rsp, resourceJVBServiceAccount)
		assert.Equal(t, "jitsi-sample-jvb", sa.Name)
		assert.Equal(t, ptr.To(false), sa.AutomountServiceAccountToken, "only the bridges, which ask for it, mount the token")
		binding := desired[rbacv1.ClusterRoleBinding](t, rsp, resourceJVBNodeReader)
		assert.Equal(t, rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "crossplane-jitsi:jvb-node-reader"}, binding.RoleRef)
		assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "jitsi-sample-jvb", Namespace: "university"}}, binding.Subjects)

		for _, other := range []resource.Name{resourceProsody, resourceJicofo, resourceWeb} {
			p := desired[appsv1.Deployment](t, rsp, other).Spec.Template.Spec
			assert.Equal(t, ptr.To(false), p.AutomountServiceAccountToken, "%s never talks to the Kubernetes API", other)
		}
	})
	t.Run("NodeInternalIP", func(t *testing.T) {
		rsp := mustCompose(t, claimXR(jvbSpec(map[string]any{"publicAddress": map[string]any{"source": "NodeInternalIP"}})), nil)
		c := container(t, desired[appsv1.Deployment](t, rsp, resourceJVB))
		require.NotNil(t, advertised(c))
		assert.Equal(t, &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.hostIP"}},
			advertised(c).ValueFrom, "the node's InternalIP, through the downward API")
		assert.Empty(t, c.Command, "nothing to look up: the image starts as it is")
		assert.NotContains(t, rsp.GetDesired().GetResources(), string(resourceJVBNodeReader))
		assert.NotContains(t, rsp.GetDesired().GetResources(), string(resourceJVBServiceAccount))
	})
	t.Run("STUN", func(t *testing.T) {
		rsp := mustCompose(t, claimXR(jvbSpec(map[string]any{
			"publicAddress": map[string]any{"source": "STUN"}, "stunServers": []any{"stun.example.org:3478"},
		})), nil)
		c := container(t, desired[appsv1.Deployment](t, rsp, resourceJVB))
		assert.Nil(t, advertised(c), "the bridge discovers its address itself")
		requireEnv(t, c, "JVB_STUN_SERVERS", "stun.example.org:3478")
		assert.Empty(t, c.Command)
	})
	t.Run("StaticForAFixedSetOfBridges", func(t *testing.T) {
		rsp := mustCompose(t, claimXR(jvbSpec(map[string]any{
			"strategy":      map[string]any{"type": "static", "replicas": int64(2)},
			"publicAddress": map[string]any{"source": "Static", "ips": []any{"203.0.113.7", "2001:db8::7#30000"}},
		})), nil)
		c := container(t, desired[appsv1.Deployment](t, rsp, resourceJVB))
		requireEnv(t, c, "JVB_ADVERTISE_IPS", "203.0.113.7,2001:db8::7#30000")
	})
	t.Run("NamespacedXRIsToldWhatToBind", func(t *testing.T) {
		rsp := mustCompose(t, namespacedXR("physics", "lecture-hall", sampleSpec()), nil)
		assert.NotContains(t, rsp.GetDesired().GetResources(), string(resourceJVBNodeReader),
			"a namespaced XR cannot compose a cluster-scoped object")
		require.Len(t, rsp.GetResults(), 1)
		msg := rsp.GetResults()[0].GetMessage()
		assert.Contains(t, msg, "spec.jvb.publicAddress.source NodeExternalIP")
		assert.Contains(t, msg, "bind ClusterRole crossplane-jitsi:jvb-node-reader to ServiceAccount physics/lecture-hall-jvb")
	})
}
