// Package kwok is a driver that makes fake Nodes for kwok (Kubernetes WithOut Kubelet) to
// run: a node appears in the API within a second, pods bound to it are marked Running, and
// no machine exists. It is for tests and demos of the whole scaling path.
package kwok

import (
	"context"
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"

	"github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/config"
	"github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/driver"
)

// ProviderIDPrefix starts the providerID of every kwok node: kwok://<node name>.
const ProviderIDPrefix = "kwok://"

// Annotations that hand a Node to kwok.
const (
	annotationKwokNode = "kwok.x-k8s.io/node"
	annotationNodeTTL  = "node.alpha.kubernetes.io/ttl"
)

// Driver creates Nodes through the Kubernetes API. Its whole state is those Nodes.
type Driver struct {
	client    kubernetes.Interface
	templates map[string]config.Template
}

// New returns a driver for the groups whose templates are given, by group id.
func New(client kubernetes.Interface, templates map[string]config.Template) *Driver {
	return &Driver{client: client, templates: templates}
}

// Create makes count Nodes, each annotated for kwok, labelled with its group and the
// template's labels, tainted like the template, with the template's capacity.
func (d *Driver) Create(ctx context.Context, group string, count int) ([]driver.Instance, error) {
	tmpl, ok := d.templates[group]
	if !ok {
		return nil, fmt.Errorf("%w %q", driver.ErrInvalidGroup, group)
	}
	created := make([]driver.Instance, 0, count)
	for range count {
		name := group + "-" + utilrand.String(8)
		node := NodeFor(group, name, tmpl)
		if _, err := d.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			return created, fmt.Errorf("cannot create node %s: %w", name, err)
		}
		created = append(created, driver.Instance{ID: node.Spec.ProviderID, Name: name, State: driver.StateCreating})
	}
	return created, nil
}

// NodeFor is the Node the driver creates. cluster-autoscaler's template of the group is the
// same Node, before it exists.
func NodeFor(group, name string, tmpl config.Template) *corev1.Node {
	l := maps.Clone(tmpl.Labels)
	if l == nil {
		l = map[string]string{}
	}
	l[driver.GroupLabel] = group
	l[corev1.LabelHostname] = name
	l[corev1.LabelOSStable] = "linux"
	l[corev1.LabelArchStable] = "amd64"
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Labels:      l,
			Annotations: map[string]string{annotationKwokNode: "fake", annotationNodeTTL: "0"},
		},
		Spec: corev1.NodeSpec{
			ProviderID: ProviderIDPrefix + name,
			Taints:     append([]corev1.Taint(nil), tmpl.Taints...),
		},
		Status: corev1.NodeStatus{
			Capacity:    tmpl.Capacity.DeepCopy(),
			Allocatable: tmpl.Allocatable.DeepCopy(),
		},
	}
}

// Delete removes the Nodes. Their pods are garbage-collected by the controller-manager.
func (d *Driver) Delete(ctx context.Context, group string, ids []string) error {
	for _, id := range ids {
		name, ok := strings.CutPrefix(id, ProviderIDPrefix)
		if !ok || name == "" {
			return fmt.Errorf("%q is not a kwok providerID (%s<node name>)", id, ProviderIDPrefix)
		}
		node, err := d.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("cannot get node %s: %w", name, err)
		}
		if node.Labels[driver.GroupLabel] != group {
			return fmt.Errorf("node %s is not in group %s", name, group)
		}
		// The UID precondition makes sure a Node created again under the same name survives.
		err = d.client.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &node.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("cannot delete node %s: %w", name, err)
		}
	}
	return nil
}

// List returns the group's Nodes: running once Ready, creating before, deleting once their
// deletion started.
func (d *Driver) List(ctx context.Context, group string) ([]driver.Instance, error) {
	if _, ok := d.templates[group]; !ok {
		return nil, fmt.Errorf("%w %q", driver.ErrInvalidGroup, group)
	}
	selector := labels.SelectorFromSet(labels.Set{driver.GroupLabel: group}).String()
	nodes, err := d.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("cannot list the nodes of group %s: %w", group, err)
	}
	out := make([]driver.Instance, 0, len(nodes.Items))
	for i := range nodes.Items {
		n := &nodes.Items[i]
		state := driver.StateCreating
		switch {
		case n.DeletionTimestamp != nil:
			state = driver.StateDeleting
		case nodeReady(n):
			state = driver.StateRunning
		}
		id := n.Spec.ProviderID
		if id == "" {
			id = ProviderIDPrefix + n.Name
		}
		out = append(out, driver.Instance{ID: id, Name: n.Name, State: state})
	}
	return out, nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
