package crossplane

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/config"
	"github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/driver"
)

var (
	gvk = schema.GroupVersionKind{Group: "nodes.jit.si", Version: "v1alpha1", Kind: "XJitsiNode"}
	gvr = schema.GroupVersionResource{Group: "nodes.jit.si", Version: "v1alpha1", Resource: "xjitsinodes"}
)

type fixture struct {
	driver  *Driver
	dynamic *dynamicfake.FakeDynamicClient
	kube    *fake.Clientset
	now     time.Time
}

func newFixture(t *testing.T, namespace string) *fixture {
	t.Helper()
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{gvr: "XJitsiNodeList"})
	kube := fake.NewClientset()
	mapper := meta.NewDefaultRESTMapper(nil)
	scope := meta.RESTScopeRoot
	if namespace != "" {
		scope = meta.RESTScopeNamespace
	}
	mapper.Add(gvk, scope)
	settings := config.CrossplaneDriver{
		APIVersion: "nodes.jit.si/v1alpha1", Kind: "XJitsiNode", Namespace: namespace,
		ProviderIDFieldPath: "status.atProvider.providerID", OutOfResourcesPattern: config.DefaultOutOfResourcesPattern,
		Spec: map[string]any{"size": "cpx31", "location": "fsn1"},
	}
	tmpl := config.Template{
		Labels:   map[string]string{"jitsi.org/role": "jvb"},
		Taints:   []corev1.Taint{{Key: "jitsi.org/role", Value: "jvb", Effect: corev1.TaintEffectNoSchedule}},
		Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")},
	}
	d, err := New(dyn, kube, mapper, map[string]Group{"jvb": {Settings: settings, Template: tmpl}})
	require.NoError(t, err)
	f := &fixture{driver: d, dynamic: dyn, kube: kube, now: time.Now()}
	d.now = func() time.Time { return f.now }
	return f
}

func (f *fixture) composites(t *testing.T, namespace string) []unstructured.Unstructured {
	t.Helper()
	list, err := f.dynamic.Resource(gvr).Namespace(namespace).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	return list.Items
}

// setStatus is what Crossplane and the user's Composition do as the VM comes up.
func (f *fixture) setStatus(t *testing.T, name, namespace, providerID string, conditions ...map[string]any) {
	t.Helper()
	obj, err := f.dynamic.Resource(gvr).Namespace(namespace).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	if providerID != "" {
		require.NoError(t, unstructured.SetNestedField(obj.Object, providerID, "status", "atProvider", "providerID"))
	}
	var cs []any
	for _, c := range conditions {
		cs = append(cs, c)
	}
	require.NoError(t, unstructured.SetNestedSlice(obj.Object, cs, "status", "conditions"))
	_, err = f.dynamic.Resource(gvr).Namespace(namespace).Update(context.Background(), obj, metav1.UpdateOptions{})
	require.NoError(t, err)
}

func cond(t, status, msg string) map[string]any {
	return map[string]any{"type": t, "status": status, "message": msg}
}

func TestCreate(t *testing.T) {
	f := newFixture(t, "")
	created, err := f.driver.Create(context.Background(), "jvb", 2)
	require.NoError(t, err)
	require.Len(t, created, 2)
	for _, i := range created {
		assert.True(t, strings.HasPrefix(i.ID, "crossplane://jvb-"), i.ID)
		assert.Equal(t, driver.StateCreating, i.State)
	}
	items := f.composites(t, "")
	require.Len(t, items, 2)
	obj := items[0]
	assert.Equal(t, "XJitsiNode", obj.GetKind())
	assert.Equal(t, "jvb", obj.GetLabels()[driver.GroupLabel])
	spec := obj.Object["spec"].(map[string]any)
	assert.Equal(t, "cpx31", spec["size"])
	assert.Equal(t, "jvb", spec["nodeGroup"])
	node := spec["node"].(map[string]any)
	assert.Equal(t, map[string]any{"jitsi.org/role": "jvb", driver.GroupLabel: "jvb"}, node["labels"])
	assert.Equal(t, []any{map[string]any{"key": "jitsi.org/role", "value": "jvb", "effect": "NoSchedule"}}, node["taints"])

	_, err = f.driver.Create(context.Background(), "nope", 1)
	require.ErrorIs(t, err, driver.ErrInvalidGroup)
}

func TestListMapsStatus(t *testing.T) {
	f := newFixture(t, "")
	_, err := f.driver.Create(context.Background(), "jvb", 4)
	require.NoError(t, err)
	items := f.composites(t, "")
	f.setStatus(t, items[0].GetName(), "", "hcloud://1001", cond("Ready", "True", ""), cond("Synced", "True", ""))
	f.setStatus(t, items[1].GetName(), "", "hcloud://1002", cond("Ready", "False", "Unready resources: server"), cond("Synced", "True", ""))
	f.setStatus(t, items[2].GetName(), "", "", cond("Synced", "False", "create failed: QuotaExceeded: server limit exceeded for project"))
	f.setStatus(t, items[3].GetName(), "", "", cond("Synced", "False", "cannot render: invalid image ubuntu-99"))

	instances, err := f.driver.List(context.Background(), "jvb")
	require.NoError(t, err)
	byID := map[string]driver.Instance{}
	for _, i := range instances {
		byID[i.ID] = i
	}
	assert.Equal(t, driver.StateRunning, byID["hcloud://1001"].State, "Ready with a providerID is running")
	assert.Equal(t, driver.StateCreating, byID["hcloud://1002"].State, "not Ready yet is creating")
	quota := byID["crossplane://"+items[2].GetName()]
	require.NotNil(t, quota.Error)
	assert.Equal(t, driver.OutOfResources, quota.Error.Class, "a quota failure makes CA try another group")
	assert.Contains(t, quota.Error.Message, "QuotaExceeded")
	other := byID["crossplane://"+items[3].GetName()]
	require.NotNil(t, other.Error)
	assert.Equal(t, driver.Other, other.Error.Class)
}

func TestDelete(t *testing.T) {
	f := newFixture(t, "jitsi-nodes")
	created, err := f.driver.Create(context.Background(), "jvb", 3)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(created[0].ID, "crossplane://jitsi-nodes/jvb-"), created[0].ID)
	items := f.composites(t, "jitsi-nodes")
	f.setStatus(t, items[0].GetName(), "jitsi-nodes", "hcloud://2001", cond("Ready", "True", ""))

	// By providerID for a registered node, by placeholder for one that never registered, and
	// an id that is gone already.
	placeholder := "crossplane://jitsi-nodes/" + items[1].GetName()
	require.NoError(t, f.driver.Delete(context.Background(), "jvb", []string{"hcloud://2001", placeholder, "hcloud://gone"}))
	left := f.composites(t, "jitsi-nodes")
	require.Len(t, left, 1)
	assert.Equal(t, items[2].GetName(), left[0].GetName())
}

func TestListDeletesOrphanNodes(t *testing.T) {
	f := newFixture(t, "")
	_, err := f.driver.Create(context.Background(), "jvb", 1)
	require.NoError(t, err)
	items := f.composites(t, "")
	f.setStatus(t, items[0].GetName(), "", "hcloud://3001", cond("Ready", "True", ""))

	node := func(name, providerID string, age time.Duration, group string) {
		labels := map[string]string{}
		if group != "" {
			labels[driver.GroupLabel] = group
		}
		_, err := f.kube.CoreV1().Nodes().Create(context.Background(), &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, CreationTimestamp: metav1.NewTime(f.now.Add(-age))},
			Spec:       corev1.NodeSpec{ProviderID: providerID},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	node("live", "hcloud://3001", time.Hour, "jvb")
	node("orphan", "hcloud://3999", time.Hour, "jvb")
	node("just-joined", "hcloud://4000", 10*time.Second, "jvb")
	node("not-ours", "hcloud://5000", time.Hour, "")

	_, err = f.driver.List(context.Background(), "jvb")
	require.NoError(t, err)
	nodes, err := f.kube.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	var names []string
	for _, n := range nodes.Items {
		names = append(names, n.Name)
	}
	assert.ElementsMatch(t, []string{"live", "just-joined", "not-ours"}, names,
		"only the group's Node whose VM is gone, past the grace period, is deleted")
}
