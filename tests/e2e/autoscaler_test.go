package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
)

// autoscalerSuite is a cluster with jitsi-nodescaler and cluster-autoscaler's core loop.
type autoscalerSuite struct {
	cluster  *harness.Cluster
	renderer *harness.Renderer
	applier  *harness.Applier
}

// TestClusterAutoscalerAddsOneNodePerBridge runs the whole path: videobridges that fit on no
// node are Pending; cluster-autoscaler's own loop asks jitsi-nodescaler for nodes; the kwok
// driver makes them; the bridges run, one per node. Then bridges go away, and only the nodes
// they left are removed: a node that still runs a bridge is never drained.
func TestClusterAutoscalerAddsOneNodePerBridge(t *testing.T) {
	t.Parallel()
	s := startAutoscalerSuite(t, harness.Options{})
	ctx := testContext(t, 10*time.Minute)

	// Static bridges on dedicated JVB nodes, so that the test sets the number of bridges;
	// the HPA would do it in production.
	s.apply(t, ctx, 3)
	start := time.Now()
	s.waitForBridges(t, ctx, 3, 3)
	t.Logf("3 pending bridges -> 3 new nodes, bridges running after %s", time.Since(start).Round(100*time.Millisecond))
	s.requireStable(t, ctx, 3, 3)

	s.apply(t, ctx, 4)
	start = time.Now()
	s.waitForBridges(t, ctx, 4, 4)
	t.Logf("1 more pending bridge -> 1 more node, running after %s", time.Since(start).Round(100*time.Millisecond))
	s.requireStable(t, ctx, 4, 4)

	// Scale-down: the HPA would remove bridges one at a time after draining them. Two go; CA
	// removes the two nodes they leave empty, and never touches a node with a bridge.
	survivors := s.bridgePods(t, ctx)
	s.apply(t, ctx, 2)
	require.NoError(t, harness.Poll(ctx, 30*time.Second, func() (bool, error) {
		return len(s.bridgePods(t, ctx)) == 2, nil
	}))
	kept := s.bridgePods(t, ctx)
	start = time.Now()
	require.NoError(t, harness.Poll(ctx, 3*time.Minute, func() (bool, error) {
		return len(s.groupNodes(t, ctx)) == 2, nil
	}), "cluster-autoscaler must remove the two empty JVB nodes")
	t.Logf("2 bridges gone -> their 2 nodes removed after %s", time.Since(start).Round(100*time.Millisecond))
	s.requireStable(t, ctx, 2, 2)
	for uid, node := range kept {
		assert.Equal(t, survivors[uid], node, "bridge %s kept its node", uid)
	}
	assert.Equal(t, keys(kept), keys(s.bridgePods(t, ctx)), "no running bridge was evicted")
	for _, n := range s.groupNodes(t, ctx) {
		assert.Contains(t, values(kept), n, "every remaining JVB node runs a bridge")
	}
}

// startAutoscalerSuite starts a cluster with a base node (for prosody, jicofo and web; it
// belongs to no node group), function-jitsi, jitsi-nodescaler with a kwok group of JVB
// nodes, and cluster-autoscaler's loop.
func startAutoscalerSuite(t *testing.T, opts harness.Options) *autoscalerSuite {
	t.Helper()
	c := startClusterWith(t, opts)
	return startAutoscalerOn(t, c, testProcesses(t, c), jvbNodeGroupConfig)
}

// startAutoscalerOn adds to a running cluster a base node, function-jitsi, jitsi-nodescaler
// with groupConfig and cluster-autoscaler's loop.
func startAutoscalerOn(t *testing.T, c *harness.Cluster, procs *harness.Processes, groupConfig string) *autoscalerSuite {
	t.Helper()
	ctx := testContext(t, 3*time.Minute)
	addNode(t, c, "base-1", nil)

	renderer, err := harness.StartFunction(ctx, tools, procs)
	require.NoError(t, err)
	applier, err := harness.NewApplier(c.Config, fieldManager)
	require.NoError(t, err)

	// The group's own unneeded time (5m in the examples) is what cluster-autoscaler uses,
	// over its flag: shorten it for the test.
	groupConfig = strings.Replace(groupConfig, "unneededTime: 5m", "unneededTime: 10s", 1)
	_, err = harness.StartAutoscaler(ctx, tools, c, procs, []byte(groupConfig))
	require.NoError(t, err)
	return &autoscalerSuite{cluster: c, renderer: renderer, applier: applier}
}

// apply renders the sample claim with n static bridges on JVB nodes and applies it.
func (s *autoscalerSuite) apply(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	s.applyJVB(t, ctx, map[string]any{"type": "static", "replicas": int64(n)}, nil)
}

// applyJVB renders the sample claim, without jibri, with bridges on dedicated JVB nodes and
// the given strategy and autoscaling settings, and applies it.
func (s *autoscalerSuite) applyJVB(t *testing.T, ctx context.Context, strategy, autoscaling map[string]any) {
	t.Helper()
	jvb := map[string]any{"strategy": strategy}
	if autoscaling != nil {
		jvb["autoscaling"] = autoscaling
	}
	s.applyJVBSpec(t, ctx, jvb)
}

// applyJVBSpec renders the sample claim, without jibri, with the given jvb settings and the
// bridges on dedicated JVB nodes, and applies it.
func (s *autoscalerSuite) applyJVBSpec(t *testing.T, ctx context.Context, jvb map[string]any) {
	t.Helper()
	xr := withSpec(t, "xr.yaml", func(spec map[string]any) {
		spec["jibri"] = map[string]any{"enabled": false}
		spec["jvb"] = jvb
		jvb["nodeSelector"] = map[string]any{"jitsi.org/role": "jvb"}
		jvb["tolerations"] = []any{map[string]any{
			"key": "jitsi.org/role", "operator": "Equal", "value": "jvb", "effect": "NoSchedule",
		}}
	})
	r, err := s.renderer.Render(ctx, xr, "--xrd="+tools.XRD())
	require.NoError(t, err)
	objs := harness.WithoutOwners(r.Composed)
	ensureNamespace(t, ctx, s.cluster, objs[0].GetNamespace())
	report := s.applier.Apply(ctx, objs)
	require.Empty(t, report.Rejected(), report.String())
}

// bridgePods maps each running bridge's UID to its node.
func (s *autoscalerSuite) bridgePods(t *testing.T, ctx context.Context) map[types.UID]string {
	t.Helper()
	pods, err := s.cluster.Client.CoreV1().Pods(sampleNamespace).List(ctx, metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/component=jvb",
	})
	require.NoError(t, err)
	out := map[types.UID]string{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			out[p.UID] = p.Spec.NodeName
		}
	}
	return out
}

// groupNodes lists the nodes of the jvb group that are not being deleted.
func (s *autoscalerSuite) groupNodes(t *testing.T, ctx context.Context) []string {
	t.Helper()
	nodes, err := s.cluster.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: groupLabel + "=jvb"})
	require.NoError(t, err)
	var out []string
	for _, n := range nodes.Items {
		if n.DeletionTimestamp == nil {
			out = append(out, n.Name)
		}
	}
	slices.Sort(out)
	return out
}

func (s *autoscalerSuite) waitForBridges(t *testing.T, ctx context.Context, bridges, nodes int) {
	t.Helper()
	err := harness.Poll(ctx, 3*time.Minute, func() (bool, error) {
		if err := s.cluster.Exited(); err != nil {
			return false, err
		}
		return len(s.bridgePods(t, ctx)) == bridges && len(s.groupNodes(t, ctx)) == nodes, nil
	})
	require.NoError(t, err, "want %d bridges running on %d JVB nodes; have %v on %v", bridges, nodes,
		s.bridgePods(t, ctx), s.groupNodes(t, ctx))
}

// requireStable checks over a few autoscaler loops that nothing more happens: no extra node
// for bridges that already run, no bridge moved.
func (s *autoscalerSuite) requireStable(t *testing.T, ctx context.Context, bridges, nodes int) {
	t.Helper()
	before := s.bridgePods(t, ctx)
	time.Sleep(8 * time.Second) // four scan intervals
	after := s.bridgePods(t, ctx)
	assert.Equal(t, before, after, "bridges stay where they are")
	assert.Len(t, after, bridges)
	assert.Len(t, s.groupNodes(t, ctx), nodes, "exactly one node per bridge: %v", s.groupNodes(t, ctx))
	seen := map[string]bool{}
	for _, node := range after {
		assert.False(t, seen[node], "two bridges on node %s", node)
		seen[node] = true
	}
	t.Logf("stable: %d bridges on %d JVB nodes (%s)", len(after), len(s.groupNodes(t, ctx)), strings.Join(s.groupNodes(t, ctx), ", "))
}

func keys(m map[types.UID]string) []types.UID {
	out := make([]types.UID, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func values(m map[types.UID]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
