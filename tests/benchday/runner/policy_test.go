package runner

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/benchday"
	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
)

// goldenRender is the sample claim as the real CLI renders it (fn's golden file).
func goldenRender(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	return goldenRenderOf(t, "claim.golden.yaml")
}

// goldenRenderOf is one of fn's golden renders.
func goldenRenderOf(t *testing.T, name string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "fn", "testdata", "render", name))
	require.NoError(t, err)
	objs, err := harness.SplitYAML(b)
	require.NoError(t, err)
	return objs
}

func typed[T any](t *testing.T, objs []*unstructured.Unstructured, kind, component string) *T {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetLabels()["app.kubernetes.io/component"] == component {
			out := new(T)
			require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, out))
			return out
		}
	}
	t.Fatalf("no %s of component %s in the render", kind, component)
	return nil
}

func TestScaleObjectsCompressesTheDefaultPolicy(t *testing.T) {
	objs := goldenRender(t)
	before := typed[autoscalingv2.HorizontalPodAutoscaler](t, objs, "HorizontalPodAutoscaler", "jvb")
	require.EqualValues(t, 600, *before.Spec.Behavior.ScaleDown.StabilizationWindowSeconds, "the render is the default claim")

	notes, err := ScaleObjects(objs, TimeScale{Factor: 60}, Policy{Name: PolicyDefault, Strategy: map[string]any{"type": "autoscaled"}})
	require.NoError(t, err)

	hpa := typed[autoscalingv2.HorizontalPodAutoscaler](t, objs, "HorizontalPodAutoscaler", "jvb")
	want := &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp: &autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: ptr.To(int32(1)), // 30 s is half a second: rounded up
			SelectPolicy:               ptr.To(autoscalingv2.MaxChangePolicySelect),
			Policies: []autoscalingv2.HPAScalingPolicy{
				{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 1},
				{Type: autoscalingv2.PodsScalingPolicy, Value: 2, PeriodSeconds: 1},
			},
		},
		ScaleDown: &autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: ptr.To(int32(10)),
			SelectPolicy:               ptr.To(autoscalingv2.MinChangePolicySelect),
			Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 1}},
		},
	}
	assert.Empty(t, cmp.Diff(want, hpa.Spec.Behavior))
	assert.Equal(t, before.Spec.Metrics, hpa.Spec.Metrics, "the target is not a duration")

	jvb := typed[appsv1.Deployment](t, objs, "Deployment", "jvb")
	assert.EqualValues(t, 242, *jvb.Spec.Template.Spec.TerminationGracePeriodSeconds, "14490 s / 60, rounded up")
	require.NotNil(t, jvb.Spec.Template.Spec.Containers[0].Lifecycle.PreStop, "the drain stays")
	assert.ElementsMatch(t, []string{
		"HPA scaleUp stabilization window: 30 s becomes 1 s, not 0.5 s: 60 trace seconds",
		"bridges' terminationGracePeriodSeconds: 14490 s becomes 242 s, not 241.5 s: 14520 trace seconds",
	}, notes)
}

func TestScaleObjectsOperator2021(t *testing.T) {
	objs := goldenRender(t)
	ps, err := Policies(benchday.UniversityDay().Conferences, false)
	require.NoError(t, err)
	p := ps[1]
	require.Equal(t, PolicyOperator2021, p.Name)
	_, err = ScaleObjects(objs, TimeScale{Factor: 60}, p)
	require.NoError(t, err)
	hpa := typed[autoscalingv2.HorizontalPodAutoscaler](t, objs, "HorizontalPodAutoscaler", "jvb")
	assert.Nil(t, hpa.Spec.Behavior, "Kubernetes' own rules")
	jvb := typed[appsv1.Deployment](t, objs, "Deployment", "jvb")
	assert.Nil(t, jvb.Spec.Template.Spec.Containers[0].Lifecycle, "no hook: the bridge stops at once")
}

func TestScaleObjectsRefusesAFactorThatBreaksAPeriod(t *testing.T) {
	objs := goldenRender(t)
	_, err := ScaleObjects(objs, TimeScale{Factor: 120}, Policy{Name: PolicyDefault})
	require.EqualError(t, err, "HorizontalPodAutoscaler jitsi-sample-jvb: spec.behavior.scaleUp.policies[0].periodSeconds: 60 s compressed 120 times is under a second: lower the factor to at most 60")
	assert.EqualError(t, TimeScale{Factor: 120}.Validate(), "time compression factor: must be at most 60, not 120: the HPA's 60-second policy periods must stay whole seconds of at least 1")
	assert.EqualError(t, TimeScale{Factor: 0}.Validate(), "time compression factor: must be 1 or more (trace seconds per wall-clock second), not 0")
	assert.NoError(t, TimeScale{Factor: 60}.Validate())
}

func TestTimeScale(t *testing.T) {
	s := TimeScale{Factor: 60}
	assert.Equal(t, 1500*time.Millisecond, s.Wall(90*time.Second), "the node boot")
	assert.Equal(t, "167ms", s.Flag(10*time.Second), "cluster-autoscaler's scan interval")
	assert.Equal(t, "250ms", s.Flag(15*time.Second), "the HPA's sync period")
	assert.Equal(t, "0.167", s.Fraction(10*time.Second), "the drain's poll, for sleep")
	assert.Equal(t, time.Minute, s.Trace(time.Second))
	wall, note := s.Seconds(3690, 1)
	assert.EqualValues(t, 62, wall)
	assert.NotEmpty(t, note)
	wall, note = s.Seconds(600, 1)
	assert.EqualValues(t, 10, wall)
	assert.Empty(t, note)
}

func TestPolicies(t *testing.T) {
	ps, err := Policies(benchday.UniversityDay().Conferences, true)
	require.NoError(t, err)
	assert.Equal(t, []string{PolicyStaticPeak, PolicyOperator2021, PolicyDefault, PolicyDeletionCost,
		PolicySchedule, PolicyHeadroom1, PolicyHeadroom2}, PolicyNames(ps))
	assert.Equal(t, map[string]any{"type": "static", "replicas": int64(34)}, ps[0].Strategy, "the oracle's peak")
	assert.False(t, ps[0].Autoscaled())
	assert.True(t, ps[1].Autoscaled())
	assert.NotContains(t, ps[2].Strategy, "maxReplicas", "the claim's default")
	assert.True(t, ps[3].DeletionCost)

	schedule := ps[4].Schedule
	assert.Equal(t, "10m", schedule["leadTime"])
	windows := schedule["windows"].([]any)
	require.Len(t, windows, 11, "one window per busy hour of the day, 16:00 to 18:00 shared")
	assert.Equal(t, map[string]any{"days": []any{"Mon", "Tue", "Wed", "Thu", "Fri"}, "from": "10:00", "to": "11:00",
		"minReplicas": int64(34)}, windows[2], "the peak's hour")
	assert.Equal(t, 1, ps[5].SpareNodes)
	assert.Equal(t, 2, ps[6].SpareNodes)

	without, err := Policies(benchday.UniversityDay().Conferences, false)
	require.NoError(t, err)
	assert.NotContains(t, PolicyNames(without), PolicyDeletionCost)

	quiet, err := Policies([]benchday.Conference{{StartMinute: 600, DurationMinutes: 30, Participants: 10, Region: "europe"}}, false)
	require.NoError(t, err)
	assert.NotContains(t, PolicyNames(quiet), PolicySchedule, "a day one bridge carries has no timetable to follow")
}

func TestInitialBridgesAndSpares(t *testing.T) {
	objs := goldenRender(t)
	n, err := initialBridges(objs)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the claim's default minReplicas")
	spares, err := spareNodes(objs)
	require.NoError(t, err)
	assert.Zero(t, spares, "the sample keeps no spare node")

	spares, err = spareNodes(goldenRenderOf(t, "claim-timetable.golden.yaml"))
	require.NoError(t, err)
	assert.Equal(t, 2, spares, "examples/claim-timetable.yaml keeps two")

	static := goldenRenderOf(t, "claim-static.golden.yaml")
	n, err = initialBridges(static)
	require.NoError(t, err)
	d := typed[appsv1.Deployment](t, static, "Deployment", "jvb")
	assert.Equal(t, int(*d.Spec.Replicas), n, "the static replicas")
}

func TestMaxBridges(t *testing.T) {
	objs := goldenRender(t)
	n, err := maxBridges(objs)
	require.NoError(t, err)
	hpa := typed[autoscalingv2.HorizontalPodAutoscaler](t, objs, "HorizontalPodAutoscaler", "jvb")
	assert.Equal(t, int(hpa.Spec.MaxReplicas), n, "an autoscaled claim wants up to maxReplicas")
}

// A render the runner cannot size is refused with the object and the field named.
func TestRenderedNumbersNameTheirField(t *testing.T) {
	static := goldenRenderOf(t, "claim-static.golden.yaml")
	unstructured.RemoveNestedField(findRendered(static, "Deployment", "jvb").Object, "spec", "replicas")
	_, err := maxBridges(static)
	assert.ErrorContains(t, err, "without an HPA, Deployment jitsi-small-jvb: spec.replicas: must be set")

	objs := goldenRender(t)
	require.NoError(t, unstructured.SetNestedField(findHPA(objs).Object, 2.5, "spec", "maxReplicas"))
	_, err = maxBridges(objs)
	assert.ErrorContains(t, err, "HorizontalPodAutoscaler jitsi-sample-jvb: spec.maxReplicas: 2.5: must be a whole number")

	unstructured.RemoveNestedField(findRendered(objs, "Deployment", "jvb").Object, "spec", "template", "spec", "terminationGracePeriodSeconds")
	_, err = bridgeGrace(objs)
	assert.ErrorContains(t, err, "Deployment jitsi-sample-jvb: spec.template.spec.terminationGracePeriodSeconds: must be set")
}

// A cell is sized from the render, and cluster-autoscaler's drain bound covers the bridges'
// grace period in trace seconds (autoscalerFlags compresses it once, with its other flags).
func TestNewCellSizesTheRunFromTheRender(t *testing.T) {
	run := &runConfig{scale: TimeScale{Factor: 60}}
	c, err := newCell(run, Policy{Name: PolicyHeadroom2, Strategy: map[string]any{"type": "autoscaled"}, SpareNodes: 2},
		goldenRenderOf(t, "claim-timetable.golden.yaml"))
	require.NoError(t, err)
	assert.Equal(t, 2, c.spares)
	hpa := typed[autoscalingv2.HorizontalPodAutoscaler](t, c.objs, "HorizontalPodAutoscaler", "jvb")
	assert.Equal(t, int(*hpa.Spec.MinReplicas), c.initial, "the render's floor")
	assert.Equal(t, int(hpa.Spec.MaxReplicas)+2, run.maxNodes, "the bridges at most, and the spares")
	jvb := typed[appsv1.Deployment](t, c.objs, "Deployment", "jvb")
	assert.EqualValues(t, 242, *jvb.Spec.Template.Spec.TerminationGracePeriodSeconds, "the cell's objects are compressed")
	assert.EqualValues(t, 14490, run.bridgeGrace, "the bound is kept in trace seconds")
	assert.Contains(t, autoscalerFlags(run.scale, run.bridgeGrace), "--max-graceful-termination-sec=242")
}
