package harness

import (
	"context"
	"net"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// ingresses is the resource IngressStatus watches.
var ingresses = schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}

// IngressStatus stands in for an ingress controller's status updates, so that Ingresses get an
// address without an ingress controller running. It does what ingress-nginx does
// (kubernetes/ingress-nginx controller-v1.15.1, internal/ingress/status/status.go, statusSync)
// when started with --publish-status-address=<address> and --watch-ingress-without-class:
// every Ingress it serves gets status.loadBalancer.ingress set to that one address (an IP as
// `ip`, a name as `hostname`), written through the status subresource, and left alone when it
// already holds exactly that. Differences: it serves every Ingress whatever its class (as if
// it were the only controller and the default class), it re-checks on every change to an
// Ingress and every 5 s where ingress-nginx re-checks every 60 s (UpdateInterval), it routes
// no traffic, and it leaves the addresses in place when it stops
// (ingress-nginx's --update-status-on-shutdown clears them).
type IngressStatus struct {
	address    networkingv1.IngressLoadBalancerIngress
	client     kubernetes.Interface
	logf       func(format string, args ...any)
	controller *controller
}

// StartIngressStatus starts filling the status of every Ingress with address. Stop it before
// the cluster stops.
func StartIngressStatus(ctx context.Context, cfg *rest.Config, address string, logf func(format string, args ...any)) (*IngressStatus, error) {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	s := &IngressStatus{client: client, logf: logf, address: networkingv1.IngressLoadBalancerIngress{Hostname: address}}
	if net.ParseIP(address) != nil {
		s.address = networkingv1.IngressLoadBalancerIngress{IP: address}
	}
	if s.controller, err = startController(ctx, dyn, ingresses, s.reconcileAll); err != nil {
		return nil, err
	}
	return s, nil
}

// Stop stops updating.
func (s *IngressStatus) Stop() { s.controller.stop() }

// reconcileAll sets the address of every Ingress that lacks it, and reports whether all
// updates succeeded.
func (s *IngressStatus) reconcileAll(ctx context.Context) bool {
	list, err := s.client.NetworkingV1().Ingresses(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		if ctx.Err() == nil {
			s.logf("ingress status: cannot list Ingresses: %v", err)
		}
		return false
	}
	ok := true
	for i := range list.Items {
		ing := &list.Items[i]
		current := ing.Status.LoadBalancer.Ingress
		if len(current) == 1 && current[0].IP == s.address.IP && current[0].Hostname == s.address.Hostname {
			continue
		}
		ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{s.address}
		if _, err := s.client.NetworkingV1().Ingresses(ing.Namespace).UpdateStatus(ctx, ing, metav1.UpdateOptions{}); err != nil {
			if ctx.Err() == nil {
				s.logf("ingress status: cannot update Ingress %s/%s: %v", ing.Namespace, ing.Name, err)
			}
			ok = false
			continue
		}
		s.logf("ingress status: Ingress %s/%s has address %s%s", ing.Namespace, ing.Name, s.address.IP, s.address.Hostname)
	}
	return ok
}
