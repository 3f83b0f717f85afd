package e2e

import (
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiv1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/autoscaler/cluster-autoscaler/cloudprovider"
	"k8s.io/autoscaler/cluster-autoscaler/cloudprovider/externalgrpc"
	"k8s.io/autoscaler/cluster-autoscaler/config"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
)

// jvbNodeGroupConfig is a kwok group of dedicated JVB nodes, like examples/nodescaler.
const jvbNodeGroupConfig = `nodeGroups:
- id: jvb
  minSize: 0
  maxSize: 4
  template:
    labels:
      jitsi.org/role: jvb
    taints:
    - {key: jitsi.org/role, value: jvb, effect: NoSchedule}
    capacity: {cpu: "4", memory: 8Gi, pods: "110"}
    allocatable: {cpu: 3800m, memory: 7Gi, pods: "110"}
  driver:
    kwok: {}
  scaleDown:
    unneededTime: 5m
    ignoreDaemonSetsUtilization: true
`

const groupLabel = "nodescaler.jit.si/node-group"

// TestNodeScalerContract drives jitsi-nodescaler with cluster-autoscaler 1.33's own
// externalgrpc client, over mTLS, with the kwok driver against a real control plane.
func TestNodeScalerContract(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	ctx := testContext(t, 5*time.Minute)
	procs := testProcesses(t, c)
	certs, err := harness.NewMTLS(filepath.Join(procs.Dir, "tls"))
	require.NoError(t, err)
	ns, err := harness.StartNodeScaler(ctx, tools, c, procs, []byte(jvbNodeGroupConfig), certs, "jitsi-nodescaler")
	require.NoError(t, err)

	provider := externalgrpc.BuildExternalGrpc(config.AutoscalingOptions{CloudConfig: ns.CloudConfig},
		cloudprovider.NodeGroupDiscoveryOptions{}, nil)
	require.NoError(t, provider.Refresh())

	groups := provider.NodeGroups()
	require.Len(t, groups, 1)
	g := groups[0]
	assert.Equal(t, "jvb", g.Id())
	assert.Equal(t, 0, g.MinSize())
	assert.Equal(t, 4, g.MaxSize())
	target, err := g.TargetSize()
	require.NoError(t, err)
	assert.Equal(t, 0, target)

	t.Run("TemplateNodeInfoForScaleFromZero", func(t *testing.T) {
		info, err := g.TemplateNodeInfo()
		require.NoError(t, err)
		require.NotNil(t, info)
		node := info.Node()
		assert.Equal(t, "jvb", node.Labels["jitsi.org/role"])
		assert.Equal(t, "jvb", node.Labels[groupLabel])
		assert.Equal(t, resource.MustParse("3800m"), node.Status.Allocatable[apiv1.ResourceCPU])
		assert.Equal(t, []apiv1.Taint{{Key: "jitsi.org/role", Value: "jvb", Effect: apiv1.TaintEffectNoSchedule}}, node.Spec.Taints)
	})

	t.Run("GetOptions", func(t *testing.T) {
		opts, err := g.GetOptions(config.NodeGroupAutoscalingOptions{
			ScaleDownUtilizationThreshold: 0.5, ScaleDownGpuUtilizationThreshold: 0.5,
			ScaleDownUnneededTime: 10 * time.Minute, ScaleDownUnreadyTime: 20 * time.Minute, MaxNodeProvisionTime: 15 * time.Minute,
		})
		require.NoError(t, err)
		assert.Equal(t, config.NodeGroupAutoscalingOptions{
			ScaleDownUtilizationThreshold: 0.5, ScaleDownGpuUtilizationThreshold: 0.5,
			ScaleDownUnneededTime: 5 * time.Minute, ScaleDownUnreadyTime: 20 * time.Minute, MaxNodeProvisionTime: 15 * time.Minute,
			IgnoreDaemonSetsUtilization: true,
		}, *opts)
	})

	t.Run("IncreaseSizeUpToMax", func(t *testing.T) {
		require.NoError(t, g.IncreaseSize(3))
		target, err := g.TargetSize()
		require.NoError(t, err)
		assert.Equal(t, 3, target, "the target is visible at once")
		require.Error(t, g.IncreaseSize(2), "4 is the group's max")
		target, err = g.TargetSize()
		require.NoError(t, err)
		assert.Equal(t, 3, target)

		instances, err := g.Nodes()
		require.NoError(t, err)
		require.Len(t, instances, 3)
		for _, i := range instances {
			assert.Regexp(t, `^kwok://jvb-`, i.Id)
			require.NotNil(t, i.Status)
			assert.Equal(t, cloudprovider.InstanceCreating, i.Status.State)
		}
	})

	var nodes []apiv1.Node
	t.Run("NodesBecomeReadyAndRunning", func(t *testing.T) {
		require.NoError(t, harness.Poll(ctx, 60*time.Second, func() (bool, error) {
			list, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: groupLabel + "=jvb"})
			if err != nil {
				return false, err
			}
			nodes = list.Items
			ready := 0
			for _, n := range nodes {
				for _, cond := range n.Status.Conditions {
					if cond.Type == apiv1.NodeReady && cond.Status == apiv1.ConditionTrue {
						ready++
					}
				}
			}
			return ready == 3, nil
		}), "kwok must make the 3 nodes Ready")
		require.NoError(t, provider.Refresh())
		instances, err := g.Nodes()
		require.NoError(t, err)
		ids := map[string]bool{}
		for _, i := range instances {
			assert.Equal(t, cloudprovider.InstanceRunning, i.Status.State)
			ids[i.Id] = true
		}
		for _, n := range nodes {
			assert.True(t, ids[n.Spec.ProviderID], "Instance.Id %s must equal the node's providerID", n.Spec.ProviderID)
			assert.Equal(t, "jvb", n.Labels["jitsi.org/role"])
		}
	})

	t.Run("NodeGroupForNode", func(t *testing.T) {
		group, err := provider.NodeGroupForNode(&nodes[0])
		require.NoError(t, err)
		require.NotNil(t, group)
		assert.Equal(t, "jvb", group.Id())

		addNode(t, c, "control-plane-1", nil)
		unmanaged, err := c.Client.CoreV1().Nodes().Get(ctx, "control-plane-1", metav1.GetOptions{})
		require.NoError(t, err)
		group, err = provider.NodeGroupForNode(unmanaged)
		require.NoError(t, err)
		assert.Nil(t, group, "a node of no group is left alone")
	})

	t.Run("DeleteNodes", func(t *testing.T) {
		victim := nodes[0].DeepCopy()
		require.NoError(t, g.DeleteNodes([]*apiv1.Node{victim}))
		target, err := g.TargetSize()
		require.NoError(t, err)
		assert.Equal(t, 2, target)
		require.NoError(t, harness.Poll(ctx, 30*time.Second, func() (bool, error) {
			_, err := c.Client.CoreV1().Nodes().Get(ctx, victim.Name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		}), "the Node is deleted")
		require.Error(t, g.DecreaseTargetSize(-1), "no node is being created: running nodes are never withdrawn")
	})

	t.Run("RestartLosesNothing", func(t *testing.T) {
		procs.Stop()
		procs2, err := harness.NewProcesses(filepath.Join(c.Dir, "tests"), t.Logf)
		require.NoError(t, err)
		t.Cleanup(procs2.Stop)
		restarted, err := harness.StartNodeScaler(ctx, tools, c, procs2, []byte(jvbNodeGroupConfig), certs, "jitsi-nodescaler")
		require.NoError(t, err)
		p2 := externalgrpc.BuildExternalGrpc(config.AutoscalingOptions{CloudConfig: restarted.CloudConfig},
			cloudprovider.NodeGroupDiscoveryOptions{}, nil)
		require.NoError(t, p2.Refresh())
		target, err := p2.NodeGroups()[0].TargetSize()
		require.NoError(t, err)
		assert.Equal(t, 2, target, "the new process counts the nodes the old one made")

		rsp, err := http.Get(restarted.MetricsURL + "/metrics")
		require.NoError(t, err)
		body, err := io.ReadAll(rsp.Body)
		_ = rsp.Body.Close()
		require.NoError(t, err)
		assert.Contains(t, string(body), `jitsi_nodescaler_grpc_calls_total{code="OK",method="Refresh"}`)
		assert.Contains(t, string(body), `jitsi_nodescaler_nodes{group="jvb",state="running"} 2`)
	})

}
