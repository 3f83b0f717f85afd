package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	appslisters "k8s.io/client-go/listers/apps/v1"
	autoscalinglisters "k8s.io/client-go/listers/autoscaling/v2"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
	"github.com/crossplane-jitsi/crossplane-jitsi/tests/jitsiemu"
)

const (
	// namespace, jvbName and region are the sample claim's (examples/xr.yaml).
	namespace = "university"
	jvbName   = "jitsi-sample-jvb"
	region    = "europe"
	// fieldManager is the field manager Crossplane applies composed resources with.
	fieldManager = "apiextensions.crossplane.io/composed"
)

// baseCapacity is the node that runs prosody, jicofo and web: roomy, in no node group.
var baseCapacity = corev1.ResourceList{
	corev1.ResourceCPU:    resource.MustParse("8"),
	corev1.ResourceMemory: resource.MustParse("32Gi"),
	corev1.ResourcePods:   resource.MustParse("110"),
}

// binaries are built once for every cell.
type binaries struct {
	nodeScaler, clusterAutoscaler, deletionCost string
}

// cell is one policy's cluster with its controllers and the emulated Jitsi that carries
// the participants.
type cell struct {
	run    *runConfig
	policy Policy
	objs   []*unstructured.Unstructured
	notes  []string
	// initial is how many bridges serve when the day starts; spares how many spare nodes
	// the placeholders keep.
	initial, spares int
	// changes are the schedule's changes of the floor during the day, in order.
	changes []scheduleChange
	applier *harness.Applier

	cluster *harness.Cluster
	procs   *harness.Processes
	logFile *os.File
	log     *log.Logger

	clock   *jitsiemu.ScaledClock
	brewery *jitsiemu.Brewery
	network *jitsiemu.Network
	fleet   *jitsiemu.Fleet
	kubelet *jitsiemu.Kubelet
	jicofo  *jitsiemu.Jicofo
	adapter *jitsiemu.MetricsAdapter

	informerStop chan struct{}
	pods         corelisters.PodLister
	nodes        corelisters.NodeLister
	hpas         autoscalinglisters.HorizontalPodAutoscalerLister
	deployments  appslisters.DeploymentLister

	caMetricsURL string
	// offPort names the bridges that could not serve on their pod's port 8080 (a process on
	// this host holds *:8080): jvb-deletion-cost, which dials podIP:8080 as in production,
	// cannot read them.
	offPort map[string]bool
	// lastHPA is the HPA's status as last logged.
	lastHPA string

	// bindMu guards what the informers' handlers record: when each JVB node appeared, and
	// how long after it the first bridge was bound to it (wall clock).
	bindMu   sync.Mutex
	nodeSeen map[string]time.Time
	bindLags []time.Duration
}

// watchBinds records, for each JVB node that appears, how long the scheduler took to bind
// a waiting bridge to it: a delay of the real scheduler that time compression magnifies.
// Nodes that a spare's placeholder takes first are left out.
func (c *cell) watchBinds(factory informers.SharedInformerFactory) error {
	c.nodeSeen = map[string]time.Time{}
	if _, err := factory.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if n, ok := obj.(*corev1.Node); ok && n.Labels[groupLabel] == "jvb" {
				c.bindMu.Lock()
				c.nodeSeen[n.Name] = time.Now()
				c.bindMu.Unlock()
			}
		},
	}); err != nil {
		return err
	}
	_, err := factory.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(oldObj, newObj any) {
			before, ok1 := oldObj.(*corev1.Pod)
			after, ok2 := newObj.(*corev1.Pod)
			if !ok1 || !ok2 || before.Spec.NodeName != "" || after.Spec.NodeName == "" {
				return
			}
			component := after.Labels["app.kubernetes.io/component"]
			if component != "jvb" && component != spareComponent {
				return
			}
			c.bindMu.Lock()
			defer c.bindMu.Unlock()
			if seen, ok := c.nodeSeen[after.Spec.NodeName]; ok {
				// A node a placeholder took first is a spare: a bridge comes to it later, by
				// preemption, which is not the scheduler's lag.
				if component == "jvb" {
					c.bindLags = append(c.bindLags, time.Since(seen))
				}
				delete(c.nodeSeen, after.Spec.NodeName)
			}
		},
	})
	return err
}

// binds returns the bind lags recorded so far and forgets them.
func (c *cell) binds() []time.Duration {
	c.bindMu.Lock()
	defer c.bindMu.Unlock()
	out := c.bindLags
	c.bindLags = nil
	return out
}

// logf writes to the cell's emulator log, never to the test's output: a day logs too much.
func (c *cell) logf(format string, args ...any) { c.log.Printf(format, args...) }

// startMu serialises cluster starts: each picks free ports, which another cluster starting
// at the same moment could pick too.
var startMu sync.Mutex

// setup starts the cell's cluster and everything on it, applies the policy's objects and
// waits until the day can start: the policy's initial bridges serve and, for an HPA, the
// metric reaches it.
func (c *cell) setup(ctx context.Context, bins binaries) error {
	s := c.run.scale
	startMu.Lock()
	cluster, err := harness.Start(ctx, c.run.tools, c.run.root, harness.Options{
		KwokCIDR:               c.run.cidrs[c.policy.Name],
		HPASyncPeriod:          s.Wall(hpaSyncPeriod),
		ControllerManagerFlags: controllerManagerFlags(s),
		HoldTerminatingBridges: true,
		Logf:                   c.run.progressf(c.policy.Name),
	})
	startMu.Unlock()
	if err != nil {
		return fmt.Errorf("cannot start the cluster: %w", err)
	}
	c.cluster = cluster
	if c.procs, err = harness.NewProcesses(filepath.Join(cluster.Dir, "tests"), c.run.progressf(c.policy.Name)); err != nil {
		return err
	}
	if c.logFile, err = os.Create(filepath.Join(c.procs.LogDir, "emulators.log")); err != nil {
		return err
	}
	c.log = log.New(c.logFile, "", log.LstdFlags|log.Lmicroseconds)
	client := cluster.Client
	if _, err := client.CoreV1().Nodes().Create(ctx, harness.KwokNode("base-1", nil, baseCapacity), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("cannot create the base node: %w", err)
	}

	// jitsi-nodescaler with the kwok driver, and cluster-autoscaler's loop.
	if err := os.Link(bins.nodeScaler, filepath.Join(c.procs.Dir, "jitsi-nodescaler")); err != nil {
		return fmt.Errorf("cannot link jitsi-nodescaler: %w", err)
	}
	certs, err := harness.NewMTLS(filepath.Join(c.procs.Dir, "tls"))
	if err != nil {
		return err
	}
	ns, err := harness.StartNodeScaler(ctx, c.run.tools, cluster, c.procs,
		nodeGroupConfig(s, c.run.maxNodes, c.run.bootDelay), certs, "jitsi-nodescaler")
	if err != nil {
		return err
	}
	port, err := harness.FreePort()
	if err != nil {
		return err
	}
	c.caMetricsURL = fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	caArgs := append(autoscalerFlags(s, c.run.bridgeGrace), "--cloud-config="+ns.CloudConfig, "--kubeconfig="+cluster.Kubeconfig,
		fmt.Sprintf("--metrics-address=127.0.0.1:%d", port))
	if err := c.procs.Start("cluster-autoscaler", bins.clusterAutoscaler, caArgs...); err != nil {
		return err
	}

	// The emulated Jitsi, on the compressed clock.
	c.clock = jitsiemu.NewScaledClock(s.Factor)
	c.brewery, c.network = jitsiemu.NewBrewery(), jitsiemu.NewNetwork()
	c.fleet, err = jitsiemu.StartFleet(ctx, jitsiemu.FleetOptions{Client: client, Namespace: namespace,
		Brewery: c.brewery, Network: c.network, Bridge: jitsiemu.BridgeConfig{Clock: c.clock, Logf: c.logf}, Logf: c.logf})
	if err != nil {
		return err
	}
	c.kubelet, err = jitsiemu.StartKubelet(ctx, jitsiemu.KubeletOptions{Client: client, Namespace: namespace,
		Network: c.network, Env: []string{"DRAIN_POLL_SECONDS=" + s.Fraction(drainPoll)}, Logf: c.logf})
	if err != nil {
		return err
	}
	c.jicofo = jitsiemu.NewJicofo(c.brewery, jitsiemu.JicofoConfig{LocalRegion: region, Clock: c.clock, Logf: c.logf})
	if c.applier, err = harness.NewApplier(cluster.Config, fieldManager); err != nil {
		return err
	}
	applier := c.applier
	c.adapter, err = jitsiemu.StartMetricsAdapter(jitsiemu.MetricsAdapterOptions{Client: client, Network: c.network,
		CollectionInterval:     s.Wall(jitsiemu.DefaultCollectionInterval),
		ResourceUpdateInterval: s.Wall(jitsiemu.DefaultResourceUpdateInterval),
		MetricsTTL:             s.Wall(jitsiemu.DefaultMetricsTTL),
		Logf:                   c.logf})
	if err != nil {
		return err
	}
	if err := c.adapter.Register(ctx, applier); err != nil {
		return err
	}
	if c.policy.DeletionCost {
		if err := c.startDeletionCost(ctx, bins.deletionCost); err != nil {
			return err
		}
	}

	// What the cluster is asked to run.
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if c.spares > 0 {
		// The placeholders' PriorityClass, which the platform team installs once with
		// package/cluster/.
		pc, err := os.ReadFile(filepath.Join(c.run.tools.Root, "package", "cluster", "priorityclass.yaml"))
		if err != nil {
			return err
		}
		objs, err := harness.SplitYAML(pc)
		if err != nil {
			return fmt.Errorf("package/cluster/priorityclass.yaml: %w", err)
		}
		if report := applier.Apply(ctx, objs); len(report.Rejected()) > 0 {
			return fmt.Errorf("the cluster refused package/cluster/priorityclass.yaml:\n%s", report)
		}
	}
	if report := applier.Apply(ctx, c.objs); len(report.Rejected()) > 0 {
		return fmt.Errorf("the cluster refused objects of policy %s:\n%s", c.policy.Name, report)
	}

	c.informerStop = make(chan struct{})
	factory := informers.NewSharedInformerFactory(client, 0)
	c.pods = factory.Core().V1().Pods().Lister()
	c.nodes = factory.Core().V1().Nodes().Lister()
	c.hpas = factory.Autoscaling().V2().HorizontalPodAutoscalers().Lister()
	c.deployments = factory.Apps().V1().Deployments().Lister()
	if err := c.watchBinds(factory); err != nil {
		return err
	}
	factory.Start(c.informerStop)
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("the %v informer never synced", typ)
		}
	}

	start := time.Now()
	want := c.initial
	if err := c.fleet.WaitForBridges(ctx, want, 5*time.Minute); err != nil {
		return fmt.Errorf("the policy's %d initial bridges never served: %w", want, err)
	}
	err = harness.Poll(ctx, 2*time.Minute, func() (bool, error) {
		if err := c.exited(); err != nil {
			return false, err
		}
		if c.jicofo.Snapshot().Bridges != want || c.groupNodes() != want+c.spares {
			return false, nil
		}
		if !c.policy.Autoscaled() {
			return true, nil
		}
		h, err := c.hpas.HorizontalPodAutoscalers(namespace).Get(jvbName)
		if err != nil {
			return false, nil
		}
		return len(h.Status.CurrentMetrics) > 0 && h.Status.DesiredReplicas == int32(want), nil
	})
	if err != nil {
		return fmt.Errorf("the cluster never settled on %d bridges, %d nodes and an HPA that reads the metric: %w", want, want+c.spares, err)
	}
	c.run.progressf(c.policy.Name)("ready: %d bridges serving on %d JVB nodes (%d spare) after %s", want, want+c.spares, c.spares, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// exited reports any process of the cell that stopped on its own.
func (c *cell) exited() error {
	return errors.Join(c.cluster.Exited(), c.procs.Exited())
}

// groupNodes counts the JVB group's registered nodes that are not being deleted.
func (c *cell) groupNodes() int {
	nodes, err := c.nodes.List(labels.SelectorFromSet(labels.Set{groupLabel: "jvb"}))
	if err != nil {
		return 0
	}
	n := 0
	for _, node := range nodes {
		if node.DeletionTimestamp == nil {
			n++
		}
	}
	return n
}

// bridgesWanted is what the policy asks for: the HPA's desired replicas, or the static
// replicas.
func (c *cell) bridgesWanted() int {
	if c.policy.Autoscaled() {
		if h, err := c.hpas.HorizontalPodAutoscalers(namespace).Get(jvbName); err == nil {
			return int(h.Status.DesiredReplicas)
		}
		return 0
	}
	if d, err := c.deployments.Deployments(namespace).Get(jvbName); err == nil && d.Spec.Replicas != nil {
		return int(*d.Spec.Replicas)
	}
	return 0
}

// pendingBridges counts the bridge pods that wait for a node.
func (c *cell) pendingBridges() int {
	pods, err := c.pods.Pods(namespace).List(labels.SelectorFromSet(labels.Set{"app.kubernetes.io/component": "jvb"}))
	if err != nil {
		return 0
	}
	n := 0
	for _, p := range pods {
		if p.Spec.NodeName == "" && p.DeletionTimestamp == nil {
			n++
		}
	}
	return n
}

// deletionCostInterval is jvb-deletion-cost's default --interval.
const deletionCostInterval = 15

// startDeletionCost runs jvb-deletion-cost against the cell's cluster, as deployed in
// examples/deletioncost, its interval compressed; it reads the bridges' /colibri/stats on
// the pods' addresses, port 8080.
func (c *cell) startDeletionCost(ctx context.Context, bin string) error {
	if bin == "" {
		return errors.New("jvb-deletion-cost was not built")
	}
	// The controller refuses an interval under a second.
	interval, note := c.run.scale.Seconds(deletionCostInterval, 1)
	if note != "" {
		c.notes = append(c.notes, "jvb-deletion-cost's --interval: "+note)
	}
	port, err := harness.FreePort()
	if err != nil {
		return err
	}
	metrics := fmt.Sprintf("127.0.0.1:%d", port)
	if err := c.procs.Start("jvb-deletion-cost", bin, "--kubeconfig="+c.cluster.Kubeconfig, "--namespace="+namespace,
		fmt.Sprintf("--interval=%ds", interval), "--timeout=500ms", "--metrics-address="+metrics); err != nil {
		return err
	}
	return harness.Poll(ctx, time.Minute, func() (bool, error) {
		if err := c.procs.Exited(); err != nil {
			return false, err
		}
		_, err := scrape(ctx, "http://"+metrics+"/readyz")
		return err == nil, nil
	})
}

// scrape reads a Prometheus text endpoint over plain HTTP.
func scrape(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer rsp.Body.Close()
	b, err := io.ReadAll(rsp.Body)
	if err != nil {
		return "", err
	}
	if rsp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s answered %s", url, rsp.Status)
	}
	return string(b), nil
}

// teardown stops everything the cell started, newest first, and removes the cluster's
// directory unless keep (its logs stay for a look).
func (c *cell) teardown(keep bool) {
	if c.kubelet != nil {
		c.kubelet.Close() // before the fleet: hooks end while their bridges still answer
	}
	if c.fleet != nil {
		c.fleet.Close()
	}
	if c.adapter != nil {
		c.adapter.Close()
	}
	if c.informerStop != nil {
		close(c.informerStop)
	}
	if c.procs != nil {
		c.procs.Stop()
	}
	if c.logFile != nil {
		_ = c.logFile.Close()
	}
	if c.cluster == nil {
		return
	}
	c.cluster.Stop()
	if !keep {
		_ = os.RemoveAll(c.cluster.Dir)
	}
}

// logDir is where the cell's logs are.
func (c *cell) logDir() string {
	if c.cluster == nil {
		return ""
	}
	return strings.TrimSuffix(c.cluster.LogDir, "/")
}
