package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/crossplane/function-sdk-go/resource"
	"github.com/google/go-cmp/cmp"
	"github.com/mattfenwick/cyclonus/pkg/matcher"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// No network plugin runs in the tests, so the composed NetworkPolicies are proved with a
// policy engine instead: cyclonus's matcher, which decides for a packet between two pods (or
// an outside address) whether the NetworkPolicies in force allow it, by the Kubernetes rules.

// tablePeer is a sender or receiver of the truth table.
type tablePeer struct {
	name      string
	namespace string
	podLabels map[string]string
	ip        string
	external  bool
}

func (p tablePeer) traffic() *matcher.TrafficPeer {
	if p.external {
		return &matcher.TrafficPeer{IP: p.ip}
	}
	return &matcher.TrafficPeer{IP: p.ip, Internal: &matcher.InternalPeer{
		PodLabels: p.podLabels, Namespace: p.namespace,
		// The API server labels every namespace with its name.
		NamespaceLabels: map[string]string{corev1.LabelMetadataName: p.namespace},
	}}
}

type tablePort struct {
	name     string
	port     int
	protocol corev1.Protocol
}

// truthTable says, for every sender (a row) and every receiving port (a column), whether the
// policies let the packet through: "Y" or "-".
func truthTable(policies []*networkingv1.NetworkPolicy, senders []tablePeer, receivers map[string]tablePeer, ports []struct {
	receiver string
	port     tablePort
}) string {
	engine := matcher.BuildNetworkPolicies(false, policies)
	var b strings.Builder
	fmt.Fprintf(&b, "%-22s", "")
	for _, p := range ports {
		fmt.Fprintf(&b, " %-13s", p.receiver+":"+p.port.name)
	}
	b.WriteString("\n")
	for _, s := range senders {
		fmt.Fprintf(&b, "%-22s", s.name)
		for _, p := range ports {
			allowed := engine.IsTrafficAllowed(&matcher.Traffic{
				Source: s.traffic(), Destination: receivers[p.receiver].traffic(),
				ResolvedPort: p.port.port, ResolvedPortName: p.port.name, Protocol: p.port.protocol,
			}).IsAllowed()
			mark := "-"
			if allowed {
				mark = "Y"
			}
			fmt.Fprintf(&b, " %-13s", mark)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func composedPolicies(t *testing.T, spec map[string]any) []*networkingv1.NetworkPolicy {
	t.Helper()
	rsp := mustCompose(t, claimXR(spec), nil)
	var out []*networkingv1.NetworkPolicy
	for _, n := range networkPolicyResources {
		out = append(out, desired[networkingv1.NetworkPolicy](t, rsp, n))
	}
	return out
}

// sampleTable is the sample claim's pods, as their composed templates label them, the pods
// around them, and the ports the Jitsi listens on.
func sampleTable(t *testing.T, spec map[string]any) ([]tablePeer, map[string]tablePeer, []struct {
	receiver string
	port     tablePort
}) {
	t.Helper()
	rsp := mustCompose(t, claimXR(spec), nil)
	labels := func(n resource.Name) map[string]string {
		if n == resourceJibri {
			return desired[appsv1.StatefulSet](t, rsp, resourceJibri).Spec.Template.Labels
		}
		return desired[appsv1.Deployment](t, rsp, n).Spec.Template.Labels
	}
	own := []tablePeer{
		{name: "prosody", namespace: "university", podLabels: labels(resourceProsody), ip: "10.0.0.1"},
		{name: "jicofo", namespace: "university", podLabels: labels(resourceJicofo), ip: "10.0.0.2"},
		{name: "web", namespace: "university", podLabels: labels(resourceWeb), ip: "10.0.0.3"},
		{name: "jvb", namespace: "university", podLabels: labels(resourceJVB), ip: "10.0.0.4"},
		{name: "jibri", namespace: "university", podLabels: labels(resourceJibri), ip: "10.0.0.5"},
	}
	otherJitsiJVB := map[string]string{labelName: appName, labelInstance: "physics", labelComponent: componentJVB}
	senders := append(own,
		tablePeer{name: "other Jitsi's bridge", namespace: "university", podLabels: otherJitsiJVB, ip: "10.0.1.1"},
		tablePeer{name: "other pod, same ns", namespace: "university", podLabels: map[string]string{"app": "wiki"}, ip: "10.0.1.2"},
		tablePeer{name: "ingress controller", namespace: "ingress-nginx", podLabels: map[string]string{"app.kubernetes.io/name": "ingress-nginx"}, ip: "10.0.2.1"},
		tablePeer{name: "metrics adapter", namespace: "kube-system", podLabels: map[string]string{"application": "kube-metrics-adapter"}, ip: "10.0.2.2"},
		tablePeer{name: "adapter elsewhere", namespace: "monitoring", podLabels: map[string]string{"application": "kube-metrics-adapter"}, ip: "10.0.2.3"},
		tablePeer{name: "jvb-deletion-cost", namespace: "jitsi-system", podLabels: map[string]string{"app.kubernetes.io/name": "jvb-deletion-cost"}, ip: "10.0.2.4"},
		tablePeer{name: "pod, other ns", namespace: "physics", podLabels: map[string]string{"app": "wiki"}, ip: "10.0.3.1"},
		tablePeer{name: "internet", external: true, ip: "198.51.100.7"},
	)
	receivers := map[string]tablePeer{}
	for _, p := range own {
		receivers[p.name] = p
	}
	tcp := func(name string, port int) tablePort {
		return tablePort{name: name, port: port, protocol: corev1.ProtocolTCP}
	}
	ports := []struct {
		receiver string
		port     tablePort
	}{
		{"prosody", tcp("5222", 5222)}, {"prosody", tcp("5280", 5280)}, {"prosody", tcp("5269", 5269)},
		{"jicofo", tcp("8888", 8888)},
		{"web", tcp("8000", 8000)},
		{"jvb", tcp("8080", 8080)}, {"jvb", tablePort{name: "10000/udp", port: 10000, protocol: corev1.ProtocolUDP}},
		{"jibri", tcp("2222", 2222)},
	}
	return senders, receivers, ports
}

// TestNetworkPoliciesTruthTable: who reaches what, as a network plugin that enforces
// NetworkPolicy decides it.
func TestNetworkPoliciesTruthTable(t *testing.T) {
	senders, receivers, ports := sampleTable(t, sampleSpec())
	got := truthTable(composedPolicies(t, sampleSpec()), senders, receivers, ports)
	want := `                       prosody:5222  prosody:5280  prosody:5269  jicofo:8888   web:8000      jvb:8080      jvb:10000/udp jibri:2222   
prosody                Y             Y             -             Y             -             Y             Y             Y            
jicofo                 Y             Y             -             Y             -             Y             Y             Y            
web                    Y             Y             -             Y             -             Y             Y             Y            
jvb                    Y             Y             -             Y             -             Y             Y             Y            
jibri                  Y             Y             -             Y             -             Y             Y             Y            
other Jitsi's bridge   -             -             -             -             -             -             Y             -            
other pod, same ns     -             -             -             -             -             -             Y             -            
ingress controller     -             -             -             -             Y             -             Y             -            
metrics adapter        -             -             -             -             -             Y             Y             -            
adapter elsewhere      -             -             -             -             -             -             Y             -            
jvb-deletion-cost      -             -             -             -             -             Y             Y             -            
pod, other ns          -             -             -             -             -             -             Y             -            
internet               -             -             -             -             -             -             Y             -            
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("who reaches what (-want +got):\n%s\ngot:\n%s", diff, got)
	}
	t.Logf("\n%s", got)

	// Without policies, everything reaches everything: the table can tell the difference.
	open := truthTable(nil, senders, receivers, ports)
	assert.NotContains(t, open, " - ", "with no policy every packet passes")
}

// TestNetworkPoliciesFollowTheClaim: the selectors of the claim, and turning policies off.
func TestNetworkPoliciesFollowTheClaim(t *testing.T) {
	spec := sampleSpec()
	spec["networkPolicy"] = map[string]any{
		"metricsAdapter": map[string]any{
			"namespaceSelector": map[string]any{"matchLabels": map[string]any{corev1.LabelMetadataName: "monitoring"}},
			"podSelector":       map[string]any{"matchLabels": map[string]any{"application": "kube-metrics-adapter"}},
		},
	}
	spec["jvb"] = map[string]any{"udpPort": int64(10500)}
	senders, receivers, ports := sampleTable(t, spec)
	ports[6].port = tablePort{name: "10500/udp", port: 10500, protocol: corev1.ProtocolUDP}
	got := truthTable(composedPolicies(t, spec), senders, receivers, ports)
	lines := map[string]string{}
	for _, l := range strings.Split(got, "\n") {
		if len(l) > 22 {
			lines[strings.TrimSpace(l[:22])] = strings.Join(strings.Fields(l[22:]), " ")
		}
	}
	assert.Equal(t, "- - - - - Y Y -", lines["adapter elsewhere"], "the adapter the claim names scrapes the bridges\n%s", got)
	assert.Equal(t, "- - - - - - Y -", lines["metrics adapter"], "and only it\n%s", got)
	assert.Equal(t, "- - - - - - Y -", lines["internet"], "media on the claim's UDP port\n%s", got)

	spec["networkPolicy"] = map[string]any{"enabled": false}
	rsp := mustCompose(t, claimXR(spec), nil)
	for _, n := range networkPolicyResources {
		require.NotContains(t, rsp.GetDesired().GetResources(), string(n))
	}
}
