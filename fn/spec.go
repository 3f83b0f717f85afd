package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/crossplane/function-sdk-go/resource/composite"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/crossplane-jitsi/crossplane-jitsi/apis/v1alpha1"
	"github.com/crossplane-jitsi/crossplane-jitsi/internal/specschema"
	"github.com/crossplane-jitsi/crossplane-jitsi/package/configuration"
)

// maxNameLength bounds the claim (or XR) name: it prefixes every object, and the longest
// Service name, <name>-prosody, must stay a 63-character DNS label.
const maxNameLength = 63 - len("-"+componentProsody)

// jitsiSchema is the spec schema of the XRD this binary ships, compiled once. The function
// defaults and validates every spec with it, through the API server's own code, because an
// XR may reach the function without having met any API server (crossplane composition
// render, a namespaced XR of another XRD): one source for the claim's rules.
var jitsiSchema = sync.OnceValues(func() (*specschema.Schema, error) {
	return specschema.Load(configuration.XRD)
})

// loadInstance reads the observed XR: it defaults and validates the spec as the API server
// would, checks what no schema can say, and works out the name and namespace of the composed
// objects. Its error names every bad field and the rule it breaks.
func loadInstance(ctx context.Context, xr *composite.Unstructured) (*instance, error) {
	schema, err := jitsiSchema()
	if err != nil {
		return nil, fmt.Errorf("cannot load the Jitsi schema: %w", err)
	}
	path := field.NewPath("spec")
	raw, ok := xr.Object["spec"]
	if !ok || raw == nil {
		return nil, errorListError(field.ErrorList{field.Required(path, "")})
	}
	obj, isObject := raw.(map[string]any)
	if !isObject {
		return nil, errorListError(field.ErrorList{field.Invalid(path, raw, "must be an object")})
	}

	in := &instance{}
	errs := in.setNameAndNamespace(xr)
	admitted, admitErrs, err := admittedSpecs.admit(ctx, schema, path, obj)
	if err != nil {
		return nil, err
	}
	errs = append(errs, admitErrs...)
	if len(errs) > 0 {
		return nil, errorListError(errs)
	}
	// The schema checked every type, so the spec decodes.
	if err := json.Unmarshal(admitted, &in.spec); err != nil {
		return nil, fmt.Errorf("cannot decode spec: %w", err)
	}
	if errs := validateBeyondSchema(&in.spec, path); len(errs) > 0 {
		return nil, errorListError(errs)
	}
	return in, nil
}

// admittedSpecs remembers what the schema made of the specs it saw. Crossplane calls the
// function with the same spec again and again (whenever a composed resource changes, and at
// least every minute), and the API server's validators were the largest part of a call.
var admittedSpecs = &admissionCache{entries: map[string]admission{}}

// maxAdmittedSpecs bounds the cache: a few hundred Jitsis per function is a large cluster.
const maxAdmittedSpecs = 512

// admissionCache maps a spec, as JSON, to what Admit made of it. The result depends on the
// spec and on the schema compiled into the binary only, so it never goes stale.
type admissionCache struct {
	mu      sync.Mutex
	entries map[string]admission
}

type admission struct {
	spec []byte // the defaulted spec, as JSON
	errs field.ErrorList
}

// admit returns the defaulted spec as JSON, or the field errors of the schema, from the cache
// when it has seen this spec. spec is not changed.
func (c *admissionCache) admit(ctx context.Context, schema *specschema.Schema, path *field.Path, spec map[string]any) ([]byte, field.ErrorList, error) {
	key, err := json.Marshal(spec) // map keys are sorted: the same spec, the same key
	if err != nil {
		return nil, nil, fmt.Errorf("cannot encode spec: %w", err)
	}
	c.mu.Lock()
	a, ok := c.entries[string(key)]
	c.mu.Unlock()
	if ok {
		return a.spec, a.errs, nil
	}
	obj := specschema.Normalize(spec).(map[string]any)
	if a.errs = schema.Admit(ctx, path, obj); len(a.errs) == 0 {
		if a.spec, err = json.Marshal(obj); err != nil {
			return nil, nil, fmt.Errorf("cannot encode spec: %w", err)
		}
	}
	c.mu.Lock()
	if len(c.entries) >= maxAdmittedSpecs {
		clear(c.entries)
	}
	c.entries[string(key)] = a
	c.mu.Unlock()
	return a.spec, a.errs, nil
}

// setNameAndNamespace chooses where the composed objects go. A claim's objects go in the
// claim's namespace and carry the claim's name; a namespaced XR's go in its own namespace.
// A cluster-scoped XR without a claim has no namespace to put them in.
func (in *instance) setNameAndNamespace(xr *composite.Unstructured) field.ErrorList {
	if ref := xr.GetClaimReference(); ref != nil {
		in.name, in.namespace, in.claim = ref.Name, ref.Namespace, true
		path := field.NewPath("spec", "claimRef")
		errs := validateObjectName(in.name, path.Child("name"))
		if in.namespace == "" {
			errs = append(errs, field.Required(path.Child("namespace"), "the claim's namespace is needed to place its objects"))
		}
		return errs
	}
	in.name, in.namespace = xr.GetName(), xr.GetNamespace()
	if in.namespace == "" {
		return field.ErrorList{field.Required(field.NewPath("metadata", "namespace"),
			"a cluster-scoped XJitsi must be created through a Jitsi claim (spec.claimRef), or the XR must be namespaced")}
	}
	return validateObjectName(in.name, field.NewPath("metadata", "name"))
}

func validateObjectName(name string, path *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(path, "")}
	}
	if len(name) > maxNameLength {
		return field.ErrorList{field.TooLong(path, name, maxNameLength)}
	}
	if msgs := validation.IsDNS1035Label(name); len(msgs) > 0 {
		return field.ErrorList{field.Invalid(path, name,
			"must be a DNS-1035 label (lower case letters, digits and '-', starting with a letter), because it prefixes the names of Services")}
	}
	return nil
}

// errorListError joins field errors into one message, one field after the other.
func errorListError(errs field.ErrorList) error {
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	return errors.New(strings.Join(msgs, "; "))
}

// validateBeyondSchema checks what the XRD's schema cannot say: that the time zone exists,
// that each schedule window's floor lies within the strategy's bounds (a rule the schema
// could state only without the window's index), and the label, annotation and toleration
// rules of Kubernetes on the fields that are passed to pods. (A CEL rule over the keys of an unbounded map has an estimated cost the API server
// refuses, and these fields take Kubernetes' own types.)
func validateBeyondSchema(s *v1alpha1.JitsiSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if _, err := loadZone(*s.Timezone); err != nil {
		// The binary embeds the time zone database (time/tzdata), so this works in a
		// scratch image.
		errs = append(errs, field.Invalid(path.Child("timezone"), *s.Timezone,
			"must be an IANA time zone name such as Europe/Paris or UTC: it is not in the time zone database"))
	}
	jvb := path.Child("jvb")
	for k, v := range s.JVB.NodeSelector {
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, field.Invalid(jvb.Child("nodeSelector").Key(k), k, msg))
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			errs = append(errs, field.Invalid(jvb.Child("nodeSelector").Key(k), v, msg))
		}
	}
	for i, t := range s.JVB.Tolerations {
		errs = append(errs, validateToleration(t, jvb.Child("tolerations").Index(i))...)
	}
	errs = append(errs, validateSchedule(&s.JVB, jvb.Child("schedule"))...)
	for k := range s.Ingress.Annotations {
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, field.Invalid(path.Child("ingress", "annotations").Key(k), k, msg))
		}
	}
	return errs
}

func validateToleration(t corev1.Toleration, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch t.Operator {
	case "", corev1.TolerationOpEqual:
	case corev1.TolerationOpExists:
		if t.Value != "" {
			errs = append(errs, field.Invalid(path.Child("value"), t.Value, "must be empty when operator is Exists"))
		}
	default:
		errs = append(errs, field.NotSupported(path.Child("operator"), t.Operator,
			[]corev1.TolerationOperator{corev1.TolerationOpEqual, corev1.TolerationOpExists}))
	}
	switch t.Effect {
	case "", corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
	default:
		errs = append(errs, field.NotSupported(path.Child("effect"), t.Effect,
			[]corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute}))
	}
	if t.Key != "" {
		for _, msg := range validation.IsQualifiedName(t.Key) {
			errs = append(errs, field.Invalid(path.Child("key"), t.Key, msg))
		}
	}
	return errs
}

// zones caches time zones: time.LoadLocation reads the embedded database on every call, and
// the spec's zone is read on every reconcile. A name that is not a zone is not cached.
var zones sync.Map // name -> *time.Location

func loadZone(name string) (*time.Location, error) {
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	zones.Store(name, l)
	return l, nil
}
