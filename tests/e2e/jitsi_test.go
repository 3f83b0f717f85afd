package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
)

// fieldManager is the field manager Crossplane applies composed resources with.
const fieldManager = "apiextensions.crossplane.io/composed"

const (
	sampleNamespace = "university"
	// sampleBridges selects the sample's videobridges.
	sampleBridges = "app.kubernetes.io/instance=jitsi-sample,app.kubernetes.io/component=jvb"
	jvbName       = "jitsi-sample-jvb"
	jvbReplicas   = 5
)

// jitsiSuite is one cluster with the rendered examples applied.
type jitsiSuite struct {
	cluster  *harness.Cluster
	renderer *harness.Renderer
	applier  *harness.Applier
}

func TestJitsiOnCluster(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	ctx := testContext(t, 15*time.Minute)
	procs := testProcesses(t, c)
	renderer, err := harness.StartFunction(ctx, tools, procs)
	require.NoError(t, err)
	applier, err := harness.NewApplier(c.Config, fieldManager)
	require.NoError(t, err)
	s := &jitsiSuite{cluster: c, renderer: renderer, applier: applier}

	steps := []struct {
		name string
		run  func(*testing.T, context.Context)
	}{
		{"ClaimsValidatedByTheAPIServer", s.claimsValidated},
		{"EveryComposedObjectAccepted", s.everyObjectAccepted},
		{"OneBridgePerNode", s.oneBridgePerNode},
		{"AddingANodeRunsExactlyOneBridge", s.addingANodeRunsOneBridge},
		{"ControlPlaneComponentsAvailable", s.componentsAvailable},
		{"SurgeWouldDeadlock", s.surgeWouldDeadlock},
	}
	for _, step := range steps {
		if !t.Run(step.name, func(t *testing.T) { step.run(t, ctx) }) {
			t.FailNow()
		}
	}
}

// claimsValidated installs the CRDs Crossplane derives from the XRD, then submits the example
// claims and a bad one: the API server enforces the schema, CEL rules included.
func (s *jitsiSuite) claimsValidated(t *testing.T, ctx context.Context) {
	crds, err := tools.ConvertXRD(ctx)
	require.NoError(t, err)
	report := s.applier.Apply(ctx, harness.WithoutOwners(crds))
	require.Len(t, report.Rejected(), 0, report.String())
	for _, crd := range crds {
		require.NoError(t, harness.Poll(ctx, 30*time.Second, func() (bool, error) {
			return crdEstablished(ctx, s, crd.GetName())
		}), "CRD %s never became established", crd.GetName())
	}

	var claims []*unstructured.Unstructured
	for _, f := range []string{"claim.yaml", "claim-static.yaml"} {
		objs := readObjects(t, filepath.Join(tools.Root, "examples", f))
		for _, o := range objs {
			ensureNamespace(t, ctx, s.cluster, o.GetNamespace())
		}
		claims = append(claims, objs...)
	}
	report = s.applier.Apply(ctx, claims)
	t.Log(report.String())
	require.Empty(t, report.Rejected())

	bad := readObjects(t, filepath.Join(tools.Root, "fn", "testdata", "invalid", "claim-bad-strategy.yaml"))
	report = s.applier.Apply(ctx, bad)
	t.Log(report.String())
	require.Len(t, report.Rejected(), 1)
	msg := report.Rejected()[0].Err.Error()
	for _, want := range []string{
		"spec.domain", "spec.jvb.strategy.minReplicas: Invalid value: must be less than or equal to maxReplicas",
		"spec.jvb.autoscaling.targetStressLevel",
	} {
		assert.Contains(t, msg, want)
	}
}

func crdEstablished(ctx context.Context, s *jitsiSuite, name string) (bool, error) {
	u, err := s.applier.Get(ctx, "apiextensions.k8s.io/v1", "CustomResourceDefinition", "", name)
	if err != nil {
		return false, err
	}
	conditions, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conditions {
		if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
			return true, nil
		}
	}
	return false, nil
}

func readObjects(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	objs, err := harness.SplitYAML(b)
	require.NoError(t, err)
	return objs
}

// everyObjectAccepted renders every example with the real CLI and applies each composed
// object with server-side apply.
func (s *jitsiSuite) everyObjectAccepted(t *testing.T, ctx context.Context) {
	xrd := "--xrd=" + tools.XRD()
	examples := []struct {
		file string
		args []string
	}{
		{"xr.yaml", []string{xrd}},
		{"xr-static.yaml", []string{xrd}},
		{"xr-namespaced.yaml", nil},
	}
	rendered, accepted := 0, 0
	for _, ex := range examples {
		r, err := s.renderer.Render(ctx, filepath.Join(tools.Root, "examples", ex.file), ex.args...)
		require.NoError(t, err)
		objs := harness.WithoutOwners(r.Composed)
		ensureNamespace(t, ctx, s.cluster, objs[0].GetNamespace())
		report := s.applier.Apply(ctx, objs)
		t.Logf("%s: %s", ex.file, report.String())
		assert.Empty(t, report.Rejected(), "every composed object of %s must be accepted", ex.file)
		rendered += len(report)
		accepted += report.Accepted()
		if ex.file == "xr.yaml" {
			continue
		}
		// Only the sample stays: the bridges of every Jitsi share the nodes (one per node).
		deleted, err := s.applier.Prune(ctx, objs, nil)
		require.NoError(t, err)
		t.Logf("removed the %d objects of %s", len(deleted), ex.file)
	}
	t.Logf("accepted %d of %d rendered objects", accepted, rendered)
	require.Equal(t, rendered, accepted)
}

// bridges returns the sample's JVB pods: running ones by node, and pending ones.
func (s *jitsiSuite) bridges(ctx context.Context) (map[string]string, []corev1.Pod, error) {
	pods, err := s.cluster.Client.CoreV1().Pods(sampleNamespace).List(ctx, metav1.ListOptions{
		LabelSelector: sampleBridges,
	})
	if err != nil {
		return nil, nil, err
	}
	running := map[string]string{}
	var pending []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		switch {
		case p.Status.Phase == corev1.PodRunning && p.Spec.NodeName != "":
			if other, dup := running[p.Spec.NodeName]; dup {
				return nil, nil, fmt.Errorf("bridges %s and %s share node %s", other, p.Name, p.Spec.NodeName)
			}
			running[p.Spec.NodeName] = p.Name
		case p.Status.Phase == corev1.PodPending:
			pending = append(pending, p)
		}
	}
	return running, pending, nil
}

func unschedulableReason(p corev1.Pod) (string, bool) {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return c.Message, true
		}
	}
	return "", false
}

func logPlacement(t *testing.T, running map[string]string, pending []corev1.Pod) {
	t.Helper()
	nodes := slices.Sorted(func(yield func(string) bool) {
		for n := range running {
			if !yield(n) {
				return
			}
		}
	})
	for _, n := range nodes {
		t.Logf("  node %s: %s", n, running[n])
	}
	for _, p := range pending {
		msg, _ := unschedulableReason(p)
		t.Logf("  pending %s: %s", p.Name, msg)
	}
}

// scaleBridges sets the JVB Deployment's replicas through its scale subresource, as the HPA
// does: the function leaves replicas to the HPA.
func (s *jitsiSuite) scaleBridges(t *testing.T, ctx context.Context, n int32) {
	t.Helper()
	_, err := s.cluster.Client.AppsV1().Deployments(sampleNamespace).UpdateScale(ctx, jvbName, &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: jvbName, Namespace: sampleNamespace},
		Spec:       autoscalingv1.ScaleSpec{Replicas: n},
	}, metav1.UpdateOptions{FieldManager: "horizontal-pod-autoscaler"})
	require.NoError(t, err)
}

func (s *jitsiSuite) oneBridgePerNode(t *testing.T, ctx context.Context) {
	for i := 1; i <= 3; i++ {
		addNode(t, s.cluster, fmt.Sprintf("node-%d", i), nil)
	}
	s.scaleBridges(t, ctx, jvbReplicas)

	var running map[string]string
	var pending []corev1.Pod
	err := harness.Poll(ctx, 60*time.Second, func() (bool, error) {
		var err error
		running, pending, err = s.bridges(ctx)
		if err != nil {
			return false, err
		}
		// Judged against the three nodes, not before they existed.
		unschedulable := 0
		for _, p := range pending {
			if msg, ok := unschedulableReason(p); ok && strings.Contains(msg, "0/3 nodes are available") {
				unschedulable++
			}
		}
		return len(running) == 3 && unschedulable == 2, nil
	})
	logPlacement(t, running, pending)
	require.NoError(t, err, "want 3 bridges running on 3 nodes and 2 unschedulable")
	// kube-scheduler reports the first filter that rejects a node, and NodePorts runs before
	// InterPodAffinity: bridges of one Jitsi, which share the media port, report the port.
	for _, p := range pending {
		msg, _ := unschedulableReason(p)
		assert.Contains(t, msg, "0/3 nodes are available: 3 node(s) didn't have free ports for the requested pod ports", "pending bridge %s", p.Name)
	}

	// Bridges on another port pass NodePorts; the anti-affinity is what keeps them off nodes
	// that already run a bridge, across tenants and namespaces.
	xr := withSpec(t, "xr-static.yaml", func(spec map[string]any) {
		spec["jvb"].(map[string]any)["udpPort"] = int64(10001)
	})
	other, err := s.renderer.Render(ctx, xr, "--xrd="+tools.XRD())
	require.NoError(t, err)
	objs := harness.WithoutOwners(other.Composed)
	report := s.applier.Apply(ctx, objs)
	require.Empty(t, report.Rejected(), report.String())
	var reasons []string
	err = harness.Poll(ctx, 60*time.Second, func() (bool, error) {
		pods, err := s.cluster.Client.CoreV1().Pods("school").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=jvb"})
		if err != nil {
			return false, err
		}
		reasons = nil
		for _, p := range pods.Items {
			if msg, ok := unschedulableReason(p); ok {
				reasons = append(reasons, p.Name+": "+msg)
			}
		}
		return len(reasons) == 2, nil
	})
	for _, r := range reasons {
		t.Logf("  pending (other tenant, udpPort 10001) %s", r)
	}
	require.NoError(t, err, "the other tenant's 2 bridges must be unschedulable")
	for _, r := range reasons {
		assert.Contains(t, r, "3 node(s) didn't match pod anti-affinity rules")
	}
	_, err = s.applier.Prune(ctx, objs, nil)
	require.NoError(t, err)
	require.NoError(t, harness.Poll(ctx, 60*time.Second, func() (bool, error) {
		pods, err := s.cluster.Client.CoreV1().Pods("school").List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0, err
	}))
}

func (s *jitsiSuite) addingANodeRunsOneBridge(t *testing.T, ctx context.Context) {
	addNode(t, s.cluster, "node-4", nil)
	var running map[string]string
	var pending []corev1.Pod
	err := harness.Poll(ctx, 30*time.Second, func() (bool, error) {
		var err error
		running, pending, err = s.bridges(ctx)
		return len(running) == 4, err
	})
	require.NoError(t, err)
	// Let the scheduler settle: the fourth node must take one bridge, not more.
	time.Sleep(3 * time.Second)
	running, pending, err = s.bridges(ctx)
	require.NoError(t, err)
	logPlacement(t, running, pending)
	assert.Len(t, running, 4)
	assert.Len(t, pending, 1)
	assert.Contains(t, running, "node-4")

	// One more node for the last bridge, before the rolling update.
	addNode(t, s.cluster, "node-5", nil)
	require.NoError(t, harness.Poll(ctx, 30*time.Second, func() (bool, error) {
		running, _, err := s.bridges(ctx)
		return len(running) == jvbReplicas, err
	}))
}

func deploymentAvailable(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			return d.Status.ObservedGeneration >= d.Generation && d.Status.AvailableReplicas >= want
		}
	}
	return false
}

func (s *jitsiSuite) componentsAvailable(t *testing.T, ctx context.Context) {
	// jibri's recorder claims its recordings volume; a provisioner would make one, here a
	// PersistentVolume waits for it, which the controller-manager binds.
	createRecordingVolume(t, ctx, s.cluster, "recordings-0")
	require.NoError(t, harness.Poll(ctx, 60*time.Second, func() (bool, error) {
		set, err := s.cluster.Client.AppsV1().StatefulSets(sampleNamespace).Get(ctx, "jitsi-sample-jibri", metav1.GetOptions{})
		return err == nil && set.Status.ReadyReplicas == 1, err
	}), "jibri's recorder must run with its claim bound")
	pvc, err := s.cluster.Client.CoreV1().PersistentVolumeClaims(sampleNamespace).Get(ctx, "recordings-jitsi-sample-jibri-0", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, corev1.ClaimBound, pvc.Status.Phase)
	t.Logf("jitsi-sample-jibri Ready, recordings on claim %s (%s)", pvc.Name, pvc.Spec.VolumeName)
	for _, name := range []string{"jitsi-sample-prosody", "jitsi-sample-jicofo", "jitsi-sample-web", jvbName} {
		var d *appsv1.Deployment
		err := harness.Poll(ctx, 60*time.Second, func() (bool, error) {
			var err error
			d, err = s.cluster.Client.AppsV1().Deployments(sampleNamespace).Get(ctx, name, metav1.GetOptions{})
			return err == nil && deploymentAvailable(d), err
		})
		require.NoError(t, err, "%s never became Available: %+v", name, d.Status)
		t.Logf("%s Available: %d/%d replicas", name, d.Status.AvailableReplicas, d.Status.Replicas)
	}
}

// withSpec writes a copy of an example XR with a changed spec, for a second render.
func withSpec(t *testing.T, example string, change func(spec map[string]any)) string {
	t.Helper()
	objs := readObjects(t, filepath.Join(tools.Root, "examples", example))
	require.Len(t, objs, 1)
	spec := objs[0].Object["spec"].(map[string]any)
	change(spec)
	b, err := yaml.Marshal(objs[0].Object)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), example)
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return path
}

// waitForRollout waits until every bridge runs the Deployment's current template. Meanwhile
// it samples what a surge would raise: the ReplicaSets' desired replicas summed (what
// maxSurge bounds) and the bridges scheduled on nodes (what would need an extra node). Pod
// objects alone may be one over for an instant: the new ReplicaSet can create its pod before
// the old one's controller marks the old pod deleted, and that pod waits for the node anyway.
func (s *jitsiSuite) waitForRollout(t *testing.T, ctx context.Context) (rolloutPeak, *appsv1.Deployment) {
	t.Helper()
	var peak rolloutPeak
	var d *appsv1.Deployment
	selector := metav1.ListOptions{LabelSelector: sampleBridges}
	err := harness.Poll(ctx, 3*time.Minute, func() (bool, error) {
		desired, err := s.replicaSetsReplicas(ctx)
		if err != nil {
			return false, err
		}
		peak.desired = max(peak.desired, desired)
		pods, err := s.cluster.Client.CoreV1().Pods(sampleNamespace).List(ctx, selector)
		if err != nil {
			return false, err
		}
		scheduled := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Spec.NodeName != "" {
				scheduled++
			}
		}
		peak.scheduled = max(peak.scheduled, scheduled)
		d, err = s.cluster.Client.AppsV1().Deployments(sampleNamespace).Get(ctx, jvbName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == jvbReplicas &&
			d.Status.AvailableReplicas == jvbReplicas && d.Status.Replicas == jvbReplicas, nil
	})
	require.NoError(t, err, "the rollout did not complete: %+v", d.Status)
	return peak, d
}

// rolloutPeak is the most seen at once during a rollout.
type rolloutPeak struct {
	desired   int32 // the ReplicaSets' replicas, summed
	scheduled int   // bridges on nodes, not being deleted
}

// surgeWouldDeadlock is the control for the rolling update TestClaimThroughCrossplane makes
// through the claim, with maxSurge 0: with the default kind of strategy (surge one, keep all
// available) a rollout of bridges on full nodes stalls, because the surge bridge fits on no
// node.
func (s *jitsiSuite) surgeWouldDeadlock(t *testing.T, ctx context.Context) {
	_, d := s.waitForRollout(t, ctx)
	deployments := s.cluster.Client.AppsV1().Deployments(sampleNamespace)
	surge, unavailable := intstr.FromInt32(1), intstr.FromInt32(0)
	d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable}
	d.Spec.Template.Annotations["e2e/restarted"] = time.Now().Format(time.RFC3339)
	_, err := deployments.Update(ctx, d, metav1.UpdateOptions{FieldManager: "e2e"})
	require.NoError(t, err)

	// Given as long as the real rollout took, several times over, it makes no progress.
	time.Sleep(10 * time.Second)
	d, err = deployments.Get(ctx, jvbName, metav1.GetOptions{})
	require.NoError(t, err)
	running, pending, err := s.bridges(ctx)
	require.NoError(t, err)
	logPlacement(t, running, pending)
	t.Logf("with maxSurge 1 and maxUnavailable 0: %d of %d bridges updated after 10s", d.Status.UpdatedReplicas, jvbReplicas)
	assert.LessOrEqual(t, d.Status.UpdatedReplicas, int32(1), "the rollout must be stuck on its surge bridge")
	require.Len(t, pending, 1, "the surge bridge waits for a node that never comes")
	msg, _ := unschedulableReason(pending[0])
	assert.Contains(t, msg, "didn't have free ports")
	desired, err := s.replicaSetsReplicas(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, jvbReplicas+1, desired, "the surge the rolling-update check bounds")
}

// replicaSetsReplicas sums the replicas the bridges' ReplicaSets want: what maxSurge bounds.
func (s *jitsiSuite) replicaSetsReplicas(ctx context.Context) (int32, error) {
	sets, err := s.cluster.Client.AppsV1().ReplicaSets(sampleNamespace).List(ctx, metav1.ListOptions{LabelSelector: sampleBridges})
	if err != nil {
		return 0, err
	}
	desired := int32(0)
	for _, rs := range sets.Items {
		if rs.Spec.Replicas != nil {
			desired += *rs.Spec.Replicas
		}
	}
	return desired, nil
}

// createRecordingVolume makes a PersistentVolume of the default claim's size that no class
// owns, as a static provisioning would: the controller-manager binds the recorder's claim to it.
func createRecordingVolume(t *testing.T, ctx context.Context, c *harness.Cluster, name string) {
	t.Helper()
	_, err := c.Client.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/recordings/" + name}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}
