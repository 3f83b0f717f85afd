package jitsiemu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
)

// BridgeSelector selects the videobridge pods (fn/pods.go labels every component).
const BridgeSelector = "app.kubernetes.io/component=jvb"

// FleetOptions configure a Fleet.
type FleetOptions struct {
	Client kubernetes.Interface
	// Namespace limits the fleet to one namespace; empty watches all.
	Namespace string
	// Brewery is where the bridges announce themselves to jicofo.
	Brewery *Brewery
	// Bridge is the template of every bridge: Capacity, PresenceInterval, ShuttingDownDelay,
	// Clock, Logf. Name, Region and RelayID come from the pod; the shutdown settings of its
	// custom-jvb.conf override the template's.
	Bridge BridgeConfig
	// Addr is where a pod's bridge serves its REST API: podIP:8080 by default.
	Addr func(pod *corev1.Pod) string
	// Network routes the pods' addresses to the bridges (NewNetwork by default); give the
	// kubelet double and the metrics adapter the same one.
	Network *Network
	// Logf reports bridges started and stopped.
	Logf func(format string, args ...any)
}

// Fleet runs one emulated bridge for each videobridge pod that kwok runs, as the container
// would: it starts once the pod is Running with an IP, reading its configuration as the
// image does (JVB_OCTO_REGION, JVB_OCTO_RELAY_ID; custom-jvb.conf from the pod's ConfigMap
// volumes, see fn/jvb.go), and while one of those ConfigMaps does not exist it waits and tries
// again every second, as the kubelet keeps the container from starting until it can mount
// the volume (kwok marks the pod Running regardless; Crossplane may create the ConfigMap
// after the Deployment); it serves the REST API on the pod's IP, port 8080 unless another
// process holds that port on this host (see Network); and its process stops
// (SIGTERM) once the pod's preStop hook has ended (harness.PreStopDoneAnnotation) or the pod
// is gone. A bridge that exits on its own is not restarted: with stable-11146's s6-overlay v3
// the container lives on without a bridge (see /work/shared/notes/jitsi.md §5).
type Fleet struct {
	opts    FleetOptions
	factory informers.SharedInformerFactory
	stop    chan struct{}
	// ctx lives until Close: the informer's handlers read ConfigMaps with it.
	ctx    context.Context
	cancel context.CancelFunc

	informer cache.SharedIndexInformer
	// startMu serialises starting bridges: a pod's update and a retry may come at once.
	startMu sync.Mutex

	mu      sync.Mutex
	bridges map[types.UID]*Bridge
	errs    map[types.UID]error // the latest reason each pod's bridge could not start
}

// StartFleet watches the videobridge pods and returns once it has seen the current ones.
func StartFleet(ctx context.Context, opts FleetOptions) (*Fleet, error) {
	if opts.Client == nil {
		return nil, errors.New("FleetOptions.Client: must be set")
	}
	if opts.Brewery == nil {
		return nil, errors.New("FleetOptions.Brewery: must be set")
	}
	if opts.Addr == nil {
		opts.Addr = func(p *corev1.Pod) string { return net.JoinHostPort(p.Status.PodIP, strconv.Itoa(RESTPort)) }
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.Network == nil {
		opts.Network = NewNetwork()
	}
	f := &Fleet{opts: opts, stop: make(chan struct{}), bridges: map[types.UID]*Bridge{}, errs: map[types.UID]error{}}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	f.factory = informers.NewSharedInformerFactoryWithOptions(opts.Client, 0,
		informers.WithNamespace(opts.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = BridgeSelector }))
	f.informer = f.factory.Core().V1().Pods().Informer()
	if _, err := f.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { f.observe(f.ctx, obj) },
		UpdateFunc: func(_, obj any) { f.observe(f.ctx, obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				f.stopBridge(pod, "the pod was deleted")
				f.mu.Lock()
				delete(f.errs, pod.UID)
				f.mu.Unlock()
			}
		},
	}); err != nil {
		return nil, err
	}
	f.factory.Start(f.stop)
	for typ, ok := range f.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			f.Close()
			return nil, fmt.Errorf("the pod informer (%v) never synced", typ)
		}
	}
	return f, nil
}

func (f *Fleet) observe(ctx context.Context, obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if pod.Annotations[harness.PreStopDoneAnnotation] == "true" {
		// The kubelet sends SIGTERM once the preStop hook ended.
		f.stopBridge(pod, "SIGTERM after the preStop hook")
		return
	}
	f.startMu.Lock()
	defer f.startMu.Unlock()
	f.mu.Lock()
	_, known := f.bridges[pod.UID]
	f.mu.Unlock()
	if known || pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP == "" {
		return
	}
	b, err := f.startBridge(ctx, pod)
	if err != nil {
		f.mu.Lock()
		previous := f.errs[pod.UID]
		f.errs[pod.UID] = err
		f.mu.Unlock()
		if previous == nil || previous.Error() != err.Error() {
			f.opts.Logf("fleet: %v", err)
		}
		if apierrors.IsNotFound(err) {
			// A ConfigMap the pod mounts does not exist (yet): the kubelet keeps the
			// container waiting and retries the mount; kwok says Running regardless.
			time.AfterFunc(time.Second, func() { f.retry(pod) })
		}
		return
	}
	f.mu.Lock()
	f.bridges[pod.UID] = b
	delete(f.errs, pod.UID)
	f.mu.Unlock()
}

// retry observes the pod again, as it is now, unless it is gone or the fleet closed.
func (f *Fleet) retry(pod *corev1.Pod) {
	if f.ctx.Err() != nil {
		return
	}
	obj, exists, err := f.informer.GetStore().GetByKey(pod.Namespace + "/" + pod.Name)
	if err != nil || !exists {
		return
	}
	if now, ok := obj.(*corev1.Pod); ok && now.UID == pod.UID {
		f.observe(f.ctx, now)
	}
}

func (f *Fleet) startBridge(ctx context.Context, pod *corev1.Pod) (*Bridge, error) {
	cfg := f.opts.Bridge
	cfg.Name = pod.Name
	env := containerEnv(pod)
	cfg.Region = env["JVB_OCTO_REGION"]
	cfg.RelayID = env["JVB_OCTO_RELAY_ID"]
	for _, v := range pod.Spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		cm, err := f.opts.Client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("bridge %s/%s cannot start: ConfigMap %s of volume %s: %w", pod.Namespace, pod.Name, v.ConfigMap.Name, v.Name, err)
		}
		if file, ok := cm.Data[CustomJVBConfigFile]; ok {
			if err := applyJVBConfig(&cfg, file); err != nil {
				return nil, fmt.Errorf("bridge %s/%s cannot start: %s in ConfigMap %s: %w", pod.Namespace, pod.Name, CustomJVBConfigFile, cm.Name, err)
			}
		}
	}
	addr := f.opts.Addr(pod)
	lis, err := f.opts.Network.Listen(addr)
	if err != nil {
		return nil, fmt.Errorf("bridge %s/%s cannot listen on %s: %w", pod.Namespace, pod.Name, addr, err)
	}
	b := NewBridge(cfg)
	if err := b.ServeListener(lis); err != nil {
		return nil, err
	}
	b.JoinBrewery(f.opts.Brewery)
	f.opts.Logf("fleet: bridge %s/%s serves %s as %s (region %q, graceful-shutdown-max-duration %s)",
		pod.Namespace, pod.Name, addr, b.URL(), b.cfg.Region, b.cfg.GracefulShutdownMaxDuration)
	return b, nil
}

// containerEnv is the environment of the bridge container as the pod spec sets it: literal
// values, and metadata.name / metadata.namespace field references.
func containerEnv(pod *corev1.Pod) map[string]string {
	env := map[string]string{}
	for _, c := range pod.Spec.Containers {
		if c.Name != "jvb" && len(pod.Spec.Containers) > 1 {
			continue
		}
		for _, e := range c.Env {
			switch {
			case e.ValueFrom == nil:
				env[e.Name] = e.Value
			case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
				env[e.Name] = pod.Name
			case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
				env[e.Name] = pod.Namespace
			}
		}
	}
	return env
}

func (f *Fleet) stopBridge(pod *corev1.Pod, reason string) {
	f.mu.Lock()
	b := f.bridges[pod.UID]
	f.mu.Unlock()
	if b == nil {
		return
	}
	if _, stopped := b.State(); !stopped {
		f.opts.Logf("fleet: bridge %s/%s stops: %s", pod.Namespace, pod.Name, reason)
		b.Stop(reason)
	}
}

// Bridges lists the bridges whose process runs, by name.
func (f *Fleet) Bridges() []*Bridge {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*Bridge
	for _, b := range f.bridges {
		if _, stopped := b.State(); !stopped {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// Bridge returns the bridge of a pod, running or stopped, or nil.
func (f *Fleet) Bridge(podName string) *Bridge {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.bridges {
		if b.Name() == podName {
			return b
		}
	}
	return nil
}

// FleetTotals sum the counters of every bridge the fleet ever started.
type FleetTotals struct {
	// BridgesStarted counts bridges started; BridgesRunning those whose process runs.
	BridgesStarted, BridgesRunning int
	// ConferencesCut and ParticipantsCut count what bridges still served when they went
	// SHUTTING_DOWN (graceful-shutdown-max-duration passed) or stopped.
	ConferencesCut, ParticipantsCut int
	// EndpointsOverCapacity counts participants that joined a bridge above its capacity.
	EndpointsOverCapacity int
	// MaxDurationExceeded counts bridges whose graceful shutdown ran out of time.
	MaxDurationExceeded int
}

// Totals sums the counters of every bridge the fleet started.
func (f *Fleet) Totals() FleetTotals {
	f.mu.Lock()
	bridges := make([]*Bridge, 0, len(f.bridges))
	for _, b := range f.bridges {
		bridges = append(bridges, b)
	}
	f.mu.Unlock()
	t := FleetTotals{BridgesStarted: len(bridges)}
	for _, b := range bridges {
		if _, stopped := b.State(); !stopped {
			t.BridgesRunning++
		}
		c := b.Counters()
		t.ConferencesCut += c.ConferencesCut
		t.ParticipantsCut += c.ParticipantsCut
		t.EndpointsOverCapacity += c.EndpointsOverCapacity
		if c.MaxDurationExceeded {
			t.MaxDurationExceeded++
		}
	}
	return t
}

// Network is the network the fleet's bridges listen on.
func (f *Fleet) Network() *Network { return f.opts.Network }

// Errors lists why bridges could not start: the latest reason for each pod whose bridge has
// not started (one whose ConfigMap appears later starts then).
func (f *Fleet) Errors() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]error, 0, len(f.errs))
	for _, err := range f.errs {
		out = append(out, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Error() < out[j].Error() })
	return out
}

// WaitForBridges waits until n bridges run.
func (f *Fleet) WaitForBridges(ctx context.Context, n int, timeout time.Duration) error {
	return harness.Poll(ctx, timeout, func() (bool, error) {
		if errs := f.Errors(); len(errs) > 0 {
			return false, errors.Join(errs...)
		}
		return len(f.Bridges()) == n, nil
	})
}

// Close stops watching and stops every bridge.
func (f *Fleet) Close() {
	select {
	case <-f.stop:
		return
	default:
	}
	close(f.stop)
	f.cancel()
	f.factory.Shutdown()
	f.mu.Lock()
	bridges := make([]*Bridge, 0, len(f.bridges))
	for _, b := range f.bridges {
		bridges = append(bridges, b)
	}
	f.mu.Unlock()
	for _, b := range bridges {
		b.Stop("the fleet closed")
	}
}
