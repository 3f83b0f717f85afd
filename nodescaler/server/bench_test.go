package server

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/config"
	"github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/driver/kwok"
	pb "github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/externalgrpc"
)

const benchNodes = 5000

// bigFixture is a server that knows benchNodes nodes in one group, after a refresh.
func bigFixture(b *testing.B) (*fixture, []*pb.Instance) {
	b.Helper()
	kube := fake.NewClientset()
	g := jvbGroup("jvb", 0, benchNodes)
	f := newFixture(b, kube, g)
	_, err := kwok.New(kube, map[string]config.Template{"jvb": g.Template}).Create(context.Background(), "jvb", benchNodes)
	require.NoError(b, err)
	f.refresh(b)
	instances := f.instances(b, "jvb")
	require.Len(b, instances, benchNodes)
	return f, instances
}

func nodeOf(i *pb.Instance) *pb.ExternalGrpcNode {
	name := i.GetId()[len(kwok.ProviderIDPrefix):]
	return &pb.ExternalGrpcNode{ProviderID: i.GetId(), Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}
}

// BenchmarkNodeGroupForNode is the server's own cost: cluster-autoscaler asks it for every
// node in every loop.
func BenchmarkNodeGroupForNode(b *testing.B) {
	f, instances := bigFixture(b)
	reqs := make([]*pb.NodeGroupForNodeRequest, len(instances))
	for i := range instances {
		reqs[i] = &pb.NodeGroupForNodeRequest{Node: nodeOf(instances[i])}
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		rsp, err := f.server.NodeGroupForNode(ctx, reqs[i%len(reqs)])
		if err != nil || rsp.GetNodeGroup().GetId() != "jvb" {
			b.Fatalf("NodeGroupForNode: %v %v", rsp, err)
		}
		i++
	}
}

// BenchmarkNodeGroupForNodeGRPC is the same call through a gRPC connection (bufconn).
func BenchmarkNodeGroupForNodeGRPC(b *testing.B) {
	f, instances := bigFixture(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := f.client.NodeGroupForNode(ctx, &pb.NodeGroupForNodeRequest{Node: nodeOf(instances[i%len(instances)])}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkNodeGroupNodes lists all benchNodes instances.
func BenchmarkNodeGroupNodes(b *testing.B) {
	for _, via := range []string{"direct", "grpc"} {
		b.Run(via, func(b *testing.B) {
			f, _ := bigFixture(b)
			ctx := context.Background()
			req := &pb.NodeGroupNodesRequest{Id: "jvb"}
			b.ReportAllocs()
			for b.Loop() {
				var rsp *pb.NodeGroupNodesResponse
				var err error
				if via == "direct" {
					rsp, err = f.server.NodeGroupNodes(ctx, req)
				} else {
					rsp, err = f.client.NodeGroupNodes(ctx, req)
				}
				if err != nil || len(rsp.GetInstances()) != benchNodes {
					b.Fatal(fmt.Sprint(len(rsp.GetInstances())), err)
				}
			}
		})
	}
}

// BenchmarkRefresh is the snapshot of benchNodes nodes from the kwok driver (on client-go's
// fake API, so it measures the server and the driver, not an API server).
func BenchmarkRefresh(b *testing.B) {
	f, _ := bigFixture(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.server.Refresh(ctx, &pb.RefreshRequest{}); err != nil {
			b.Fatal(err)
		}
	}
}
