package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/config"
	"github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/driver"
	"github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/driver/kwok"
	pb "github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/externalgrpc"
)

func jvbGroup(id string, min, max int32) config.NodeGroup {
	return config.NodeGroup{
		ID: id, MinSize: min, MaxSize: max,
		Template: config.Template{
			Labels: map[string]string{"jitsi.org/role": "jvb"},
			Taints: []corev1.Taint{{Key: "jitsi.org/role", Value: "jvb", Effect: corev1.TaintEffectNoSchedule}},
			Capacity: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110"),
			},
			Allocatable: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("3800m"), corev1.ResourceMemory: resource.MustParse("7Gi"), corev1.ResourcePods: resource.MustParse("110"),
			},
		},
		Driver: config.Driver{Kwok: &config.KwokDriver{}},
		ScaleDown: &config.ScaleDown{
			UnneededTime:                &metav1.Duration{Duration: 5 * time.Minute},
			IgnoreDaemonSetsUtilization: ptr.To(true),
		},
	}
}

// fixture is a server on a bufconn listener with the kwok driver on a fake API server.
type fixture struct {
	kube    *fake.Clientset
	server  *Server
	client  pb.CloudProviderClient
	conn    *grpc.ClientConn
	metrics *prometheus.Registry
}

func newFixture(t testing.TB, kube *fake.Clientset, groups ...config.NodeGroup) *fixture {
	t.Helper()
	if kube == nil {
		kube = fake.NewClientset()
	}
	templates := map[string]config.Template{}
	for _, g := range groups {
		templates[g.ID] = g.Template
	}
	d := kwok.New(kube, templates)
	var sg []Group
	for _, g := range groups {
		sg = append(sg, Group{Config: g, Driver: d})
	}
	return newFixtureWithGroups(t, kube, sg)
}

func newFixtureWithGroups(t testing.TB, kube *fake.Clientset, groups []Group) *fixture {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := New(slog.New(slog.NewTextHandler(io.Discard, nil)), NewMetrics(reg), groups)
	require.NoError(t, err)
	g, err := NewGRPCServer(s, nil)
	require.NoError(t, err)
	lis := bufconn.Listen(1 << 20)
	go func() { _ = g.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = conn.Close()
		g.Stop()
	})
	return &fixture{kube: kube, server: s, client: pb.NewCloudProviderClient(conn), conn: conn, metrics: reg}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func (f *fixture) refresh(t testing.TB) {
	t.Helper()
	_, err := f.client.Refresh(ctx(t), &pb.RefreshRequest{})
	require.NoError(t, err)
}

func (f *fixture) target(t testing.TB, id string) int32 {
	t.Helper()
	rsp, err := f.client.NodeGroupTargetSize(ctx(t), &pb.NodeGroupTargetSizeRequest{Id: id})
	require.NoError(t, err)
	return rsp.GetTargetSize()
}

func (f *fixture) instances(t testing.TB, id string) []*pb.Instance {
	t.Helper()
	rsp, err := f.client.NodeGroupNodes(ctx(t), &pb.NodeGroupNodesRequest{Id: id})
	require.NoError(t, err)
	return rsp.GetInstances()
}

func (f *fixture) increase(t testing.TB, id string, delta int32) error {
	t.Helper()
	_, err := f.client.NodeGroupIncreaseSize(ctx(t), &pb.NodeGroupIncreaseSizeRequest{Id: id, Delta: delta})
	return err
}

// markReady does what kwok does once it takes a node.
func (f *fixture) markReady(t testing.TB, name string) {
	t.Helper()
	n, err := f.kube.CoreV1().Nodes().Get(ctx(t), name, metav1.GetOptions{})
	require.NoError(t, err)
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	_, err = f.kube.CoreV1().Nodes().UpdateStatus(ctx(t), n, metav1.UpdateOptions{})
	require.NoError(t, err)
}

func states(instances []*pb.Instance) map[pb.InstanceStatus_InstanceState]int {
	out := map[pb.InstanceStatus_InstanceState]int{}
	for _, i := range instances {
		out[i.GetStatus().GetInstanceState()]++
	}
	return out
}

func requireCode(t testing.TB, want codes.Code, err error) {
	t.Helper()
	require.Error(t, err)
	assert.Equal(t, want, status.Code(err), "error: %v", err)
}

func TestNodeGroups(t *testing.T) {
	f := newFixture(t, nil, jvbGroup("jvb", 0, 10), jvbGroup("jvb-b", 1, 3))
	rsp, err := f.client.NodeGroups(ctx(t), &pb.NodeGroupsRequest{})
	require.NoError(t, err)
	require.Len(t, rsp.GetNodeGroups(), 2)
	assert.Equal(t, "jvb", rsp.GetNodeGroups()[0].GetId())
	assert.EqualValues(t, 0, rsp.GetNodeGroups()[0].GetMinSize())
	assert.EqualValues(t, 10, rsp.GetNodeGroups()[0].GetMaxSize())
	assert.Equal(t, "jvb-b", rsp.GetNodeGroups()[1].GetId())
	assert.EqualValues(t, 1, rsp.GetNodeGroups()[1].GetMinSize())
}

func TestIncreaseSize(t *testing.T) {
	f := newFixture(t, nil, jvbGroup("jvb", 0, 10))
	f.refresh(t)
	require.EqualValues(t, 0, f.target(t, "jvb"))
	require.Empty(t, f.instances(t, "jvb"))

	require.NoError(t, f.increase(t, "jvb", 3))
	assert.EqualValues(t, 3, f.target(t, "jvb"), "the new target is visible at once, before any refresh")

	instances := f.instances(t, "jvb")
	require.Len(t, instances, 3)
	assert.Equal(t, map[pb.InstanceStatus_InstanceState]int{pb.InstanceStatus_instanceCreating: 3}, states(instances))

	nodes, err := f.kube.CoreV1().Nodes().List(ctx(t), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, nodes.Items, 3, "the driver made one Node per instance")
	for _, n := range nodes.Items {
		assert.Equal(t, "kwok://"+n.Name, n.Spec.ProviderID)
		assert.Equal(t, "jvb", n.Labels[driver.GroupLabel])
		assert.Equal(t, "jvb", n.Labels["jitsi.org/role"])
		assert.Equal(t, n.Name, n.Labels[corev1.LabelHostname])
		assert.Equal(t, "fake", n.Annotations["kwok.x-k8s.io/node"])
		assert.Equal(t, resource.MustParse("4"), n.Status.Capacity[corev1.ResourceCPU])
		assert.Contains(t, instanceIDs(instances), n.Spec.ProviderID, "Instance.Id is the node's exact providerID")
	}

	// kwok marks the nodes Ready; the next refresh sees them running.
	for _, n := range nodes.Items {
		f.markReady(t, n.Name)
	}
	f.refresh(t)
	assert.Equal(t, map[pb.InstanceStatus_InstanceState]int{pb.InstanceStatus_instanceRunning: 3}, states(f.instances(t, "jvb")))
	assert.EqualValues(t, 3, f.target(t, "jvb"))
}

func instanceIDs(instances []*pb.Instance) []string {
	var ids []string
	for _, i := range instances {
		ids = append(ids, i.GetId())
	}
	return ids
}

func TestIncreaseSizeNeverExceedsMax(t *testing.T) {
	f := newFixture(t, nil, jvbGroup("jvb", 0, 5))
	f.refresh(t)
	require.NoError(t, f.increase(t, "jvb", 4))

	err := f.increase(t, "jvb", 2)
	requireCode(t, codes.InvalidArgument, err)
	assert.Contains(t, status.Convert(err).Message(), "over its maxSize 5")
	assert.EqualValues(t, 4, f.target(t, "jvb"), "a refused increase creates nothing")

	// cluster-autoscaler retries with what fits: counted from the driver's state, after a
	// refresh too.
	f.refresh(t)
	require.NoError(t, f.increase(t, "jvb", 1))
	assert.EqualValues(t, 5, f.target(t, "jvb"))
	requireCode(t, codes.InvalidArgument, f.increase(t, "jvb", 1))

	nodes, err := f.kube.CoreV1().Nodes().List(ctx(t), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, nodes.Items, 5)
}

func TestConcurrentIncreasesNeverExceedMax(t *testing.T) {
	f := newFixture(t, nil, jvbGroup("jvb", 0, 5))
	f.refresh(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	succeeded := 0
	for range 12 {
		wg.Go(func() {
			if f.increase(t, "jvb", 1) == nil {
				mu.Lock()
				succeeded++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 5, succeeded)
	assert.EqualValues(t, 5, f.target(t, "jvb"))
	nodes, err := f.kube.CoreV1().Nodes().List(ctx(t), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, nodes.Items, 5)
}

func TestIncreaseSizeDriverFailure(t *testing.T) {
	kube := fake.NewClientset()
	creates := 0
	kube.PrependReactor("create", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		creates++
		if creates > 2 {
			return true, nil, status.Error(codes.ResourceExhausted, "quota exceeded")
		}
		return false, nil, nil
	})
	f := newFixture(t, kube, jvbGroup("jvb", 0, 10))
	f.refresh(t)
	err := f.increase(t, "jvb", 4)
	requireCode(t, codes.Unavailable, err)
	assert.Contains(t, status.Convert(err).Message(), "created 2 of 4 nodes")
	assert.EqualValues(t, 2, f.target(t, "jvb"), "the target counts what was made, so a retry cannot overshoot")
}

func TestNodeGroupForNode(t *testing.T) {
	f := newFixture(t, nil, jvbGroup("jvb", 0, 10), jvbGroup("other", 0, 10))
	require.NoError(t, f.increase(t, "jvb", 1))
	node := f.instances(t, "jvb")[0]

	cases := map[string]struct {
		node   *pb.ExternalGrpcNode
		wantID string
	}{
		"ByProviderID":       {node: &pb.ExternalGrpcNode{ProviderID: node.GetId(), Name: "whatever"}, wantID: "jvb"},
		"ByGroupLabel":       {node: &pb.ExternalGrpcNode{ProviderID: "kwok://new", Labels: map[string]string{driver.GroupLabel: "other"}}, wantID: "other"},
		"UnknownLabelValue":  {node: &pb.ExternalGrpcNode{ProviderID: "kwok://x", Labels: map[string]string{driver.GroupLabel: "nope"}}, wantID: ""},
		"UnmanagedNode":      {node: &pb.ExternalGrpcNode{ProviderID: "aws:///eu-west-1a/i-0abc", Name: "control-plane"}, wantID: ""},
		"NoProviderIDByName": {node: &pb.ExternalGrpcNode{Name: node.GetId()[len("kwok://"):]}, wantID: "jvb"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rsp, err := f.client.NodeGroupForNode(ctx(t), &pb.NodeGroupForNodeRequest{Node: tc.node})
			require.NoError(t, err)
			require.NotNil(t, rsp.GetNodeGroup(), "an unmanaged node gets an empty NodeGroup, not none")
			assert.Equal(t, tc.wantID, rsp.GetNodeGroup().GetId())
		})
	}
	_, err := f.client.NodeGroupForNode(ctx(t), &pb.NodeGroupForNodeRequest{})
	requireCode(t, codes.InvalidArgument, err)
}

func TestDeleteNodes(t *testing.T) {
	f := newFixture(t, nil, jvbGroup("jvb", 1, 10), jvbGroup("other", 0, 10))
	require.NoError(t, f.increase(t, "jvb", 3))
	require.NoError(t, f.increase(t, "other", 1))
	f.refresh(t)
	jvb := f.instances(t, "jvb")
	other := f.instances(t, "other")

	t.Run("OfAnotherGroup", func(t *testing.T) {
		_, err := f.client.NodeGroupDeleteNodes(ctx(t), &pb.NodeGroupDeleteNodesRequest{Id: "jvb",
			Nodes: []*pb.ExternalGrpcNode{{ProviderID: jvb[0].GetId()}, {ProviderID: other[0].GetId()}}})
		requireCode(t, codes.InvalidArgument, err)
		assert.Contains(t, status.Convert(err).Message(), "belongs to group other")
		assert.EqualValues(t, 3, f.target(t, "jvb"), "nothing is deleted when one node is refused")
	})
	t.Run("Unknown", func(t *testing.T) {
		_, err := f.client.NodeGroupDeleteNodes(ctx(t), &pb.NodeGroupDeleteNodesRequest{Id: "jvb",
			Nodes: []*pb.ExternalGrpcNode{{ProviderID: "kwok://ghost", Name: "ghost"}}})
		requireCode(t, codes.NotFound, err)
	})
	t.Run("Empty", func(t *testing.T) {
		_, err := f.client.NodeGroupDeleteNodes(ctx(t), &pb.NodeGroupDeleteNodesRequest{Id: "jvb"})
		requireCode(t, codes.InvalidArgument, err)
	})
	t.Run("One", func(t *testing.T) {
		_, err := f.client.NodeGroupDeleteNodes(ctx(t), &pb.NodeGroupDeleteNodesRequest{Id: "jvb",
			Nodes: []*pb.ExternalGrpcNode{{ProviderID: jvb[0].GetId(), Name: jvb[0].GetId()[len("kwok://"):]}}})
		require.NoError(t, err)
		assert.EqualValues(t, 2, f.target(t, "jvb"))
		assert.Equal(t, map[pb.InstanceStatus_InstanceState]int{
			pb.InstanceStatus_instanceDeleting: 1, pb.InstanceStatus_instanceCreating: 2,
		}, states(f.instances(t, "jvb")))
		_, err = f.kube.CoreV1().Nodes().Get(ctx(t), jvb[0].GetId()[len("kwok://"):], metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "the Node is gone: %v", err)
		f.refresh(t)
		assert.Len(t, f.instances(t, "jvb"), 2)
	})
	t.Run("UnregisteredFakeNode", func(t *testing.T) {
		// cluster-autoscaler's stand-in for an instance that never registered: its name and
		// providerID are the instance id.
		id := f.instances(t, "jvb")[0].GetId()
		_, err := f.client.NodeGroupDeleteNodes(ctx(t), &pb.NodeGroupDeleteNodesRequest{Id: "jvb",
			Nodes: []*pb.ExternalGrpcNode{{ProviderID: id, Name: id, Annotations: map[string]string{
				"k8s.io/cluster-autoscaler/fake-node-reason": "unregistered",
			}}}})
		require.NoError(t, err)
		assert.EqualValues(t, 1, f.target(t, "jvb"))
	})
	t.Run("BelowMin", func(t *testing.T) {
		id := f.instances(t, "jvb")
		var last string
		for _, i := range id {
			if i.GetStatus().GetInstanceState() != pb.InstanceStatus_instanceDeleting {
				last = i.GetId()
			}
		}
		_, err := f.client.NodeGroupDeleteNodes(ctx(t), &pb.NodeGroupDeleteNodesRequest{Id: "jvb",
			Nodes: []*pb.ExternalGrpcNode{{ProviderID: last}}})
		requireCode(t, codes.FailedPrecondition, err)
		assert.Contains(t, status.Convert(err).Message(), "under its minSize 1")
		assert.EqualValues(t, 1, f.target(t, "jvb"))
	})
}

func TestDecreaseTargetSize(t *testing.T) {
	f := newFixture(t, nil, jvbGroup("jvb", 0, 10))
	require.NoError(t, f.increase(t, "jvb", 2))
	running := f.instances(t, "jvb")[0].GetId()
	f.markReady(t, running[len("kwok://"):])
	require.NoError(t, f.increase(t, "jvb", 2))
	f.refresh(t)
	require.EqualValues(t, 4, f.target(t, "jvb"))

	_, err := f.client.NodeGroupDecreaseTargetSize(ctx(t), &pb.NodeGroupDecreaseTargetSizeRequest{Id: "jvb", Delta: -2})
	require.NoError(t, err)
	assert.EqualValues(t, 2, f.target(t, "jvb"))

	_, err = f.client.NodeGroupDecreaseTargetSize(ctx(t), &pb.NodeGroupDecreaseTargetSizeRequest{Id: "jvb", Delta: -2})
	requireCode(t, codes.FailedPrecondition, err)
	assert.Contains(t, status.Convert(err).Message(), "running nodes are never deleted this way")

	f.refresh(t)
	got := f.instances(t, "jvb")
	assert.Contains(t, instanceIDs(got), running, "the running node survives")

	_, err = f.client.NodeGroupDecreaseTargetSize(ctx(t), &pb.NodeGroupDecreaseTargetSizeRequest{Id: "jvb", Delta: 1})
	requireCode(t, codes.InvalidArgument, err)
}

func TestTemplateNodeInfo(t *testing.T) {
	f := newFixture(t, nil, jvbGroup("jvb", 0, 10))
	rsp, err := f.client.NodeGroupTemplateNodeInfo(ctx(t), &pb.NodeGroupTemplateNodeInfoRequest{Id: "jvb"})
	require.NoError(t, err)
	require.NotEmpty(t, rsp.GetNodeBytes())
	assert.Equal(t, rsp.GetNodeBytes(), rsp.GetNodeInfo(), "both encodings carry the same Node")

	node := &corev1.Node{}
	require.NoError(t, node.Unmarshal(rsp.GetNodeBytes()))
	assert.Equal(t, "jvb", node.Labels["jitsi.org/role"])
	assert.Equal(t, "jvb", node.Labels[driver.GroupLabel])
	assert.Equal(t, "linux", node.Labels[corev1.LabelOSStable])
	assert.NotEmpty(t, node.Labels[corev1.LabelHostname])
	assert.Equal(t, []corev1.Taint{{Key: "jitsi.org/role", Value: "jvb", Effect: corev1.TaintEffectNoSchedule}}, node.Spec.Taints)
	assert.Equal(t, resource.MustParse("4"), node.Status.Capacity[corev1.ResourceCPU])
	assert.Equal(t, resource.MustParse("3800m"), node.Status.Allocatable[corev1.ResourceCPU])
	assert.Equal(t, resource.MustParse("110"), node.Status.Allocatable[corev1.ResourcePods])
	require.Len(t, node.Status.Conditions, 1)
	assert.Equal(t, corev1.NodeReady, node.Status.Conditions[0].Type)
	assert.Equal(t, corev1.ConditionTrue, node.Status.Conditions[0].Status)
}

func TestGetOptions(t *testing.T) {
	f := newFixture(t, nil, jvbGroup("jvb", 0, 10))
	caDefaults := func() *pb.NodeGroupAutoscalingOptions {
		return &pb.NodeGroupAutoscalingOptions{
			ScaleDownUtilizationThreshold: 0.5, ScaleDownGpuUtilizationThreshold: 0.5,
			ScaleDownUnneededTime: &pb.LegacyDuration{Duration: int64(10 * time.Minute)},
			ScaleDownUnreadyTime:  &pb.LegacyDuration{Duration: int64(20 * time.Minute)},
			MaxNodeProvisionTime:  &pb.LegacyDuration{Duration: int64(15 * time.Minute)},
		}
	}
	want := &pb.NodeGroupAutoscalingOptions{
		ScaleDownUtilizationThreshold: 0.5, ScaleDownGpuUtilizationThreshold: 0.5,
		// The group overrides the unneeded time and daemonset utilization.
		ScaleDownUnneededTime:       &pb.LegacyDuration{Duration: int64(5 * time.Minute)},
		ScaleDownUnreadyTime:        &pb.LegacyDuration{Duration: int64(20 * time.Minute)},
		MaxNodeProvisionTime:        &pb.LegacyDuration{Duration: int64(15 * time.Minute)},
		IgnoreDaemonSetsUtilization: true,
		ScaleDownUnneededDuration:   durationpb.New(5 * time.Minute),
		ScaleDownUnreadyDuration:    durationpb.New(20 * time.Minute),
		MaxNodeProvisionDuration:    durationpb.New(15 * time.Minute),
	}

	t.Run("CA133", func(t *testing.T) {
		rsp, err := f.client.NodeGroupGetOptions(ctx(t), &pb.NodeGroupAutoscalingOptionsRequest{Id: "jvb", Defaults: caDefaults()})
		require.NoError(t, err)
		if diff := cmp.Diff(want, rsp.GetNodeGroupAutoscalingOptions(), protocmp.Transform()); diff != "" {
			t.Errorf("options (-want +got):\n%s", diff)
		}
	})
	t.Run("CA135", func(t *testing.T) {
		d := caDefaults()
		d.ScaleDownUnneededTime, d.ScaleDownUnreadyTime, d.MaxNodeProvisionTime = nil, nil, nil
		d.ScaleDownUnneededDuration = durationpb.New(10 * time.Minute)
		d.ScaleDownUnreadyDuration = durationpb.New(20 * time.Minute)
		d.MaxNodeProvisionDuration = durationpb.New(15 * time.Minute)
		rsp, err := f.client.NodeGroupGetOptions(ctx(t), &pb.NodeGroupAutoscalingOptionsRequest{Id: "jvb", Defaults: d})
		require.NoError(t, err)
		if diff := cmp.Diff(want, rsp.GetNodeGroupAutoscalingOptions(), protocmp.Transform()); diff != "" {
			t.Errorf("options (-want +got):\n%s", diff)
		}
	})
	t.Run("NoDefaults", func(t *testing.T) {
		_, err := f.client.NodeGroupGetOptions(ctx(t), &pb.NodeGroupAutoscalingOptionsRequest{Id: "jvb"})
		requireCode(t, codes.InvalidArgument, err)
	})
}

func TestTrivialCalls(t *testing.T) {
	f := newFixture(t, nil, jvbGroup("jvb", 0, 10))
	label, err := f.client.GPULabel(ctx(t), &pb.GPULabelRequest{})
	require.NoError(t, err)
	assert.Equal(t, GPULabel, label.GetLabel())
	types, err := f.client.GetAvailableGPUTypes(ctx(t), &pb.GetAvailableGPUTypesRequest{})
	require.NoError(t, err)
	assert.Empty(t, types.GetGpuTypes())
	_, err = f.client.Cleanup(ctx(t), &pb.CleanupRequest{})
	require.NoError(t, err)
	_, err = f.client.PricingNodePrice(ctx(t), &pb.PricingNodePriceRequest{})
	requireCode(t, codes.Unimplemented, err)
	_, err = f.client.PricingPodPrice(ctx(t), &pb.PricingPodPriceRequest{})
	requireCode(t, codes.Unimplemented, err)
}

func TestBadGroupIDs(t *testing.T) {
	f := newFixture(t, nil, jvbGroup("jvb", 0, 10))
	for _, id := range []string{"", "nope"} {
		want := codes.NotFound
		if id == "" {
			want = codes.InvalidArgument
		}
		_, err := f.client.NodeGroupTargetSize(ctx(t), &pb.NodeGroupTargetSizeRequest{Id: id})
		requireCode(t, want, err)
		_, err = f.client.NodeGroupIncreaseSize(ctx(t), &pb.NodeGroupIncreaseSizeRequest{Id: id, Delta: 1})
		requireCode(t, want, err)
		_, err = f.client.NodeGroupNodes(ctx(t), &pb.NodeGroupNodesRequest{Id: id})
		requireCode(t, want, err)
		_, err = f.client.NodeGroupTemplateNodeInfo(ctx(t), &pb.NodeGroupTemplateNodeInfoRequest{Id: id})
		requireCode(t, want, err)
		_, err = f.client.NodeGroupGetOptions(ctx(t), &pb.NodeGroupAutoscalingOptionsRequest{Id: id})
		requireCode(t, want, err)
		_, err = f.client.NodeGroupDeleteNodes(ctx(t), &pb.NodeGroupDeleteNodesRequest{Id: id})
		requireCode(t, want, err)
		_, err = f.client.NodeGroupDecreaseTargetSize(ctx(t), &pb.NodeGroupDecreaseTargetSizeRequest{Id: id, Delta: -1})
		requireCode(t, want, err)
	}
	for _, delta := range []int32{0, -3} {
		requireCode(t, codes.InvalidArgument, f.increase(t, "jvb", delta))
	}
}

// TestRestartFromDriverState: a new server (a restarted pod) finds every node the old one
// made, and does not make them again.
func TestRestartFromDriverState(t *testing.T) {
	kube := fake.NewClientset()
	first := newFixture(t, kube, jvbGroup("jvb", 0, 5))
	require.NoError(t, first.increase(t, "jvb", 3))
	before := instanceIDs(first.instances(t, "jvb"))

	second := newFixture(t, kube, jvbGroup("jvb", 0, 5))
	assert.False(t, second.server.Ready(), "not ready before the first refresh")
	second.refresh(t)
	assert.True(t, second.server.Ready())
	assert.EqualValues(t, 3, second.target(t, "jvb"))
	assert.ElementsMatch(t, before, instanceIDs(second.instances(t, "jvb")))
	requireCode(t, codes.InvalidArgument, second.increase(t, "jvb", 3))
	require.NoError(t, second.increase(t, "jvb", 2))

	nodes, err := kube.CoreV1().Nodes().List(ctx(t), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, nodes.Items, 5)
}

func TestRefreshKeepsSnapshotWhenDriverFails(t *testing.T) {
	kube := fake.NewClientset()
	f := newFixture(t, kube, jvbGroup("jvb", 0, 10))
	require.NoError(t, f.increase(t, "jvb", 2))
	f.refresh(t)
	kube.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, status.Error(codes.Unavailable, "apiserver down")
	})
	_, err := f.client.Refresh(ctx(t), &pb.RefreshRequest{})
	requireCode(t, codes.Unavailable, err)
	assert.EqualValues(t, 2, f.target(t, "jvb"), "the last good snapshot is kept")
	assert.Len(t, f.instances(t, "jvb"), 2)
}

// failingDriver fails every call, or panics, to test the server's guard rails.
type failingDriver struct{ panics bool }

func (d failingDriver) Create(context.Context, string, int) ([]driver.Instance, error) {
	if d.panics {
		panic("driver bug")
	}
	return nil, io.ErrUnexpectedEOF
}
func (d failingDriver) Delete(context.Context, string, []string) error { return io.ErrUnexpectedEOF }
func (d failingDriver) List(context.Context, string) ([]driver.Instance, error) {
	return nil, io.ErrUnexpectedEOF
}

func TestOneBrokenGroupDoesNotFreezeTheOthers(t *testing.T) {
	kube := fake.NewClientset()
	good := jvbGroup("jvb", 0, 10)
	broken := jvbGroup("broken", 0, 10)
	f := newFixtureWithGroups(t, kube, []Group{
		{Config: good, Driver: kwok.New(kube, map[string]config.Template{"jvb": good.Template})},
		{Config: broken, Driver: failingDriver{}},
	})
	f.refresh(t)
	require.NoError(t, f.increase(t, "jvb", 1))
	requireCode(t, codes.Unavailable, f.increase(t, "broken", 1))
}

func TestPanicBecomesInternalError(t *testing.T) {
	g := jvbGroup("jvb", 0, 10)
	f := newFixtureWithGroups(t, fake.NewClientset(), []Group{{Config: g, Driver: failingDriver{panics: true}}})
	requireCode(t, codes.Internal, f.increase(t, "jvb", 1))
	// The server is still serving.
	_, err := f.client.NodeGroups(ctx(t), &pb.NodeGroupsRequest{})
	require.NoError(t, err)
}

func TestMetrics(t *testing.T) {
	f := newFixture(t, nil, jvbGroup("jvb", 0, 2))
	f.refresh(t)
	require.NoError(t, f.increase(t, "jvb", 2))
	requireCode(t, codes.InvalidArgument, f.increase(t, "jvb", 1))
	f.refresh(t)

	calls := f.server.metrics.calls
	assert.InDelta(t, 1, testutil.ToFloat64(calls.WithLabelValues("NodeGroupIncreaseSize", "OK")), 0)
	assert.InDelta(t, 1, testutil.ToFloat64(calls.WithLabelValues("NodeGroupIncreaseSize", "InvalidArgument")), 0)
	assert.InDelta(t, 2, testutil.ToFloat64(calls.WithLabelValues("Refresh", "OK")), 0)
	assert.InDelta(t, 2, testutil.ToFloat64(f.server.metrics.nodes.WithLabelValues("jvb", "creating")), 0)
	assert.InDelta(t, 2, testutil.ToFloat64(f.server.metrics.targetSize.WithLabelValues("jvb")), 0)
	n, err := testutil.GatherAndCount(f.metrics, "jitsi_nodescaler_driver_duration_seconds")
	require.NoError(t, err)
	assert.Positive(t, n)
}
