package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
	// kwok plays every kubelet, so a pod starts and stops at once, and a rollout of the
	// sample's Deployments sends Crossplane, within a second, the watch events a real cluster
	// spreads over minutes. With Crossplane's default burst of 100 they open the XR's circuit
	// breaker, and for the next five minutes a change to the claim waits up to a minute
	// (docs/testing.md). A larger burst keeps the tests about the composition.
	xp, err := harness.StartCrossplane(ctx, tools, c, procs, harness.CrossplaneOptions{LeastPrivilege: true, CircuitBreakerBurst: 1000})
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
	"xmpp-secret":           {"v1", "Secret", "jitsi-sample-xmpp"},
	"prosody-deployment":    {"apps/v1", "Deployment", "jitsi-sample-prosody"},
	"prosody-service":       {"v1", "Service", "jitsi-sample-prosody"},
	"jicofo-deployment":     {"apps/v1", "Deployment", "jitsi-sample-jicofo"},
	"web-deployment":        {"apps/v1", "Deployment", "jitsi-sample-web"},
	"web-service":           {"v1", "Service", "jitsi-sample-web"},
	"web-ingress":           {"networking.k8s.io/v1", "Ingress", "jitsi-sample-web"},
	"jvb-config":            {"v1", "ConfigMap", "jitsi-sample-jvb-config"},
	"jvb-deployment":        {"apps/v1", "Deployment", "jitsi-sample-jvb"},
	"jvb-serviceaccount":    {"v1", "ServiceAccount", "jitsi-sample-jvb"},
	"jvb-node-reader":       {"rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "crossplane-jitsi:university:jitsi-sample-jvb"},
	"jvb-hpa":               {"autoscaling/v2", "HorizontalPodAutoscaler", "jitsi-sample-jvb"},
	"jibri-statefulset":     {"apps/v1", "StatefulSet", "jitsi-sample-jibri"},
	"networkpolicy-prosody": {"networking.k8s.io/v1", "NetworkPolicy", "jitsi-sample-prosody"},
	"networkpolicy-jicofo":  {"networking.k8s.io/v1", "NetworkPolicy", "jitsi-sample-jicofo"},
	"networkpolicy-web":     {"networking.k8s.io/v1", "NetworkPolicy", "jitsi-sample-web"},
	"networkpolicy-jvb":     {"networking.k8s.io/v1", "NetworkPolicy", "jitsi-sample-jvb"},
	"networkpolicy-jibri":   {"networking.k8s.io/v1", "NetworkPolicy", "jitsi-sample-jibri"},
}

// TestClaimThroughCrossplane submits the sample claim to a real Crossplane, with the
// Configuration installed from the registry, and follows it through a tenant's life, every
// change made to the claim with kubectl and composed by Crossplane through function-jitsi:
// the composed objects appear once package/cluster/ lets Crossplane manage them; the claim
// becomes Ready once everything is available; its status follows the HPA; a new image tag
// rolls the Deployments; jibri goes when the claim turns it off; the XMPP passwords survive
// Crossplane's reconciles and a function restart; deleting the claim removes everything.
func TestClaimThroughCrossplane(t *testing.T) {
	t.Parallel()
	s := startCrossplaneSuite(t)
	ctx := testContext(t, 8*time.Minute)
	s.pushPackages(t, ctx)
	s.installJitsi(t, ctx)
	// What the claim needs to become Ready, which a cluster would have: nodes, a volume for
	// jibri's recordings, the stress metric (a double standing in for kube-metrics-adapter).
	addNode(t, s.cluster, "node-1", nil)
	createRecordingVolume(t, ctx, s.cluster, "recordings-0")
	metrics, err := harness.StartCustomMetrics(ctx, s.cluster, s.kubectl, "jitsi-stress-level", "0")
	require.NoError(t, err)
	t.Cleanup(metrics.Close)

	ensureNamespace(t, ctx, s.cluster, sampleNamespace)
	claim := readObjects(t, filepath.Join(tools.Root, "examples", "claim.yaml"))[0]
	start := time.Now()
	report := s.kubectl.Apply(ctx, []*unstructured.Unstructured{claim})
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
	}), "Crossplane must report that it may not compose what the claim needs")
	assert.Contains(t, denied, "system:serviceaccount:crossplane-system:crossplane is not allowed to")
	t.Logf("without package/cluster/: %s", denied)
	// What the README asks of a user: kubectl apply -f package/cluster/.
	var cluster []*unstructured.Unstructured
	for _, f := range []string{"rbac.yaml", "priorityclass.yaml"} {
		cluster = append(cluster, readObjects(t, filepath.Join(tools.Root, "package", "cluster", f))...)
	}
	report = s.kubectl.Apply(ctx, cluster)
	require.Empty(t, report.Rejected(), report.String())
	rbacApplied := time.Now()

	xr = s.waitComposed(t, ctx, "jitsi-sample", rbacApplied)
	_, err = s.xp.WaitFor(ctx, "apps.jit.si/v1alpha1", "Jitsi", sampleNamespace, "jitsi-sample", time.Minute, "Synced")
	require.NoError(t, err)
	synced := time.Since(rbacApplied)
	t.Logf("package/cluster/ applied -> claim Synced after %s (%s after the claim)", synced.Round(10*time.Millisecond),
		time.Since(start).Round(10*time.Millisecond))

	t.Run("KubectlGetJitsi", func(t *testing.T) {
		out := s.kubectlRun(t, ctx, "get", "jitsi", "jitsi-sample", "-n", sampleNamespace)
		assert.Contains(t, out, "jitsi-sample")
		assert.Contains(t, out, "hack.liiib.re")
		all := s.kubectlRun(t, ctx, "get", "jitsi-meet", "-A")
		assert.Contains(t, all, "jitsi-sample", "the category lists claims")
		assert.Contains(t, all, xr.GetName(), "and XRs")
		t.Logf("kubectl get jitsi jitsi-sample -n university:\n%s", out)
	})

	t.Run("ReadyOnceEverythingIsAvailable", func(t *testing.T) {
		// The ingress controller's part: an address on the Ingress.
		ing, err := s.cluster.Client.NetworkingV1().Ingresses(sampleNamespace).Get(ctx, "jitsi-sample-web", metav1.GetOptions{})
		require.NoError(t, err)
		ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "203.0.113.80"}}
		_, err = s.cluster.Client.NetworkingV1().Ingresses(sampleNamespace).UpdateStatus(ctx, ing, metav1.UpdateOptions{})
		require.NoError(t, err)
		c, err := s.xp.WaitFor(ctx, "apps.jit.si/v1alpha1", "Jitsi", sampleNamespace, "jitsi-sample", 3*time.Minute, "Ready")
		require.NoError(t, err, "the claim never became Ready")
		t.Logf("claim Ready %s after the claim was applied (%s after package/cluster/); %s",
			time.Since(start).Round(100*time.Millisecond), time.Since(rbacApplied).Round(100*time.Millisecond), harness.DescribeConditions(c))
		xr, err := s.xp.WaitFor(ctx, "apps.jit.si/v1alpha1", "XJitsi", "", xr.GetName(), time.Minute, "Ready", "BridgesReady")
		require.NoError(t, err, "the XR must be Ready with its claim")
		t.Logf("XR %s", harness.DescribeConditions(xr))
	})

	t.Run("StatusFollowsTheHPA", func(t *testing.T) {
		// More bridges wanted: the HPA's floor rises to 3 (as a schedule window would).
		for _, n := range []string{"node-2", "node-3"} {
			addNode(t, s.cluster, n, nil)
		}
		s.setClaim(t, ctx, claim, func(spec map[string]any) {
			spec["jvb"] = map[string]any{"strategy": map[string]any{"type": "autoscaled", "minReplicas": int64(3)}}
		})
		var hpaChanged time.Time
		require.NoError(t, harness.Poll(ctx, time.Minute, func() (bool, error) {
			h, err := s.cluster.Client.AutoscalingV2().HorizontalPodAutoscalers(sampleNamespace).Get(ctx, "jitsi-sample-jvb", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if h.Status.DesiredReplicas == 3 && hpaChanged.IsZero() {
				hpaChanged = time.Now()
			}
			c, err := s.xp.Get(ctx, "apps.jit.si/v1alpha1", "Jitsi", sampleNamespace, "jitsi-sample")
			if err != nil {
				return false, err
			}
			desired, _, _ := unstructured.NestedInt64(c.Object, "status", "jvb", "desired")
			replicas, _, _ := unstructured.NestedInt64(c.Object, "status", "jvb", "replicas")
			return !hpaChanged.IsZero() && desired == 3 && replicas == 3, nil
		}), "the claim's status.jvb must follow the HPA to 3 bridges")
		t.Logf("HPA desiredReplicas 3 -> claim status.jvb {desired: 3, replicas: 3} after %s", time.Since(hpaChanged).Round(10*time.Millisecond))
	})

	t.Run("NewImageTagRollsTheDeployments", func(t *testing.T) {
		s.setClaim(t, ctx, claim, func(spec map[string]any) {
			spec["image"] = map[string]any{"tag": "stable-11146-3"}
		})
		changed := time.Now()
		peak := int32(0)
		require.NoError(t, harness.Poll(ctx, 2*time.Minute, func() (bool, error) {
			sets, err := s.cluster.Client.AppsV1().ReplicaSets(sampleNamespace).List(ctx, metav1.ListOptions{LabelSelector: sampleBridges})
			if err != nil {
				return false, err
			}
			sum := int32(0)
			for _, rs := range sets.Items {
				if rs.Spec.Replicas != nil {
					sum += *rs.Spec.Replicas
				}
			}
			peak = max(peak, sum)
			for _, name := range []string{"jitsi-sample-prosody", "jitsi-sample-jicofo", "jitsi-sample-web", jvbName} {
				d, err := s.cluster.Client.AppsV1().Deployments(sampleNamespace).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return false, err
				}
				if !strings.HasSuffix(d.Spec.Template.Spec.Containers[0].Image, ":stable-11146-3") || !deploymentAvailable(d) ||
					d.Status.UpdatedReplicas != d.Status.Replicas {
					return false, nil
				}
			}
			set, err := s.cluster.Client.AppsV1().StatefulSets(sampleNamespace).Get(ctx, "jitsi-sample-jibri", metav1.GetOptions{})
			return err == nil && strings.HasSuffix(set.Spec.Template.Spec.Containers[0].Image, ":stable-11146-3") &&
				set.Status.UpdatedReplicas == 1 && set.Status.ReadyReplicas == 1, err
		}), "every component must roll to the new tag")
		t.Logf("image.tag stable-11146-3: every Deployment and jibri rolled in %s; the bridges' ReplicaSets never wanted more than %d",
			time.Since(changed).Round(100*time.Millisecond), peak)
		assert.LessOrEqual(t, peak, int32(3), "maxSurge 0: no bridge beyond the 3 wanted, which would need a node")
	})

	t.Run("JibriGoesWhenTurnedOff", func(t *testing.T) {
		s.setClaim(t, ctx, claim, func(spec map[string]any) { spec["jibri"] = map[string]any{"enabled": false} })
		// Crossplane deletes what the function no longer desires and applies the rest in no
		// promised order, so the test waits for all three: jibri's two objects gone, and web
		// no longer offering recording.
		webOffersRecording := true
		err := harness.Poll(ctx, time.Minute, func() (bool, error) {
			web, err := s.cluster.Client.AppsV1().Deployments(sampleNamespace).Get(ctx, "jitsi-sample-web", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			webOffersRecording = !slices.ContainsFunc(web.Spec.Template.Spec.Containers[0].Env, func(e corev1.EnvVar) bool {
				return e.Name == "ENABLE_RECORDING" && e.Value == "0"
			})
			if webOffersRecording {
				return false, nil
			}
			_, err = s.cluster.Client.AppsV1().StatefulSets(sampleNamespace).Get(ctx, "jitsi-sample-jibri", metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				return false, nil
			}
			_, err = s.cluster.Client.NetworkingV1().NetworkPolicies(sampleNamespace).Get(ctx, "jitsi-sample-jibri", metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		require.NoError(t, err, "Crossplane must delete jibri's StatefulSet and NetworkPolicy, and web must stop offering recording (still offers: %t): %s",
			webOffersRecording, s.describeXR(ctx, xr.GetName()))
		t.Logf("XR: %s", s.describeXR(ctx, xr.GetName()))
		_, err = s.cluster.Client.CoreV1().PersistentVolumeClaims(sampleNamespace).Get(ctx, "recordings-jitsi-sample-jibri-0", metav1.GetOptions{})
		assert.NoError(t, err, "the recordings stay")
	})

	t.Run("PasswordsSurviveReconcilesAndAFunctionRestart", func(t *testing.T) {
		secret, err := s.cluster.Client.CoreV1().Secrets(sampleNamespace).Get(ctx, "jitsi-sample-xmpp", metav1.GetOptions{})
		require.NoError(t, err)
		first := secret.Data
		// Every change above was a reconcile; so is the next one, after a restart.
		require.NoError(t, s.xp.Runtime.Restart(ctx, jitsiFunction))
		s.setClaim(t, ctx, claim, func(spec map[string]any) { spec["web"] = map[string]any{"replicas": int64(2)} })
		require.NoError(t, harness.Poll(ctx, time.Minute, func() (bool, error) {
			d, err := s.cluster.Client.AppsV1().Deployments(sampleNamespace).Get(ctx, "jitsi-sample-web", metav1.GetOptions{})
			return err == nil && d.Spec.Replicas != nil && *d.Spec.Replicas == 2, err
		}), "the restarted function composes the changed claim")
		after, err := s.cluster.Client.CoreV1().Secrets(sampleNamespace).Get(ctx, "jitsi-sample-xmpp", metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, first, after.Data, "the XMPP passwords are the same after the function restarted")
		assert.Len(t, after.Data, 4)
	})

	t.Run("DeletingTheClaimRemovesEverything", func(t *testing.T) {
		_, err := s.kubectl.Prune(ctx, []*unstructured.Unstructured{claim}, nil)
		require.NoError(t, err)
		deleted := time.Now()
		var left []string
		err = harness.Poll(ctx, 2*time.Minute, func() (bool, error) {
			left = nil
			if _, err := s.xp.Get(ctx, "apps.jit.si/v1alpha1", "XJitsi", "", xr.GetName()); !apierrors.IsNotFound(err) {
				left = append(left, "XJitsi "+xr.GetName())
			}
			for _, want := range sampleComposed {
				if _, err := s.xp.Get(ctx, want.apiVersion, want.kind, sampleNamespace, want.name); !apierrors.IsNotFound(err) {
					left = append(left, want.kind+" "+want.name)
				}
			}
			return len(left) == 0, nil
		})
		require.NoError(t, err, "still there: %v", left)
		t.Logf("claim deleted -> the XR and every composed object gone after %s", time.Since(deleted).Round(10*time.Millisecond))
		_, err = s.cluster.Client.CoreV1().PersistentVolumeClaims(sampleNamespace).Get(ctx, "recordings-jitsi-sample-jibri-0", metav1.GetOptions{})
		assert.NoError(t, err, "recordings are the tenant's data: their claim is retained")
	})
}

// describeXR is the XR's conditions and its latest events, for a failure message.
func (s *crossplaneSuite) describeXR(ctx context.Context, name string) string {
	var b strings.Builder
	if xr, err := s.xp.Get(ctx, "apps.jit.si/v1alpha1", "XJitsi", "", name); err == nil {
		b.WriteString(harness.DescribeConditions(xr))
	}
	events, err := s.cluster.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
	if err == nil {
		for _, e := range events.Items {
			fmt.Fprintf(&b, "\n  event %s %s (x%d): %s", e.Type, e.Reason, e.Count, e.Message)
		}
	}
	return b.String()
}

// setClaim changes the claim's spec and applies it as its owner does with kubectl.
func (s *crossplaneSuite) setClaim(t *testing.T, ctx context.Context, claim *unstructured.Unstructured, change func(spec map[string]any)) {
	t.Helper()
	spec, _, err := unstructured.NestedMap(claim.Object, "spec")
	require.NoError(t, err)
	change(spec)
	require.NoError(t, unstructured.SetNestedMap(claim.Object, spec, "spec"))
	report := s.kubectl.Apply(ctx, []*unstructured.Unstructured{claim})
	require.Empty(t, report.Rejected(), report.String())
}

// kubectlRun runs the built kubectl against the cluster, as a user would.
func (s *crossplaneSuite) kubectlRun(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, tools.Path("kubectl"), append([]string{"--kubeconfig=" + s.cluster.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "kubectl %s: %s", strings.Join(args, " "), out)
	return string(out)
}

// waitForXR waits until the claim names its XR, and returns the XR.
func (s *crossplaneSuite) waitForXR(t *testing.T, ctx context.Context, claim string) *unstructured.Unstructured {
	t.Helper()
	var c, xr *unstructured.Unstructured
	err := harness.Poll(ctx, time.Minute, func() (bool, error) {
		var err error
		if c, err = s.xp.Get(ctx, "apps.jit.si/v1alpha1", "Jitsi", sampleNamespace, claim); err != nil {
			return false, err
		}
		name, _, _ := unstructured.NestedString(c.Object, "spec", "resourceRef", "name")
		if name == "" {
			return false, nil
		}
		// Crossplane's claim reconciler names the XR in the claim before it creates the XR, so
		// a brief NotFound is the normal order of things, not a failure.
		xr, err = s.xp.Get(ctx, "apps.jit.si/v1alpha1", "XJitsi", "", name)
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	require.NoError(t, err, "claim %s never got its XR: %v", claim, c)
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
		// The claim names its XR before Crossplane creates it (see waitForXR).
		if xr, err = s.xp.Get(ctx, "apps.jit.si/v1alpha1", "XJitsi", "", name); apierrors.IsNotFound(err) {
			missing = []string{"the XR " + name}
			return false, nil
		} else if err != nil {
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
