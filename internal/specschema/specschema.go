// Package specschema defaults and validates a Jitsi spec with the schema of the generated
// XRD, through the API server's own code: the structural-schema defaulting and pruning, the
// OpenAPI validator and the CEL validator that kube-apiserver runs on a claim. The function
// runs it on every XR, so that a spec that reaches it without an API server (a render, a
// namespaced XR) meets exactly the rules a claim meets.
package specschema

import (
	"context"
	"encoding/json"
	"fmt"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

// Schema is the spec schema of an XRD's only version, compiled once: its CEL rules are
// compiled when it is loaded, not on every call.
type Schema struct {
	structural *structuralschema.Structural
	openAPI    apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

// Load compiles the spec schema of the XRD in xrdYAML.
func Load(xrdYAML []byte) (*Schema, error) {
	var xrd struct {
		Spec struct {
			Versions []struct {
				Name   string `json:"name"`
				Schema struct {
					OpenAPIV3Schema extv1.JSONSchemaProps `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(xrdYAML, &xrd); err != nil {
		return nil, fmt.Errorf("cannot parse the XRD: %w", err)
	}
	if n := len(xrd.Spec.Versions); n != 1 {
		return nil, fmt.Errorf("the XRD has %d versions, want 1", n)
	}
	spec, ok := xrd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	if !ok {
		return nil, fmt.Errorf("the XRD's schema has no spec")
	}
	internal := &apiextensions.JSONSchemaProps{}
	if err := extv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(&spec, internal, nil); err != nil {
		return nil, fmt.Errorf("cannot convert the spec schema: %w", err)
	}
	structural, err := structuralschema.NewStructural(internal)
	if err != nil {
		return nil, fmt.Errorf("the spec schema is not structural: %w", err)
	}
	openAPI, _, err := apiservervalidation.NewSchemaValidator(internal)
	if err != nil {
		return nil, fmt.Errorf("cannot build the OpenAPI validator: %w", err)
	}
	return &Schema{
		structural: structural,
		openAPI:    openAPI,
		cel:        cel.NewValidator(structural, false, celconfig.PerCallLimit),
	}, nil
}

// Admit does to spec what the API server does to a claim's spec on create, in its order: it
// drops the fields the schema does not know and the nulls of fields that cannot be null,
// fills in the defaults, and validates the result with the OpenAPI rules, then the CEL rules. spec is changed in place. It must hold numbers as
// the API server decodes them: whole numbers as int64 (see Normalize).
func (s *Schema) Admit(ctx context.Context, path *field.Path, spec map[string]any) field.ErrorList {
	pruning.Prune(spec, s.structural, false)
	defaulting.PruneNonNullableNullsWithoutDefaults(spec, s.structural)
	defaulting.Default(spec, s.structural)
	errs := apiservervalidation.ValidateCustomResource(path, spec, s.openAPI)
	if len(errs) > 0 {
		// CEL rules assume the types the OpenAPI rules check; the API server skips them on a
		// value of the wrong type as well.
		return errs
	}
	celErrs, _ := s.cel.Validate(ctx, path, s.structural, spec, nil, celconfig.RuntimeCELCostBudget)
	return celErrs
}

// Normalize returns a copy of v with numbers as the API server's JSON decoder makes them:
// whole numbers become int64, others stay float64. A protobuf Struct, which is how
// Crossplane sends an XR, holds every number as a float64, and the integer rules of the
// schema (type: integer, CEL int arithmetic) need int64.
func Normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = Normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Normalize(e)
		}
		return out
	case float64:
		if i := int64(x); float64(i) == x && x >= -(1<<53) && x <= 1<<53 {
			return i
		}
		return x
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	}
	return v
}
