package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
)

const (
	jitsiFunction = harness.JitsiFunction
	// kubectlManager is the field manager of `kubectl apply --server-side`.
	kubectlManager = "kubectl"
)

// crossplaneSuite is a cluster with Crossplane core running and a loopback registry.
type crossplaneSuite struct {
	cluster  *harness.Cluster
	procs    *harness.Processes
	registry *harness.Registry
	xp       *harness.Crossplane
	// kubectl applies as a user does.
	kubectl *harness.Applier
}

// startCrossplaneSuite starts a cluster, a registry and Crossplane, and logs how long
// Crossplane took to initialise and start. Crossplane runs as its Helm chart installs it:
// as the crossplane service account with the chart's ClusterRoles, next to (a stand-in for)
// its RBAC manager.
func startCrossplaneSuite(t *testing.T) *crossplaneSuite {
	t.Helper()
	c := startCluster(t)
	ctx := testContext(t, 3*time.Minute)
	procs := testProcesses(t, c)
	registry, err := harness.StartRegistry(ctx, tools, procs)
	require.NoError(t, err)
	xp, err := harness.StartCrossplane(ctx, tools, c, procs, harness.CrossplaneOptions{LeastPrivilege: true})
	require.NoError(t, err)
	// Before procs stop: the runtime double must not start functions again meanwhile.
	t.Cleanup(xp.Stop)
	t.Logf("crossplane: CRDs established in %s, core init %s, core ready %s after start",
		xp.CRDsIn.Round(10*time.Millisecond), xp.InitIn.Round(10*time.Millisecond), xp.ReadyIn.Round(10*time.Millisecond))
	kubectl, err := harness.NewApplier(c.Config, kubectlManager)
	require.NoError(t, err)
	return &crossplaneSuite{cluster: c, procs: procs, registry: registry, xp: xp, kubectl: kubectl}
}

// pushPackages builds and pushes this repository's packages; it returns the output directory.
func (s *crossplaneSuite) pushPackages(t *testing.T, ctx context.Context) string {
	t.Helper()
	out := filepath.Join(s.procs.Dir, "packages")
	start := time.Now()
	require.NoError(t, s.registry.PushProjectPackages(ctx, out))
	t.Logf("packages built and pushed to %s in %s", s.registry.Host, time.Since(start).Round(10*time.Millisecond))
	return out
}

// installJitsi installs the Configuration as a user does, with a Configuration object that
// names the package in the registry, and waits until Crossplane's package manager has
// installed it and, by itself, its Function dependency: both Installed and Healthy, the XRD
// Established and Offered.
func (s *crossplaneSuite) installJitsi(t *testing.T, ctx context.Context) {
	t.Helper()
	start := time.Now()
	fn, err := s.xp.InstallJitsi(ctx, s.kubectl, s.registry.Host)
	require.NoError(t, err)
	t.Logf("Configuration and its Function Installed and Healthy, XRD Established and Offered %s after the Configuration was applied",
		time.Since(start).Round(10*time.Millisecond))

	pkg, _, _ := unstructured.NestedString(fn.Object, "spec", "package")
	assert.Equal(t, s.registry.Host+"/crossplane-jitsi/function-jitsi", trimTagOrDigest(pkg),
		"the package manager resolved the dependency to the Function in the registry")
	assert.NotEmpty(t, s.xp.Runtime.Endpoint(jitsiFunction), "the runtime runs the function")
}

// trimTagOrDigest drops the :tag or @digest of an image reference.
func trimTagOrDigest(ref string) string {
	for i := len(ref) - 1; i >= 0; i-- {
		switch ref[i] {
		case '@':
			return ref[:i]
		case ':':
			return ref[:i]
		case '/':
			return ref
		}
	}
	return ref
}

// sampleComposed are the objects Crossplane composes for examples/claim.yaml, by
// composition-resource name.
var sampleComposed = map[string]struct{ apiVersion, kind, name string }{
	"xmpp-secret":        {"v1", "Secret", "jitsi-sample-xmpp"},
	"prosody-deployment": {"apps/v1", "Deployment", "jitsi-sample-prosody"},
	"prosody-service":    {"v1", "Service", "jitsi-sample-prosody"},
	"jicofo-deployment":  {"apps/v1", "Deployment", "jitsi-sample-jicofo"},
	"web-deployment":     {"apps/v1", "Deployment", "jitsi-sample-web"},
	"web-service":        {"v1", "Service", "jitsi-sample-web"},
	"web-ingress":        {"networking.k8s.io/v1", "Ingress", "jitsi-sample-web"},
	"jvb-config":         {"v1", "ConfigMap", "jitsi-sample-jvb-config"},
	"jvb-deployment":     {"apps/v1", "Deployment", "jitsi-sample-jvb"},
	"jvb-hpa":            {"autoscaling/v2", "HorizontalPodAutoscaler", "jitsi-sample-jvb"},
	"jibri-deployment":   {"apps/v1", "Deployment", "jitsi-sample-jibri"},
}

// TestClaimThroughCrossplane submits the sample claim to a real Crossplane, with the
// Configuration installed from the registry, and checks that Crossplane composes every
// object through function-jitsi, once package/cluster/rbac.yaml lets it manage HPAs and
// Ingresses; then that the XMPP passwords survive a restart of the function.
func TestClaimThroughCrossplane(t *testing.T) {
	s := startCrossplaneSuite(t)
	ctx := testContext(t, 5*time.Minute)
	s.pushPackages(t, ctx)
	s.installJitsi(t, ctx)

	ensureNamespace(t, ctx, s.cluster, sampleNamespace)
	start := time.Now()
	report := s.kubectl.Apply(ctx, readObjects(t, filepath.Join(tools.Root, "examples", "claim.yaml")))
	require.Empty(t, report.Rejected(), report.String())

	// Crossplane's own role does not cover HPAs and Ingresses: without the project's
	// ClusterRole, composing the claim fails on them, and Crossplane says why in an event.
	xr := s.waitForXR(t, ctx, "jitsi-sample")
	var denied string
	require.NoError(t, harness.Poll(ctx, time.Minute, func() (bool, error) {
		events, err := s.cluster.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{
			FieldSelector: "involvedObject.name=" + xr.GetName() + ",reason=RoleBasedAccessControl",
		})
		if err != nil || len(events.Items) == 0 {
			return false, err
		}
		denied = events.Items[0].Message
		return true, nil
	}), "Crossplane must report that it may not compose the claim's Ingress or HPA")
	assert.Contains(t, denied, "system:serviceaccount:crossplane-system:crossplane is not allowed to")
	t.Logf("without package/cluster/rbac.yaml: %s", denied)
	// What the README asks of a user: Crossplane may then manage HPAs and Ingresses.
	report = s.kubectl.Apply(ctx, readObjects(t, filepath.Join(tools.Root, "package", "cluster", "rbac.yaml")))
	require.Empty(t, report.Rejected(), report.String())
	rbacApplied := time.Now()

	xr = s.waitComposed(t, ctx, "jitsi-sample", rbacApplied)
	_, err := s.xp.WaitFor(ctx, "apps.jit.si/v1alpha1", "XJitsi", "", xr.GetName(), time.Minute, "Synced")
	require.NoError(t, err)
	t.Logf("ClusterRole applied -> XR %s Synced after %s (%s after the claim)", xr.GetName(),
		time.Since(rbacApplied).Round(10*time.Millisecond), time.Since(start).Round(10*time.Millisecond))
	_, err = s.xp.WaitFor(ctx, "apps.jit.si/v1alpha1", "Jitsi", sampleNamespace, "jitsi-sample", time.Minute, "Synced")
	require.NoError(t, err)
	t.Logf("ClusterRole applied -> claim Synced after %s", time.Since(rbacApplied).Round(10*time.Millisecond))

	t.Run("PasswordsSurviveAFunctionRestart", func(t *testing.T) {
		before, err := s.cluster.Client.CoreV1().Secrets(sampleNamespace).Get(ctx, "jitsi-sample-xmpp", metav1.GetOptions{})
		require.NoError(t, err)
		require.NoError(t, s.xp.Runtime.Restart(ctx, jitsiFunction))
		// A change to the claim makes Crossplane call the restarted function at once.
		claim := readObjects(t, filepath.Join(tools.Root, "examples", "claim.yaml"))[0]
		require.NoError(t, unstructured.SetNestedField(claim.Object, int64(2), "spec", "web", "replicas"))
		report := s.kubectl.Apply(ctx, []*unstructured.Unstructured{claim})
		require.Empty(t, report.Rejected(), report.String())
		require.NoError(t, harness.Poll(ctx, time.Minute, func() (bool, error) {
			d, err := s.cluster.Client.AppsV1().Deployments(sampleNamespace).Get(ctx, "jitsi-sample-web", metav1.GetOptions{})
			return err == nil && d.Spec.Replicas != nil && *d.Spec.Replicas == 2, err
		}), "the restarted function composes the changed claim")
		after, err := s.cluster.Client.CoreV1().Secrets(sampleNamespace).Get(ctx, "jitsi-sample-xmpp", metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, before.Data, after.Data, "the XMPP passwords are the same after the function restarted")
	})
}

// waitForXR waits until the claim names its XR, and returns the XR.
func (s *crossplaneSuite) waitForXR(t *testing.T, ctx context.Context, claim string) *unstructured.Unstructured {
	t.Helper()
	var c, xr *unstructured.Unstructured
	require.NoError(t, harness.Poll(ctx, time.Minute, func() (bool, error) {
		var err error
		if c, err = s.xp.Get(ctx, "apps.jit.si/v1alpha1", "Jitsi", sampleNamespace, claim); err != nil {
			return false, err
		}
		name, _, _ := unstructured.NestedString(c.Object, "spec", "resourceRef", "name")
		if name == "" {
			return false, nil
		}
		xr, err = s.xp.Get(ctx, "apps.jit.si/v1alpha1", "XJitsi", "", name)
		return err == nil, err
	}), "claim %s never got its XR: %v", claim, c)
	return xr
}

// waitComposed waits until the claim's XR exists and every object of the sample exists, as
// the XR's resource references name them; it returns the XR.
func (s *crossplaneSuite) waitComposed(t *testing.T, ctx context.Context, claim string, start time.Time) *unstructured.Unstructured {
	t.Helper()
	var xr *unstructured.Unstructured
	var missing []string
	err := harness.Poll(ctx, time.Minute, func() (bool, error) {
		c, err := s.xp.Get(ctx, "apps.jit.si/v1alpha1", "Jitsi", sampleNamespace, claim)
		if err != nil {
			return false, err
		}
		name, _, _ := unstructured.NestedString(c.Object, "spec", "resourceRef", "name")
		if name == "" {
			missing = []string{"the XR"}
			return false, nil
		}
		if xr, err = s.xp.Get(ctx, "apps.jit.si/v1alpha1", "XJitsi", "", name); err != nil {
			return false, err
		}
		missing = s.missingComposed(ctx, xr)
		return len(missing) == 0, nil
	})
	require.NoError(t, err, "still missing: %v", missing)
	t.Logf("all %d composed objects exist %s later", len(sampleComposed), time.Since(start).Round(10*time.Millisecond))
	refs, _, _ := unstructured.NestedSlice(xr.Object, "spec", "resourceRefs")
	assert.Len(t, refs, len(sampleComposed), "the XR references every composed object")
	return xr
}

// missingComposed lists the sample's objects that do not exist yet, or exist without the
// XR's composition-resource annotation.
func (s *crossplaneSuite) missingComposed(ctx context.Context, xr *unstructured.Unstructured) []string {
	var missing []string
	for resource, want := range sampleComposed {
		u, err := s.xp.Get(ctx, want.apiVersion, want.kind, sampleNamespace, want.name)
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s %s (%v)", want.kind, want.name, err))
			continue
		}
		if u.GetAnnotations()["crossplane.io/composition-resource-name"] != resource || u.GetLabels()["crossplane.io/composite"] != xr.GetName() {
			missing = append(missing, fmt.Sprintf("%s %s (not composed by %s as %s)", want.kind, want.name, xr.GetName(), resource))
		}
	}
	return missing
}
