package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	xpv1 "github.com/crossplane/crossplane/apis/v2/apiextensions/v1"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/crossplane-jitsi/crossplane-jitsi/internal/speccases"
	"github.com/crossplane-jitsi/crossplane-jitsi/internal/specschema"
)

const committedXRD = "../../package/configuration/xrd.yaml"

func TestCommittedXRDMatchesTypes(t *testing.T) {
	want, err := Generate(typesPackage)
	require.NoError(t, err)
	got, err := os.ReadFile(committedXRD)
	require.NoError(t, err)
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s is out of date with apis/v1alpha1; run `make generate` (-generated +committed):\n%s", committedXRD, diff)
	}
}

func loadSchema(t *testing.T) *specschema.Schema {
	t.Helper()
	body, err := os.ReadFile(committedXRD)
	require.NoError(t, err)
	s, err := specschema.Load(body)
	require.NoError(t, err)
	return s
}

// admit runs the API server's pruning, defaulting, OpenAPI and CEL validation on a claim's
// spec, and returns the defaulted spec.
func admit(t *testing.T, s *specschema.Schema, spec map[string]any) (map[string]any, field.ErrorList) {
	t.Helper()
	// The API server decodes whole numbers as int64, as CEL's int rules expect.
	obj := map[string]any{}
	require.NoError(t, utiljson.Unmarshal(mustJSON(t, spec), &obj))
	errs := s.Admit(context.Background(), field.NewPath("spec"), obj)
	for _, e := range errs {
		// Admit runs CEL only on a spec of the right types, so a rule that fails to
		// evaluate is a broken rule, not a rejected spec.
		assert.NotContains(t, e.Detail, "evaluating rule", "a CEL rule could not be evaluated: %v", e)
	}
	return obj, errs
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// TestSchemaDefaults: the API server completes the sample claim with the XRD's defaults;
// the function uses the same schema, so this is what every component sees.
func TestSchemaDefaults(t *testing.T) {
	got, errs := admit(t, loadSchema(t), speccases.Sample())
	require.Empty(t, errs)
	want := map[string]any{}
	require.NoError(t, yaml.Unmarshal([]byte(`
domain: hack.liiib.re
region: europe
timezone: Europe/Paris
clusterDomain: cluster.local
image: {registry: ghcr.io/jitsi, tag: stable-11146-2, pullPolicy: IfNotPresent}
web: {replicas: 1}
jvb:
  strategy: {type: autoscaled, replicas: 1, minReplicas: 1, maxReplicas: 40}
  autoscaling: {targetStressLevel: 0.3, scaleDownStabilizationSeconds: 600}
  udpPort: 10000
  publicAddress: {source: NodeExternalIP}
  gracefulShutdown: {maxDuration: 4h}
  headroom: {spareNodes: 0, image: registry.k8s.io/pause:3.10.1}
jibri:
  enabled: true
  replicas: 1
  recordings: {volume: PersistentVolumeClaim, size: 10Gi}
ingress: {tls: {enabled: true}}
networkPolicy:
  enabled: true
  ingressController: {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ingress-nginx}}}
  metricsAdapter: {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}}
  deletionCost: {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: jitsi-system}}}
`), &want))
	if diff := cmp.Diff(normalize(t, want), normalize(t, got)); diff != "" {
		t.Errorf("defaulted sample spec (-want +got):\n%s", diff)
	}
}

// normalize makes numbers comparable whatever decoded them.
func normalize(t *testing.T, v map[string]any) map[string]any {
	t.Helper()
	out := map[string]any{}
	require.NoError(t, json.Unmarshal(mustJSON(t, v), &out))
	return out
}

func TestSchemaAcceptsSample(t *testing.T) {
	_, errs := admit(t, loadSchema(t), speccases.Sample())
	assert.Empty(t, errs)
}

// TestSchemaAcceptsNewerImages: the tag rules refuse only what is known to be too old.
func TestSchemaAcceptsNewerImages(t *testing.T) {
	s := loadSchema(t)
	for _, tag := range []string{"stable-11146", "stable-11146-2", "stable-11146-10", "stable-12004", "unstable-2026-11-02", "stable", "unstable", "v1.2.3-mirror"} {
		spec := speccases.Sample()
		spec["image"] = map[string]any{"tag": tag}
		_, errs := admit(t, s, spec)
		assert.Empty(t, errs, "tag %s", tag)
	}
}

// TestSchemaRejectsInvalidSpecs: every rule the schema can express, it enforces, CEL rules
// included, with an error on the right field.
func TestSchemaRejectsInvalidSpecs(t *testing.T) {
	s := loadSchema(t)
	for _, tc := range speccases.Invalid() {
		t.Run(tc.Name, func(t *testing.T) {
			_, errs := admit(t, s, tc.Spec())
			if tc.BeyondSchema {
				assert.Empty(t, errs, "the schema cannot express this rule; only the function enforces it")
				return
			}
			require.NotEmpty(t, errs, "the schema accepted an invalid spec")
			var fields []string
			for _, e := range errs {
				fields = append(fields, e.Field)
			}
			assert.Contains(t, fields, tc.Field, "errors: %s", errs.ToAggregate())
			assert.Contains(t, errs.ToAggregate().Error(), tc.Rule)
			t.Log(strings.TrimSpace(errs.ToAggregate().Error()))
		})
	}
}

// TestCRDAcceptedByTheAPIServer runs the API server's own validation of a CRD on the one
// Crossplane derives from the XRD, so a rule the API server would refuse at install time
// (a CEL rule whose estimated cost is over budget, say) fails here, not in a cluster.
func TestCRDAcceptedByTheAPIServer(t *testing.T) {
	body, err := os.ReadFile(committedXRD)
	require.NoError(t, err)
	xrd := &xpv1.CompositeResourceDefinition{}
	require.NoError(t, yaml.Unmarshal(body, xrd))
	schema := &extv1.JSONSchemaProps{}
	require.NoError(t, json.Unmarshal(xrd.Spec.Versions[0].Schema.OpenAPIV3Schema.Raw, schema))
	schema.Properties["apiVersion"] = extv1.JSONSchemaProps{Type: "string"}
	schema.Properties["kind"] = extv1.JSONSchemaProps{Type: "string"}
	schema.Properties["metadata"] = extv1.JSONSchemaProps{Type: "object"}

	crd := &extv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: xrd.Spec.ClaimNames.Plural + "." + xrd.Spec.Group},
		Spec: extv1.CustomResourceDefinitionSpec{
			Group: xrd.Spec.Group,
			Names: *xrd.Spec.ClaimNames,
			Scope: extv1.NamespaceScoped,
			Versions: []extv1.CustomResourceDefinitionVersion{{
				Name: xrd.Spec.Versions[0].Name, Served: true, Storage: true,
				Schema: &extv1.CustomResourceValidation{OpenAPIV3Schema: schema},
			}},
		},
	}
	crd.Status.StoredVersions = []string{xrd.Spec.Versions[0].Name}
	crd.Spec.Names.ListKind = crd.Spec.Names.Kind + "List"
	crd.Spec.Names.Singular = strings.ToLower(crd.Spec.Names.Kind)
	internal := &apiextensions.CustomResourceDefinition{}
	require.NoError(t, extv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(crd, internal, nil))
	errs := apiextensionsvalidation.ValidateCustomResourceDefinition(context.Background(), internal)
	assert.Empty(t, errs, "the API server would refuse the claim's CRD: %v", errs.ToAggregate())
}

// TestCategoriesDoNotShadowNames: kubectl resolves a name that is both a category and a
// resource's singular or plural name as the category, and `kubectl get jitsi jitsi-sample`
// then fails with "you must specify only one resource".
func TestCategoriesDoNotShadowNames(t *testing.T) {
	body, err := os.ReadFile(committedXRD)
	require.NoError(t, err)
	xrd := &xpv1.CompositeResourceDefinition{}
	require.NoError(t, yaml.Unmarshal(body, xrd))
	names := map[string]bool{}
	var categories []string
	for _, n := range []*extv1.CustomResourceDefinitionNames{&xrd.Spec.Names, xrd.Spec.ClaimNames} {
		for _, name := range append([]string{n.Plural, n.Singular, strings.ToLower(n.Kind)}, n.ShortNames...) {
			names[name] = true
		}
		categories = append(categories, n.Categories...)
	}
	for _, c := range categories {
		assert.False(t, names[c], "category %q shadows a resource name", c)
	}
}
