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
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	"github.com/crossplane-jitsi/crossplane-jitsi/apis/v1alpha1"
	"github.com/crossplane-jitsi/crossplane-jitsi/internal/speccases"
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

// specSchema is the XRD's spec schema, in the forms the API server's validation and
// defaulting code takes.
type specSchema struct {
	internal   *apiextensions.JSONSchemaProps
	structural *structuralschema.Structural
}

func loadSpecSchema(t *testing.T) specSchema {
	t.Helper()
	body, err := os.ReadFile(committedXRD)
	require.NoError(t, err)
	xrd := &xpv1.CompositeResourceDefinition{}
	require.NoError(t, yaml.Unmarshal(body, xrd))
	require.Len(t, xrd.Spec.Versions, 1)

	top := &extv1.JSONSchemaProps{}
	require.NoError(t, json.Unmarshal(xrd.Spec.Versions[0].Schema.OpenAPIV3Schema.Raw, top))
	spec := top.Properties["spec"]
	internal := &apiextensions.JSONSchemaProps{}
	require.NoError(t, extv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(&spec, internal, nil))
	structural, err := structuralschema.NewStructural(internal)
	require.NoError(t, err)
	return specSchema{internal: internal, structural: structural}
}

// validate runs the OpenAPI and CEL validation the API server runs on a claim's spec.
func (s specSchema) validate(t *testing.T, spec map[string]any) field.ErrorList {
	t.Helper()
	// The API server decodes whole numbers as int64, as CEL's int rules expect.
	obj := map[string]any{}
	require.NoError(t, utiljson.Unmarshal(mustJSON(t, spec), &obj))
	defaulting.Default(obj, s.structural)

	validator, _, err := apiservervalidation.NewSchemaValidator(s.internal)
	require.NoError(t, err)
	path := field.NewPath("spec")
	errs := apiservervalidation.ValidateCustomResource(path, obj, validator)
	celErrs, _ := cel.NewValidator(s.structural, false, celconfig.PerCallLimit).
		Validate(context.Background(), path, s.structural, obj, nil, celconfig.RuntimeCELCostBudget)
	if len(errs) == 0 {
		// On a spec of the right types, a rule that fails to evaluate is a broken rule, not
		// a rejected spec. (A value of the wrong type already failed above.)
		for _, e := range celErrs {
			assert.NotContains(t, e.Detail, "evaluating rule", "a CEL rule could not be evaluated: %v", e)
		}
	}
	return append(errs, celErrs...)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// TestSchemaDefaultsMatchGoDefaults checks that the API server and the function complete a
// claim the same way: the markers and Default() carry the same values.
func TestSchemaDefaultsMatchGoDefaults(t *testing.T) {
	s := loadSpecSchema(t)
	specs := map[string]map[string]any{
		"sample claim": speccases.Sample(),
		"domain only":  {"domain": "meet.example.org"},
		"with turn":    {"domain": "meet.example.org", "turn": map[string]any{"host": "turn.example.org", "secretRef": map[string]any{"name": "turn"}}},
	}
	for name, spec := range specs {
		t.Run(name, func(t *testing.T) {
			byServer := map[string]any{}
			require.NoError(t, json.Unmarshal(mustJSON(t, spec), &byServer))
			defaulting.Default(byServer, s.structural)
			fromServer := v1alpha1.JitsiSpec{}
			require.NoError(t, json.Unmarshal(mustJSON(t, byServer), &fromServer))

			byGo := v1alpha1.JitsiSpec{}
			require.NoError(t, json.Unmarshal(mustJSON(t, spec), &byGo))
			byGo.Default()

			if diff := cmp.Diff(fromServer, byGo); diff != "" {
				t.Errorf("schema defaults differ from v1alpha1 defaults (-schema +go):\n%s", diff)
			}
		})
	}
}

func TestSchemaAcceptsSample(t *testing.T) {
	s := loadSpecSchema(t)
	assert.Empty(t, s.validate(t, speccases.Sample()))
}

// TestSchemaRejectsInvalidSpecs: every rule the schema can express, it enforces, CEL rules
// included, with an error on the right field.
func TestSchemaRejectsInvalidSpecs(t *testing.T) {
	s := loadSpecSchema(t)
	for _, tc := range speccases.Invalid() {
		t.Run(tc.Name, func(t *testing.T) {
			errs := s.validate(t, tc.Spec())
			if tc.SchemaField == "" {
				assert.Empty(t, errs, "the schema cannot express this rule; only the function enforces it")
				return
			}
			require.NotEmpty(t, errs, "the schema accepted an invalid spec")
			var fields []string
			for _, e := range errs {
				fields = append(fields, e.Field)
			}
			assert.Contains(t, fields, tc.SchemaField, "errors: %s", errs.ToAggregate())
			t.Log(strings.TrimSpace(errs.ToAggregate().Error()))
		})
	}
}
