// Package crossplane is a driver that makes each node through Crossplane: it creates one
// composite resource (or claim) of a kind the platform team defines, for example XJitsiNode,
// and their Composition turns it into a VM in whatever cloud Crossplane supports, with
// cloud-init joining it to the cluster. The driver's state is those composites.
package crossplane

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/config"
	"github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/driver"
)

// PlaceholderPrefix starts the id of an instance whose VM has no providerID yet:
// crossplane://<namespace>/<name> or crossplane://<name>.
const PlaceholderPrefix = "crossplane://"

// DefaultOrphanGrace is how long a Node may exist without a composite before the driver
// deletes it. It covers the moment between a VM registering its Node and its composite
// reporting the providerID.
const DefaultOrphanGrace = 2 * time.Minute

// Group is how the driver makes the nodes of one group.
type Group struct {
	Settings config.CrossplaneDriver
	Template config.Template
}

type group struct {
	gvk            schema.GroupVersionKind
	namespace      string
	providerIDPath []string
	spec           map[string]any
	template       config.Template
	outOfResources *regexp.Regexp
}

// Driver creates and deletes composites through the dynamic client.
type Driver struct {
	dynamic     dynamic.Interface
	kube        kubernetes.Interface
	mapper      meta.RESTMapper
	groups      map[string]*group
	orphanGrace time.Duration
	now         func() time.Time
}

// New returns a driver for the groups, by group id. mapper resolves the composite kind to its
// resource (plural), as the API server's discovery knows it.
func New(dyn dynamic.Interface, kube kubernetes.Interface, mapper meta.RESTMapper, groups map[string]Group) (*Driver, error) {
	d := &Driver{dynamic: dyn, kube: kube, mapper: mapper, groups: map[string]*group{}, orphanGrace: DefaultOrphanGrace, now: time.Now}
	for id, g := range groups {
		gv, err := schema.ParseGroupVersion(g.Settings.APIVersion)
		if err != nil {
			return nil, fmt.Errorf("group %s: apiVersion %q: %w", id, g.Settings.APIVersion, err)
		}
		pattern, err := regexp.Compile(g.Settings.OutOfResourcesPattern)
		if err != nil {
			return nil, fmt.Errorf("group %s: outOfResourcesPattern: %w", id, err)
		}
		path := g.Settings.ProviderIDFieldPath
		if path == "" {
			path = config.DefaultProviderIDFieldPath
		}
		d.groups[id] = &group{
			gvk:            gv.WithKind(g.Settings.Kind),
			namespace:      g.Settings.Namespace,
			providerIDPath: strings.Split(path, "."),
			spec:           g.Settings.Spec,
			template:       g.Template,
			outOfResources: pattern,
		}
	}
	return d, nil
}

func (d *Driver) resource(g *group) (dynamic.ResourceInterface, error) {
	mapping, err := d.mapper.RESTMapping(g.gvk.GroupKind(), g.gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("cannot find the resource of %s (is its XRD installed?): %w", g.gvk, err)
	}
	if g.namespace != "" {
		return d.dynamic.Resource(mapping.Resource).Namespace(g.namespace), nil
	}
	return d.dynamic.Resource(mapping.Resource), nil
}

// groupResource returns a group's settings and the client of its composites.
func (d *Driver) groupResource(id string) (*group, dynamic.ResourceInterface, error) {
	g, ok := d.groups[id]
	if !ok {
		return nil, nil, fmt.Errorf("%w %q", driver.ErrInvalidGroup, id)
	}
	res, err := d.resource(g)
	return g, res, err
}

// Create makes count composites. Each one's spec is the configured spec plus nodeGroup and
// node: the labels (the group label among them) and taints its kubelet must register with.
func (d *Driver) Create(ctx context.Context, groupID string, count int) ([]driver.Instance, error) {
	g, res, err := d.groupResource(groupID)
	if err != nil {
		return nil, err
	}
	created := make([]driver.Instance, 0, count)
	for range count {
		obj := d.composite(groupID, g)
		if _, err := res.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			return created, fmt.Errorf("cannot create %s %s: %w", g.gvk.Kind, obj.GetName(), err)
		}
		created = append(created, driver.Instance{ID: placeholderID(obj), State: driver.StateCreating})
	}
	return created, nil
}

func (d *Driver) composite(groupID string, g *group) *unstructured.Unstructured {
	nodeLabels := maps.Clone(g.template.Labels)
	if nodeLabels == nil {
		nodeLabels = map[string]string{}
	}
	nodeLabels[driver.GroupLabel] = groupID
	var taints []any
	for _, t := range g.template.Taints {
		taints = append(taints, map[string]any{"key": t.Key, "value": t.Value, "effect": string(t.Effect)})
	}
	spec := runtime.DeepCopyJSON(g.spec)
	if spec == nil {
		spec = map[string]any{}
	}
	spec["nodeGroup"] = groupID
	spec["node"] = map[string]any{"labels": toAnyMap(nodeLabels), "taints": taints}

	obj := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	obj.SetGroupVersionKind(g.gvk)
	obj.SetName(groupID + "-" + utilrand.String(8))
	obj.SetNamespace(g.namespace)
	obj.SetLabels(map[string]string{driver.GroupLabel: groupID})
	return obj
}

func toAnyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func placeholderID(obj *unstructured.Unstructured) string {
	if ns := obj.GetNamespace(); ns != "" {
		return PlaceholderPrefix + ns + "/" + obj.GetName()
	}
	return PlaceholderPrefix + obj.GetName()
}

// Delete deletes the composites behind the ids; Crossplane then deletes their VMs.
func (d *Driver) Delete(ctx context.Context, groupID string, ids []string) error {
	g, res, err := d.groupResource(groupID)
	if err != nil {
		return err
	}
	list, err := d.listComposites(ctx, groupID, res)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for i := range list {
		obj := &list[i]
		if !want[d.instanceID(g, obj)] && !want[placeholderID(obj)] {
			continue
		}
		uid := obj.GetUID()
		err := res.Delete(ctx, obj.GetName(), metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("cannot delete %s %s: %w", g.gvk.Kind, obj.GetName(), err)
		}
	}
	return nil
}

func (d *Driver) listComposites(ctx context.Context, groupID string, res dynamic.ResourceInterface) ([]unstructured.Unstructured, error) {
	selector := labels.SelectorFromSet(labels.Set{driver.GroupLabel: groupID}).String()
	list, err := res.List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("cannot list the composites of group %s: %w", groupID, err)
	}
	return list.Items, nil
}

func (d *Driver) instanceID(g *group, obj *unstructured.Unstructured) string {
	if id, _, _ := unstructured.NestedString(obj.Object, g.providerIDPath...); id != "" {
		return id
	}
	return placeholderID(obj)
}

// List maps each composite to an instance: deleting once its deletion started, running once
// Ready with a providerID, creating before; a composite whose reconcile fails (Synced=False)
// carries that error, classed OutOfResources when its message says quota or capacity.
//
// cluster-autoscaler cannot ask whether an instance still exists (externalgrpc has no
// HasInstance), so List also deletes the group's Nodes that no composite stands behind any
// more, once they are older than the orphan grace period.
func (d *Driver) List(ctx context.Context, groupID string) ([]driver.Instance, error) {
	g, res, err := d.groupResource(groupID)
	if err != nil {
		return nil, err
	}
	list, err := d.listComposites(ctx, groupID, res)
	if err != nil {
		return nil, err
	}
	out := make([]driver.Instance, 0, len(list))
	known := map[string]bool{}
	for i := range list {
		obj := &list[i]
		inst := driver.Instance{ID: d.instanceID(g, obj), State: driver.StateCreating}
		known[inst.ID] = true
		switch {
		case obj.GetDeletionTimestamp() != nil:
			inst.State = driver.StateDeleting
		case !strings.HasPrefix(inst.ID, PlaceholderPrefix) && conditionStatus(obj, "Ready") == "True":
			inst.State = driver.StateRunning
		}
		if conditionStatus(obj, "Synced") == "False" {
			msg := conditionMessage(obj, "Synced")
			class := driver.Other
			if g.outOfResources.MatchString(msg) {
				class = driver.OutOfResources
			}
			inst.Error = &driver.InstanceError{Code: "CompositeNotSynced", Message: msg, Class: class}
		}
		out = append(out, inst)
	}
	if err := d.deleteOrphanNodes(ctx, groupID, known); err != nil {
		return nil, err
	}
	return out, nil
}

func (d *Driver) deleteOrphanNodes(ctx context.Context, groupID string, known map[string]bool) error {
	selector := labels.SelectorFromSet(labels.Set{driver.GroupLabel: groupID}).String()
	nodes, err := d.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return fmt.Errorf("cannot list the nodes of group %s: %w", groupID, err)
	}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if known[n.Spec.ProviderID] || d.now().Sub(n.CreationTimestamp.Time) < d.orphanGrace {
			continue
		}
		uid := n.UID
		err := d.kube.CoreV1().Nodes().Delete(ctx, n.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("cannot delete node %s, whose instance is gone: %w", n.Name, err)
		}
	}
	return nil
}

func condition(obj *unstructured.Unstructured, conditionType string) map[string]any {
	conditions, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conditions {
		if m, ok := c.(map[string]any); ok && m["type"] == conditionType {
			return m
		}
	}
	return nil
}

func conditionStatus(obj *unstructured.Unstructured, conditionType string) string {
	s, _ := condition(obj, conditionType)["status"].(string)
	return s
}

func conditionMessage(obj *unstructured.Unstructured, conditionType string) string {
	c := condition(obj, conditionType)
	msg, _ := c["message"].(string)
	if reason, _ := c["reason"].(string); reason != "" && msg == "" {
		return reason
	}
	return msg
}
