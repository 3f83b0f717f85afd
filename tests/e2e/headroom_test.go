package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
)

// nodeBootDelay is how long the kwok driver takes to make a node, the way a VM boots.
const nodeBootDelay = 30 * time.Second

// TestWarmSpareNodes: with jvb.headroom.spareNodes, a burst of new bridges starts on nodes
// that have booted already, preempting the placeholders that held them, and cluster-autoscaler
// boots the next spares in the background; without headroom the same burst waits for new
// nodes to boot. The real scheduler preempts, cluster-autoscaler's core loop adds the nodes,
// and jitsi-nodescaler's kwok driver takes 30 s to make each.
func TestWarmSpareNodes(t *testing.T) {
	t.Parallel()
	config := strings.Replace(jvbNodeGroupConfig, "kwok: {}", "kwok: {bootDelay: "+nodeBootDelay.String()+"}", 1)
	config = strings.Replace(config, "maxSize: 4", "maxSize: 8", 1)
	c := startClusterWith(t, harness.Options{})
	s := startAutoscalerOn(t, c, testProcesses(t, c), config)
	ctx := testContext(t, 8*time.Minute)
	report := s.applier.Apply(ctx, readObjects(t, filepath.Join(tools.Root, "package", "cluster", "priorityclass.yaml")))
	require.Empty(t, report.Rejected(), report.String())

	jvb := func(bridges, spares int64) map[string]any {
		return map[string]any{
			"strategy": map[string]any{"type": "static", "replicas": bridges},
			"headroom": map[string]any{"spareNodes": spares},
		}
	}
	s.applyJVBSpec(t, ctx, jvb(1, 0))
	s.waitForBridges(t, ctx, 1, 1)

	// Without headroom: 2 more bridges wait for 2 nodes to boot.
	before := s.groupNodes(t, ctx)
	s.applyJVBSpec(t, ctx, jvb(3, 0))
	burst := time.Now()
	s.waitForBridges(t, ctx, 3, 3)
	cold := time.Since(burst)
	for _, node := range s.bridgePods(t, ctx) {
		if !contains(before, node) {
			n, err := c.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
			require.NoError(t, err)
			assert.True(t, n.CreationTimestamp.After(burst.Add(-time.Second)), "without headroom a bridge waits for a node made after the burst")
		}
	}
	t.Logf("without headroom: a burst of 2 bridges runs after %s (each node boots in %s)", cold.Round(100*time.Millisecond), nodeBootDelay)

	// Two warm spares: 2 placeholders on 2 nodes of their own, booted in the background.
	s.applyJVBSpec(t, ctx, jvb(3, 2))
	spared := time.Now()
	s.waitForSpares(t, ctx, 2, 5)
	t.Logf("spareNodes 2: 2 placeholders hold 2 new nodes after %s", time.Since(spared).Round(100*time.Millisecond))

	// The same burst with headroom: the bridges preempt the placeholders.
	before = s.groupNodes(t, ctx)
	s.applyJVBSpec(t, ctx, jvb(5, 2))
	burst = time.Now()
	require.NoError(t, harness.Poll(ctx, 2*time.Minute, func() (bool, error) {
		return len(s.bridgePods(t, ctx)) == 5, nil
	}))
	warm := time.Since(burst)
	after := s.groupNodes(t, ctx)
	for _, node := range s.bridgePods(t, ctx) {
		assert.Contains(t, before, node, "every bridge runs on a node that had booted before the burst")
	}
	t.Logf("with 2 spare nodes: the burst of 2 bridges runs after %s, on nodes that were there (%d JVB nodes before, %d when they ran)",
		warm.Round(100*time.Millisecond), len(before), len(after))

	// The evicted placeholders go Pending, and cluster-autoscaler boots the next 2 spares.
	s.waitForSpares(t, ctx, 2, 7)
	t.Logf("the next 2 spare nodes held by placeholders %s after the burst", time.Since(burst).Round(100*time.Millisecond))
	seen := map[string]bool{}
	for _, node := range s.bridgePods(t, ctx) {
		seen[node] = true
	}
	for _, p := range s.spares(t, ctx) {
		assert.False(t, seen[p.Spec.NodeName], "a placeholder never shares a bridge's node")
		seen[p.Spec.NodeName] = true
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// spares lists the running placeholder pods.
func (s *autoscalerSuite) spares(t *testing.T, ctx context.Context) []corev1.Pod {
	t.Helper()
	pods, err := s.cluster.Client.CoreV1().Pods(sampleNamespace).List(ctx, metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/component=jvb-spare",
	})
	require.NoError(t, err)
	var out []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			out = append(out, p)
		}
	}
	return out
}

// waitForSpares waits until n placeholders run and the JVB group has nodes nodes.
func (s *autoscalerSuite) waitForSpares(t *testing.T, ctx context.Context, n, nodes int) {
	t.Helper()
	require.NoError(t, harness.Poll(ctx, 3*time.Minute, func() (bool, error) {
		return len(s.spares(t, ctx)) == n && len(s.groupNodes(t, ctx)) == nodes, nil
	}), "want %d placeholders running and %d JVB nodes; have %d and %v", n, nodes, len(s.spares(t, ctx)), s.groupNodes(t, ctx))
}
