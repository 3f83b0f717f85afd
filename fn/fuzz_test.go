package main

import (
	"context"
	"encoding/json"
	"testing"

	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"

	"github.com/crossplane-jitsi/crossplane-jitsi/internal/speccases"
)

// FuzzRunFunction: whatever the spec, RunFunction answers with a response and no error: a
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
		for _, r := range rsp.GetResults() {
			if r.GetSeverity() == fnv1.Severity_SEVERITY_FATAL && len(rsp.GetDesired().GetResources()) > 0 {
				t.Fatalf("a Fatal result with composed resources for %s", spec)
			}
		}
	})
}
