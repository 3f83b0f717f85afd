package main

import (
	"context"
	"encoding/json"
	"testing"

	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/resource"

	"github.com/crossplane-jitsi/crossplane-jitsi/internal/speccases"
)

// FuzzRunFunction: whatever the spec, and whatever the observed objects, RunFunction answers with a response and no error: a
// composition or a Fatal result, never a panic.
func FuzzRunFunction(f *testing.F) {
	f.Add(speccases.SampleJSON())
	for _, c := range speccases.Invalid() {
		b, _ := json.Marshal(c.Spec())
		f.Add(b)
	}
	f.Add([]byte(`{"domain":"a.b","jvb":{"strategy":{"minReplicas":1e9},"resources":{"limits":{"cpu":[]}}}}`))
	f.Add([]byte(`{"domain":"a.b","turn":{},"ingress":{"tls":null,"annotations":{"":""}}}`))
	f.Add([]byte(`{"domain":"a.b","jvb":{"gracefulShutdown":{"maxDuration":12}}}`))
	f.Add([]byte(`{"metadata":{"generation":"x"},"spec":{"replicas":[]},"status":{"conditions":[1,{"type":"Available"}],"loadBalancer":7}}`))
	f.Add([]byte(`{"data":{"JVB_AUTH_PASSWORD":3},"status":null}`))

	fn := newTestFunction()
	f.Fuzz(func(t *testing.T, spec []byte) {
		var m map[string]any
		if err := json.Unmarshal(spec, &m); err != nil || m == nil {
			return
		}
		rsp, err := fn.RunFunction(context.Background(), newRequest(t, claimXR(m), nil))
		if err != nil || rsp == nil {
			t.Fatalf("RunFunction(%s) = %v, %v", spec, rsp, err)
		}
		// The same bytes as every observed object, under the kind the function reads it as:
		// observed state comes from the cluster, whatever shape it is in.
		observed := map[resource.Name]map[string]any{}
		for name, kind := range observedKinds {
			o := copyMap(m)
			o["kind"] = kind
			observed[name] = o
		}
		rsp, err = fn.RunFunction(context.Background(), newRequest(t, claimXR(speccases.Sample()), observed))
		if err != nil || rsp == nil {
			t.Fatalf("RunFunction with observed %s = %v, %v", spec, rsp, err)
		}
		for _, r := range rsp.GetResults() {
			if r.GetSeverity() == fnv1.Severity_SEVERITY_FATAL && len(rsp.GetDesired().GetResources()) > 0 {
				t.Fatalf("a Fatal result with composed resources for %s", spec)
			}
		}
	})
}

// observedKinds are the kinds of the observed objects the function reads.
var observedKinds = map[resource.Name]string{
	resourceSecret: "Secret", resourceProsody: "Deployment", resourceJVB: "Deployment",
	resourceJVBAutoscaler: "HorizontalPodAutoscaler", resourceWebIngress: "Ingress", resourceWebService: "Service",
}
