package runner

import (
	"fmt"
	"math"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/benchday"
)

// Policy is one way of sizing the videobridges that the day is played with, as the claim
// (and whatever the operator ran besides) sets it.
type Policy struct {
	// Name heads the policy's panel and table row.
	Name string
	// Strategy and Autoscaling are the claim's spec.jvb.strategy and spec.jvb.autoscaling;
	// fields left out keep the claim's defaults.
	Strategy    map[string]any
	Autoscaling map[string]any
	// Schedule is the claim's spec.jvb.schedule, nil for none. Crossplane calls the function
	// again when the floor changes (the function's TTL); the runner renders the claim at each
	// change beforehand and applies the HPA at that trace instant.
	Schedule map[string]any
	// SpareNodes is the claim's spec.jvb.headroom.spareNodes.
	SpareNodes int
	// KubernetesBehavior removes the HPA's behavior: Kubernetes' own scaling rules apply
	// (scale up to max(2×, +4) per sync, down after the controller's 5-minute
	// --horizontal-pod-autoscaler-downscale-stabilization, all at once).
	KubernetesBehavior bool
	// NoPreStop removes the bridges' preStop hook: a bridge the HPA removes stops at once.
	NoPreStop bool
	// DeletionCost runs jvb-deletion-cost, so that the ReplicaSet removes the emptiest
	// bridge first.
	DeletionCost bool
}

// Autoscaled says whether an HPA sizes the bridges.
func (p Policy) Autoscaled() bool { return p.Strategy["type"] != "static" }

// The policies of the benchmark, by name.
const (
	PolicyStaticPeak   = "static-peak"
	PolicyOperator2021 = "operator-2021"
	PolicyDefault      = "default"
	PolicyDeletionCost = "default+deletion-cost"
	PolicySchedule     = "schedule"
	PolicyHeadroom1    = "headroom-1"
	PolicyHeadroom2    = "headroom-2"
)

// scheduleLeadTime is the schedule policy's leadTime: the claim's default.
const scheduleLeadTime = "10m"

// Policies are the policies every run compares, for a day of conferences:
//
//   - static-peak: the bridges of the day's peak (the oracle's) all day, today's practice
//     (the static strategy);
//   - operator-2021: the 2021 jitsi-kubernetes-operator's settings: HPA target 0.01 (10m) on
//     the stress metric, no behavior (Kubernetes' defaults), no drain (its preStop called an
//     s6-overlay v2 path that the stable-11146 images do not have, so it is modelled as no
//     hook), no deletion cost;
//   - default: this project's defaults (the sample claim, autoscaled);
//   - default+deletion-cost: the same with jvb-deletion-cost, when withDeletionCost;
//   - schedule: default with the day's timetable as spec.jvb.schedule (benchday.
//     ScheduleFromTrace, the default lead time of 10 minutes);
//   - headroom-1 and headroom-2: default with 1 and 2 warm spare nodes.
//
// The autoscaled policies keep the claim's default maxReplicas, so that none is capped by a
// bound the others do not have.
func Policies(confs []benchday.Conference, withDeletionCost bool) ([]Policy, error) {
	oracle, err := benchday.OracleBridgesPerMinute(confs, benchday.DefaultCapacity, benchday.DefaultTargetStress)
	if err != nil {
		return nil, err
	}
	windows, err := benchday.ScheduleFromTrace(confs, benchday.DefaultCapacity, benchday.DefaultTargetStress)
	if err != nil {
		return nil, err
	}
	autoscaled := func() map[string]any { return map[string]any{"type": "autoscaled"} }
	out := []Policy{
		{Name: PolicyStaticPeak, Strategy: map[string]any{"type": "static", "replicas": int64(slices.Max(oracle))}},
		{
			Name:               PolicyOperator2021,
			Strategy:           map[string]any{"type": "autoscaled", "minReplicas": int64(1)},
			Autoscaling:        map[string]any{"targetStressLevel": 0.01},
			KubernetesBehavior: true,
			NoPreStop:          true,
		},
		{Name: PolicyDefault, Strategy: autoscaled()},
	}
	if withDeletionCost {
		out = append(out, Policy{Name: PolicyDeletionCost, Strategy: autoscaled(), DeletionCost: true})
	}
	if len(windows) > 0 {
		out = append(out, Policy{Name: PolicySchedule, Strategy: autoscaled(), Schedule: scheduleSpec(windows)})
	}
	return append(out,
		Policy{Name: PolicyHeadroom1, Strategy: autoscaled(), SpareNodes: 1},
		Policy{Name: PolicyHeadroom2, Strategy: autoscaled(), SpareNodes: 2},
	), nil
}

// scheduleSpec is spec.jvb.schedule for the windows.
func scheduleSpec(windows []benchday.ScheduleWindow) map[string]any {
	days := make([]any, len(benchday.ScheduleDays))
	for i, d := range benchday.ScheduleDays {
		days[i] = d
	}
	list := make([]any, len(windows))
	for i, w := range windows {
		list[i] = map[string]any{"days": days, "from": w.From, "to": w.To, "minReplicas": int64(w.MinReplicas)}
	}
	return map[string]any{"leadTime": scheduleLeadTime, "windows": list}
}

// PolicyNames lists the names of policies.
func PolicyNames(policies []Policy) []string {
	out := make([]string, 0, len(policies))
	for _, p := range policies {
		out = append(out, p.Name)
	}
	return out
}

// ScaleObjects compresses the time of the rendered objects the cluster runs, and applies
// the policy's changes that the claim cannot express:
//
//   - the HPA's behavior: every stabilization window and policy period, in whole seconds
//     (rounded up; a period must stay at least 1 s); or no behavior at all for
//     KubernetesBehavior;
//   - the bridges' terminationGracePeriodSeconds (the kubelet double waits for it on the
//     wall clock), rounded up; and their preStop hook removed for NoPreStop.
//
// Nothing else in the objects is a duration the cluster acts on: the bridges read their
// graceful-shutdown-max-duration from custom-jvb.conf on their own, compressed, clock.
// It returns a note for every value that could not be compressed exactly.
func ScaleObjects(objs []*unstructured.Unstructured, scale TimeScale, p Policy) ([]string, error) {
	var notes []string
	for _, o := range objs {
		switch {
		case o.GetKind() == "HorizontalPodAutoscaler":
			n, err := scaleHPA(o, scale, p)
			if err != nil {
				return nil, fmt.Errorf("HorizontalPodAutoscaler %s: %w", o.GetName(), err)
			}
			notes = append(notes, n...)
		case o.GetKind() == "Deployment" && o.GetLabels()["app.kubernetes.io/component"] == "jvb":
			n, err := scaleBridges(o, scale, p)
			if err != nil {
				return nil, fmt.Errorf("Deployment %s: %w", o.GetName(), err)
			}
			notes = append(notes, n...)
		}
	}
	return notes, nil
}

func scaleHPA(o *unstructured.Unstructured, scale TimeScale, p Policy) ([]string, error) {
	if p.KubernetesBehavior {
		unstructured.RemoveNestedField(o.Object, "spec", "behavior")
		return nil, nil
	}
	var notes []string
	for _, direction := range []string{"scaleUp", "scaleDown"} {
		rules, found, err := unstructured.NestedMap(o.Object, "spec", "behavior", direction)
		if err != nil {
			return nil, fmt.Errorf("spec.behavior.%s: %w", direction, err)
		}
		if !found {
			return nil, fmt.Errorf("spec.behavior.%s: must be set: without it the API server's defaults would apply uncompressed", direction)
		}
		if window, ok, err := nestedWholeNumber(rules, "stabilizationWindowSeconds"); err != nil {
			return nil, fmt.Errorf("spec.behavior.%s.stabilizationWindowSeconds: %w", direction, err)
		} else if ok {
			wall, note := scale.Seconds(window, 0)
			rules["stabilizationWindowSeconds"] = wall
			if note != "" {
				notes = append(notes, fmt.Sprintf("HPA %s stabilization window: %s", direction, note))
			}
		}
		policies, _, err := unstructured.NestedSlice(rules, "policies")
		if err != nil {
			return nil, fmt.Errorf("spec.behavior.%s.policies: %w", direction, err)
		}
		for i, raw := range policies {
			pol, ok := raw.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("spec.behavior.%s.policies[%d]: must be an object", direction, i)
			}
			period, ok, err := nestedWholeNumber(pol, "periodSeconds")
			if err != nil || !ok {
				return nil, fmt.Errorf("spec.behavior.%s.policies[%d].periodSeconds: must be whole seconds", direction, i)
			}
			if float64(period)/scale.Factor < 1 {
				return nil, fmt.Errorf("spec.behavior.%s.policies[%d].periodSeconds: %d s compressed %v times is under a second: lower the factor to at most %d",
					direction, i, period, scale.Factor, period)
			}
			wall, note := scale.Seconds(period, 1)
			pol["periodSeconds"] = wall
			if note != "" {
				notes = append(notes, fmt.Sprintf("HPA %s policy period: %s", direction, note))
			}
		}
		rules["policies"] = policies
		if err := unstructured.SetNestedMap(o.Object, rules, "spec", "behavior", direction); err != nil {
			return nil, err
		}
	}
	return notes, nil
}

func scaleBridges(o *unstructured.Unstructured, scale TimeScale, p Policy) ([]string, error) {
	var notes []string
	grace, ok, err := nestedWholeNumber(o.Object, "spec", "template", "spec", "terminationGracePeriodSeconds")
	if err != nil || !ok {
		return nil, fmt.Errorf("spec.template.spec.terminationGracePeriodSeconds: must be set in whole seconds (the drain's bound)")
	}
	wall, note := scale.Seconds(grace, 1)
	if note != "" {
		notes = append(notes, "bridges' terminationGracePeriodSeconds: "+note)
	}
	if err := unstructured.SetNestedField(o.Object, wall, "spec", "template", "spec", "terminationGracePeriodSeconds"); err != nil {
		return nil, err
	}
	if !p.NoPreStop {
		return notes, nil
	}
	containers, _, err := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	if err != nil {
		return nil, fmt.Errorf("spec.template.spec.containers: %w", err)
	}
	for _, c := range containers {
		if cm, ok := c.(map[string]any); ok {
			unstructured.RemoveNestedField(cm, "lifecycle", "preStop")
			if l, ok := cm["lifecycle"].(map[string]any); ok && len(l) == 0 {
				delete(cm, "lifecycle")
			}
		}
	}
	return notes, unstructured.SetNestedSlice(o.Object, containers, "spec", "template", "spec", "containers")
}

// nestedWholeNumber reads an integer field that YAML or JSON decoding may have made a
// float64.
func nestedWholeNumber(obj map[string]any, fields ...string) (int64, bool, error) {
	v, ok, err := unstructured.NestedFieldNoCopy(obj, fields...)
	if err != nil || !ok {
		return 0, ok, err
	}
	switch n := v.(type) {
	case int64:
		return n, true, nil
	case int:
		return int64(n), true, nil
	case float64:
		if n == math.Trunc(n) {
			return int64(n), true, nil
		}
	}
	return 0, true, fmt.Errorf("%v: must be a whole number", v)
}
