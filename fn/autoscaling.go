package main

import (
	"math"
	"strconv"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

// stressMetric is the per-pod metric the HPA scales on: each bridge's own stress_level from
// /colibri/stats, served on custom.metrics.k8s.io by kube-metrics-adapter. The adapter reads
// how to scrape it from these annotations on the HPA.
const stressMetric = "jitsi-stress-level"

const metricConfigPrefix = "metric-config.pods." + stressMetric + ".json-path/"

// scaleDownPolicyPeriodSeconds is the period of the one-bridge-at-a-time scale-down policy.
// The HPA counts a period's limit from the replicas at its start, so bridges added within
// the last period can go at once; a stabilization window of at least one period rules that
// out, which is why the API requires it.
const scaleDownPolicyPeriodSeconds = 60

// jvbAutoscaler returns the HPA of the autoscaled strategy, or nothing for the static one.
//
// desired bridges = ceil(sum of stress_level / targetStressLevel). With the default 0.3 a
// bridge is added while the others are still at 30% of their capacity, which leaves room
// for conferences to grow during the minutes a new node takes to boot.
func jvbAutoscaler(in *instance) []composedObject {
	if !in.autoscaled() {
		return nil
	}
	spec := &in.spec.JVB
	name := in.objectName(componentJVB)
	target := resource.NewMilliQuantity(int64(math.Round(*spec.Autoscaling.TargetStressLevel*1000)), resource.DecimalSI)

	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: in.objectMeta(name, componentJVB),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			// The strategy's floor, or the schedule's while one of its windows holds it.
			MinReplicas: ptr.To(in.floor.minReplicas),
			MaxReplicas: *spec.Strategy.MaxReplicas,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.PodsMetricSourceType,
				Pods: &autoscalingv2.PodsMetricSource{
					Metric: autoscalingv2.MetricIdentifier{Name: stressMetric},
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: target},
				},
			}},
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				// Up fast: a lecture starts on the hour and new nodes take minutes. The short
				// window only ignores a single noisy sample.
				ScaleUp: &autoscalingv2.HPAScalingRules{
					StabilizationWindowSeconds: ptr.To(int32(30)),
					SelectPolicy:               ptr.To(autoscalingv2.MaxChangePolicySelect),
					Policies: []autoscalingv2.HPAScalingPolicy{
						{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 60},
						{Type: autoscalingv2.PodsScalingPolicy, Value: 2, PeriodSeconds: 60},
					},
				},
				// Down slowly, one bridge at a time, once the load has stayed low for the whole
				// window. Each removed bridge drains its conferences in its preStop hook.
				ScaleDown: &autoscalingv2.HPAScalingRules{
					StabilizationWindowSeconds: ptr.To(*spec.Autoscaling.ScaleDownStabilizationSeconds),
					SelectPolicy:               ptr.To(autoscalingv2.MinChangePolicySelect),
					Policies: []autoscalingv2.HPAScalingPolicy{
						{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: scaleDownPolicyPeriodSeconds},
					},
				},
			},
		},
	}
	hpa.Annotations = map[string]string{
		metricConfigPrefix + "json-key": "$.stress_level",
		metricConfigPrefix + "path":     "/colibri/stats",
		metricConfigPrefix + "port":     strconv.Itoa(portJVBREST),
		metricConfigPrefix + "scheme":   "http",
	}
	return []composedObject{{resourceJVBAutoscaler, hpa}}
}
