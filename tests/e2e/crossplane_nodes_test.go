package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
)

const (
	patchAndTransform        = "crossplane-contrib-function-patch-and-transform"
	patchAndTransformVersion = "v0.10.7"
)

var xJitsiNodes = schema.GroupVersionResource{Group: "nodes.jit.si", Version: "v1alpha1", Resource: "xjitsinodes"}

// TestCrossplaneNodeDriver runs jitsi-nodescaler's crossplane driver against a real
// Crossplane: pending bridges make cluster-autoscaler's loop ask jitsi-nodescaler for
// nodes; the driver creates XJitsiNode composites; Crossplane composes each into a kwok
// Node with function-patch-and-transform (examples/nodescaler/kwok); the Node's providerID
// comes back to the composite's status, and the bridges run, one per node. Then bridges go
// away: cluster-autoscaler removes their nodes, the driver deletes the composites, and
// Crossplane's composed Nodes go with them.
func TestCrossplaneNodeDriver(t *testing.T) {
	s := startCrossplaneSuite(t)
	ctx := testContext(t, 10*time.Minute)
	s.installNodeComposition(t, ctx)
	config, err := os.ReadFile(filepath.Join(tools.Root, "examples", "nodescaler", "config-crossplane-kwok.yaml"))
	require.NoError(t, err)
	as := startAutoscalerOn(t, s.cluster, s.procs, string(config))
	dyn, err := dynamic.NewForConfig(s.cluster.Config)
	require.NoError(t, err)
	composites := dyn.Resource(xJitsiNodes)

	as.apply(t, ctx, 3)
	start := time.Now()
	as.waitForBridges(t, ctx, 3, 3)
	t.Logf("3 pending bridges -> 3 XJitsiNodes -> 3 Nodes composed by Crossplane, bridges running after %s",
		time.Since(start).Round(100*time.Millisecond))
	as.requireStable(t, ctx, 3, 3)

	// Every node is one composite's, and the composite reports its providerID and readiness.
	list, err := composites.List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, list.Items, 3)
	var names []string
	for _, xr := range list.Items {
		names = append(names, xr.GetName())
		node, err := s.cluster.Client.CoreV1().Nodes().Get(ctx, xr.GetName(), metav1.GetOptions{})
		require.NoError(t, err, "the Node of %s", xr.GetName())
		providerID, _, _ := unstructured.NestedString(xr.Object, "status", "providerID")
		assert.Equal(t, node.Spec.ProviderID, providerID, "status.providerID of %s", xr.GetName())
		assert.Equal(t, "kwok://"+xr.GetName(), providerID)
		assert.Equal(t, "True", harness.ConditionStatus(&xr, "Ready"), "%s is Ready: %s", xr.GetName(), harness.DescribeConditions(&xr))
		assert.Equal(t, "jvb", node.Labels[groupLabel])
		assert.Equal(t, xr.GetName(), node.Labels["kubernetes.io/hostname"])
		require.Len(t, node.Spec.Taints, 1)
		assert.Equal(t, "jitsi.org/role", node.Spec.Taints[0].Key)
		require.Len(t, node.OwnerReferences, 1)
		assert.Equal(t, xr.GetUID(), node.OwnerReferences[0].UID, "Crossplane composed the Node of %s", xr.GetName())
	}
	slices.Sort(names)
	assert.Equal(t, names, as.groupNodes(t, ctx), "the JVB nodes are the composites' nodes")

	// Scale-down: two bridges go; cluster-autoscaler removes the two nodes they leave empty
	// through the driver, which deletes their composites; Crossplane's Nodes go with them.
	kept := as.bridgePods(t, ctx)
	as.apply(t, ctx, 1)
	require.NoError(t, harness.Poll(ctx, 30*time.Second, func() (bool, error) {
		kept = as.bridgePods(t, ctx)
		return len(kept) == 1, nil
	}))
	start = time.Now()
	require.NoError(t, harness.Poll(ctx, 3*time.Minute, func() (bool, error) {
		list, err := composites.List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		return len(list.Items) == 1 && len(as.groupNodes(t, ctx)) == 1, nil
	}), "cluster-autoscaler must remove the two empty JVB nodes: composites %v, nodes %v", compositeNames(ctx, composites), as.groupNodes(t, ctx))
	t.Logf("2 bridges gone -> 2 XJitsiNodes deleted and their Nodes gone after %s", time.Since(start).Round(100*time.Millisecond))
	assert.Equal(t, values(kept), as.groupNodes(t, ctx), "the node left is the one running the bridge")
	assert.Equal(t, values(kept), compositeNames(ctx, composites), "and so is its composite")
}

// installNodeComposition installs function-patch-and-transform from a package built at test
// time and pushed to the loopback registry, the XJitsiNode XRD, the kwok Composition and the
// ClusterRole that lets Crossplane compose Nodes.
func (s *crossplaneSuite) installNodeComposition(t *testing.T, ctx context.Context) {
	t.Helper()
	start := time.Now()
	ref, err := s.registry.PushFunction(ctx, filepath.Join(s.procs.Dir, "function-pt"), harness.FunctionPackage{
		Repository: "crossplane-contrib/function-patch-and-transform",
		Version:    patchAndTransformVersion,
		Binary:     tools.Path("function-patch-and-transform"),
		PackageDir: tools.Path("function-patch-and-transform-package"),
	})
	require.NoError(t, err)
	t.Logf("function-patch-and-transform %s packaged and pushed as %s in %s", patchAndTransformVersion, ref, time.Since(start).Round(10*time.Millisecond))

	dir := filepath.Join(tools.Root, "examples", "nodescaler")
	fn := readObjects(t, filepath.Join(dir, "kwok", "functions.yaml"))
	require.Len(t, fn, 1)
	pkg, _, _ := unstructured.NestedString(fn[0].Object, "spec", "package")
	require.NoError(t, unstructured.SetNestedField(fn[0].Object, strings.Replace(pkg, "127.0.0.1:5000", s.registry.Host, 1), "spec", "package"))
	start = time.Now()
	objs := append(fn, readObjects(t, filepath.Join(dir, "xrd.yaml"))...)
	// Crossplane may compose Nodes: kwok/rbac.yaml aggregates that into its role.
	for _, f := range []string{"composition.yaml", "rbac.yaml"} {
		objs = append(objs, readObjects(t, filepath.Join(dir, "kwok", f))...)
	}
	report := s.kubectl.Apply(ctx, objs)
	require.Empty(t, report.Rejected(), report.String())
	_, err = s.xp.WaitFor(ctx, "pkg.crossplane.io/v1", "Function", "", patchAndTransform, time.Minute, "Installed", "Healthy")
	require.NoError(t, err)
	_, err = s.xp.WaitFor(ctx, "apiextensions.crossplane.io/v2", "CompositeResourceDefinition", "", "xjitsinodes.nodes.jit.si", time.Minute, "Established")
	require.NoError(t, err)
	t.Logf("function-patch-and-transform Installed and Healthy, XJitsiNode Established %s after they were applied", time.Since(start).Round(10*time.Millisecond))
}

func compositeNames(ctx context.Context, composites dynamic.ResourceInterface) []string {
	list, err := composites.List(ctx, metav1.ListOptions{})
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, xr := range list.Items {
		out = append(out, xr.GetName())
	}
	slices.Sort(out)
	return out
}
