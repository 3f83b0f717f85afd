package jitsiemu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
)

// Defaults of kube-metrics-adapter v0.2.9 (pkg/server/start.go flags and
// pkg/collector/httpmetrics/json_path.go).
const (
	DefaultCollectionInterval     = 60 * time.Second // --default-collection-interval
	DefaultResourceUpdateInterval = 30 * time.Second // --resource-update-interval
	DefaultMetricsTTL             = 15 * time.Minute // --metrics-ttl
	DefaultScrapeTimeout          = 15 * time.Second // request-timeout and connect-timeout
)

const (
	metricConfigPrefix = "metric-config."
	customMetricsGroup = "custom.metrics.k8s.io"
	customMetricsPath  = "/apis/custom.metrics.k8s.io/v1beta2"
)

// MetricsAdapterOptions are the adapter's flags that matter here.
type MetricsAdapterOptions struct {
	Client kubernetes.Interface
	// CollectionInterval is --default-collection-interval, for HPAs without an interval
	// annotation (DefaultCollectionInterval).
	CollectionInterval time.Duration
	// ResourceUpdateInterval is how often HPAs are listed (DefaultResourceUpdateInterval).
	ResourceUpdateInterval time.Duration
	// MetricsTTL is how long a collected value is served (DefaultMetricsTTL).
	MetricsTTL time.Duration
	// Network routes pod addresses to the emulated bridges (Fleet.Network); nil dials them
	// directly.
	Network *Network
	// Logf reports every collection.
	Logf func(format string, args ...any)
}

// MetricsAdapter is a custom.metrics.k8s.io/v1beta2 double that serves Pods metrics the way
// kube-metrics-adapter v0.2.9 (zalando-incubator/kube-metrics-adapter) does with its json-path
// pod collector:
//
//   - Every ResourceUpdateInterval it lists the autoscaling/v2 HPAs and reads their
//     annotations metric-config.pods.<metric>.json-path/<key> (pkg/annotations/parser.go):
//     json-key (or json-eval, refused here), path, port, scheme (http), raw-query,
//     aggregator, request-timeout, connect-timeout, interval and min-pod-ready-age. A new or
//     changed HPA gets new collectors (pkg/provider/hpa.go updateHPAs).
//   - A collector takes the pod selector of the HPA's scaleTargetRef (a Deployment or a
//     StatefulSet) once, when it is made, and every interval lists the pods matching its
//     matchLabels; it scrapes each pod that is Ready, not terminating and Ready for at least
//     min-pod-ready-age at scheme://podIP:port/path?raw-query, and reads json-key
//     (pkg/collector/pod_collector.go, httpmetrics/pod_metrics.go, httpmetrics/json_path.go).
//     A pod that fails is left out.
//   - Values are kept for MetricsTTL, as milli-quantities truncated from the float
//     (int64(value*1000)), with the collector's selector; a query for pods/*/<metric> with a
//     labelSelector returns the stored values whose selector labels it matches
//     (pkg/provider/metric_store.go GetMetricsBySelector). So a pod's last value outlives
//     the pod, and a new pod has none until the next collection.
//
// The double runs in the test process and scrapes over loopback: with kwok's --cidr on
// 127.0.0.0/8 the pod IPs are the emulated bridges' addresses.
type MetricsAdapter struct {
	opts    MetricsAdapterOptions
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stopAPI func()

	mu         sync.Mutex
	hpas       map[string]*hpaCollectors
	store      map[string]storedMetric // metric/namespace/pod
	errs       map[string]error        // HPA -> why it has no collector
	scrapes    int
	scrapeErrs int
}

type hpaCollectors struct {
	hpa    autoscalingv2.HorizontalPodAutoscaler
	cancel context.CancelFunc
}

type storedMetric struct {
	metric, namespace, pod string
	selector               map[string]string
	milli                  int64
	timestamp              time.Time
	expires                time.Time
}

// podCollector is one HPA metric's json-path collector.
type podCollector struct {
	metric, namespace string
	selector          map[string]string
	interval          time.Duration
	minPodReadyAge    time.Duration
	scheme, path      string
	rawQuery          string
	port              int
	key               jsonPath
	aggregate         func(...float64) float64
	client            *http.Client
}

// StartMetricsAdapter starts discovering HPAs and collecting their metrics. Register serves
// the API to the cluster.
func StartMetricsAdapter(opts MetricsAdapterOptions) (*MetricsAdapter, error) {
	if opts.Client == nil {
		return nil, errors.New("MetricsAdapterOptions.Client: must be set")
	}
	if opts.CollectionInterval <= 0 {
		opts.CollectionInterval = DefaultCollectionInterval
	}
	if opts.ResourceUpdateInterval <= 0 {
		opts.ResourceUpdateInterval = DefaultResourceUpdateInterval
	}
	if opts.MetricsTTL <= 0 {
		opts.MetricsTTL = DefaultMetricsTTL
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	m := &MetricsAdapter{opts: opts, hpas: map[string]*hpaCollectors{}, store: map[string]storedMetric{}, errs: map[string]error{}}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			m.updateHPAs()
			select {
			case <-m.ctx.Done():
				return
			case <-time.After(opts.ResourceUpdateInterval):
			}
		}
	}()
	return m, nil
}

// Register serves the API over TLS on loopback and registers it as the cluster's
// custom.metrics.k8s.io/v1beta2 (the aggregated-API trick, harness.ServeAggregatedAPI).
func (m *MetricsAdapter) Register(ctx context.Context, applier *harness.Applier) error {
	stop, err := harness.ServeAggregatedAPI(ctx, applier, "kube-metrics-adapter", customMetricsGroup, "v1beta2", m.Handler())
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.stopAPI = stop
	m.mu.Unlock()
	return nil
}

// Close stops collecting and serving.
func (m *MetricsAdapter) Close() {
	m.cancel()
	m.wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopAPI != nil {
		m.stopAPI()
	}
}

// Errors maps HPAs (namespace/name) to why they have no collector now.
func (m *MetricsAdapter) Errors() map[string]error {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]error{}
	for k, v := range m.errs {
		out[k] = v
	}
	return out
}

// Scrapes counts the pod scrapes so far, and the failed ones.
func (m *MetricsAdapter) Scrapes() (total, failed int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.scrapes, m.scrapeErrs
}

// Values maps the pods of namespace to their stored value of metric (a quantity).
func (m *MetricsAdapter) Values(metric, namespace string) map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	now := time.Now()
	for _, s := range m.store {
		if s.metric == metric && s.namespace == namespace && now.Before(s.expires) {
			out[s.pod] = resource.NewMilliQuantity(s.milli, resource.DecimalSI).String()
		}
	}
	return out
}

func (m *MetricsAdapter) updateHPAs() {
	list, err := m.opts.Client.AutoscalingV2().HorizontalPodAutoscalers(metav1.NamespaceAll).List(m.ctx, metav1.ListOptions{})
	if err != nil {
		if m.ctx.Err() == nil {
			m.opts.Logf("metrics adapter: cannot list HPAs: %v", err)
		}
		return
	}
	seen := map[string]bool{}
	for _, hpa := range list.Items {
		ref := hpa.Namespace + "/" + hpa.Name
		seen[ref] = true
		m.mu.Lock()
		cached := m.hpas[ref]
		m.mu.Unlock()
		if cached != nil && reflect.DeepEqual(cached.hpa.Annotations, hpa.Annotations) && reflect.DeepEqual(cached.hpa.Spec, hpa.Spec) {
			continue
		}
		if cached != nil {
			cached.cancel()
		}
		collectors, err := m.collectorsFor(&hpa)
		m.mu.Lock()
		if err != nil {
			// Not cached: tried again at the next update, as kube-metrics-adapter does.
			delete(m.hpas, ref)
			m.errs[ref] = err
			m.mu.Unlock()
			m.opts.Logf("metrics adapter: HPA %s: %v", ref, err)
			continue
		}
		delete(m.errs, ref)
		ctx, cancel := context.WithCancel(m.ctx)
		m.hpas[ref] = &hpaCollectors{hpa: *hpa.DeepCopy(), cancel: cancel}
		m.mu.Unlock()
		for _, c := range collectors {
			m.wg.Add(1)
			go func(c *podCollector) {
				defer m.wg.Done()
				m.run(ctx, c)
			}(c)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for ref, h := range m.hpas {
		if !seen[ref] {
			h.cancel()
			delete(m.hpas, ref)
		}
	}
}

// collectorsFor is ParseHPAMetrics plus NewPodCollector for each Pods metric.
func (m *MetricsAdapter) collectorsFor(hpa *autoscalingv2.HorizontalPodAutoscaler) ([]*podCollector, error) {
	configs, err := parseMetricConfigAnnotations(hpa.Annotations)
	if err != nil {
		return nil, err
	}
	var out []*podCollector
	var errs []error
	for _, spec := range hpa.Spec.Metrics {
		if spec.Type != autoscalingv2.PodsMetricSourceType || spec.Pods == nil {
			continue // only the pod collector is emulated
		}
		name := spec.Pods.Metric.Name
		cfg, ok := configs[name]
		if !ok {
			errs = append(errs, fmt.Errorf("metric %s: no metric-config.pods.%s.<collector>/ annotations", name, name))
			continue
		}
		c, err := m.newPodCollector(hpa, name, cfg)
		if err != nil {
			errs = append(errs, fmt.Errorf("metric %s: %w", name, err))
			continue
		}
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}

// annotationConfig is AnnotationConfigs of pkg/annotations/parser.go.
type annotationConfig struct {
	collectorType  string
	configs        map[string]string
	interval       time.Duration
	minPodReadyAge time.Duration
}

// parseMetricConfigAnnotations reads the Pods metrics' annotations by metric name, with the
// parser's rules: metric-config.<type>.<metric>.<collector>/<key>, exactly four dotted parts
// before the slash; interval and min-pod-ready-age are durations; a second collector type
// for the same metric is ignored.
func parseMetricConfigAnnotations(annotations map[string]string) (map[string]*annotationConfig, error) {
	out := map[string]*annotationConfig{}
	for _, key := range sortedKeys(annotations) {
		if !strings.HasPrefix(key, metricConfigPrefix) {
			continue
		}
		parts := strings.Split(key, "/")
		if len(parts) != 2 {
			continue
		}
		dotted := strings.Split(parts[0], ".")
		if len(dotted) != 4 || dotted[1] != "pods" {
			continue
		}
		metric, collector, val := dotted[2], dotted[3], annotations[key]
		cfg := out[metric]
		if cfg == nil {
			cfg = &annotationConfig{collectorType: collector, configs: map[string]string{}}
			out[metric] = cfg
		}
		if cfg.collectorType != collector {
			continue
		}
		switch parts[1] {
		case "interval", "min-pod-ready-age":
			d, err := time.ParseDuration(val)
			if err != nil {
				return nil, fmt.Errorf("annotation %s: %q is not a duration such as 30s", key, val)
			}
			if parts[1] == "interval" {
				cfg.interval = d
			} else {
				cfg.minPodReadyAge = d
			}
		default:
			cfg.configs[parts[1]] = val
		}
	}
	return out, nil
}

func (m *MetricsAdapter) newPodCollector(hpa *autoscalingv2.HorizontalPodAutoscaler, metric string, cfg *annotationConfig) (*podCollector, error) {
	if cfg.collectorType != "json-path" {
		return nil, fmt.Errorf("format '%s' not supported", cfg.collectorType)
	}
	selector, err := m.podSelector(hpa)
	if err != nil {
		return nil, fmt.Errorf("failed to get pod label selector: %w", err)
	}
	c := &podCollector{metric: metric, namespace: hpa.Namespace, selector: selector,
		interval: cfg.interval, minPodReadyAge: cfg.minPodReadyAge,
		scheme: cfg.configs["scheme"], path: cfg.configs["path"], rawQuery: cfg.configs["raw-query"]}
	if c.interval == 0 {
		c.interval = m.opts.CollectionInterval
	}
	key, eval := cfg.configs["json-key"], cfg.configs["json-eval"]
	switch {
	case key == "" && eval == "":
		return nil, errors.New("config value json-key or json-eval must be set")
	case key != "" && eval != "":
		return nil, errors.New("config value json-key and json-eval are mutually exclusive")
	case eval != "":
		return nil, fmt.Errorf("json-eval %q: this double evaluates json-key only", eval)
	}
	if c.key, err = parseJSONPath(key); err != nil {
		return nil, err
	}
	if v, ok := cfg.configs["port"]; ok {
		if c.port, err = strconv.Atoi(v); err != nil {
			return nil, fmt.Errorf("port %q: must be an integer", v)
		}
	}
	if v, ok := cfg.configs["aggregator"]; ok {
		if c.aggregate, err = parseAggregator(v); err != nil {
			return nil, err
		}
	}
	requestTimeout, connectTimeout := DefaultScrapeTimeout, DefaultScrapeTimeout
	for name, target := range map[string]*time.Duration{"request-timeout": &requestTimeout, "connect-timeout": &connectTimeout} {
		if v, ok := cfg.configs[name]; ok {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return nil, fmt.Errorf("invalid %s config value: %s", name, v)
			}
			*target = d
		}
	}
	dialer, network := &net.Dialer{Timeout: connectTimeout}, m.opts.Network
	c.client = &http.Client{Timeout: requestTimeout, Transport: &http.Transport{
		DialContext: func(ctx context.Context, netw, addr string) (net.Conn, error) {
			return dialer.DialContext(ctx, netw, network.Resolve(addr))
		},
		MaxIdleConns: 50, IdleConnTimeout: 90 * time.Second,
	}}
	return c, nil
}

// podSelector is getPodLabelSelector: the scale target's selector, matchLabels only.
func (m *MetricsAdapter) podSelector(hpa *autoscalingv2.HorizontalPodAutoscaler) (map[string]string, error) {
	ref := hpa.Spec.ScaleTargetRef
	var sel *metav1.LabelSelector
	switch ref.Kind {
	case "Deployment":
		d, err := m.opts.Client.AppsV1().Deployments(hpa.Namespace).Get(m.ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		sel = d.Spec.Selector
	case "StatefulSet":
		s, err := m.opts.Client.AppsV1().StatefulSets(hpa.Namespace).Get(m.ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		sel = s.Spec.Selector
	default:
		return nil, fmt.Errorf("unable to get pod label selector for scale target ref '%s'", ref.Kind)
	}
	if sel == nil {
		return nil, fmt.Errorf("%s %s has no selector", ref.Kind, ref.Name)
	}
	return sel.MatchLabels, nil
}

// run is collectorRunner: collect, then wait the interval, until ctx ends.
func (m *MetricsAdapter) run(ctx context.Context, c *podCollector) {
	for {
		m.collect(ctx, c)
		select {
		case <-ctx.Done():
			return
		case <-time.After(c.interval):
		}
	}
}

// collect is PodCollector.GetMetrics followed by the store's inserts.
func (m *MetricsAdapter) collect(ctx context.Context, c *podCollector) {
	pods, err := m.opts.Client.CoreV1().Pods(c.namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.Set(c.selector).String()})
	if err != nil {
		if ctx.Err() == nil {
			m.opts.Logf("metrics adapter: %s in %s: cannot list pods: %v", c.metric, c.namespace, err)
		}
		return
	}
	type result struct {
		pod   string
		value float64
		err   error
	}
	results := make(chan result)
	n := 0
	var skipped []string
	for i := range pods.Items {
		pod := &pods.Items[i]
		ready, age := podReadyAge(pod)
		switch {
		case !ready:
			skipped = append(skipped, pod.Name+" (not ready)")
		case pod.DeletionTimestamp != nil:
			skipped = append(skipped, pod.Name+" (terminating)")
		case age < c.minPodReadyAge:
			skipped = append(skipped, fmt.Sprintf("%s (ready for %s < min-pod-ready-age %s)", pod.Name, age.Round(time.Second), c.minPodReadyAge))
		default:
			n++
			go func(pod *corev1.Pod) {
				v, err := c.scrape(ctx, pod)
				results <- result{pod: pod.Name, value: v, err: err}
			}(pod)
		}
	}
	now := time.Now()
	var got []string
	for range n {
		r := <-results
		m.mu.Lock()
		m.scrapes++
		if r.err != nil {
			m.scrapeErrs++
			m.mu.Unlock()
			got = append(got, fmt.Sprintf("%s: %v", r.pod, r.err))
			continue
		}
		milli := int64(r.value * 1000)
		m.store[c.metric+"/"+c.namespace+"/"+r.pod] = storedMetric{metric: c.metric, namespace: c.namespace, pod: r.pod,
			selector: c.selector, milli: milli, timestamp: now, expires: now.Add(m.opts.MetricsTTL)}
		m.mu.Unlock()
		got = append(got, fmt.Sprintf("%s=%s", r.pod, resource.NewMilliQuantity(milli, resource.DecimalSI)))
	}
	sort.Strings(got)
	msg := fmt.Sprintf("metrics adapter: %s in %s: %s", c.metric, c.namespace, strings.Join(got, " "))
	if len(skipped) > 0 {
		sort.Strings(skipped)
		msg += "; skipped " + strings.Join(skipped, ", ")
	}
	m.opts.Logf("%s", msg)
}

// podReadyAge is GetPodReadyAge: whether the Ready condition is True, and since when.
func podReadyAge(pod *corev1.Pod) (bool, time.Duration) {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true, time.Since(c.LastTransitionTime.Time)
		}
	}
	return false, 0
}

func (c *podCollector) scrape(ctx context.Context, pod *corev1.Pod) (float64, error) {
	if pod.Status.PodIP == "" {
		return 0, fmt.Errorf("pod %s/%s does not have a pod IP", pod.Namespace, pod.Name)
	}
	scheme := c.scheme
	if scheme == "" {
		scheme = "http"
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(c.port)), Path: c.path, RawQuery: c.rawQuery}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, err
	}
	rsp, err := c.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer rsp.Body.Close()
	body, err := io.ReadAll(rsp.Body)
	if err != nil {
		return 0, err
	}
	if rsp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("unsuccessful response: %s", rsp.Status)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return 0, err
	}
	return numericValue(c.key.eval(doc), c.aggregate)
}

// Handler serves custom.metrics.k8s.io/v1beta2: the resource list, and the Pods metrics by
// name or by label selector.
func (m *MetricsAdapter) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimSuffix(r.URL.Path, "/")
		if path == customMetricsPath {
			m.serveResources(w)
			return
		}
		// namespaces/<ns>/pods/<name or *>/<metric>
		parts := strings.Split(strings.TrimPrefix(path, customMetricsPath+"/"), "/")
		if !strings.HasPrefix(path, customMetricsPath+"/") || len(parts) != 5 || parts[0] != "namespaces" || parts[2] != "pods" {
			writeStatus(w, http.StatusNotFound, "NotFound", fmt.Sprintf("the server could not find %s", r.URL.Path))
			return
		}
		namespace, name, metric := parts[1], parts[3], parts[4]
		selector, err := labels.Parse(r.URL.Query().Get("labelSelector"))
		if err != nil {
			writeStatus(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("labelSelector: %v", err))
			return
		}
		items := m.lookup(metric, namespace, name, selector)
		if name != "*" {
			if len(items) == 0 {
				writeStatus(w, http.StatusNotFound, "NotFound", fmt.Sprintf("%s %q is not found for pods %q", metric, "", name))
				return
			}
			writeJSONValue(w, items[0])
			return
		}
		writeJSONValue(w, map[string]any{"kind": "MetricValueList", "apiVersion": "custom.metrics.k8s.io/v1beta2",
			"metadata": map[string]any{}, "items": items})
	})
}

func (m *MetricsAdapter) lookup(metric, namespace, name string, selector labels.Selector) []map[string]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	var keys []string
	for k, s := range m.store {
		if !now.Before(s.expires) {
			delete(m.store, k) // the garbage collector's work, done on read
			continue
		}
		if s.metric != metric || s.namespace != namespace || (name != "*" && s.pod != name) {
			continue
		}
		if name == "*" && !selector.Matches(labels.Set(s.selector)) {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	items := make([]map[string]any, 0, len(keys))
	for _, k := range keys {
		s := m.store[k]
		items = append(items, map[string]any{
			"kind": "MetricValue", "apiVersion": "custom.metrics.k8s.io/v1beta2",
			"describedObject": map[string]any{"kind": "Pod", "namespace": s.namespace, "name": s.pod, "apiVersion": "v1"},
			"metric":          map[string]any{"name": s.metric, "selector": map[string]any{"matchLabels": s.selector}},
			"timestamp":       s.timestamp.UTC().Format(time.RFC3339),
			"value":           resource.NewMilliQuantity(s.milli, resource.DecimalSI).String(),
		})
	}
	return items
}

func (m *MetricsAdapter) serveResources(w http.ResponseWriter) {
	m.mu.Lock()
	names := map[string]bool{}
	for _, s := range m.store {
		names[s.metric] = true
	}
	m.mu.Unlock()
	resources := []any{}
	for _, n := range sortedKeys(names) {
		resources = append(resources, map[string]any{"name": "pods/" + n, "singularName": "", "namespaced": true,
			"kind": "MetricValueList", "verbs": []string{"get"}})
	}
	writeJSONValue(w, map[string]any{"kind": "APIResourceList", "apiVersion": "v1",
		"groupVersion": "custom.metrics.k8s.io/v1beta2", "resources": resources})
}

func writeJSONValue(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeStatus(w http.ResponseWriter, code int, reason, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": message, "reason": reason, "code": code})
}
