package main

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// Ingress annotations.
const (
	annotationClusterIssuer = "cert-manager.io/cluster-issuer"
	// Meetings keep one websocket to prosody open for their whole length. ingress-nginx
	// closes idle proxied connections after 60 s by default, which would drop participants.
	annotationProxyReadTimeout = "nginx.ingress.kubernetes.io/proxy-read-timeout"
	annotationProxySendTimeout = "nginx.ingress.kubernetes.io/proxy-send-timeout"
	websocketTimeoutSeconds    = "3600"
)

// web returns the web front end (nginx serving the Jitsi Meet app and proxying BOSH and the
// XMPP websocket to prosody), its Service and its Ingress.
func web(in *instance) []composedObject {
	name := in.objectName(componentWeb)
	volumes, mounts := scratchVolumes("16Mi")
	// web's templates know prosody only through XMPP_BOSH_URL_BASE, and the domains browsers
	// use.
	env := append(in.sharedEnv(envTZ, envPublicURL, envXMPPDomain, envXMPPMUCDomain, envXMPPGuestDomain,
		envXMPPHiddenDomain, envEnableRecording),
		envVar("XMPP_BOSH_URL_BASE", in.prosodyURL()),
		envVar("ENABLE_XMPP_WEBSOCKET", "1"),
		// TLS ends at the Ingress; the pod serves plain HTTP on 8000.
		envVar("ENABLE_HTTP_REDIRECT", "0"),
		envVar("DISABLE_HTTPS", "1"),
		envVar("DEPLOYMENTINFO_REGION", *in.spec.Region),
	)

	deployment := in.deployment(componentWeb, corev1.Container{
		Env:            env,
		Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: portWebHTTP, Protocol: corev1.ProtocolTCP}},
		ReadinessProbe: httpProbe("/", portWebHTTP),
		Resources:      requests("50m", "64Mi"),
		VolumeMounts:   mounts,
	}, volumes)
	deployment.Spec.Replicas = ptr.To(*in.spec.Web.Replicas)

	service := &corev1.Service{
		ObjectMeta: in.objectMeta(name, componentWeb),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: in.selectorLabels(componentWeb),
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
			},
		},
	}

	return []composedObject{{resourceWeb, deployment}, {resourceWebService, service}, {resourceWebIngress, webIngress(in)}}
}

// webIngress exposes the site on its domain. With tls.clusterIssuer, cert-manager's
// ingress-shim issues the certificate into the TLS Secret; without it the Secret must exist.
func webIngress(in *instance) *networkingv1.Ingress {
	spec := &in.spec.Ingress
	annotations := map[string]string{
		annotationProxyReadTimeout: websocketTimeoutSeconds,
		annotationProxySendTimeout: websocketTimeoutSeconds,
	}
	if in.tlsEnabled() && spec.TLS.ClusterIssuer != nil {
		annotations[annotationClusterIssuer] = *spec.TLS.ClusterIssuer
	}
	// The tenant's annotations come last, so they override ours.
	maps.Copy(annotations, spec.Annotations)

	ingress := &networkingv1.Ingress{
		ObjectMeta: in.objectMeta(in.objectName(componentWeb), componentWeb),
		Spec: networkingv1.IngressSpec{
			IngressClassName: spec.ClassName,
			Rules: []networkingv1.IngressRule{{
				Host: in.spec.Domain,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path:     "/",
						PathType: ptr.To(networkingv1.PathTypePrefix),
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: in.objectName(componentWeb),
							Port: networkingv1.ServiceBackendPort{Name: "http"},
						}},
					}},
				}},
			}},
		},
	}
	ingress.Annotations = annotations
	if in.tlsEnabled() {
		ingress.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{in.spec.Domain}, SecretName: in.tlsSecretName()}}
	}
	return ingress
}

func (in *instance) tlsSecretName() string {
	return ptr.Deref(in.spec.Ingress.TLS.SecretName, in.name+"-tls")
}
