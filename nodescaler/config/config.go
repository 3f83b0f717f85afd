// Package config reads jitsi-nodescaler's node group configuration: a YAML file, usually
// mounted from a ConfigMap. Load rejects a bad file at start-up with an error per bad field.
package config

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Config is the whole file.
type Config struct {
	// NodeGroups are the groups cluster-autoscaler may scale.
	NodeGroups []NodeGroup `json:"nodeGroups"`
}

// NodeGroup is one group of identical nodes.
type NodeGroup struct {
	// ID names the group to cluster-autoscaler, and is written on each of its nodes.
	ID string `json:"id"`
	// MinSize and MaxSize bound the number of nodes.
	MinSize int32 `json:"minSize"`
	MaxSize int32 `json:"maxSize"`
	// Template describes a node of the group before it exists, so that cluster-autoscaler
	// can scale the group up from zero.
	Template Template `json:"template"`
	// Driver creates and deletes the nodes.
	Driver Driver `json:"driver"`
	// ScaleDown overrides cluster-autoscaler's scale-down options for this group.
	ScaleDown *ScaleDown `json:"scaleDown,omitempty"`
}

// Template is what a new node of the group will look like.
type Template struct {
	// Labels of the node, such as jitsi.org/role: jvb. The JVB nodeSelector must match them.
	Labels map[string]string `json:"labels,omitempty"`
	// Taints of the node, such as jitsi.org/role=jvb:NoSchedule.
	Taints []corev1.Taint `json:"taints,omitempty"`
	// Capacity of the node: cpu, memory and pods at least.
	Capacity corev1.ResourceList `json:"capacity"`
	// Allocatable defaults to Capacity.
	Allocatable corev1.ResourceList `json:"allocatable,omitempty"`
}

// Driver selects exactly one driver and holds its settings.
type Driver struct {
	Kwok       *KwokDriver       `json:"kwok,omitempty"`
	Crossplane *CrossplaneDriver `json:"crossplane,omitempty"`
}

// KwokDriver creates fake Node objects that kwok runs. For tests and demos.
type KwokDriver struct {
	// BootDelay is how long a new node takes to register, the way a VM boots for a minute or
	// two before its kubelet joins the cluster: until it has passed the instance is
	// "creating" and no Node exists. 0 (the default) registers the Node at once.
	BootDelay *metav1.Duration `json:"bootDelay,omitempty"`
	// BootNamespace holds a Lease per booting instance: the driver's record of an instance
	// that has no Node yet, so that a restarted node scaler still finds it. Default
	// DefaultBootNamespace. Used only with a BootDelay.
	BootNamespace string `json:"bootNamespace,omitempty"`
}

// DefaultBootNamespace is where the kwok driver records booting instances.
const DefaultBootNamespace = "kube-system"

// MaxBootDelay bounds the kwok driver's boot delay: a VM that takes longer is broken, and
// cluster-autoscaler gives up on unregistered instances after --max-node-provision-time.
const MaxBootDelay = time.Hour

// CrossplaneDriver creates one composite resource (or claim) per node.
type CrossplaneDriver struct {
	// APIVersion and Kind of the composite or claim, for example nodes.jit.si/v1alpha1
	// XJitsiNode. The user's Composition turns it into a VM that joins the cluster.
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Namespace of the resources, for a claim or a namespaced XR. Empty for a cluster-scoped XR.
	Namespace string `json:"namespace,omitempty"`
	// ProviderIDFieldPath is where the composite reports its node's providerID, as the
	// kubelet will write it. Default: status.providerID.
	ProviderIDFieldPath string `json:"providerIDFieldPath,omitempty"`
	// Spec is copied into every composite's spec. The driver adds spec.nodeGroup and
	// spec.node (the labels and taints the node must register with).
	Spec map[string]any `json:"spec,omitempty"`
	// OutOfResourcesPattern is a regular expression matched against a failed composite's
	// message: a match reports the failure as OutOfResources (quota, capacity), which makes
	// cluster-autoscaler try another group. Default: quota|insufficient|capacity|exceeded.
	OutOfResourcesPattern string `json:"outOfResourcesPattern,omitempty"`
}

// ScaleDown overrides cluster-autoscaler's options for one group. Unset fields keep CA's
// own values.
type ScaleDown struct {
	UtilizationThreshold        *float64         `json:"utilizationThreshold,omitempty"`
	GPUUtilizationThreshold     *float64         `json:"gpuUtilizationThreshold,omitempty"`
	UnneededTime                *metav1.Duration `json:"unneededTime,omitempty"`
	UnreadyTime                 *metav1.Duration `json:"unreadyTime,omitempty"`
	MaxNodeProvisionTime        *metav1.Duration `json:"maxNodeProvisionTime,omitempty"`
	IgnoreDaemonSetsUtilization *bool            `json:"ignoreDaemonSetsUtilization,omitempty"`
	ZeroOrMaxNodeScaling        *bool            `json:"zeroOrMaxNodeScaling,omitempty"`
}

// DefaultProviderIDFieldPath is where a composite reports its node's providerID.
const DefaultProviderIDFieldPath = "status.providerID"

// DefaultOutOfResourcesPattern recognises quota and capacity failures.
const DefaultOutOfResourcesPattern = `(?i)quota|insufficient|capacity|exceeded|out of resources`

var fieldPathPattern = regexp.MustCompile(`^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$`)

// Load reads and validates a config file.
func Load(path string) (*Config, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the config file: %w", err)
	}
	cfg, err := Parse(body)
	if err != nil {
		return nil, fmt.Errorf("invalid config file %s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes a config strictly (an unknown or misspelt field is an error), applies the
// defaults and validates it.
func Parse(body []byte) (*Config, error) {
	js, err := yaml.YAMLToJSON(body)
	if err != nil {
		return nil, fmt.Errorf("cannot decode: %w", err)
	}
	// Case-sensitive and strict: a misspelt field such as maxsize is an error, not ignored.
	cfg := &Config{}
	strictErrs, err := sigsjson.UnmarshalStrict(js, cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot decode: %w", err)
	}
	if len(strictErrs) > 0 {
		return nil, fmt.Errorf("cannot decode: %w", errors.Join(strictErrs...))
	}
	cfg.Default()
	if errs := cfg.Validate(); len(errs) > 0 {
		msgs := make([]string, 0, len(errs))
		for _, e := range errs {
			msgs = append(msgs, e.Error())
		}
		return nil, errors.New(strings.Join(msgs, "; "))
	}
	return cfg, nil
}

// Default fills in the defaults.
func (c *Config) Default() {
	for i := range c.NodeGroups {
		g := &c.NodeGroups[i]
		if len(g.Template.Allocatable) == 0 {
			g.Template.Allocatable = g.Template.Capacity.DeepCopy()
		}
		if d := g.Driver.Kwok; d != nil && d.BootNamespace == "" {
			d.BootNamespace = DefaultBootNamespace
		}
		if d := g.Driver.Crossplane; d != nil {
			if d.ProviderIDFieldPath == "" {
				d.ProviderIDFieldPath = DefaultProviderIDFieldPath
			}
			if d.OutOfResourcesPattern == "" {
				d.OutOfResourcesPattern = DefaultOutOfResourcesPattern
			}
		}
	}
}

// Validate returns one error per bad field.
func (c *Config) Validate() field.ErrorList {
	var errs field.ErrorList
	path := field.NewPath("nodeGroups")
	if len(c.NodeGroups) == 0 {
		errs = append(errs, field.Required(path, "at least one node group"))
	}
	seen := map[string]bool{}
	for i := range c.NodeGroups {
		g := &c.NodeGroups[i]
		p := path.Index(i)
		switch {
		case g.ID == "":
			errs = append(errs, field.Required(p.Child("id"), "the group's name"))
		case len(validation.IsDNS1123Label(g.ID)) > 0:
			errs = append(errs, field.Invalid(p.Child("id"), g.ID, "must be a DNS label: lower case letters, digits and '-', at most 63 characters"))
		case seen[g.ID]:
			errs = append(errs, field.Duplicate(p.Child("id"), g.ID))
		}
		seen[g.ID] = true
		if g.MinSize < 0 {
			errs = append(errs, field.Invalid(p.Child("minSize"), g.MinSize, "must be 0 or more"))
		}
		if g.MaxSize < 1 {
			errs = append(errs, field.Invalid(p.Child("maxSize"), g.MaxSize, "must be 1 or more"))
		} else if g.MaxSize < g.MinSize {
			errs = append(errs, field.Invalid(p.Child("maxSize"), g.MaxSize, fmt.Sprintf("must be at least minSize (%d)", g.MinSize)))
		}
		errs = append(errs, validateTemplate(&g.Template, p.Child("template"))...)
		errs = append(errs, validateDriver(&g.Driver, p.Child("driver"))...)
		if g.ScaleDown != nil {
			errs = append(errs, validateScaleDown(g.ScaleDown, p.Child("scaleDown"))...)
		}
	}
	return errs
}

func validateTemplate(t *Template, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for k, v := range t.Labels {
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, field.Invalid(p.Child("labels").Key(k), k, msg))
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			errs = append(errs, field.Invalid(p.Child("labels").Key(k), v, msg))
		}
	}
	for i, taint := range t.Taints {
		tp := p.Child("taints").Index(i)
		if taint.Key == "" {
			errs = append(errs, field.Required(tp.Child("key"), ""))
		} else {
			for _, msg := range validation.IsQualifiedName(taint.Key) {
				errs = append(errs, field.Invalid(tp.Child("key"), taint.Key, msg))
			}
		}
		switch taint.Effect {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			errs = append(errs, field.NotSupported(tp.Child("effect"), taint.Effect,
				[]corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute}))
		}
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods} {
		q, ok := t.Capacity[name]
		if !ok {
			errs = append(errs, field.Required(p.Child("capacity").Key(string(name)),
				"cluster-autoscaler needs it to simulate a new node"))
			continue
		}
		if q.Sign() <= 0 {
			errs = append(errs, field.Invalid(p.Child("capacity").Key(string(name)), q.String(), "must be more than 0"))
		}
	}
	for name, q := range t.Allocatable {
		if c, ok := t.Capacity[name]; ok && q.Cmp(c) > 0 {
			errs = append(errs, field.Invalid(p.Child("allocatable").Key(string(name)), q.String(),
				fmt.Sprintf("must not exceed capacity (%s)", c.String())))
		}
	}
	return errs
}

func validateDriver(d *Driver, p *field.Path) field.ErrorList {
	set := 0
	if d.Kwok != nil {
		set++
	}
	if d.Crossplane != nil {
		set++
	}
	if set != 1 {
		return field.ErrorList{field.Invalid(p, fmt.Sprintf("%d drivers", set), "must set exactly one of kwok or crossplane")}
	}
	if d.Kwok != nil {
		return validateKwok(d.Kwok, p.Child("kwok"))
	}
	var errs field.ErrorList
	cp := d.Crossplane
	cpp := p.Child("crossplane")
	if cp.APIVersion == "" {
		errs = append(errs, field.Required(cpp.Child("apiVersion"), "the API version of the node composite, such as nodes.jit.si/v1alpha1"))
	} else if group, version, ok := strings.Cut(cp.APIVersion, "/"); !ok || group == "" || version == "" {
		errs = append(errs, field.Invalid(cpp.Child("apiVersion"), cp.APIVersion, "must be group/version, such as nodes.jit.si/v1alpha1"))
	}
	if cp.Kind == "" {
		errs = append(errs, field.Required(cpp.Child("kind"), "the kind of the node composite, such as XJitsiNode"))
	}
	if cp.Namespace != "" {
		for _, msg := range validation.IsDNS1123Label(cp.Namespace) {
			errs = append(errs, field.Invalid(cpp.Child("namespace"), cp.Namespace, msg))
		}
	}
	if !fieldPathPattern.MatchString(cp.ProviderIDFieldPath) {
		errs = append(errs, field.Invalid(cpp.Child("providerIDFieldPath"), cp.ProviderIDFieldPath,
			"must be a dotted field path such as status.atProvider.providerID"))
	}
	if _, err := regexp.Compile(cp.OutOfResourcesPattern); err != nil {
		errs = append(errs, field.Invalid(cpp.Child("outOfResourcesPattern"), cp.OutOfResourcesPattern, "must be a regular expression: "+err.Error()))
	}
	for _, reserved := range []string{"nodeGroup", "node"} {
		if _, ok := cp.Spec[reserved]; ok {
			errs = append(errs, field.Forbidden(cpp.Child("spec", reserved), "the driver sets it on every composite"))
		}
	}
	return errs
}

func validateKwok(k *KwokDriver, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if k.BootDelay != nil && (k.BootDelay.Duration < 0 || k.BootDelay.Duration > MaxBootDelay) {
		errs = append(errs, field.Invalid(p.Child("bootDelay"), k.BootDelay.Duration.String(),
			fmt.Sprintf("must be a duration from 0 to %s, such as 90s", MaxBootDelay)))
	}
	if k.BootNamespace != "" { // empty until Default fills it in
		for _, msg := range validation.IsDNS1123Label(k.BootNamespace) {
			errs = append(errs, field.Invalid(p.Child("bootNamespace"), k.BootNamespace, "must be a namespace name: "+msg))
		}
	}
	return errs
}

func validateScaleDown(s *ScaleDown, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for name, v := range map[string]*float64{"utilizationThreshold": s.UtilizationThreshold, "gpuUtilizationThreshold": s.GPUUtilizationThreshold} {
		if v != nil && (*v < 0 || *v > 1) {
			errs = append(errs, field.Invalid(p.Child(name), *v, "must be between 0 and 1"))
		}
	}
	for name, v := range map[string]*metav1.Duration{"unneededTime": s.UnneededTime, "unreadyTime": s.UnreadyTime} {
		if v != nil && v.Duration < 0 {
			errs = append(errs, field.Invalid(p.Child(name), v.Duration.String(), "must not be negative"))
		}
	}
	if v := s.MaxNodeProvisionTime; v != nil && v.Duration < time.Minute {
		// cluster-autoscaler deletes nodes that are not up by then, and a VM takes minutes.
		errs = append(errs, field.Invalid(p.Child("maxNodeProvisionTime"), v.Duration.String(), "must be at least 1m"))
	}
	return errs
}
