package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/crossplane/function-sdk-go/logging"
	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/resource"
	"github.com/crossplane/function-sdk-go/resource/composite"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	corev1 "k8s.io/api/core/v1"

	"github.com/crossplane-jitsi/crossplane-jitsi/internal/speccases"
)

// claimXR is the XR Crossplane creates for a claim named jitsi-sample in university.
func claimXR(spec map[string]any) map[string]any {
	s := copyMap(spec)
	s["claimRef"] = map[string]any{
		"apiVersion": "apps.jit.si/v1alpha1", "kind": "Jitsi", "name": "jitsi-sample", "namespace": "university",
	}
	return map[string]any{
		"apiVersion": "apps.jit.si/v1alpha1",
		"kind":       "XJitsi",
		"metadata":   map[string]any{"name": "jitsi-sample-x7k2p"},
		"spec":       s,
	}
}

// namespacedXR is a Crossplane v2 namespaced XR, without a claim.
func namespacedXR(namespace, name string, spec map[string]any) map[string]any {
	return map[string]any{
		"apiVersion": "apps.jit.si/v1alpha1",
		"kind":       "XJitsi",
		"metadata":   map[string]any{"name": name, "namespace": namespace},
		"spec":       copyMap(spec),
	}
}

func copyMap(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	out := map[string]any{}
	_ = json.Unmarshal(b, &out)
	return out
}

func sampleSpec() map[string]any { return speccases.Sample() }

func structOfMap(t testing.TB, v map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(copyMap(v))
	require.NoError(t, err)
	return s
}

// newRequest builds a RunFunctionRequest for an XR and its observed composed resources.
func newRequest(t testing.TB, xr map[string]any, observed map[resource.Name]map[string]any) *fnv1.RunFunctionRequest {
	t.Helper()
	req := &fnv1.RunFunctionRequest{
		Meta:     &fnv1.RequestMeta{Tag: "test"},
		Observed: &fnv1.State{Composite: &fnv1.Resource{Resource: structOfMap(t, xr)}},
	}
	if len(observed) > 0 {
		req.Observed.Resources = map[string]*fnv1.Resource{}
		for name, obj := range observed {
			req.Observed.Resources[string(name)] = &fnv1.Resource{Resource: structOfMap(t, obj)}
		}
	}
	return req
}

func newTestFunction() *Function { return NewFunction(logging.NewNopLogger()) }

func runFunction(t testing.TB, req *fnv1.RunFunctionRequest) *fnv1.RunFunctionResponse {
	t.Helper()
	rsp, err := newTestFunction().RunFunction(context.Background(), req)
	require.NoError(t, err, "RunFunction must report bad input as a result, never as an error")
	require.NotNil(t, rsp)
	return rsp
}

// mustCompose runs the function on an XR and requires that it succeeded.
func mustCompose(t testing.TB, xr map[string]any, observed map[resource.Name]map[string]any) *fnv1.RunFunctionResponse {
	t.Helper()
	rsp := runFunction(t, newRequest(t, xr, observed))
	for _, r := range rsp.GetResults() {
		require.NotEqual(t, fnv1.Severity_SEVERITY_FATAL, r.GetSeverity(), "unexpected fatal result: %s", r.GetMessage())
	}
	return rsp
}

// desired decodes a desired composed resource into a typed object.
func desired[T any](t testing.TB, rsp *fnv1.RunFunctionResponse, name resource.Name) *T {
	t.Helper()
	r, ok := rsp.GetDesired().GetResources()[string(name)]
	require.True(t, ok, "no desired resource %q", name)
	b, err := protojson.Marshal(r.GetResource())
	require.NoError(t, err)
	obj := new(T)
	require.NoError(t, json.Unmarshal(b, obj))
	return obj
}

// desiredMap returns a desired composed resource as a map.
func desiredMap(t testing.TB, rsp *fnv1.RunFunctionResponse, name resource.Name) map[string]any {
	t.Helper()
	r, ok := rsp.GetDesired().GetResources()[string(name)]
	require.True(t, ok, "no desired resource %q", name)
	return r.GetResource().AsMap()
}

func envValue(env []corev1.EnvVar, name string) (string, bool) {
	for _, e := range env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

// mustComposite wraps an XR map as the SDK's composite.
func mustComposite(t testing.TB, xr map[string]any) *composite.Unstructured {
	t.Helper()
	c := composite.New()
	c.Object = copyMap(xr)
	return c
}
