package kwok

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/config"
	"github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/driver"
)

var templates = map[string]config.Template{
	"jvb": {
		Labels:      map[string]string{"jitsi.org/role": "jvb"},
		Taints:      []corev1.Taint{{Key: "jitsi.org/role", Value: "jvb", Effect: corev1.TaintEffectNoSchedule}},
		Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")},
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")},
	},
	"other": {Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi"), corev1.ResourcePods: resource.MustParse("10")}},
}

// fakeClock moves only when Advance says so, and runs the calls that fall due in the
// caller's goroutine.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	clock   *fakeClock
	at      time.Time
	f       func()
	stopped bool
}

func (t *fakeTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) interface{ Stop() bool } {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clock: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.stopped {
			n++
		}
	}
	return n
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	var rest []*fakeTimer
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !t.at.After(c.now):
			t.stopped = true
			due = append(due, t)
		default:
			rest = append(rest, t)
		}
	}
	c.timers = rest
	c.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}

func newClock() *fakeClock { return &fakeClock{now: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)} }

func nodeNames(t *testing.T, kube *fake.Clientset) []string {
	t.Helper()
	nodes, err := kube.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	var out []string
	for _, n := range nodes.Items {
		out = append(out, n.Name)
	}
	sort.Strings(out)
	return out
}

func leaseNames(t *testing.T, kube *fake.Clientset, namespace string) []string {
	t.Helper()
	leases, err := kube.CoordinationV1().Leases(namespace).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	var out []string
	for _, l := range leases.Items {
		out = append(out, l.Name)
	}
	sort.Strings(out)
	return out
}

func instanceNames(instances []driver.Instance) []string {
	var out []string
	for _, i := range instances {
		out = append(out, i.Name)
	}
	sort.Strings(out)
	return out
}

func TestCreateWithoutBootDelayRegistersAtOnce(t *testing.T) {
	kube := fake.NewClientset()
	d := New(kube, templates)
	created, err := d.Create(context.Background(), "jvb", 2)
	require.NoError(t, err)
	require.Len(t, created, 2)
	assert.Equal(t, instanceNames(created), nodeNames(t, kube))
	assert.Empty(t, leaseNames(t, kube, config.DefaultBootNamespace))
	for _, c := range created {
		assert.Equal(t, ProviderIDPrefix+c.Name, c.ID)
		assert.Equal(t, driver.StateCreating, c.State, "creating until kwok makes the Node Ready")
	}
}

func TestBootDelay(t *testing.T) {
	ctx := context.Background()
	kube := fake.NewClientset()
	clock := newClock()
	d := New(kube, templates, WithClock(clock), WithBoot("jvb", Boot{Delay: 90 * time.Second}))

	created, err := d.Create(ctx, "jvb", 3)
	require.NoError(t, err)
	require.Len(t, created, 3)
	assert.Empty(t, nodeNames(t, kube), "a booting VM has no Node yet")
	assert.Equal(t, instanceNames(created), leaseNames(t, kube, config.DefaultBootNamespace), "each booting instance is recorded")
	lease, err := kube.CoordinationV1().Leases(config.DefaultBootNamespace).Get(ctx, created[0].Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "jvb", lease.Labels[driver.GroupLabel])
	assert.Equal(t, "2026-12-07T10:01:30Z", lease.Annotations[AnnotationRegistersAt])

	listed, err := d.List(ctx, "jvb")
	require.NoError(t, err)
	assert.Equal(t, instanceNames(created), instanceNames(listed))
	for _, i := range listed {
		assert.Equal(t, driver.StateCreating, i.State)
		assert.Equal(t, ProviderIDPrefix+i.Name, i.ID, "the providerID is known from the start")
	}
	other, err := d.List(ctx, "other")
	require.NoError(t, err)
	assert.Empty(t, other, "another group's list holds none of them")

	clock.Advance(89 * time.Second)
	assert.Empty(t, nodeNames(t, kube), "still booting after 89 s")
	clock.Advance(time.Second)
	assert.Equal(t, instanceNames(created), nodeNames(t, kube), "the Nodes register once the delay has passed")
	assert.Empty(t, leaseNames(t, kube, config.DefaultBootNamespace), "and their records go")
	node, err := kube.CoreV1().Nodes().Get(ctx, created[0].Name, metav1.GetOptions{})
	require.NoError(t, err)
	want := NodeFor("jvb", created[0].Name, templates["jvb"])
	assert.Equal(t, want.Labels, node.Labels, "the same Node as without a delay")
	assert.Equal(t, want.Annotations, node.Annotations)
	assert.Equal(t, want.Spec, node.Spec)
	assert.Equal(t, want.Status, node.Status)

	listed, err = d.List(ctx, "jvb")
	require.NoError(t, err)
	assert.Equal(t, instanceNames(created), instanceNames(listed), "each instance once")
}

func TestDeleteWhileBooting(t *testing.T) {
	ctx := context.Background()
	kube := fake.NewClientset()
	clock := newClock()
	d := New(kube, templates, WithClock(clock), WithBoot("jvb", Boot{Delay: time.Minute, Namespace: "nodescaler"}))
	created, err := d.Create(ctx, "jvb", 2)
	require.NoError(t, err)

	require.NoError(t, d.Delete(ctx, "other", []string{created[0].ID}), "an id the group does not know is ignored")
	assert.Len(t, leaseNames(t, kube, "nodescaler"), 2, "and left alone")
	require.NoError(t, d.Delete(ctx, "jvb", []string{created[0].ID}))
	assert.Equal(t, []string{created[1].Name}, leaseNames(t, kube, "nodescaler"))
	assert.Equal(t, 1, clock.pending(), "the deleted instance's boot is cancelled")

	clock.Advance(2 * time.Minute)
	assert.Equal(t, []string{created[1].Name}, nodeNames(t, kube), "no Node for the deleted instance")
	listed, err := d.List(ctx, "jvb")
	require.NoError(t, err)
	assert.Equal(t, []string{created[1].Name}, instanceNames(listed))
}

// TestRestartWhileBooting: a node scaler restarted during a boot finds the booting
// instances in their Leases, and registers each when its delay has passed, or at once when
// it passed while nobody watched.
func TestRestartWhileBooting(t *testing.T) {
	ctx := context.Background()
	kube := fake.NewClientset()
	clock := newClock()
	before := New(kube, templates, WithClock(clock), WithBoot("jvb", Boot{Delay: 90 * time.Second}))
	first, err := before.Create(ctx, "jvb", 1)
	require.NoError(t, err)
	clock.Advance(60 * time.Second)
	second, err := before.Create(ctx, "jvb", 1)
	require.NoError(t, err)

	// The old process is gone: its timers never fire.
	restartClock := &fakeClock{now: clock.Now()}
	after := New(kube, templates, WithClock(restartClock), WithBoot("jvb", Boot{Delay: 90 * time.Second}))
	restartClock.Advance(45 * time.Second) // first is due, second is not
	listed, err := after.List(ctx, "jvb")
	require.NoError(t, err)
	assert.Equal(t, instanceNames(append(first, second...)), instanceNames(listed), "nothing lost")
	assert.Equal(t, []string{first[0].Name}, nodeNames(t, kube), "the overdue instance registered during the list")
	assert.Equal(t, []string{second[0].Name}, leaseNames(t, kube, config.DefaultBootNamespace))

	restartClock.Advance(45 * time.Second)
	assert.Equal(t, instanceNames(append(first, second...)), nodeNames(t, kube), "the list re-armed the other's boot")
	assert.Empty(t, leaseNames(t, kube, config.DefaultBootNamespace))
}

// TestStoppedBetweenNodeAndLease: a node scaler that stopped after creating a Node and
// before deleting its Lease leaves both; the next list counts the instance once and
// removes the Lease.
func TestStoppedBetweenNodeAndLease(t *testing.T) {
	ctx := context.Background()
	kube := fake.NewClientset()
	clock := newClock()
	d := New(kube, templates, WithClock(clock), WithBoot("jvb", Boot{Delay: time.Second}))
	created, err := d.Create(ctx, "jvb", 1)
	require.NoError(t, err)
	_, err = kube.CoreV1().Nodes().Create(ctx, NodeFor("jvb", created[0].Name, templates["jvb"]), metav1.CreateOptions{})
	require.NoError(t, err)

	clock.Advance(time.Second)
	listed, err := d.List(ctx, "jvb")
	require.NoError(t, err)
	assert.Equal(t, []string{created[0].Name}, instanceNames(listed))
	assert.Empty(t, leaseNames(t, kube, config.DefaultBootNamespace))
}
