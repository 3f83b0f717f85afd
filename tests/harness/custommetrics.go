package harness

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CustomMetrics is a test double of custom.metrics.k8s.io/v1beta2 serving one Pods metric,
// the way kube-metrics-adapter serves each bridge's stress_level in production. The test
// sets each pod's value. It is registered with the aggregated-API trick: an APIService
// pointing at an ExternalName Service for localhost, which the API server's aggregator
// resolves itself, so everything stays on loopback.
type CustomMetrics struct {
	Metric string
	// Logf, when set, logs every query and answer.
	Logf func(format string, args ...any)

	stop func()

	mu       sync.Mutex
	values   map[string]string // pod name -> quantity
	fallback string
}

// StartCustomMetrics serves metric for the cluster's pods and registers it; every pod
// reports fallback until SetValue says otherwise.
func StartCustomMetrics(ctx context.Context, c *Cluster, applier *Applier, metric, fallback string) (*CustomMetrics, error) {
	m := &CustomMetrics{Metric: metric, values: map[string]string{}, fallback: fallback}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { m.serve(w, r, c) })
	stop, err := ServeAggregatedAPI(ctx, applier, "custom-metrics", "custom.metrics.k8s.io", "v1beta2", mux)
	if err != nil {
		return nil, err
	}
	m.stop = stop
	return m, nil
}

// SetValue sets one pod's value, or every pod's when pod is "".
func (m *CustomMetrics) SetValue(pod, quantity string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if pod == "" {
		m.values = map[string]string{}
		m.fallback = quantity
		return
	}
	m.values[pod] = quantity
}

func (m *CustomMetrics) value(pod string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.values[pod]; ok {
		return v
	}
	return m.fallback
}

// Close stops serving.
func (m *CustomMetrics) Close() { m.stop() }

const customMetricsPrefix = "/apis/custom.metrics.k8s.io/v1beta2"

func (m *CustomMetrics) serve(w http.ResponseWriter, r *http.Request, c *Cluster) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	if path == customMetricsPrefix {
		writeJSON(w, map[string]any{
			"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "custom.metrics.k8s.io/v1beta2",
			"resources": []any{map[string]any{
				"name": "pods/" + m.Metric, "singularName": "", "namespaced": true, "kind": "MetricValueList", "verbs": []string{"get"},
			}},
		})
		return
	}
	// /apis/custom.metrics.k8s.io/v1beta2/namespaces/<ns>/pods/<name or *>/<metric>
	parts := strings.Split(strings.TrimPrefix(path, customMetricsPrefix+"/"), "/")
	if len(parts) != 5 || parts[0] != "namespaces" || parts[2] != "pods" || parts[4] != m.Metric {
		http.NotFound(w, r)
		return
	}
	namespace, name := parts[1], parts[3]
	opts := metav1.ListOptions{LabelSelector: r.URL.Query().Get("labelSelector")}
	if name != "*" {
		opts = metav1.ListOptions{FieldSelector: "metadata.name=" + name}
	}
	pods, err := c.Client.CoreV1().Pods(namespace).List(r.Context(), opts)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	items := []any{}
	now := time.Now().UTC().Format(time.RFC3339)
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		items = append(items, map[string]any{
			"describedObject": map[string]any{"kind": "Pod", "namespace": namespace, "name": p.Name, "apiVersion": "/v1"},
			"metric":          map[string]any{"name": m.Metric},
			"timestamp":       now,
			"windowSeconds":   int64(15),
			"value":           m.value(p.Name),
		})
	}
	if m.Logf != nil {
		var answer []string
		for _, it := range items {
			item := it.(map[string]any)
			answer = append(answer, fmt.Sprintf("%s=%s", item["describedObject"].(map[string]any)["name"], item["value"]))
		}
		m.Logf("custom metrics for %s: %s", namespace, strings.Join(answer, " "))
	}
	writeJSON(w, map[string]any{"kind": "MetricValueList", "apiVersion": "custom.metrics.k8s.io/v1beta2", "metadata": map[string]any{}, "items": items})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func selfSignedLocalhost() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
