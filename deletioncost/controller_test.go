package deletioncost

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// bridgeLabels are the labels fn/jvb.go gives the videobridge pods.
var bridgeLabels = map[string]string{"app.kubernetes.io/name": "jitsi-meet", "app.kubernetes.io/component": "jvb"}

// bridgePod is a running, ready videobridge pod at ip, as the kubelet reports one.
func bridgePod(namespace, name, ip string, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: namespace, Name: name, UID: types.UID(namespace + "-" + name),
			Labels: bridgeLabels, Annotations: annotations,
		},
		Spec: corev1.PodSpec{NodeName: "node-" + name},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: ip,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		},
	}
}

// lockedBuffer collects the JSON log lines; the controller may log from Run's goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the log records whose message starts with msg.
func (b *lockedBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &rec), "log line %q", l)
		if strings.HasPrefix(rec["msg"].(string), msg) {
			out = append(out, rec)
		}
	}
	return out
}

type fixture struct {
	kube    *fake.Clientset
	ctrl    *Controller
	metrics *Metrics
	logs    *lockedBuffer
}

// newFixture starts a controller on a fake API holding pods, reading the bridges on port.
func newFixture(t *testing.T, port int, namespace string, pods ...*corev1.Pod) *fixture {
	t.Helper()
	objs := make([]runtime.Object, len(pods))
	for i, p := range pods {
		objs[i] = p
	}
	f := &fixture{kube: fake.NewClientset(objs...), metrics: NewMetrics(prometheus.NewRegistry()), logs: &lockedBuffer{}}
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctrl, err := New(f.kube, Config{
		Namespace: namespace, Selector: DefaultSelector, Interval: 15 * time.Second,
		StatsPort: port, StatsPath: "/colibri/stats", Timeout: 2 * time.Second, Concurrency: 2,
	}, log, f.metrics)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); ctrl.factory.Shutdown() })
	require.NoError(t, ctrl.Start(ctx))
	require.True(t, ctrl.Ready())
	f.ctrl = ctrl
	return f
}

// sync runs one loop and logs how long it took.
func (f *fixture) sync(t *testing.T) {
	t.Helper()
	start := time.Now()
	f.ctrl.SyncOnce(context.Background())
	t.Logf("loop took %s", time.Since(start))
}

// costs returns the deletion cost annotation of every pod in the fake API ("-" when unset).
func (f *fixture) costs(t *testing.T) map[string]string {
	t.Helper()
	pods, err := f.kube.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	out := map[string]string{}
	for _, p := range pods.Items {
		cost, ok := p.Annotations[corev1.PodDeletionCost]
		if !ok {
			cost = "-"
		}
		out[p.Namespace+"/"+p.Name] = cost
	}
	return out
}

// patches counts the patch calls the controller made.
func (f *fixture) patches() int {
	n := 0
	for _, a := range f.kube.Actions() {
		if a.GetVerb() == "patch" && a.GetResource().Resource == "pods" {
			n++
		}
	}
	return n
}

// waitForCache waits until the controller's pod cache holds want as the pod's cost, as the
// watch delivers the patch.
func (f *fixture) waitForCache(t *testing.T, namespace, name, want string) {
	t.Helper()
	require.Eventually(t, func() bool {
		p, err := f.ctrl.pods.Pods(namespace).Get(name)
		return err == nil && p.Annotations[corev1.PodDeletionCost] == want
	}, 10*time.Second, 10*time.Millisecond, "the cache never saw %s/%s at cost %q", namespace, name, want)
}

func (f *fixture) metric(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

// TestCostsFollowParticipants: each bridge's cost is its local participants, patched only
// when it changes, with the controller as field manager.
func TestCostsFollowParticipants(t *testing.T) {
	bridges, port := startBridges(t, 4)
	bridges[0].setParticipants(40, 2)
	bridges[1].setParticipants(0, 0)
	bridges[2].setParticipants(12, 0)
	bridges[3].legacy = true
	bridges[3].setParticipants(5, 3) // participants 8 - octo_endpoints 3
	f := newFixture(t, port, "",
		bridgePod("university", "jvb-a", bridges[0].ip, nil),
		bridgePod("university", "jvb-b", bridges[1].ip, nil),
		bridgePod("university", "jvb-c", bridges[2].ip, map[string]string{corev1.PodDeletionCost: "3"}),
		bridgePod("school", "jvb-d", bridges[3].ip, map[string]string{"other": "kept"}),
	)

	f.sync(t)
	assert.Empty(t, cmp.Diff(map[string]string{
		"university/jvb-a": "40", "university/jvb-b": "0", "university/jvb-c": "12", "school/jvb-d": "5",
	}, f.costs(t)))
	assert.Equal(t, 4, f.patches())
	d, err := f.kube.CoreV1().Pods("school").Get(context.Background(), "jvb-d", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "kept", d.Annotations["other"], "the merge patch leaves other annotations alone")
	for _, a := range f.kube.Actions() {
		if p, ok := a.(k8stesting.PatchActionImpl); ok {
			assert.Equal(t, types.MergePatchType, p.GetPatchType())
			assert.Equal(t, Name, p.PatchOptions.FieldManager)
		}
	}

	// Nothing changed: nothing is patched.
	f.waitForCache(t, "university", "jvb-a", "40")
	f.waitForCache(t, "university", "jvb-b", "0")
	f.waitForCache(t, "university", "jvb-c", "12")
	f.waitForCache(t, "school", "jvb-d", "5")
	f.sync(t)
	assert.Equal(t, 4, f.patches(), "unchanged costs are not patched again")

	// One bridge empties: only its cost changes.
	bridges[0].setParticipants(7, 0)
	f.sync(t)
	assert.Equal(t, 5, f.patches())
	assert.Equal(t, "7", f.costs(t)["university/jvb-a"])

	assert.Equal(t, 12.0, f.metric(f.metrics.scrapes.WithLabelValues(resultOK)))
	assert.Equal(t, 0.0, f.metric(f.metrics.scrapes.WithLabelValues(resultError)))
	assert.Equal(t, 5.0, f.metric(f.metrics.patches.WithLabelValues(resultOK)))
	assert.Equal(t, 0.0, f.metric(f.metrics.patches.WithLabelValues(resultError)))
	assert.Equal(t, 4.0, f.metric(f.metrics.bridges.WithLabelValues(stateAnswering)))
	assert.Equal(t, 0.0, f.metric(f.metrics.bridges.WithLabelValues(stateSilent)))
	loop := f.metric(f.metrics.loopDuration)
	assert.Positive(t, loop)
	t.Logf("last loop duration metric: %.6f s", loop)
	assert.Empty(t, f.logs.lines(t, "Bridge stats unreadable"))
}

// TestSilentBridgeKeepsItsCost: a bridge that does not answer keeps its annotation (or has
// none); one line says so when it starts failing and one when it answers again.
func TestSilentBridgeKeepsItsCost(t *testing.T) {
	bridges, port := startBridges(t, 2)
	bridges[0].setParticipants(30, 0)
	bridges[1].setParticipants(4, 0)
	// 127.0.0.200: nothing listens there, the connection is refused.
	f := newFixture(t, port, "",
		bridgePod("university", "jvb-a", bridges[0].ip, map[string]string{corev1.PodDeletionCost: "25"}),
		bridgePod("university", "jvb-b", bridges[1].ip, map[string]string{corev1.PodDeletionCost: "4"}),
		bridgePod("university", "jvb-gone", "127.0.0.200", nil),
	)
	bridges[0].fail(http.StatusServiceUnavailable, "starting")

	for range 3 {
		f.sync(t)
	}
	assert.Empty(t, cmp.Diff(map[string]string{
		"university/jvb-a": "25", "university/jvb-b": "4", "university/jvb-gone": "-",
	}, f.costs(t)), "silent bridges keep their annotation")
	assert.Equal(t, 0, f.patches())

	failing := f.logs.lines(t, "Bridge stats unreadable")
	require.Len(t, failing, 2, "one line per silent bridge, not one per interval")
	byPod := map[string]map[string]any{}
	for _, rec := range failing {
		byPod[rec["pod"].(string)] = rec
	}
	a := byPod["jvb-a"]
	require.NotNil(t, a)
	assert.Equal(t, "WARN", a["level"])
	assert.Equal(t, "university", a["namespace"])
	assert.Equal(t, bridges[0].ip, a["ip"])
	assert.Equal(t, "25", a["cost"])
	assert.Contains(t, a["error"], "status 503 Service Unavailable")
	gone := byPod["jvb-gone"]
	require.NotNil(t, gone)
	assert.Equal(t, "none (0)", gone["cost"])
	assert.Contains(t, gone["error"], "connection refused")
	t.Logf("logged: %v", a)

	assert.Equal(t, 6.0, f.metric(f.metrics.scrapes.WithLabelValues(resultError)))
	assert.Equal(t, 3.0, f.metric(f.metrics.scrapes.WithLabelValues(resultOK)))
	assert.Equal(t, 2.0, f.metric(f.metrics.bridges.WithLabelValues(stateSilent)))
	assert.Equal(t, 1.0, f.metric(f.metrics.bridges.WithLabelValues(stateAnswering)))

	// It answers again: one line, and its cost follows again.
	bridges[0].fail(0, "")
	f.sync(t)
	f.sync(t)
	recovered := f.logs.lines(t, "Bridge stats readable again")
	require.Len(t, recovered, 1)
	assert.Equal(t, "jvb-a", recovered[0]["pod"])
	assert.Equal(t, "30", recovered[0]["cost"])
	assert.Equal(t, "30", f.costs(t)["university/jvb-a"])
	assert.Len(t, f.logs.lines(t, "Bridge stats unreadable"), 2, "no new failure line")
}

// TestSkipsBridgesThatDoNotServe: pods that are terminating, not running, not ready or
// without an IP are neither read nor patched, even when something answers at their IP.
func TestSkipsBridgesThatDoNotServe(t *testing.T) {
	bridges, port := startBridges(t, 5)
	for _, b := range bridges {
		b.setParticipants(9, 0)
	}
	now := metav1.Now()
	terminating := bridgePod("university", "jvb-terminating", bridges[0].ip, nil)
	terminating.DeletionTimestamp = &now
	terminating.Finalizers = []string{"example.org/hold"}
	pending := bridgePod("university", "jvb-pending", bridges[1].ip, nil)
	pending.Status.Phase = corev1.PodPending
	notReady := bridgePod("university", "jvb-not-ready", bridges[2].ip, nil)
	notReady.Status.Conditions[0].Status = corev1.ConditionFalse
	noIP := bridgePod("university", "jvb-no-ip", "", nil)
	f := newFixture(t, port, "", terminating, pending, notReady, noIP,
		bridgePod("university", "jvb-ready", bridges[4].ip, nil))

	f.sync(t)
	assert.Empty(t, cmp.Diff(map[string]string{
		"university/jvb-terminating": "-", "university/jvb-pending": "-", "university/jvb-not-ready": "-",
		"university/jvb-no-ip": "-", "university/jvb-ready": "9",
	}, f.costs(t)))
	assert.Equal(t, 1, f.patches())
	assert.Equal(t, 4.0, f.metric(f.metrics.bridges.WithLabelValues(stateSkipped)))
	assert.Equal(t, 1.0, f.metric(f.metrics.scrapes.WithLabelValues(resultOK)))
	reasons := map[string]string{}
	for _, rec := range f.logs.lines(t, "Skipping bridge") {
		reasons[rec["pod"].(string)] = rec["reason"].(string)
	}
	assert.Empty(t, cmp.Diff(map[string]string{
		"jvb-terminating": "terminating", "jvb-pending": "phase Pending", "jvb-not-ready": "not ready", "jvb-no-ip": "no pod IP",
	}, reasons))
}

// TestNamespaceAndSelector: with a namespace, only that namespace's bridges are patched;
// pods without the bridge labels never are.
func TestNamespaceAndSelector(t *testing.T) {
	bridges, port := startBridges(t, 3)
	for i, b := range bridges {
		b.setParticipants(int64(10*(i+1)), 0)
	}
	web := bridgePod("university", "web", bridges[2].ip, nil)
	web.Labels = map[string]string{"app.kubernetes.io/name": "jitsi-meet", "app.kubernetes.io/component": "web"}
	f := newFixture(t, port, "university",
		bridgePod("university", "jvb-a", bridges[0].ip, nil),
		bridgePod("school", "jvb-a", bridges[1].ip, nil),
		web,
	)
	f.sync(t)
	for _, a := range f.kube.Actions() {
		if a.GetVerb() == "list" || a.GetVerb() == "watch" {
			assert.Equal(t, "university", a.GetNamespace(), "the controller's %s is namespaced", a.GetVerb())
		}
	}
	assert.Empty(t, cmp.Diff(map[string]string{
		"university/jvb-a": "10", "school/jvb-a": "-", "university/web": "-",
	}, f.costs(t)))
}

// TestPatchRejected: a pod that changed since it was read (Conflict) is retried at the next
// interval without an error; an API error is counted and logged.
func TestPatchRejected(t *testing.T) {
	bridges, port := startBridges(t, 1)
	bridges[0].setParticipants(3, 0)
	f := newFixture(t, port, "", bridgePod("university", "jvb-a", bridges[0].ip, nil))
	podsResource := schema.GroupResource{Resource: "pods"}

	f.kube.PrependReactor("patch", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewConflict(podsResource, "jvb-a", nil)
	})
	f.sync(t)
	assert.Equal(t, 1.0, f.metric(f.metrics.patches.WithLabelValues(resultStale)))
	assert.Equal(t, 0.0, f.metric(f.metrics.patches.WithLabelValues(resultError)))
	assert.Empty(t, f.logs.lines(t, "Cannot update the deletion cost"))

	f.kube.ReactionChain = f.kube.ReactionChain[1:]
	f.kube.PrependReactor("patch", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(podsResource, "jvb-a", nil)
	})
	f.sync(t)
	assert.Equal(t, 1.0, f.metric(f.metrics.patches.WithLabelValues(resultError)))
	errs := f.logs.lines(t, "Cannot update the deletion cost")
	require.Len(t, errs, 1)
	assert.Equal(t, "ERROR", errs[0]["level"])
	assert.Contains(t, errs[0]["error"], "forbidden")

	f.kube.ReactionChain = f.kube.ReactionChain[1:]
	f.sync(t)
	assert.Equal(t, "3", f.costs(t)["university/jvb-a"])
	assert.Equal(t, 1.0, f.metric(f.metrics.patches.WithLabelValues(resultOK)))
}

// TestPatchCarriesResourceVersion: the merge patch holds the resourceVersion the pod was
// read at, so that the API server refuses it (Conflict) when the pod changed since, for
// example when it was marked for deletion.
func TestPatchCarriesResourceVersion(t *testing.T) {
	bridges, port := startBridges(t, 1)
	bridges[0].setParticipants(6, 0)
	pod := bridgePod("university", "jvb-a", bridges[0].ip, nil)
	pod.ResourceVersion = "41"
	f := newFixture(t, port, "", pod)
	var body []byte
	f.kube.PrependReactor("patch", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		body = a.(k8stesting.PatchAction).GetPatch()
		return false, nil, nil
	})
	cached, err := f.ctrl.pods.Pods("university").Get("jvb-a")
	require.NoError(t, err)
	f.sync(t)
	require.NotNil(t, body)
	var got map[string]any
	require.NoError(t, json.Unmarshal(body, &got))
	assert.Empty(t, cmp.Diff(map[string]any{"metadata": map[string]any{
		"resourceVersion": cached.ResourceVersion,
		"annotations":     map[string]any{corev1.PodDeletionCost: "6"},
	}}, got))
}

// TestRun: Run lists the bridges, becomes ready, updates them, and returns when stopped.
func TestRun(t *testing.T) {
	bridges, port := startBridges(t, 1)
	bridges[0].setParticipants(17, 0)
	kube := fake.NewClientset(bridgePod("university", "jvb-a", bridges[0].ip, nil))
	ctrl, err := New(kube, Config{
		Selector: DefaultSelector, Interval: time.Second, StatsPort: port, StatsPath: "/colibri/stats",
		Timeout: 500 * time.Millisecond, Concurrency: 1,
	}, slog.New(slog.NewJSONHandler(&lockedBuffer{}, nil)), NewMetrics(prometheus.NewRegistry()))
	require.NoError(t, err)
	assert.False(t, ctrl.Ready())

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- ctrl.Run(ctx) }()
	require.Eventually(t, func() bool {
		p, err := kube.CoreV1().Pods("university").Get(context.Background(), "jvb-a", metav1.GetOptions{})
		return err == nil && p.Annotations[corev1.PodDeletionCost] == "17"
	}, 10*time.Second, 10*time.Millisecond)
	t.Logf("first cost written %s after Run", time.Since(start))
	assert.True(t, ctrl.Ready())
	cancel()
	require.NoError(t, <-done)
}
