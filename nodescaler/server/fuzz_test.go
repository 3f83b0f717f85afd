package server

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/externalgrpc"
)

// FuzzRequests: any request bytes, decoded as any RPC's request, get an answer or an error,
// never a panic. The server is called directly, without the interceptor that would turn a
// panic into Internal, so a panic fails the test.
func FuzzRequests(f *testing.F) {
	seed := func(m proto.Message) []byte { b, _ := proto.Marshal(m); return b }
	f.Add(uint8(0), seed(&pb.NodeGroupIncreaseSizeRequest{Id: "jvb", Delta: 2}))
	f.Add(uint8(1), seed(&pb.NodeGroupDeleteNodesRequest{Id: "jvb", Nodes: []*pb.ExternalGrpcNode{{ProviderID: "kwok://x"}}}))
	f.Add(uint8(2), seed(&pb.NodeGroupDecreaseTargetSizeRequest{Id: "jvb", Delta: -1}))
	f.Add(uint8(3), seed(&pb.NodeGroupForNodeRequest{Node: &pb.ExternalGrpcNode{Labels: map[string]string{"nodescaler.jit.si/node-group": "jvb"}}}))
	f.Add(uint8(4), seed(&pb.NodeGroupAutoscalingOptionsRequest{Id: "jvb", Defaults: &pb.NodeGroupAutoscalingOptions{}}))
	f.Add(uint8(5), []byte{0xff, 0x01})

	fx := newFixture(f, nil, jvbGroup("jvb", 0, 5))
	s := fx.server
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, rpc uint8, body []byte) {
		switch rpc % 9 {
		case 0:
			req := &pb.NodeGroupIncreaseSizeRequest{}
			if proto.Unmarshal(body, req) == nil {
				_, _ = s.NodeGroupIncreaseSize(ctx, req)
			}
		case 1:
			req := &pb.NodeGroupDeleteNodesRequest{}
			if proto.Unmarshal(body, req) == nil {
				_, _ = s.NodeGroupDeleteNodes(ctx, req)
			}
		case 2:
			req := &pb.NodeGroupDecreaseTargetSizeRequest{}
			if proto.Unmarshal(body, req) == nil {
				_, _ = s.NodeGroupDecreaseTargetSize(ctx, req)
			}
		case 3:
			req := &pb.NodeGroupForNodeRequest{}
			if proto.Unmarshal(body, req) == nil {
				_, _ = s.NodeGroupForNode(ctx, req)
			}
		case 4:
			req := &pb.NodeGroupAutoscalingOptionsRequest{}
			if proto.Unmarshal(body, req) == nil {
				_, _ = s.NodeGroupGetOptions(ctx, req)
			}
		case 5:
			req := &pb.NodeGroupNodesRequest{}
			if proto.Unmarshal(body, req) == nil {
				_, _ = s.NodeGroupNodes(ctx, req)
			}
		case 6:
			req := &pb.NodeGroupTemplateNodeInfoRequest{}
			if proto.Unmarshal(body, req) == nil {
				_, _ = s.NodeGroupTemplateNodeInfo(ctx, req)
			}
		case 7:
			req := &pb.NodeGroupTargetSizeRequest{}
			if proto.Unmarshal(body, req) == nil {
				_, _ = s.NodeGroupTargetSize(ctx, req)
			}
		case 8:
			_, _ = s.Refresh(ctx, &pb.RefreshRequest{})
		}
		if target := s.groups["jvb"].snapshot.Load().targetSize(); target > 5 {
			t.Fatalf("target %d over maxSize 5", target)
		}
	})
}
