package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"

	"github.com/crossplane/function-sdk-go/resource/composite"

	"github.com/crossplane-jitsi/crossplane-jitsi/apis/v1alpha1"
)

// maxNameLength bounds the claim (or XR) name: it prefixes every object, and the longest
// Service name, <name>-prosody, must stay a 63-character DNS label.
const maxNameLength = 63 - len("-"+componentProsody)

// The same rules as the kubebuilder markers in apis/v1alpha1. The schema enforces them on
// the API server; the function enforces them again because an XR may reach it without any
// schema (crossplane composition render, a namespaced XR of another XRD).
var (
	domainPattern   = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	regionPattern   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	timezonePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9][A-Za-z0-9_+-]*)*$`)
	tagPattern      = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	stunPattern     = regexp.MustCompile(`^[A-Za-z0-9.-]+:[0-9]{1,5}$`)
)

// loadInstance reads the observed XR: it decodes, defaults and validates the spec, and works
// out the name and namespace of the composed objects. Its error names every bad field and
// the rule it breaks.
func loadInstance(xr *composite.Unstructured) (*instance, error) {
	spec, err := decodeSpec(xr)
	if err != nil {
		return nil, err
	}
	spec.Default()

	in := &instance{spec: *spec}
	errs := field.ErrorList{}
	errs = append(errs, in.setNameAndNamespace(xr)...)
	errs = append(errs, validateSpec(spec, field.NewPath("spec"))...)
	if len(errs) > 0 {
		return nil, errorListError(errs)
	}
	return in, nil
}

// setNameAndNamespace chooses where the composed objects go. A claim's objects go in the
// claim's namespace and carry the claim's name; a namespaced XR's go in its own namespace.
// A cluster-scoped XR without a claim has no namespace to put them in.
func (in *instance) setNameAndNamespace(xr *composite.Unstructured) field.ErrorList {
	if ref := xr.GetClaimReference(); ref != nil {
		in.name, in.namespace = ref.Name, ref.Namespace
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

// decodeSpec decodes spec strictly by type and case-sensitively, as the API server does.
// Unknown fields are ignored: Crossplane keeps its own machinery (claimRef, compositionRef,
// resourceRefs) in spec too.
func decodeSpec(xr *composite.Unstructured) (*v1alpha1.JitsiSpec, error) {
	path := field.NewPath("spec")
	raw, ok := xr.Object["spec"]
	if !ok || raw == nil {
		return nil, errorListError(field.ErrorList{field.Required(path, "")})
	}
	obj, isObject := raw.(map[string]any)
	if !isObject {
		return nil, errorListError(field.ErrorList{field.Invalid(path, raw, "must be an object")})
	}
	// Durations and quantities decode through their own UnmarshalJSON, whose errors do not
	// say which field failed; check them first so the error can.
	if errs := validateCustomTypes(obj, path); len(errs) > 0 {
		return nil, errorListError(errs)
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("cannot encode spec: %w", err)
	}
	spec := &v1alpha1.JitsiSpec{}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(b, spec); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			// The decoder knows the JSON type it found, not the value.
			return nil, errorListError(field.ErrorList{field.Invalid(dottedPath(path, typeErr.Field), field.OmitValueType{},
				"must be "+describeType(typeErr.Type)+", not "+withArticle(typeErr.Value))})
		}
		return nil, fmt.Errorf("cannot decode spec: %w", err)
	}
	return spec, nil
}

// validateCustomTypes checks the fields that hold a duration or a quantity.
func validateCustomTypes(spec map[string]any, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	jvb, _ := spec["jvb"].(map[string]any)
	shutdown, _ := jvb["gracefulShutdown"].(map[string]any)
	if v, ok := shutdown["maxDuration"]; ok && v != nil {
		p := path.Child("jvb", "gracefulShutdown", "maxDuration")
		s, isString := v.(string)
		if _, err := time.ParseDuration(s); !isString || err != nil {
			errs = append(errs, field.Invalid(p, v, "must be "+describeType(durationType)))
		}
	}
	resources, _ := jvb["resources"].(map[string]any)
	for _, list := range []string{"limits", "requests"} {
		values, _ := resources[list].(map[string]any)
		for name, v := range values {
			p := path.Child("jvb", "resources", list).Key(name)
			switch q := v.(type) {
			case float64, int64:
			case string:
				if _, err := resource.ParseQuantity(q); err != nil {
					errs = append(errs, field.Invalid(p, q, "must be "+describeType(quantityType)))
				}
			default:
				errs = append(errs, field.Invalid(p, v, "must be "+describeType(quantityType)))
			}
		}
	}
	return errs
}

// dottedPath turns a decoder's field such as jvb.strategy.maxReplicas into a field path.
func dottedPath(root *field.Path, dotted string) *field.Path {
	p := root
	if dotted == "" {
		return p
	}
	for _, name := range strings.Split(dotted, ".") {
		p = p.Child(name)
	}
	return p
}

func withArticle(jsonType string) string {
	switch jsonType {
	case "object", "array":
		return "an " + jsonType
	}
	return "a " + jsonType
}

var (
	durationType = reflect.TypeFor[metav1.Duration]()
	quantityType = reflect.TypeFor[resource.Quantity]()
)

func describeType(t reflect.Type) string {
	if t == nil {
		return "of another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		return "a duration such as 90s, 30m or 1h"
	case t == quantityType:
		return "a quantity such as 500m, 2 or 1Gi"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a " + t.String()
}

// errorListError joins field errors into one message, one field after the other.
func errorListError(errs field.ErrorList) error {
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	return errors.New(strings.Join(msgs, "; "))
}

// validateSpec checks a defaulted spec against the same rules as the XRD schema.
func validateSpec(s *v1alpha1.JitsiSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateDomain(s.Domain, path.Child("domain"))...)

	if r := *s.Region; len(r) == 0 || len(r) > 63 || !regionPattern.MatchString(r) {
		errs = append(errs, field.Invalid(path.Child("region"), r,
			"must be 1 to 63 lower case letters, digits or '-', starting and ending with a letter or digit"))
	}
	errs = append(errs, validateTimezone(*s.Timezone, path.Child("timezone"))...)

	image := path.Child("image")
	if *s.Image.Registry == "" {
		errs = append(errs, field.Invalid(image.Child("registry"), "", "must not be empty when set"))
	}
	if t := *s.Image.Tag; t == "" {
		errs = append(errs, field.Invalid(image.Child("tag"), t, "must not be empty when set"))
	} else if len(t) > 128 || !tagPattern.MatchString(t) {
		errs = append(errs, field.Invalid(image.Child("tag"), t, "must be an image tag: up to 128 letters, digits, '_', '.' or '-'"))
	}
	switch p := *s.Image.PullPolicy; p {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		errs = append(errs, field.NotSupported(image.Child("pullPolicy"), p,
			[]corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}))
	}

	errs = append(errs, validateRange(path.Child("web", "replicas"), int64(*s.Web.Replicas), 1, 100)...)
	errs = append(errs, validateJVB(&s.JVB, path.Child("jvb"))...)
	errs = append(errs, validateRange(path.Child("jibri", "replicas"), int64(*s.Jibri.Replicas), 1, 100)...)
	errs = append(errs, validateIngress(&s.Ingress, path.Child("ingress"))...)
	if s.TURN != nil {
		errs = append(errs, validateTURN(s.TURN, path.Child("turn"))...)
	}
	return errs
}

func validateDomain(d string, path *field.Path) field.ErrorList {
	const rule = "must be a DNS name such as meet.example.org: lower case labels of letters, digits and '-', each at most 63 characters, joined by dots"
	switch {
	case d == "":
		return field.ErrorList{field.Required(path, "the public DNS name of the site, such as meet.example.org")}
	case len(d) > 253:
		return field.ErrorList{field.TooLong(path, d, 253)}
	case !domainPattern.MatchString(d):
		return field.ErrorList{field.Invalid(path, d, rule)}
	}
	for _, label := range strings.Split(d, ".") {
		if len(label) > 63 {
			return field.ErrorList{field.Invalid(path, d, rule)}
		}
	}
	return nil
}

func validateTimezone(tz string, path *field.Path) field.ErrorList {
	if len(tz) == 0 || len(tz) > 64 || !timezonePattern.MatchString(tz) {
		return field.ErrorList{field.Invalid(path, tz, "must be an IANA time zone name such as Europe/Paris or UTC")}
	}
	// The binary embeds the time zone database (time/tzdata), so this works in a scratch image.
	if _, err := time.LoadLocation(tz); err != nil {
		return field.ErrorList{field.Invalid(path, tz, "must be an IANA time zone name such as Europe/Paris or UTC: it is not in the time zone database")}
	}
	return nil
}

func validateRange(path *field.Path, v, min, max int64) field.ErrorList {
	if v < min || v > max {
		return field.ErrorList{field.Invalid(path, v, fmt.Sprintf("must be between %d and %d", min, max))}
	}
	return nil
}

func validateJVB(j *v1alpha1.JVBSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	strategy := path.Child("strategy")
	switch t := *j.Strategy.Type; t {
	case v1alpha1.StrategyStatic, v1alpha1.StrategyAutoscaled:
	default:
		errs = append(errs, field.NotSupported(strategy.Child("type"), t,
			[]v1alpha1.StrategyType{v1alpha1.StrategyStatic, v1alpha1.StrategyAutoscaled}))
	}
	errs = append(errs, validateRange(strategy.Child("replicas"), int64(*j.Strategy.Replicas), 1, 1000)...)
	errs = append(errs, validateRange(strategy.Child("minReplicas"), int64(*j.Strategy.MinReplicas), 1, 1000)...)
	errs = append(errs, validateRange(strategy.Child("maxReplicas"), int64(*j.Strategy.MaxReplicas), 1, 1000)...)
	if min, max := *j.Strategy.MinReplicas, *j.Strategy.MaxReplicas; min > max {
		errs = append(errs, field.Invalid(strategy.Child("minReplicas"), min,
			fmt.Sprintf("must be less than or equal to spec.jvb.strategy.maxReplicas (%d)", max)))
	}

	autoscaling := path.Child("autoscaling")
	if t := *j.Autoscaling.TargetStressLevel; t < 0.01 || t > 1 {
		errs = append(errs, field.Invalid(autoscaling.Child("targetStressLevel"), t,
			"must be between 0.01 and 1 (a bridge's stress_level is 0 when idle and 1 when full)"))
	}
	errs = append(errs, validateRange(autoscaling.Child("scaleDownStabilizationSeconds"),
		int64(*j.Autoscaling.ScaleDownStabilizationSeconds), scaleDownPolicyPeriodSeconds, 3600)...)

	errs = append(errs, validateRange(path.Child("udpPort"), int64(*j.UDPPort), 1024, 65535)...)

	if len(j.AdvertiseIPs) > 16 {
		errs = append(errs, field.TooMany(path.Child("advertiseIPs"), len(j.AdvertiseIPs), 16))
	}
	for i, a := range j.AdvertiseIPs {
		if !validAdvertiseIP(a) {
			errs = append(errs, field.Invalid(path.Child("advertiseIPs").Index(i), a,
				"must be an IP address, optionally followed by #port, such as 203.0.113.7 or 203.0.113.7#30000"))
		}
	}
	if len(j.STUNServers) > 16 {
		errs = append(errs, field.TooMany(path.Child("stunServers"), len(j.STUNServers), 16))
	}
	for i, s := range j.STUNServers {
		if !stunPattern.MatchString(s) || !validPort(s[strings.LastIndex(s, ":")+1:]) {
			errs = append(errs, field.Invalid(path.Child("stunServers").Index(i), s,
				"must be host:port, such as stun.example.org:3478"))
		}
	}

	maxDuration := path.Child("gracefulShutdown", "maxDuration")
	if d := j.GracefulShutdown.MaxDuration.Duration; d < time.Minute || d > 24*time.Hour {
		errs = append(errs, field.Invalid(maxDuration, d.String(), "must be between 1m and 24h"))
	}

	for k, v := range j.NodeSelector {
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, field.Invalid(path.Child("nodeSelector").Key(k), k, msg))
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			errs = append(errs, field.Invalid(path.Child("nodeSelector").Key(k), v, msg))
		}
	}
	for i, t := range j.Tolerations {
		errs = append(errs, validateToleration(t, path.Child("tolerations").Index(i))...)
	}
	return errs
}

func validAdvertiseIP(s string) bool {
	ip, port, hasPort := strings.Cut(s, "#")
	if net.ParseIP(ip) == nil {
		return false
	}
	return !hasPort || validPort(port)
}

func validPort(s string) bool {
	p, err := strconv.Atoi(s)
	return err == nil && p >= 1 && p <= 65535
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

func validateIngress(i *v1alpha1.IngressSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if i.ClassName != nil && *i.ClassName == "" {
		errs = append(errs, field.Invalid(path.Child("className"), "", "must not be empty when set"))
	}
	for k := range i.Annotations {
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, field.Invalid(path.Child("annotations").Key(k), k, msg))
		}
	}
	tls := path.Child("tls")
	if c := i.TLS.ClusterIssuer; c != nil && (*c == "" || len(*c) > 253) {
		errs = append(errs, field.Invalid(tls.Child("clusterIssuer"), *c, "must be the name of a cert-manager ClusterIssuer"))
	}
	if s := i.TLS.SecretName; s != nil {
		for _, msg := range validation.IsDNS1123Subdomain(*s) {
			errs = append(errs, field.Invalid(tls.Child("secretName"), *s, msg))
		}
	}
	return errs
}

func validateTURN(t *v1alpha1.TURNSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t.Host == "" {
		errs = append(errs, field.Required(path.Child("host"), "the TURN server's DNS name or address"))
	} else if len(t.Host) > 253 {
		errs = append(errs, field.TooLong(path.Child("host"), t.Host, 253))
	}
	errs = append(errs, validateRange(path.Child("port"), int64(*t.Port), 1, 65535)...)
	ref := path.Child("secretRef")
	if t.SecretRef.Name == "" {
		errs = append(errs, field.Required(ref.Child("name"), "the Secret that holds the TURN shared secret"))
	} else {
		for _, msg := range validation.IsDNS1123Subdomain(t.SecretRef.Name) {
			errs = append(errs, field.Invalid(ref.Child("name"), t.SecretRef.Name, msg))
		}
	}
	if *t.SecretRef.Key == "" {
		errs = append(errs, field.Invalid(ref.Child("key"), "", "must not be empty when set"))
	}
	return errs
}
