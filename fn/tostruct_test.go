package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/structpb"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestStructOfMatchesTheUnstructuredConverter: the one-pass conversion gives exactly what
// apimachinery's converter followed by structpb gives, on every object of specs that between
// them turn every option on.
func TestStructOfMatchesTheUnstructuredConverter(t *testing.T) {
	specs := map[string]map[string]any{
		"sample": sampleSpec(),
		"everything": {
			"domain": "meet.example.org", "clusterDomain": "k8s.example.internal",
			"image": map[string]any{"registry": "registry.example.org/mirror", "tag": "stable-11146-3", "pullPolicy": "Always"},
			"jvb": map[string]any{
				"strategy":      map[string]any{"type": "static", "replicas": int64(3)},
				"publicAddress": map[string]any{"source": "Static", "ips": []any{"203.0.113.7#30000"}},
				"stunServers":   []any{"stun.example.org:3478"},
				"resources":     map[string]any{"requests": map[string]any{"cpu": "2", "memory": "3Gi"}, "limits": map[string]any{"memory": "4Gi"}},
				"nodeSelector":  map[string]any{"jitsi.org/role": "jvb"},
				"tolerations":   []any{map[string]any{"key": "jitsi.org/role", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": int64(30)}},
			},
			"jibri": map[string]any{"enabled": true, "replicas": int64(2), "recordings": map[string]any{
				"volume": "EmptyDir", "size": "3Gi", "finalizeScript": map[string]any{"configMapName": "upload"}}},
			"ingress": map[string]any{"className": "nginx", "annotations": map[string]any{"example.org/team": "physics"},
				"tls": map[string]any{"clusterIssuer": "letsencrypt"}},
			"turn": map[string]any{"host": "turn.example.org", "secretRef": map[string]any{"name": "turn"}},
		},
	}
	for name, spec := range specs {
		t.Run(name, func(t *testing.T) {
			xr := claimXR(spec)
			in, err := loadInstance(t.Context(), mustComposite(t, xr))
			require.NoError(t, err)
			objects, _, err := compose(in, nil, newTestFunction().random)
			require.NoError(t, err)
			for _, o := range objects {
				got, err := structOf(o.obj)
				require.NoError(t, err)
				m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o.obj)
				require.NoError(t, err)
				want, err := structpb.NewStruct(m)
				require.NoError(t, err)
				if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
					t.Errorf("%s (-converter +structOf):\n%s", o.name, diff)
				}
			}
		})
	}
}
