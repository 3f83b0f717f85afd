// Package deletioncost keeps each videobridge pod's controller.kubernetes.io/pod-deletion-cost
// annotation equal to the number of participants on that bridge, read from the bridge's own
// GET /colibri/stats. When the HPA lowers the JVB Deployment's replicas, the ReplicaSet then
// deletes, among its running and ready bridges, the one with the fewest participants: the
// emptiest bridge leaves first, and its preStop drain is the shortest.
//
// It is a loop, a pod informer and an HTTP client. docs/deletioncost.md says why it is a
// controller of its own and how the ReplicaSet uses the annotation.
package deletioncost

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// Name is the controller's name: its field manager, its HTTP and API user agent.
const Name = "jvb-deletion-cost"

// apiTimeout bounds one patch.
const apiTimeout = 10 * time.Second

// DefaultSelector selects the videobridge pods, labelled so by fn/jvb.go.
const DefaultSelector = "app.kubernetes.io/name=jitsi-meet,app.kubernetes.io/component=jvb"

// Config mirrors the command's flags; Validate names the flags.
type Config struct {
	// Namespace limits the controller to one namespace; empty watches every namespace.
	Namespace string
	// Selector is a label selector for the bridge pods.
	Selector string
	// Interval between two loops over all bridges.
	Interval time.Duration
	// StatsPort and StatsPath: a bridge's stats are at http://<podIP>:<StatsPort><StatsPath>.
	StatsPort int
	StatsPath string
	// Timeout of one stats request, connection included.
	Timeout time.Duration
	// Concurrency is how many bridges are read (and patched) at once.
	Concurrency int
}

// Validate reports every bad value, naming its flag and what it must be.
func (c Config) Validate() error {
	var errs field.ErrorList
	if c.Namespace != "" {
		for _, msg := range validation.IsDNS1123Label(c.Namespace) {
			errs = append(errs, field.Invalid(field.NewPath("--namespace"), c.Namespace, msg))
		}
	}
	if sel, err := labels.Parse(c.Selector); err != nil {
		errs = append(errs, field.Invalid(field.NewPath("--selector"), c.Selector, "must be a label selector: "+err.Error()))
	} else if sel.Empty() {
		errs = append(errs, field.Invalid(field.NewPath("--selector"), c.Selector,
			"must select the bridges; an empty selector would annotate every pod"))
	}
	if c.Interval < time.Second {
		errs = append(errs, field.Invalid(field.NewPath("--interval"), c.Interval.String(), "must be at least 1s"))
	}
	if c.Timeout <= 0 || c.Timeout >= c.Interval {
		errs = append(errs, field.Invalid(field.NewPath("--timeout"), c.Timeout.String(),
			fmt.Sprintf("must be more than 0 and less than --interval (%s)", c.Interval)))
	}
	if c.StatsPort < 1 || c.StatsPort > 65535 {
		errs = append(errs, field.Invalid(field.NewPath("--stats-port"), c.StatsPort, "must be a port number, 1 to 65535"))
	}
	if !strings.HasPrefix(c.StatsPath, "/") {
		errs = append(errs, field.Invalid(field.NewPath("--stats-path"), c.StatsPath, "must be a path starting with /"))
	}
	if c.Concurrency < 1 {
		errs = append(errs, field.Invalid(field.NewPath("--concurrency"), c.Concurrency, "must be 1 or more"))
	}
	return errs.ToAggregate()
}

// Controller keeps the bridges' deletion costs current.
type Controller struct {
	cfg      Config
	selector labels.Selector
	kube     kubernetes.Interface
	log      *slog.Logger
	metrics  *Metrics
	http     *http.Client

	factory informers.SharedInformerFactory
	pods    corelisters.PodLister
	synced  cache.InformerSynced
	ready   atomic.Bool

	// syncMu serialises loops; silent is only touched under it.
	syncMu sync.Mutex
	// silent holds the bridges whose stats could not be read at their last try, so that a
	// failure and a recovery are logged once each, not at every interval.
	silent map[types.UID]bool
}

// New returns a controller; Run starts it.
func New(kube kubernetes.Interface, cfg Config, log *slog.Logger, metrics *Metrics) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	selector, err := labels.Parse(cfg.Selector)
	if err != nil {
		return nil, fmt.Errorf("--selector: %w", err) // Validate parsed it already
	}
	factory := informers.NewSharedInformerFactoryWithOptions(kube, 0,
		informers.WithNamespace(cfg.Namespace), // "" is every namespace
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = cfg.Selector }))
	podInformer := factory.Core().V1().Pods()
	c := &Controller{
		cfg:      cfg,
		selector: selector,
		kube:     kube,
		log:      log,
		metrics:  metrics,
		http:     newHTTPClient(cfg.Timeout),
		factory:  factory,
		pods:     podInformer.Lister(),
		synced:   podInformer.Informer().HasSynced,
		silent:   map[types.UID]bool{},
	}
	return c, nil
}

// Ready reports whether the pod cache has synced: before, the controller knows no bridge.
func (c *Controller) Ready() bool { return c.ready.Load() }

// Start starts the pod informer and waits until its cache has synced.
func (c *Controller) Start(ctx context.Context) error {
	c.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return fmt.Errorf("the bridge pods (selector %q) were never listed: %w", c.cfg.Selector, ctx.Err())
	}
	c.ready.Store(true)
	return nil
}

// Run starts the informer, then updates every bridge at once and every interval until ctx
// ends.
func (c *Controller) Run(ctx context.Context) error {
	defer c.factory.Shutdown()
	if err := c.Start(ctx); err != nil {
		return err
	}
	c.log.Info("Watching videobridges", "namespace", cmp.Or(c.cfg.Namespace, "(all)"), "selector", c.cfg.Selector, "interval", c.cfg.Interval.String())
	ticker := time.NewTicker(c.cfg.Interval)
	defer ticker.Stop()
	for {
		c.SyncOnce(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// outcome is what happened to one bridge in one loop.
type outcome struct {
	pod      *corev1.Pod
	url      string
	readErr  error
	cost     string
	patched  bool
	patchErr error
	stale    bool // the patch found the pod changed or gone
}

// SyncOnce reads every eligible bridge and patches the costs that changed.
func (c *Controller) SyncOnce(ctx context.Context) {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	start := time.Now()

	// The informer holds only the selected pods of the watched namespace(s); the selector
	// here costs nothing and keeps a pod that does not match out, whatever the watch sent.
	pods, err := c.pods.List(c.selector)
	if err != nil {
		c.log.Error("Cannot list the bridge pods from the cache", "error", err)
		return
	}
	var bridges []*corev1.Pod
	for _, p := range pods {
		if reason := skipReason(p); reason != "" {
			c.log.Debug("Skipping bridge", "pod", p.Name, "namespace", p.Namespace, "reason", reason)
			continue
		}
		bridges = append(bridges, p)
	}

	outcomes := make([]outcome, len(bridges))
	sem := make(chan struct{}, c.cfg.Concurrency)
	var wg sync.WaitGroup
	for i, p := range bridges {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			outcomes[i] = c.update(ctx, p)
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return // stopping: the reads cut short say nothing about the bridges
	}

	silent := 0
	for _, o := range outcomes {
		if o.readErr != nil {
			silent++
		}
		c.record(o)
	}
	c.forgetGone(pods)
	c.metrics.bridges.WithLabelValues(stateAnswering).Set(float64(len(bridges) - silent))
	c.metrics.bridges.WithLabelValues(stateSilent).Set(float64(silent))
	c.metrics.bridges.WithLabelValues(stateSkipped).Set(float64(len(pods) - len(bridges)))
	c.metrics.loopDuration.Set(time.Since(start).Seconds())
}

// skipReason says why a pod is not read, or "" when it is. Only a running, ready bridge
// with an IP serves its stats; a terminating one is never patched (the ReplicaSet no longer
// counts it, and its preStop hook is draining it).
func skipReason(p *corev1.Pod) string {
	switch {
	case p.DeletionTimestamp != nil:
		return "terminating"
	case p.Status.Phase != corev1.PodRunning:
		return "phase " + string(p.Status.Phase)
	case p.Status.PodIP == "":
		return "no pod IP"
	case !podReady(p):
		return "not ready"
	}
	return ""
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// statsURL is where a bridge serves its stats.
func (c *Controller) statsURL(p *corev1.Pod) string {
	return "http://" + net.JoinHostPort(p.Status.PodIP, strconv.Itoa(c.cfg.StatsPort)) + c.cfg.StatsPath
}

// update reads one bridge and patches its cost when it changed. It runs concurrently with
// the other bridges' updates and only returns what happened.
func (c *Controller) update(ctx context.Context, p *corev1.Pod) outcome {
	o := outcome{pod: p, url: c.statsURL(p)}
	readCtx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	participants, err := readParticipants(readCtx, c.http, o.url)
	cancel()
	if err != nil {
		o.readErr = err
		return o
	}
	o.cost = strconv.FormatInt(int64(costOf(participants)), 10)
	if current, ok := p.Annotations[corev1.PodDeletionCost]; ok && current == o.cost {
		return o
	}
	o.patchErr = c.patch(ctx, p, o.cost)
	switch {
	case o.patchErr == nil:
		o.patched = true
	case apierrors.IsConflict(o.patchErr) || apierrors.IsNotFound(o.patchErr):
		o.stale = true
		o.patchErr = nil
	}
	return o
}

// patch sets the pod's deletion cost with a JSON merge patch on its annotations. The
// resourceVersion read from the cache is a precondition: if the pod changed since (it may
// have been marked for deletion), the API server answers Conflict and nothing is written.
func (c *Controller) patch(ctx context.Context, p *corev1.Pod, cost string) error {
	meta := map[string]any{"annotations": map[string]string{corev1.PodDeletionCost: cost}}
	if p.ResourceVersion != "" {
		meta["resourceVersion"] = p.ResourceVersion
	}
	body, err := json.Marshal(map[string]any{"metadata": meta})
	if err != nil {
		return fmt.Errorf("cannot encode the patch of pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	_, err = c.kube.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, body,
		metav1.PatchOptions{FieldManager: Name})
	if err != nil {
		return fmt.Errorf("cannot patch pod %s/%s with %s=%q: %w", p.Namespace, p.Name, corev1.PodDeletionCost, cost, err)
	}
	return nil
}

// record counts an outcome and logs what is worth a line: a bridge that stops answering
// and one that answers again (once each), every patch error, and at debug level every
// patch.
func (c *Controller) record(o outcome) {
	p := o.pod
	log := c.log.With("pod", p.Name, "namespace", p.Namespace, "ip", p.Status.PodIP)
	if o.readErr != nil {
		c.metrics.scrapes.WithLabelValues(resultError).Inc()
		if !c.silent[p.UID] {
			c.silent[p.UID] = true
			current, ok := p.Annotations[corev1.PodDeletionCost]
			if !ok {
				current = "none (0)"
			}
			log.Warn("Bridge stats unreadable; its deletion cost stays as it is until it answers",
				"url", o.url, "cost", current, "error", o.readErr.Error())
		}
		return
	}
	c.metrics.scrapes.WithLabelValues(resultOK).Inc()
	if c.silent[p.UID] {
		delete(c.silent, p.UID)
		log.Info("Bridge stats readable again", "url", o.url, "cost", o.cost)
	}
	switch {
	case o.patched:
		c.metrics.patches.WithLabelValues(resultOK).Inc()
		log.Debug("Deletion cost updated", "cost", o.cost, "was", p.Annotations[corev1.PodDeletionCost])
	case o.stale:
		c.metrics.patches.WithLabelValues(resultStale).Inc()
		log.Debug("Pod changed or went since it was read; next interval", "cost", o.cost)
	case o.patchErr != nil:
		c.metrics.patches.WithLabelValues(resultError).Inc()
		log.Error("Cannot update the deletion cost", "cost", o.cost, "error", o.patchErr.Error())
	}
}

// forgetGone drops the failure state of pods that are no longer listed.
func (c *Controller) forgetGone(pods []*corev1.Pod) {
	listed := make(map[types.UID]bool, len(pods))
	for _, p := range pods {
		listed[p.UID] = true
	}
	for uid := range c.silent {
		if !listed[uid] {
			delete(c.silent, uid)
		}
	}
}
