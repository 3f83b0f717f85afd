// Package server implements cluster-autoscaler's externalgrpc CloudProvider service on top of
// node group drivers.
//
// cluster-autoscaler calls Refresh at the start of every loop, then asks many questions.
// Refresh takes a snapshot of every group from its driver; the questions are answered from
// that snapshot, in memory. Calls that change a group's size (IncreaseSize, DeleteNodes,
// DecreaseTargetSize) go to the driver at once and update the snapshot, so the new target is
// visible to the very next TargetSize call.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/config"
	"github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/driver"
	pb "github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/externalgrpc"
)

// GPULabel is the label cluster-autoscaler looks for on GPU nodes. JVB nodes have no GPU,
// and no node ever carries this label.
const GPULabel = "nodescaler.jit.si/gpu"

// Group is a configured node group and the driver that makes its nodes.
type Group struct {
	Config config.NodeGroup
	Driver driver.Driver
}

// Server is the CloudProvider service.
type Server struct {
	pb.UnimplementedCloudProviderServer

	log     *slog.Logger
	metrics *Metrics
	groups  map[string]*group
	order   []string // group ids in configuration order

	// index maps providerIDs (and node names) to group ids, for NodeGroupForNode, which
	// cluster-autoscaler calls for every node in every loop.
	indexMu sync.RWMutex
	index   map[string]string

	ready atomic.Bool
}

// group is the server's view of one node group.
type group struct {
	cfg       config.NodeGroup
	driver    driver.Driver
	proto     *pb.NodeGroup
	template  []byte // the template Node, k8s protobuf encoded
	overrides *config.ScaleDown

	// mu serialises the calls that change the group's size with each other and with the
	// group's refresh, so that a snapshot never loses an instance made meanwhile.
	mu       sync.Mutex
	snapshot atomic.Pointer[snapshot]
}

// snapshot is a group's instances as its driver last reported them, plus what the server
// itself changed since. A failed refresh leaves the previous snapshot in place.
type snapshot struct {
	instances []driver.Instance

	// protos are the instances as NodeGroupNodes returns them, built on first use. A
	// snapshot never changes once stored, so they can be shared by every response.
	protoOnce sync.Once
	protos    []*pb.Instance
}

func (s *snapshot) protoInstances() []*pb.Instance {
	s.protoOnce.Do(func() {
		s.protos = make([]*pb.Instance, len(s.instances))
		for i := range s.instances {
			s.protos[i] = toProtoInstance(&s.instances[i])
		}
	})
	return s.protos
}

// targetSize counts the instances that are, or will be, nodes.
func (s *snapshot) targetSize() int {
	n := 0
	for _, i := range s.instances {
		if i.State != driver.StateDeleting {
			n++
		}
	}
	return n
}

// New returns a server for the groups. Call Refresh before serving so that the first
// answers reflect the drivers' state.
func New(log *slog.Logger, metrics *Metrics, groups []Group) (*Server, error) {
	s := &Server{log: log, metrics: metrics, groups: map[string]*group{}, index: map[string]string{}}
	for _, g := range groups {
		tmpl, err := TemplateNode(g.Config).Marshal()
		if err != nil {
			return nil, fmt.Errorf("cannot encode the template node of group %s: %w", g.Config.ID, err)
		}
		gs := &group{
			cfg:    g.Config,
			driver: g.Driver,
			proto: &pb.NodeGroup{
				Id:      g.Config.ID,
				MinSize: g.Config.MinSize,
				MaxSize: g.Config.MaxSize,
				Debug:   fmt.Sprintf("jitsi-nodescaler group %s (%s driver)", g.Config.ID, driverName(g.Config.Driver)),
			},
			template:  tmpl,
			overrides: g.Config.ScaleDown,
		}
		gs.snapshot.Store(&snapshot{})
		s.groups[g.Config.ID] = gs
		s.order = append(s.order, g.Config.ID)
	}
	return s, nil
}

func driverName(d config.Driver) string {
	if d.Crossplane != nil {
		return "crossplane"
	}
	return "kwok"
}

// Ready reports whether a refresh has succeeded: until then the server knows no node.
func (s *Server) Ready() bool { return s.ready.Load() }

func (s *Server) group(id string) (*group, error) {
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "id: the node group id is required")
	}
	g, ok := s.groups[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "id: no node group %q; the groups are %s", id, strings.Join(s.order, ", "))
	}
	return g, nil
}

// NodeGroups lists the configured groups.
func (s *Server) NodeGroups(context.Context, *pb.NodeGroupsRequest) (*pb.NodeGroupsResponse, error) {
	out := make([]*pb.NodeGroup, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.groups[id].proto)
	}
	return &pb.NodeGroupsResponse{NodeGroups: out}, nil
}

// NodeGroupForNode finds a node's group by its providerID, then by its group label. A node
// of no group gets an empty NodeGroup: cluster-autoscaler then leaves it alone.
func (s *Server) NodeGroupForNode(_ context.Context, req *pb.NodeGroupForNodeRequest) (*pb.NodeGroupForNodeResponse, error) {
	node := req.GetNode()
	if node == nil {
		return nil, status.Error(codes.InvalidArgument, "node: required")
	}
	s.indexMu.RLock()
	id, ok := s.index[node.GetProviderID()]
	if !ok && node.GetProviderID() == "" {
		id, ok = s.index[node.GetName()]
	}
	s.indexMu.RUnlock()
	if !ok {
		id, ok = node.GetLabels()[driver.GroupLabel]
	}
	if g, known := s.groups[id]; ok && known {
		return &pb.NodeGroupForNodeResponse{NodeGroup: g.proto}, nil
	}
	return &pb.NodeGroupForNodeResponse{NodeGroup: &pb.NodeGroup{}}, nil
}

// PricingNodePrice is not offered: do not run cluster-autoscaler with --expander=price.
func (s *Server) PricingNodePrice(context.Context, *pb.PricingNodePriceRequest) (*pb.PricingNodePriceResponse, error) {
	return nil, status.Error(codes.Unimplemented, "jitsi-nodescaler has no pricing")
}

// PricingPodPrice is not offered.
func (s *Server) PricingPodPrice(context.Context, *pb.PricingPodPriceRequest) (*pb.PricingPodPriceResponse, error) {
	return nil, status.Error(codes.Unimplemented, "jitsi-nodescaler has no pricing")
}

// GPULabel answers at once: cluster-autoscaler caches a success forever and retries errors.
func (s *Server) GPULabel(context.Context, *pb.GPULabelRequest) (*pb.GPULabelResponse, error) {
	return &pb.GPULabelResponse{Label: GPULabel}, nil
}

// GetAvailableGPUTypes: none.
func (s *Server) GetAvailableGPUTypes(context.Context, *pb.GetAvailableGPUTypesRequest) (*pb.GetAvailableGPUTypesResponse, error) {
	return &pb.GetAvailableGPUTypesResponse{GpuTypes: map[string]*anypb.Any{}}, nil
}

// Cleanup is called when cluster-autoscaler exits. The drivers hold no resources to free.
func (s *Server) Cleanup(context.Context, *pb.CleanupRequest) (*pb.CleanupResponse, error) {
	return &pb.CleanupResponse{}, nil
}

// Refresh snapshots every group from its driver, in parallel. A group whose driver fails
// keeps its previous snapshot. Refresh fails only when every group failed: any error makes
// cluster-autoscaler skip its whole loop, and one broken group should not freeze the others.
func (s *Server) Refresh(ctx context.Context, _ *pb.RefreshRequest) (*pb.RefreshResponse, error) {
	errs := make([]error, len(s.order))
	var wg sync.WaitGroup
	for i, id := range s.order {
		wg.Go(func() { errs[i] = s.refreshGroup(ctx, s.groups[id]) })
	}
	wg.Wait()
	s.rebuildIndex()

	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
		}
	}
	if failed > 0 && failed == len(s.order) {
		return nil, status.Errorf(codes.Unavailable, "every node group failed to refresh: %v", errors.Join(errs...))
	}
	s.ready.Store(true)
	return &pb.RefreshResponse{}, nil
}

func (s *Server) refreshGroup(ctx context.Context, g *group) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	instances, err := s.driverList(ctx, g)
	if err != nil {
		s.log.Error("Cannot refresh node group; keeping its previous snapshot", "group", g.cfg.ID, "error", err)
		return err
	}
	s.store(g, &snapshot{instances: instances})
	s.metrics.observeStates(g.cfg.ID, instances)
	return nil
}

// rebuildIndex maps every known providerID and node name to its group.
func (s *Server) rebuildIndex() {
	size := 0
	for _, g := range s.groups {
		size += 2 * len(g.snapshot.Load().instances)
	}
	index := make(map[string]string, size)
	for id, g := range s.groups {
		indexInstances(index, id, g.snapshot.Load().instances)
	}
	s.indexMu.Lock()
	s.index = index
	s.indexMu.Unlock()
}

func (s *Server) addToIndex(groupID string, instances []driver.Instance) {
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	indexInstances(s.index, groupID, instances)
}

func indexInstances(index map[string]string, groupID string, instances []driver.Instance) {
	for _, i := range instances {
		index[i.ID] = groupID
		if i.Name != "" {
			index[i.Name] = groupID
		}
	}
}

// store makes a snapshot the group's current one and publishes its target size.
func (s *Server) store(g *group, snap *snapshot) {
	g.snapshot.Store(snap)
	s.metrics.setTarget(g.cfg.ID, snap.targetSize())
}

// NodeGroupTargetSize is the number of instances that are or will be nodes.
func (s *Server) NodeGroupTargetSize(_ context.Context, req *pb.NodeGroupTargetSizeRequest) (*pb.NodeGroupTargetSizeResponse, error) {
	g, err := s.group(req.GetId())
	if err != nil {
		return nil, err
	}
	return &pb.NodeGroupTargetSizeResponse{TargetSize: int32(g.snapshot.Load().targetSize())}, nil
}

// NodeGroupIncreaseSize starts delta new instances and returns without waiting for them.
// The group never grows past its maxSize: a call that would is refused whole. Because the
// target is counted from the driver's instances, a call cluster-autoscaler retries after a
// timeout is checked against the instances the first call already made.
func (s *Server) NodeGroupIncreaseSize(ctx context.Context, req *pb.NodeGroupIncreaseSizeRequest) (*pb.NodeGroupIncreaseSizeResponse, error) {
	g, err := s.group(req.GetId())
	if err != nil {
		return nil, err
	}
	delta := int(req.GetDelta())
	if delta <= 0 {
		return nil, status.Errorf(codes.InvalidArgument, "delta: must be more than 0, got %d", delta)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	snap := g.snapshot.Load()
	target := snap.targetSize()
	if target+delta > int(g.cfg.MaxSize) {
		return nil, status.Errorf(codes.InvalidArgument,
			"delta: %d more nodes would make group %s %d nodes, over its maxSize %d", delta, g.cfg.ID, target+delta, g.cfg.MaxSize)
	}
	created, err := s.driverCreate(ctx, g, delta)
	if len(created) > 0 {
		s.store(g, &snapshot{instances: slices.Concat(snap.instances, created)})
		s.addToIndex(g.cfg.ID, created)
	}
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "created %d of %d nodes in group %s: %v", len(created), delta, g.cfg.ID, err)
	}
	s.log.Info("Increased node group size", "group", g.cfg.ID, "delta", delta, "target", target+delta)
	return &pb.NodeGroupIncreaseSizeResponse{}, nil
}

// NodeGroupDeleteNodes deletes nodes of the named group, and only of it. Nodes are matched by
// providerID, or by name; cluster-autoscaler's stand-ins for instances that never registered
// carry the instance id as both. The group never shrinks below its minSize.
func (s *Server) NodeGroupDeleteNodes(ctx context.Context, req *pb.NodeGroupDeleteNodesRequest) (*pb.NodeGroupDeleteNodesResponse, error) {
	g, err := s.group(req.GetId())
	if err != nil {
		return nil, err
	}
	if len(req.GetNodes()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "nodes: at least one node is required")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	snap := g.snapshot.Load()
	var ids []string
	deleting := 0
	for i, node := range req.GetNodes() {
		inst, ok := findInstance(snap.instances, node)
		if !ok {
			if other, found := s.groupOf(node); found && other != g.cfg.ID {
				return nil, status.Errorf(codes.InvalidArgument, "nodes[%d]: node %q (providerID %q) belongs to group %s, not %s",
					i, node.GetName(), node.GetProviderID(), other, g.cfg.ID)
			}
			return nil, status.Errorf(codes.NotFound, "nodes[%d]: node %q (providerID %q) is not an instance of group %s",
				i, node.GetName(), node.GetProviderID(), g.cfg.ID)
		}
		if slices.Contains(ids, inst.ID) {
			continue
		}
		ids = append(ids, inst.ID)
		if inst.State != driver.StateDeleting {
			deleting++
		}
	}
	if target := snap.targetSize(); target-deleting < int(g.cfg.MinSize) {
		return nil, status.Errorf(codes.FailedPrecondition, "nodes: deleting %d nodes would leave group %s %d nodes, under its minSize %d",
			deleting, g.cfg.ID, target-deleting, g.cfg.MinSize)
	}
	if err := s.driverDelete(ctx, g, ids); err != nil {
		return nil, status.Errorf(codes.Unavailable, "cannot delete nodes of group %s: %v", g.cfg.ID, err)
	}
	s.store(g, &snapshot{instances: markDeleting(snap.instances, ids)})
	s.log.Info("Deleted nodes", "group", g.cfg.ID, "instances", ids)
	return &pb.NodeGroupDeleteNodesResponse{}, nil
}

func (s *Server) groupOf(node *pb.ExternalGrpcNode) (string, bool) {
	s.indexMu.RLock()
	defer s.indexMu.RUnlock()
	if id, ok := s.index[node.GetProviderID()]; ok && node.GetProviderID() != "" {
		return id, true
	}
	if id, ok := node.GetLabels()[driver.GroupLabel]; ok {
		return id, true
	}
	return "", false
}

func findInstance(instances []driver.Instance, node *pb.ExternalGrpcNode) (driver.Instance, bool) {
	for _, i := range instances {
		if (node.GetProviderID() != "" && i.ID == node.GetProviderID()) ||
			(node.GetName() != "" && (i.Name == node.GetName() || i.ID == node.GetName())) {
			return i, true
		}
	}
	return driver.Instance{}, false
}

func markDeleting(instances []driver.Instance, ids []string) []driver.Instance {
	out := slices.Clone(instances)
	for i := range out {
		if slices.Contains(ids, out[i].ID) {
			out[i].State = driver.StateDeleting
		}
	}
	return out
}

// NodeGroupDecreaseTargetSize withdraws requests for nodes that have not come up yet. It never
// deletes a running node: asking for more than the instances still being created fails.
func (s *Server) NodeGroupDecreaseTargetSize(ctx context.Context, req *pb.NodeGroupDecreaseTargetSizeRequest) (*pb.NodeGroupDecreaseTargetSizeResponse, error) {
	g, err := s.group(req.GetId())
	if err != nil {
		return nil, err
	}
	delta := int(req.GetDelta())
	if delta >= 0 {
		return nil, status.Errorf(codes.InvalidArgument, "delta: must be less than 0, got %d", delta)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	snap := g.snapshot.Load()
	var creating []string
	for _, i := range slices.Backward(snap.instances) {
		if i.State == driver.StateCreating {
			creating = append(creating, i.ID)
		}
	}
	if -delta > len(creating) {
		return nil, status.Errorf(codes.FailedPrecondition,
			"delta: cannot withdraw %d nodes from group %s: only %d are still being created, and running nodes are never deleted this way",
			-delta, g.cfg.ID, len(creating))
	}
	ids := creating[:-delta]
	if err := s.driverDelete(ctx, g, ids); err != nil {
		return nil, status.Errorf(codes.Unavailable, "cannot withdraw nodes of group %s: %v", g.cfg.ID, err)
	}
	s.store(g, &snapshot{instances: markDeleting(snap.instances, ids)})
	s.log.Info("Decreased node group target size", "group", g.cfg.ID, "delta", delta, "instances", ids)
	return &pb.NodeGroupDecreaseTargetSizeResponse{}, nil
}

// NodeGroupNodes lists the group's instances with their state and, for failed ones, why.
func (s *Server) NodeGroupNodes(_ context.Context, req *pb.NodeGroupNodesRequest) (*pb.NodeGroupNodesResponse, error) {
	g, err := s.group(req.GetId())
	if err != nil {
		return nil, err
	}
	return &pb.NodeGroupNodesResponse{Instances: g.snapshot.Load().protoInstances()}, nil
}

func toProtoInstance(i *driver.Instance) *pb.Instance {
	st := &pb.InstanceStatus{}
	switch i.State {
	case driver.StateCreating:
		st.InstanceState = pb.InstanceStatus_instanceCreating
	case driver.StateRunning:
		st.InstanceState = pb.InstanceStatus_instanceRunning
	case driver.StateDeleting:
		st.InstanceState = pb.InstanceStatus_instanceDeleting
	}
	if e := i.Error; e != nil {
		code := e.Code
		if code == "" {
			code = "InstanceFailed"
		}
		st.ErrorInfo = &pb.InstanceErrorInfo{ErrorCode: code, ErrorMessage: e.Message, InstanceErrorClass: int32(e.Class)}
	}
	return &pb.Instance{Id: i.ID, Status: st}
}

// NodeGroupTemplateNodeInfo returns what a new node of the group looks like, in both
// encodings, so that cluster-autoscaler can scale a group up from zero.
func (s *Server) NodeGroupTemplateNodeInfo(_ context.Context, req *pb.NodeGroupTemplateNodeInfoRequest) (*pb.NodeGroupTemplateNodeInfoResponse, error) {
	g, err := s.group(req.GetId())
	if err != nil {
		return nil, err
	}
	return &pb.NodeGroupTemplateNodeInfoResponse{NodeInfo: g.template, NodeBytes: g.template}, nil
}

// NodeGroupGetOptions echoes cluster-autoscaler's defaults with the group's overrides. Every
// field is filled and every duration is written in both encodings: CA 1.33 dereferences the
// old duration fields unconditionally, and CA 1.35 reads a missing new one as 0.
func (s *Server) NodeGroupGetOptions(_ context.Context, req *pb.NodeGroupAutoscalingOptionsRequest) (*pb.NodeGroupAutoscalingOptionsResponse, error) {
	g, err := s.group(req.GetId())
	if err != nil {
		return nil, err
	}
	d := req.GetDefaults()
	if d == nil {
		return nil, status.Error(codes.InvalidArgument, "defaults: required; cluster-autoscaler sends its own options to be overridden")
	}
	opts := &options{
		utilization:    d.GetScaleDownUtilizationThreshold(),
		gpuUtilization: d.GetScaleDownGpuUtilizationThreshold(),
		unneeded:       readDuration(d.GetScaleDownUnneededDuration(), d.GetScaleDownUnneededTime()),
		unready:        readDuration(d.GetScaleDownUnreadyDuration(), d.GetScaleDownUnreadyTime()),
		provision:      readDuration(d.GetMaxNodeProvisionDuration(), d.GetMaxNodeProvisionTime()),
		zeroOrMax:      d.GetZeroOrMaxNodeScaling(),
		ignoreDS:       d.GetIgnoreDaemonSetsUtilization(),
	}
	if o := g.overrides; o != nil {
		setIf(&opts.utilization, o.UtilizationThreshold)
		setIf(&opts.gpuUtilization, o.GPUUtilizationThreshold)
		setIf(&opts.zeroOrMax, o.ZeroOrMaxNodeScaling)
		setIf(&opts.ignoreDS, o.IgnoreDaemonSetsUtilization)
		if o.UnneededTime != nil {
			opts.unneeded = o.UnneededTime.Duration
		}
		if o.UnreadyTime != nil {
			opts.unready = o.UnreadyTime.Duration
		}
		if o.MaxNodeProvisionTime != nil {
			opts.provision = o.MaxNodeProvisionTime.Duration
		}
	}
	return &pb.NodeGroupAutoscalingOptionsResponse{NodeGroupAutoscalingOptions: opts.proto()}, nil
}

type options struct {
	utilization, gpuUtilization  float64
	unneeded, unready, provision time.Duration
	zeroOrMax, ignoreDS          bool
}

func (o *options) proto() *pb.NodeGroupAutoscalingOptions {
	return &pb.NodeGroupAutoscalingOptions{
		ScaleDownUtilizationThreshold:    o.utilization,
		ScaleDownGpuUtilizationThreshold: o.gpuUtilization,
		ScaleDownUnneededTime:            &pb.LegacyDuration{Duration: int64(o.unneeded)},
		ScaleDownUnreadyTime:             &pb.LegacyDuration{Duration: int64(o.unready)},
		MaxNodeProvisionTime:             &pb.LegacyDuration{Duration: int64(o.provision)},
		ZeroOrMaxNodeScaling:             o.zeroOrMax,
		IgnoreDaemonSetsUtilization:      o.ignoreDS,
		ScaleDownUnneededDuration:        durationpb.New(o.unneeded),
		ScaleDownUnreadyDuration:         durationpb.New(o.unready),
		MaxNodeProvisionDuration:         durationpb.New(o.provision),
	}
}

// readDuration prefers the 1.35+ field and falls back to the 1.33 one.
func readDuration(modern *durationpb.Duration, legacy *pb.LegacyDuration) time.Duration {
	if modern != nil {
		return modern.AsDuration()
	}
	return time.Duration(legacy.GetDuration())
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// driverCreate, driverDelete and driverList call the driver and record its latency.
func (s *Server) driverCreate(ctx context.Context, g *group, n int) ([]driver.Instance, error) {
	start := time.Now()
	created, err := g.driver.Create(ctx, g.cfg.ID, n)
	s.metrics.observeDriver(g.cfg.ID, "create", start, err)
	return created, err
}

func (s *Server) driverDelete(ctx context.Context, g *group, ids []string) error {
	start := time.Now()
	err := g.driver.Delete(ctx, g.cfg.ID, ids)
	s.metrics.observeDriver(g.cfg.ID, "delete", start, err)
	return err
}

func (s *Server) driverList(ctx context.Context, g *group) ([]driver.Instance, error) {
	start := time.Now()
	instances, err := g.driver.List(ctx, g.cfg.ID)
	s.metrics.observeDriver(g.cfg.ID, "list", start, err)
	return instances, err
}
