package main

import (
	"context"
	"os"
	"testing"

	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/resource"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/crossplane-jitsi/crossplane-jitsi/internal/specschema"
)

// sampleRequestWithObservedState is the sample claim's XR with the full observed state of
// examples/observed.yaml: every composed object exists, mid scale-up.
func sampleRequestWithObservedState(b *testing.B) *fnv1.RunFunctionRequest {
	b.Helper()
	body, err := os.ReadFile("../examples/observed.yaml")
	require.NoError(b, err)
	observed := map[resource.Name]map[string]any{}
	for _, doc := range splitDocuments(b, body) {
		name := doc["metadata"].(map[string]any)["annotations"].(map[string]any)["crossplane.io/composition-resource-name"].(string)
		observed[resource.Name(name)] = doc
	}
	require.Len(b, observed, len(allResources))
	return newRequest(b, claimXR(sampleSpec()), observed)
}

// BenchmarkRunFunction is one reconcile of the sample claim with everything observed.
func BenchmarkRunFunction(b *testing.B) {
	req := sampleRequestWithObservedState(b)
	f := newTestFunction()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.RunFunction(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMarshalResponse is what gRPC must do with that reconcile's response anyway: the
// yardstick for the function's own cost.
func BenchmarkMarshalResponse(b *testing.B) {
	req := sampleRequestWithObservedState(b)
	rsp, err := newTestFunction().RunFunction(context.Background(), req)
	require.NoError(b, err)
	b.ReportAllocs()
	var size int
	for b.Loop() {
		out, err := proto.Marshal(rsp)
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	b.ReportMetric(float64(size), "bytes/response")
}

// BenchmarkLoadInstance is the share of a reconcile that reads the spec: the schema's verdict
// comes from the cache after the first call, as on every reconcile but a claim's first.
func BenchmarkLoadInstance(b *testing.B) {
	xr := mustComposite(b, claimXR(sampleSpec()))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := loadInstance(ctx, xr); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAdmitSpec is what a spec's first sight costs: pruning, defaulting, and the OpenAPI
// and CEL validation of the XRD's schema, through the API server's code.
func BenchmarkAdmitSpec(b *testing.B) {
	schema, err := jitsiSchema()
	require.NoError(b, err)
	spec := claimXR(sampleSpec())["spec"].(map[string]any)
	ctx := context.Background()
	path := field.NewPath("spec")
	b.ReportAllocs()
	for b.Loop() {
		obj := specschema.Normalize(spec).(map[string]any)
		if errs := schema.Admit(ctx, path, obj); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}
