// Package kwok is a driver that makes fake Nodes for kwok (Kubernetes WithOut Kubelet) to
// run: pods bound to them are marked Running, and no machine exists. It is for tests and
// demos of the whole scaling path, and for benchmarks of it.
//
// A node registers at once, or after the group's boot delay: a VM takes a minute or two
// from its creation until its kubelet registers the Node, and what an autoscaler does
// meanwhile (the upcoming nodes cluster-autoscaler counts, the pending pods) is what a
// benchmark of scale-up latency must see. During the delay the instance is "creating" and
// no Node exists, as for a booting VM; the driver records it as a Lease (see Boot), so that
// a restarted node scaler still knows it.
package kwok

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

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

// Annotations and labels of the Lease that records a booting instance.
const (
	// AnnotationRegistersAt is when the booting instance's Node registers (RFC 3339).
	AnnotationRegistersAt = "nodescaler.jit.si/registers-at"
	labelManagedBy        = "app.kubernetes.io/managed-by"
	managedBy             = "jitsi-nodescaler"
)

// Boot is how a group's nodes boot.
type Boot struct {
	// Delay is the time from Create until the Node registers; 0 registers it at once.
	Delay time.Duration
	// Namespace holds the Leases that record booting instances (config.DefaultBootNamespace
	// when empty).
	Namespace string
}

// Clock is the driver's time: the wall clock, or a fake one in tests.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed; Stop cancels it.
	AfterFunc(d time.Duration, f func()) interface{ Stop() bool }
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }
func (wallClock) AfterFunc(d time.Duration, f func()) interface{ Stop() bool } {
	return time.AfterFunc(d, f)
}

// Option configures a Driver.
type Option func(*Driver)

// WithBoot makes the nodes of group register after boot.Delay.
func WithBoot(group string, boot Boot) Option {
	return func(d *Driver) {
		if boot.Namespace == "" {
			boot.Namespace = config.DefaultBootNamespace
		}
		d.boots[group] = boot
	}
}

// WithClock replaces the wall clock.
func WithClock(c Clock) Option { return func(d *Driver) { d.clock = c } }

// WithLogger reports registrations that fail in the background (they are retried on the
// next List).
func WithLogger(l *slog.Logger) Option { return func(d *Driver) { d.log = l } }

// Driver creates Nodes through the Kubernetes API. Its whole state is those Nodes, and the
// Leases of instances still booting.
type Driver struct {
	client    kubernetes.Interface
	templates map[string]config.Template
	boots     map[string]Boot
	clock     Clock
	log       *slog.Logger

	// mu serialises registrations with Delete, so that a Node is never created for an
	// instance being deleted, and guards timers.
	mu     sync.Mutex
	timers map[string]interface{ Stop() bool } // by Lease namespace/name
}

// New returns a driver for the groups whose templates are given, by group id.
func New(client kubernetes.Interface, templates map[string]config.Template, opts ...Option) *Driver {
	d := &Driver{client: client, templates: templates, boots: map[string]Boot{}, clock: wallClock{},
		log: slog.New(slog.DiscardHandler), timers: map[string]interface{ Stop() bool }{}}
	for _, o := range opts {
		o(d)
	}
	return d
}

// Create makes count instances. Without a boot delay each is a Node at once, annotated for
// kwok, labelled with its group and the template's labels, tainted like the template, with
// the template's capacity. With one, each is a Lease until the delay has passed, then that
// Node.
func (d *Driver) Create(ctx context.Context, group string, count int) ([]driver.Instance, error) {
	tmpl, ok := d.templates[group]
	if !ok {
		return nil, fmt.Errorf("%w %q", driver.ErrInvalidGroup, group)
	}
	boot := d.boots[group]
	created := make([]driver.Instance, 0, count)
	for range count {
		name := group + "-" + utilrand.String(8)
		if boot.Delay > 0 {
			if err := d.startBoot(ctx, group, name, boot); err != nil {
				return created, err
			}
		} else if _, err := d.client.CoreV1().Nodes().Create(ctx, NodeFor(group, name, tmpl), metav1.CreateOptions{}); err != nil {
			return created, fmt.Errorf("cannot create node %s: %w", name, err)
		}
		created = append(created, driver.Instance{ID: ProviderIDPrefix + name, Name: name, State: driver.StateCreating})
	}
	return created, nil
}

// startBoot records a booting instance and registers its Node once boot.Delay has passed.
func (d *Driver) startBoot(ctx context.Context, group, name string, boot Boot) error {
	now := d.clock.Now()
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   boot.Namespace,
			Labels:      map[string]string{driver.GroupLabel: group, labelManagedBy: managedBy},
			Annotations: map[string]string{AnnotationRegistersAt: now.Add(boot.Delay).UTC().Format(time.RFC3339Nano)},
		},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(managedBy), AcquireTime: ptr.To(metav1.NewMicroTime(now))},
	}
	if _, err := d.client.CoordinationV1().Leases(boot.Namespace).Create(ctx, lease, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("cannot record booting node %s as a Lease in namespace %s: %w", name, boot.Namespace, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.scheduleLocked(group, lease, boot.Delay)
	return nil
}

// scheduleLocked registers the Node of a booting instance after delay, unless a timer
// already will.
func (d *Driver) scheduleLocked(group string, lease *coordinationv1.Lease, delay time.Duration) {
	key := lease.Namespace + "/" + lease.Name
	if _, ok := d.timers[key]; ok {
		return
	}
	ns, name := lease.Namespace, lease.Name
	d.timers[key] = d.clock.AfterFunc(delay, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		d.mu.Lock()
		defer d.mu.Unlock()
		delete(d.timers, key)
		l, err := d.client.CoordinationV1().Leases(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return // deleted while it booted
		}
		if err == nil {
			err = d.registerLocked(ctx, group, l)
		}
		if err != nil {
			d.log.Error("Cannot register a booted kwok node; the next list retries", "group", group, "node", name, "error", err)
		}
	})
}

// registerLocked creates the Node of a booted instance, then deletes its Lease. A node
// scaler that stops in between finds both, and the next List deletes the Lease.
func (d *Driver) registerLocked(ctx context.Context, group string, lease *coordinationv1.Lease) error {
	tmpl, ok := d.templates[group]
	if !ok {
		return fmt.Errorf("%w %q", driver.ErrInvalidGroup, group)
	}
	_, err := d.client.CoreV1().Nodes().Create(ctx, NodeFor(group, lease.Name, tmpl), metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("cannot create node %s: %w", lease.Name, err)
	}
	return d.deleteLease(ctx, lease)
}

func (d *Driver) deleteLease(ctx context.Context, lease *coordinationv1.Lease) error {
	err := d.client.CoordinationV1().Leases(lease.Namespace).Delete(ctx, lease.Name,
		metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &lease.UID}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("cannot delete the Lease %s/%s of booted node %s: %w", lease.Namespace, lease.Name, lease.Name, err)
	}
	return nil
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

// Delete removes the Nodes, and the instances still booting. The pods of a Node are
// garbage-collected by the controller-manager.
func (d *Driver) Delete(ctx context.Context, group string, ids []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		name, ok := strings.CutPrefix(id, ProviderIDPrefix)
		if !ok || name == "" {
			return fmt.Errorf("%q is not a kwok providerID (%s<node name>)", id, ProviderIDPrefix)
		}
		if err := d.cancelBootLocked(ctx, group, name); err != nil {
			return err
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

// cancelBootLocked forgets a booting instance: its Lease and its timer.
func (d *Driver) cancelBootLocked(ctx context.Context, group, name string) error {
	boot, ok := d.boots[group]
	if !ok {
		return nil
	}
	key := boot.Namespace + "/" + name
	if t, ok := d.timers[key]; ok {
		t.Stop()
		delete(d.timers, key)
	}
	lease, err := d.client.CoordinationV1().Leases(boot.Namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("cannot get the Lease of booting node %s: %w", name, err)
	case lease.Labels[driver.GroupLabel] != group:
		return fmt.Errorf("booting node %s is not in group %s", name, group)
	}
	return d.deleteLease(ctx, lease)
}

// List returns the group's instances: Nodes running once Ready, creating before, deleting
// once their deletion started; and instances still booting, creating. A booting instance
// whose delay has passed (its timer was lost with a restarted node scaler) registers now.
func (d *Driver) List(ctx context.Context, group string) ([]driver.Instance, error) {
	if _, ok := d.templates[group]; !ok {
		return nil, fmt.Errorf("%w %q", driver.ErrInvalidGroup, group)
	}
	selector := labels.SelectorFromSet(labels.Set{driver.GroupLabel: group}).String()
	booting, err := d.listBooting(ctx, group, selector)
	if err != nil {
		return nil, err
	}
	nodes, err := d.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("cannot list the nodes of group %s: %w", group, err)
	}
	out := make([]driver.Instance, 0, len(nodes.Items)+len(booting))
	registered := map[string]bool{}
	for i := range nodes.Items {
		registered[nodes.Items[i].Name] = true
	}
	for _, name := range booting {
		if !registered[name] {
			out = append(out, driver.Instance{ID: ProviderIDPrefix + name, Name: name, State: driver.StateCreating})
		}
	}
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

// listBooting returns the names of the group's booting instances. It registers those whose
// delay has passed, deletes the Leases of those already registered, and makes sure a timer
// waits for each of the others.
func (d *Driver) listBooting(ctx context.Context, group, selector string) ([]string, error) {
	boot, ok := d.boots[group]
	if !ok {
		return nil, nil
	}
	leases, err := d.client.CoordinationV1().Leases(boot.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("cannot list the booting nodes of group %s (Leases in namespace %s): %w", group, boot.Namespace, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var names []string
	now := d.clock.Now()
	for i := range leases.Items {
		lease := &leases.Items[i]
		at, err := time.Parse(time.RFC3339Nano, lease.Annotations[AnnotationRegistersAt])
		if err != nil {
			// Not one of ours, or damaged: register it now rather than boot forever.
			at = now
		}
		if wait := at.Sub(now); wait > 0 {
			d.scheduleLocked(group, lease, wait)
			names = append(names, lease.Name)
			continue
		}
		// Registered meanwhile, or due: either way its Node exists once this returns.
		if err := d.registerLocked(ctx, group, lease); err != nil {
			// Still booting as far as anyone can tell; the next List tries again.
			d.log.Error("Cannot register a booted kwok node", "group", group, "node", lease.Name, "error", err)
			names = append(names, lease.Name)
		}
	}
	return names, nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
