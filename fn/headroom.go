package main

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// componentSpare labels the placeholder pods that keep spare nodes for bridges. It differs
// from componentJVB, so that no HPA, Service or NetworkPolicy of the bridges selects them.
const componentSpare = "jvb-spare"

// SparePriorityClass is the PriorityClass of the placeholders, shipped in
// package/cluster/priorityclass.yaml: value -1, below every workload (0 by default), so that
// any pending bridge preempts a placeholder; and above cluster-autoscaler's
// --expendable-pods-priority-cutoff (-10), so that a pending placeholder still makes
// cluster-autoscaler add a node and a placeholder's node is not empty to it.
const SparePriorityClass = "crossplane-jitsi-jvb-spare"

// placeholderUID is the unprivileged user of the pause image.
const placeholderUID = int64(65535)

// jvbSpares returns the placeholders of jvb.headroom.spareNodes: a Deployment whose pods
// each hold one node the way a bridge would (the bridges' node selector and tolerations, the
// bridges' requests, and the anti-affinity that keeps bridges and placeholders one per
// node), at the lowest priority. A new bridge that finds no free node preempts one; the
// evicted placeholder goes Pending and cluster-autoscaler boots the next spare node in the
// background. With spareNodes 0 there is no Deployment: Crossplane deletes it, its pods go,
// and the empty nodes are scaled down.
func jvbSpares(in *instance) []composedObject {
	spares := ptr.Deref(in.spec.JVB.Headroom.SpareNodes, 0)
	if spares == 0 {
		return nil
	}
	spec := &in.spec.JVB
	resources := bridgeResources(spec.Resources)
	d := &appsv1.Deployment{
		ObjectMeta: in.objectMeta(in.objectName(componentSpare), componentSpare),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(spares),
			Selector: &metav1.LabelSelector{MatchLabels: in.selectorLabels(componentSpare)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: in.labels(componentSpare)},
				Spec: corev1.PodSpec{
					PriorityClassName: SparePriorityClass,
					// A preempted placeholder must free its node at once.
					TerminationGracePeriodSeconds: ptr.To(int64(0)),
					AutomountServiceAccountToken:  ptr.To(false),
					EnableServiceLinks:            ptr.To(false),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						RunAsUser:      ptr.To(placeholderUID),
						RunAsGroup:     ptr.To(placeholderUID),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:            "placeholder",
						Image:           *spec.Headroom.Image,
						ImagePullPolicy: *in.spec.Image.PullPolicy,
						// What a bridge asks for, so that the node looks, to the scheduler and
						// to cluster-autoscaler, as a bridge's does.
						Resources:       resources,
						SecurityContext: containerSecurityContext(),
					}},
					NodeSelector: spec.NodeSelector,
					Tolerations:  spec.Tolerations,
					Affinity:     jvbAffinity(),
				},
			},
		},
	}
	return []composedObject{{resourceJVBSpares, d}}
}
