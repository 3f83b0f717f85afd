package server

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/config"
	"github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/driver"
)

// TemplateNode is a node of the group before it exists: its labels (with the group label),
// taints, capacity and allocatable, and a Ready condition. cluster-autoscaler renames it and
// sets its hostname label for each node it simulates.
func TemplateNode(g config.NodeGroup) *corev1.Node {
	name := "template-node-for-" + g.ID
	l := maps.Clone(g.Template.Labels)
	if l == nil {
		l = map[string]string{}
	}
	l[driver.GroupLabel] = g.ID
	l[corev1.LabelHostname] = name
	if _, ok := l[corev1.LabelOSStable]; !ok {
		l[corev1.LabelOSStable] = "linux"
	}
	if _, ok := l[corev1.LabelArchStable]; !ok {
		l[corev1.LabelArchStable] = "amd64"
	}
	return &corev1.Node{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l},
		Spec:       corev1.NodeSpec{Taints: append([]corev1.Taint(nil), g.Template.Taints...)},
		Status: corev1.NodeStatus{
			Capacity:    g.Template.Capacity.DeepCopy(),
			Allocatable: g.Template.Allocatable.DeepCopy(),
			Conditions: []corev1.NodeCondition{{
				Type:   corev1.NodeReady,
				Status: corev1.ConditionTrue,
				Reason: "KubeletReady",
			}},
			Phase: corev1.NodeRunning,
		},
	}
}
