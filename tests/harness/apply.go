package harness

import (
	"context"
	"fmt"
	"os"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// Applier applies objects with server-side apply, the way Crossplane applies composed
// resources, and reports for each whether the API server accepted it.
type Applier struct {
	dynamic      dynamic.Interface
	mapper       *restmapper.DeferredDiscoveryRESTMapper
	fieldManager string
}

// NewApplier applies as fieldManager.
func NewApplier(cfg *rest.Config, fieldManager string) (*Applier, error) {
	// Say each deprecation warning once (v1 XRDs have one), not on every poll.
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = rest.NewWarningWriter(os.Stderr, rest.WarningWriterOptions{Deduplicate: true})
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Applier{dynamic: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)), fieldManager: fieldManager}, nil
}

// Result is the outcome of applying one object.
type Result struct {
	Ref string // Kind namespace/name
	Err error
}

// Report lists the outcome of every object.
type Report []Result

// Accepted counts the objects the API server accepted.
func (r Report) Accepted() int {
	n := 0
	for _, res := range r {
		if res.Err == nil {
			n++
		}
	}
	return n
}

// Rejected lists the objects the API server refused.
func (r Report) Rejected() []Result {
	var out []Result
	for _, res := range r {
		if res.Err != nil {
			out = append(out, res)
		}
	}
	return out
}

// String is one line per object, rejected ones with the API server's reason.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d objects accepted\n", r.Accepted(), len(r))
	for _, res := range r {
		if res.Err == nil {
			fmt.Fprintf(&b, "  accepted %s\n", res.Ref)
		} else {
			fmt.Fprintf(&b, "  REJECTED %s: %v\n", res.Ref, res.Err)
		}
	}
	return b.String()
}

// Ref names an object as Kind namespace/name.
func Ref(u *unstructured.Unstructured) string {
	if ns := u.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s %s/%s", u.GetKind(), ns, u.GetName())
	}
	return fmt.Sprintf("%s %s", u.GetKind(), u.GetName())
}

// Apply applies every object and reports each one; it does not stop at a rejection.
func (a *Applier) Apply(ctx context.Context, objs []*unstructured.Unstructured) Report {
	report := make(Report, 0, len(objs))
	for _, o := range objs {
		report = append(report, Result{Ref: Ref(o), Err: a.apply(ctx, o)})
	}
	return report
}

func (a *Applier) resource(u *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := u.GroupVersionKind()
	mapping, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		// A CRD installed since the last discovery: look again once.
		a.mapper.Reset()
		mapping, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, fmt.Errorf("the API server does not serve %s: %w", gvk, err)
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return a.dynamic.Resource(mapping.Resource).Namespace(u.GetNamespace()), nil
	}
	return a.dynamic.Resource(mapping.Resource), nil
}

func (a *Applier) apply(ctx context.Context, o *unstructured.Unstructured) error {
	res, err := a.resource(o)
	if err != nil {
		return err
	}
	_, err = res.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: a.fieldManager, Force: true})
	return err
}

// Prune deletes what before holds and after does not, as Crossplane deletes a composed
// resource its function stopped returning.
func (a *Applier) Prune(ctx context.Context, before, after []*unstructured.Unstructured) ([]string, error) {
	keep := map[string]bool{}
	for _, o := range after {
		keep[Ref(o)] = true
	}
	var deleted []string
	for _, o := range before {
		if keep[Ref(o)] {
			continue
		}
		res, err := a.resource(o)
		if err != nil {
			return deleted, err
		}
		err = res.Delete(ctx, o.GetName(), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return deleted, fmt.Errorf("cannot delete %s: %w", Ref(o), err)
		}
		deleted = append(deleted, Ref(o))
	}
	return deleted, nil
}

// WithoutOwners prepares objects for a cluster without Crossplane: owner references to the
// XR (or, for CRDs, the XRD) are dropped, since no such owner exists here and the garbage
// collector would delete the dependents.
func WithoutOwners(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, o := range objs {
		c := o.DeepCopy()
		c.SetOwnerReferences(nil)
		out = append(out, c)
	}
	return out
}

// Get reads one object.
func (a *Applier) Get(ctx context.Context, apiVersion, kind, namespace, name string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(namespace)
	res, err := a.resource(u)
	if err != nil {
		return nil, err
	}
	return res.Get(ctx, name, metav1.GetOptions{})
}
