package jitsiemu

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

var sampleSelector = map[string]string{
	"app.kubernetes.io/name": "jitsi-meet", "app.kubernetes.io/instance": "jitsi-sample", "app.kubernetes.io/component": "jvb",
}

// stressHPA is the HPA fn/autoscaling.go composes, scraping port.
func stressHPA(name string, port int, extra map[string]string) *autoscalingv2.HorizontalPodAutoscaler {
	prefix := "metric-config.pods.jitsi-stress-level.json-path/"
	annotations := map[string]string{
		prefix + "json-key": "$.stress_level",
		prefix + "path":     "/colibri/stats",
		prefix + "port":     strconv.Itoa(port),
		prefix + "scheme":   "http",
	}
	for k, v := range extra {
		if v == "" {
			delete(annotations, prefix+k)
		} else {
			annotations[prefix+k] = v
		}
	}
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "university", Annotations: annotations},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "jitsi-sample-jvb"},
			MaxReplicas:    10,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: "jitsi-stress-level"},
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: resource.NewMilliQuantity(300, resource.DecimalSI)},
			}}},
		},
	}
}

func jvbDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "jitsi-sample-jvb", Namespace: "university"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: sampleSelector}}}
}

// scrapedPod is a bridge pod at ip, Ready since readySince ago (never when 0).
func scrapedPod(name, ip string, readySince time.Duration) *corev1.Pod {
	p := bridgePod(name, ip, "unused")
	p.Labels = sampleSelector
	if readySince > 0 {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.Time{Time: time.Now().Add(-readySince)}}}
	}
	return p
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func bridgeAt(t *testing.T, ip string, port, participants int) *Bridge {
	t.Helper()
	b := newTestBridge(t, RealClock{}, BridgeConfig{Name: ip})
	require.NoError(t, b.Serve(net.JoinHostPort(ip, strconv.Itoa(port))))
	for range participants {
		require.NoError(t, b.AllocateEndpoint("lecture"))
	}
	return b
}

func queryMetrics(t *testing.T, server *httptest.Server, pod, selector string) (int, map[string]any) {
	t.Helper()
	u := server.URL + "/apis/custom.metrics.k8s.io/v1beta2/namespaces/university/pods/" + pod + "/jitsi-stress-level"
	if selector != "" {
		u += "?labelSelector=" + url.QueryEscape(selector)
	}
	rsp, err := http.Get(u)
	require.NoError(t, err)
	defer rsp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(rsp.Body).Decode(&out))
	return rsp.StatusCode, out
}

func itemValues(list map[string]any) map[string]string {
	out := map[string]string{}
	items, _ := list["items"].([]any)
	for _, it := range items {
		m := it.(map[string]any)
		out[m["describedObject"].(map[string]any)["name"].(string)] = m["value"].(string)
	}
	return out
}

// TestMetricsAdapterScrapesReadyBridges: the adapter reads the HPA's json-path annotations
// and scrapes the stress of every ready, running bridge pod of the HPA's target.
func TestMetricsAdapterScrapesReadyBridges(t *testing.T) {
	port := freeLoopbackPort(t)
	bridgeAt(t, "127.0.0.2", port, 30)
	busy := bridgeAt(t, "127.0.0.3", port, 12)
	bridgeAt(t, "127.0.0.4", port, 50) // terminating
	bridgeAt(t, "127.0.0.5", port, 70) // ready too recently
	terminating := scrapedPod("jvb-d", "127.0.0.4", time.Hour)
	terminating.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	client := fake.NewClientset(
		jvbDeployment(),
		stressHPA("jitsi-sample-jvb", port, map[string]string{"interval": "200ms", "min-pod-ready-age": "30s"}),
		scrapedPod("jvb-a", "127.0.0.2", time.Hour),
		scrapedPod("jvb-b", "127.0.0.3", time.Hour),
		scrapedPod("jvb-c", "127.0.0.6", 0),
		terminating,
		scrapedPod("jvb-e", "127.0.0.5", time.Second),
	)
	m, err := StartMetricsAdapter(MetricsAdapterOptions{Client: client, ResourceUpdateInterval: 100 * time.Millisecond, Logf: t.Logf})
	require.NoError(t, err)
	t.Cleanup(m.Close)
	server := httptest.NewServer(m.Handler())
	t.Cleanup(server.Close)
	selector := labels.Set(sampleSelector).String()

	poll(t, "the first collection", func() bool { return len(m.Values("jitsi-stress-level", "university")) == 2 })
	code, list := queryMetrics(t, server, "*", selector)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "MetricValueList", list["kind"])
	assert.Equal(t, map[string]string{"jvb-a": "300m", "jvb-b": "120m"}, itemValues(list),
		"not the unready, the terminating nor the too young pod")

	for range 38 {
		require.NoError(t, busy.AllocateEndpoint("lecture"))
	}
	poll(t, "the next collection", func() bool { return m.Values("jitsi-stress-level", "university")["jvb-b"] == "500m" })

	code, one := queryMetrics(t, server, "jvb-a", "")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "300m", one["value"])
	assert.Equal(t, map[string]any{"kind": "Pod", "namespace": "university", "name": "jvb-a", "apiVersion": "v1"}, one["describedObject"])
	code, _ = queryMetrics(t, server, "jvb-zz", "")
	assert.Equal(t, http.StatusNotFound, code)
	_, list = queryMetrics(t, server, "*", "app.kubernetes.io/component=web")
	assert.Empty(t, itemValues(list), "the stored selector must match the query's")

	rsp, err := http.Get(server.URL + "/apis/custom.metrics.k8s.io/v1beta2")
	require.NoError(t, err)
	var resources map[string]any
	require.NoError(t, json.NewDecoder(rsp.Body).Decode(&resources))
	_ = rsp.Body.Close()
	assert.Equal(t, "pods/jitsi-stress-level", resources["resources"].([]any)[0].(map[string]any)["name"])

	// A bridge that stops answering keeps its last value until the TTL, as in the adapter.
	busy.Stop("crashed")
	_, failedBefore := m.Scrapes()
	poll(t, "a failed scrape", func() bool { _, failed := m.Scrapes(); return failed > failedBefore })
	assert.Equal(t, "500m", m.Values("jitsi-stress-level", "university")["jvb-b"])
	assert.Empty(t, m.Errors())
}

func TestMetricsAdapterRefusesBadAnnotations(t *testing.T) {
	port := 8080
	noTarget := stressHPA("replicaset-target", port, nil)
	noTarget.Spec.ScaleTargetRef.Kind = "ReplicaSet"
	objects := []runtime.Object{
		jvbDeployment(),
		stressHPA("both-keys", port, map[string]string{"json-eval": "stress_level * 2"}),
		stressHPA("no-key", port, map[string]string{"json-key": ""}),
		stressHPA("bad-port", port, map[string]string{"port": "eighty"}),
		stressHPA("bad-interval", port, map[string]string{"interval": "often"}),
		stressHPA("bad-path", port, map[string]string{"json-key": "$..stress_level"}),
		stressHPA("bad-aggregator", port, map[string]string{"aggregator": "median"}),
		noTarget,
	}
	unannotated := stressHPA("unannotated", port, nil)
	unannotated.Annotations = nil
	objects = append(objects, unannotated)
	m, err := StartMetricsAdapter(MetricsAdapterOptions{Client: fake.NewClientset(objects...), Logf: t.Logf})
	require.NoError(t, err)
	t.Cleanup(m.Close)
	poll(t, "every HPA read", func() bool { return len(m.Errors()) == 8 })
	want := map[string]string{
		"both-keys":         "config value json-key and json-eval are mutually exclusive",
		"no-key":            "config value json-key or json-eval must be set",
		"bad-port":          `port "eighty": must be an integer`,
		"bad-interval":      `"often" is not a duration`,
		"bad-path":          "this double evaluates only",
		"bad-aggregator":    "aggregator function: median is unknown",
		"replicaset-target": "unable to get pod label selector for scale target ref 'ReplicaSet'",
		"unannotated":       "no metric-config.pods.jitsi-stress-level.<collector>/ annotations",
	}
	for name, msg := range want {
		assert.ErrorContains(t, m.Errors()["university/"+name], msg, name)
	}
	_, err = StartMetricsAdapter(MetricsAdapterOptions{})
	assert.EqualError(t, err, "MetricsAdapterOptions.Client: must be set")
}

func TestJSONPathSubset(t *testing.T) {
	doc := map[string]any{"a": map[string]any{"b": []any{json.Number("1"), json.Number("2.5")}}, "s": "x", "n": json.Number("0.12")}
	for path, want := range map[string]any{
		"$.n": json.Number("0.12"), "$['n']": json.Number("0.12"), `$.a["b"][1]`: json.Number("2.5"), "$.a.b[-1]": json.Number("2.5"),
	} {
		p, err := parseJSONPath(path)
		require.NoError(t, err, path)
		assert.Equal(t, []any{want}, p.eval(doc), path)
	}
	p, err := parseJSONPath("$.a.b[*]")
	require.NoError(t, err)
	_, err = numericValue(p.eval(doc), nil)
	assert.EqualError(t, err, "no aggregator function has been specified")
	sum, _ := parseAggregator("sum")
	v, err := numericValue(p.eval(doc), sum)
	require.NoError(t, err)
	assert.InDelta(t, 3.5, v, 1e-9)
	p, _ = parseJSONPath("$.s")
	_, err = numericValue(p.eval(doc), nil)
	assert.EqualError(t, err, "unsupported type string")
	p, _ = parseJSONPath("$.missing")
	_, err = numericValue(p.eval(doc), nil)
	assert.Error(t, err)
	for _, bad := range []string{"stress_level", "$..x", "$.a[?(@.b)]", "$.a[1"} {
		_, err := parseJSONPath(bad)
		assert.Error(t, err, bad)
	}
}
