package main

import (
	"slices"
	"strings"
	"testing"

	fnv1 "github.com/crossplane/function-sdk-go/proto/v1"
	"github.com/crossplane/function-sdk-go/resource"
	"github.com/crossplane/function-sdk-go/response"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/crossplane-jitsi/crossplane-jitsi/internal/speccases"
)

// networkPolicyResources are the NetworkPolicies, one per component.
var networkPolicyResources = []resource.Name{
	resourceNetworkPolicyPrefix + componentProsody, resourceNetworkPolicyPrefix + componentJicofo,
	resourceNetworkPolicyPrefix + componentWeb, resourceNetworkPolicyPrefix + componentJVB,
	resourceNetworkPolicyPrefix + componentJibri,
}

// allResources is what the sample claim composes.
var allResources = slices.Concat([]resource.Name{
	resourceSecret, resourceProsody, resourceProsodyService, resourceJicofo,
	resourceWeb, resourceWebService, resourceWebIngress,
	resourceJVBConfig, resourceJVB, resourceJVBServiceAccount, resourceJVBNodeReader, resourceJVBAutoscaler, resourceJibri,
}, networkPolicyResources)

func without(names []resource.Name, drop ...resource.Name) []resource.Name {
	return slices.DeleteFunc(slices.Clone(names), func(n resource.Name) bool { return slices.Contains(drop, n) })
}

func TestRunFunctionComposes(t *testing.T) {
	static := sampleSpec()
	static["jvb"] = map[string]any{"strategy": map[string]any{"type": "static", "replicas": 2}}
	static["jibri"] = map[string]any{"enabled": false}

	cases := map[string]struct {
		reason        string
		xr            map[string]any
		wantResources []resource.Name
		wantNamespace string
		wantPrefix    string
	}{
		"ClaimAutoscaledWithJibri": {
			reason:        "The sample claim gets every component, an HPA and jibri, in the claim's namespace, named after the claim.",
			xr:            claimXR(sampleSpec()),
			wantResources: allResources,
			wantNamespace: "university",
			wantPrefix:    "jitsi-sample-",
		},
		"ClaimStaticWithoutJibri": {
			reason:        "The static strategy has no HPA, and jibri off has no jibri.",
			xr:            claimXR(static),
			wantResources: without(allResources, resourceJVBAutoscaler, resourceJibri, resourceNetworkPolicyPrefix+componentJibri),
			wantNamespace: "university",
			wantPrefix:    "jitsi-sample-",
		},
		"NamespacedXR": {
			reason: "A namespaced v2 XR without a claim puts its objects in its own namespace, named after itself; " +
				"it may not compose the cluster-scoped binding of the node reader.",
			xr:            namespacedXR("physics", "lecture-hall", sampleSpec()),
			wantResources: without(allResources, resourceJVBNodeReader),
			wantNamespace: "physics",
			wantPrefix:    "lecture-hall-",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rsp := mustCompose(t, tc.xr, nil)

			var got []resource.Name
			for n := range rsp.GetDesired().GetResources() {
				got = append(got, resource.Name(n))
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.wantResources))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s\ndesired resources (-want +got):\n%s", tc.reason, diff)
			}
			for _, n := range got {
				obj := desiredMap(t, rsp, n)
				meta := obj["metadata"].(map[string]any)
				if n == resourceJVBNodeReader {
					assert.NotContains(t, meta, "namespace", "a ClusterRoleBinding is cluster-scoped")
					assert.Equal(t, "crossplane-jitsi:"+tc.wantNamespace+":"+tc.wantPrefix+"jvb", meta["name"])
					continue
				}
				assert.Equal(t, tc.wantNamespace, meta["namespace"], "%s: namespace of %s", tc.reason, n)
				assert.True(t, strings.HasPrefix(meta["name"].(string), tc.wantPrefix), "%s: name of %s is %s", tc.reason, n, meta["name"])
				assert.NotContains(t, obj, "status", "desired %s must not carry a status", n)
				assert.Equal(t, strings.TrimSuffix(tc.wantPrefix, "-"), meta["labels"].(map[string]any)[labelInstance])
			}
			assert.Equal(t, "https://hack.liiib.re", rsp.GetDesired().GetComposite().GetResource().AsMap()["status"].(map[string]any)["url"])
		})
	}
}

// TestRunFunctionRejectsInvalidSpecs runs every rule of the shared table: each bad spec is a
// Fatal result naming the field and the rule, and nothing is composed.
func TestRunFunctionRejectsInvalidSpecs(t *testing.T) {
	for _, tc := range speccases.Invalid() {
		t.Run(tc.Name, func(t *testing.T) {
			rsp := runFunction(t, newRequest(t, claimXR(tc.Spec()), nil))
			require.Len(t, rsp.GetResults(), 1, "results: %v", rsp.GetResults())
			result := rsp.GetResults()[0]
			assert.Equal(t, fnv1.Severity_SEVERITY_FATAL, result.GetSeverity())
			assert.Equal(t, fnv1.Target_TARGET_COMPOSITE, result.GetTarget())
			assert.Contains(t, result.GetMessage(), "invalid XJitsi jitsi-sample-x7k2p: "+tc.Field+": ")
			assert.Contains(t, result.GetMessage(), tc.Rule)
			assert.Empty(t, rsp.GetDesired().GetResources(), "nothing may be composed from an invalid spec")
			t.Log(result.GetMessage())
		})
	}
}

// TestRunFunctionFatalResponses compares whole responses for input the shared table cannot
// express: where the objects go, and a spec that is not there at all.
func TestRunFunctionFatalResponses(t *testing.T) {
	fatal := func(msg string) *fnv1.RunFunctionResponse {
		return &fnv1.RunFunctionResponse{
			Meta: &fnv1.ResponseMeta{Tag: "test", Ttl: durationpb.New(response.DefaultTTL)},
			Results: []*fnv1.Result{{
				Severity: fnv1.Severity_SEVERITY_FATAL,
				Message:  msg,
				Target:   fnv1.Target_TARGET_COMPOSITE.Enum(),
			}},
		}
	}
	noNamespace := claimXR(sampleSpec())
	delete(noNamespace["spec"].(map[string]any)["claimRef"].(map[string]any), "namespace")
	longName := claimXR(sampleSpec())
	longName["spec"].(map[string]any)["claimRef"].(map[string]any)["name"] = strings.Repeat("a", 56)
	dotted := claimXR(sampleSpec())
	dotted["spec"].(map[string]any)["claimRef"].(map[string]any)["name"] = "meet.example"
	clusterXR := namespacedXR("", "orphan", sampleSpec())
	noSpec := claimXR(sampleSpec())
	delete(noSpec, "spec")
	stringSpec := claimXR(sampleSpec())
	stringSpec["spec"] = "domain=hack.liiib.re"

	cases := map[string]struct {
		reason string
		xr     map[string]any
		want   *fnv1.RunFunctionResponse
	}{
		"ClaimWithoutNamespace": {
			reason: "A claim reference without a namespace gives the objects nowhere to go.",
			xr:     noNamespace,
			want:   fatal("invalid XJitsi jitsi-sample-x7k2p: spec.claimRef.namespace: Required value: the claim's namespace is needed to place its objects"),
		},
		"ClaimNameTooLong": {
			reason: "The claim name prefixes Service names, which are 63-character DNS labels.",
			xr:     longName,
			want:   fatal("invalid XJitsi jitsi-sample-x7k2p: spec.claimRef.name: Too long: may not be more than 55 bytes"),
		},
		"ClaimNameWithDots": {
			reason: "A claim name may contain dots; a Service name may not.",
			xr:     dotted,
			want: fatal(`invalid XJitsi jitsi-sample-x7k2p: spec.claimRef.name: Invalid value: "meet.example": ` +
				`must be a DNS-1035 label (lower case letters, digits and '-', starting with a letter), because it prefixes the names of Services`),
		},
		"ClusterXRWithoutClaim": {
			reason: "A cluster-scoped XR without a claim has no namespace for its objects.",
			xr:     clusterXR,
			want: fatal("invalid XJitsi orphan: metadata.namespace: Required value: a cluster-scoped XJitsi must be created " +
				"through a Jitsi claim (spec.claimRef), or the XR must be namespaced"),
		},
		"NoSpec": {
			reason: "An XR without a spec is rejected, not composed from defaults.",
			xr:     noSpec,
			want:   fatal("invalid XJitsi jitsi-sample-x7k2p: spec: Required value"),
		},
		"SpecNotAnObject": {
			reason: "A spec of the wrong type is rejected with its type.",
			xr:     stringSpec,
			want:   fatal(`invalid XJitsi jitsi-sample-x7k2p: spec: Invalid value: "domain=hack.liiib.re": must be an object`),
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rsp := runFunction(t, newRequest(t, tc.xr, nil))
			if diff := cmp.Diff(tc.want, rsp, protocmp.Transform()); diff != "" {
				t.Errorf("%s\nRunFunction(...): -want rsp, +got rsp:\n%s", tc.reason, diff)
			}
		})
	}
}

// TestRunFunctionKeepsEarlierSteps: objects that an earlier pipeline step desired survive.
func TestRunFunctionKeepsEarlierSteps(t *testing.T) {
	req := newRequest(t, claimXR(sampleSpec()), nil)
	req.Desired = &fnv1.State{Resources: map[string]*fnv1.Resource{
		"tenant-quota": {Resource: structOfMap(t, map[string]any{"apiVersion": "v1", "kind": "ResourceQuota"})},
	}}
	rsp := runFunction(t, req)
	assert.Contains(t, rsp.GetDesired().GetResources(), "tenant-quota")
	assert.Len(t, rsp.GetDesired().GetResources(), len(allResources)+1)
}

// TestAdmissionCacheGivesTheSameAnswer: a spec seen before gets the schema's verdict from the
// cache: the same objects for a good spec (decoded afresh, so a call cannot change the next
// one's), the same errors for a bad one.
func TestAdmissionCacheGivesTheSameAnswer(t *testing.T) {
	good := claimXR(sampleSpec())
	first := mustCompose(t, good, nil)
	in, err := loadInstance(t.Context(), mustComposite(t, good))
	require.NoError(t, err)
	*in.spec.Region = "elsewhere" // what a careless caller might do to its instance
	again := mustCompose(t, good, nil)
	assert.Equal(t, desiredMap(t, first, resourceJVBAutoscaler), desiredMap(t, again, resourceJVBAutoscaler))
	assert.Equal(t, desiredMap(t, first, resourceWeb), desiredMap(t, again, resourceWeb))

	bad := claimXR(speccases.Invalid()[1].Spec())
	one := runFunction(t, newRequest(t, bad, nil)).GetResults()
	two := runFunction(t, newRequest(t, bad, nil)).GetResults()
	require.Len(t, one, 1)
	if diff := cmp.Diff(one, two, protocmp.Transform()); diff != "" {
		t.Errorf("the cached verdict differs (-first +second):\n%s", diff)
	}
}
