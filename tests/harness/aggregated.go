package harness

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ServeAggregatedAPI serves handler over TLS on a free loopback port and registers it as
// group/version with the API server's aggregator, the way a metrics adapter is registered:
// an APIService pointing at an ExternalName Service (kube-system/name) for localhost, which
// the aggregator resolves itself, so nothing leaves loopback. It returns once the APIService
// is Available; stop stops serving.
func ServeAggregatedAPI(ctx context.Context, applier *Applier, name, group, version string, handler http.Handler) (stop func(), err error) {
	cert, err := selfSignedLocalhost()
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := lis.Addr().(*net.TCPAddr).Port
	server := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	go func() { _ = server.ServeTLS(lis, "", "") }()
	stop = func() { _ = server.Close() }

	apiServiceName := version + "." + group
	service := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": name, "namespace": "kube-system"},
		"spec": map[string]any{"type": "ExternalName", "externalName": "localhost",
			"ports": []any{map[string]any{"name": "https", "port": int64(port)}}},
	}}
	apiService := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": apiServiceName},
		"spec": map[string]any{
			"group": group, "version": version,
			"groupPriorityMinimum": int64(100), "versionPriority": int64(200),
			// The certificate is self-signed.
			"insecureSkipTLSVerify": true,
			"service":               map[string]any{"name": name, "namespace": "kube-system", "port": int64(port)},
		},
	}}
	if report := applier.Apply(ctx, []*unstructured.Unstructured{service, apiService}); len(report.Rejected()) > 0 {
		stop()
		return nil, fmt.Errorf("cannot register %s: %s", apiServiceName, report)
	}
	err = Poll(ctx, 60*time.Second, func() (bool, error) {
		u, err := applier.Get(ctx, "apiregistration.k8s.io/v1", "APIService", "", apiServiceName)
		if err != nil {
			return false, err
		}
		conditions, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, cond := range conditions {
			if cm, ok := cond.(map[string]any); ok && cm["type"] == "Available" && cm["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		stop()
		return nil, fmt.Errorf("the APIService %s never became Available: %w", apiServiceName, err)
	}
	return stop, nil
}
