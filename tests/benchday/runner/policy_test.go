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

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
)

// goldenRender is the sample claim as the real CLI renders it (fn's golden file).
func goldenRender(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "fn", "testdata", "render", "claim.golden.yaml"))
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
	p := Policies(34, false)[1]
	require.Equal(t, PolicyOperator2021, p.Name)
	_, err := ScaleObjects(objs, TimeScale{Factor: 60}, p)
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
	ps := Policies(34, true)
	assert.Equal(t, []string{PolicyStaticPeak, PolicyOperator2021, PolicyDefault, PolicyDeletionCost}, PolicyNames(ps))
	assert.Equal(t, 34, ps[0].initialBridges())
	assert.False(t, ps[0].Autoscaled())
	assert.Equal(t, 1, ps[1].initialBridges())
	assert.Equal(t, 1, ps[2].initialBridges(), "the claim's default minReplicas")
	assert.NotContains(t, ps[2].Strategy, "maxReplicas", "the claim's default")
	assert.Len(t, Policies(34, false), 3)
}

func TestMaxBridges(t *testing.T) {
	objs := goldenRender(t)
	n, err := maxBridges(objs)
	require.NoError(t, err)
	hpa := typed[autoscalingv2.HorizontalPodAutoscaler](t, objs, "HorizontalPodAutoscaler", "jvb")
	assert.Equal(t, int(hpa.Spec.MaxReplicas), n, "an autoscaled claim wants up to maxReplicas")
}
