package main

import (
	"github.com/crossplane/function-sdk-go/resource"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/crossplane-jitsi/crossplane-jitsi/apis/v1alpha1"
)

// networkPolicies returns one ingress NetworkPolicy per component. Once a policy selects a
// pod, only what some policy allows reaches it:
//
//   - prosody (XMPP, BOSH and websocket), jicofo (REST) and jibri (its HTTP API): only this
//     Jitsi's own pods. Participants reach prosody through web's nginx, never directly.
//   - web: the ingress controller (spec.networkPolicy.ingressController).
//   - the bridges' private REST API (8080), whose POST /colibri/shutdown stops a bridge: this
//     Jitsi's own pods, and the two readers of /colibri/stats: the metrics adapter
//     (spec.networkPolicy.metricsAdapter) and jvb-deletion-cost (spec.networkPolicy.deletionCost).
//     Their UDP media port: everyone, since participants and other bridges (relays) send media
//     to it.
//
// Egress is not restricted. Probes come from the kubelet on the node, which network plugins
// let through.
func networkPolicies(in *instance) []composedObject {
	if !in.networkPoliciesEnabled() {
		return nil
	}
	own := networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: in.jitsiPeers()}}
	spec := &in.spec.NetworkPolicy
	media := *in.spec.JVB.UDPPort
	policies := []composedObject{
		in.networkPolicy(componentProsody, ingressRule([]networkingv1.NetworkPolicyPeer{own},
			tcpPort(portXMPPClient), tcpPort(portXMPPHTTP))),
		in.networkPolicy(componentJicofo, ingressRule([]networkingv1.NetworkPolicyPeer{own}, tcpPort(portJicofoREST))),
		in.networkPolicy(componentWeb, ingressRule([]networkingv1.NetworkPolicyPeer{peerOr(spec.IngressController, own)},
			tcpPort(portWebHTTP))),
		in.networkPolicy(componentJVB,
			ingressRule([]networkingv1.NetworkPolicyPeer{own, peerOr(spec.MetricsAdapter, own), peerOr(spec.DeletionCost, own)},
				tcpPort(portJVBREST)),
			// No peers: from anywhere.
			ingressRule(nil, networkingv1.NetworkPolicyPort{Protocol: ptrProtocol(corev1.ProtocolUDP), Port: ptrPort(media)}),
		),
	}
	if in.jibriEnabled() {
		policies = append(policies, in.networkPolicy(componentJibri, ingressRule([]networkingv1.NetworkPolicyPeer{own}, tcpPort(portJibriAPI))))
	}
	return policies
}

func (in *instance) networkPolicy(component string, rules ...networkingv1.NetworkPolicyIngressRule) composedObject {
	return composedObject{resource.Name(resourceNetworkPolicyPrefix + component), &networkingv1.NetworkPolicy{
		ObjectMeta: in.objectMeta(in.objectName(component), component),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: in.selectorLabels(component)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     rules,
		},
	}}
}

func ingressRule(from []networkingv1.NetworkPolicyPeer, ports ...networkingv1.NetworkPolicyPort) networkingv1.NetworkPolicyIngressRule {
	return networkingv1.NetworkPolicyIngressRule{From: from, Ports: ports}
}

func tcpPort(port int32) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Protocol: ptrProtocol(corev1.ProtocolTCP), Port: ptrPort(port)}
}

func ptrProtocol(p corev1.Protocol) *corev1.Protocol { return &p }

func ptrPort(p int32) *intstr.IntOrString {
	v := intstr.FromInt32(p)
	return &v
}

// peerOr turns a claim's selector into a NetworkPolicy peer. The schema defaults it and
// requires one of its selectors; were it missing all the same, the peer falls back to the
// narrower fallback rather than to an empty peer, which would mean everyone.
func peerOr(s *v1alpha1.PeerSelector, fallback networkingv1.NetworkPolicyPeer) networkingv1.NetworkPolicyPeer {
	if s == nil || (s.NamespaceSelector == nil && s.PodSelector == nil) {
		return fallback
	}
	return networkingv1.NetworkPolicyPeer{NamespaceSelector: s.NamespaceSelector, PodSelector: s.PodSelector}
}
