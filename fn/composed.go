package main

import (
	"fmt"

	"github.com/crossplane/function-sdk-go/resource"
	"github.com/crossplane/function-sdk-go/resource/composed"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// Composition resource names: the keys of the desired and observed resources.
const (
	resourceSecret         resource.Name = "xmpp-secret"
	resourceProsody        resource.Name = "prosody-deployment"
	resourceProsodyService resource.Name = "prosody-service"
	resourceJicofo         resource.Name = "jicofo-deployment"
	resourceWeb            resource.Name = "web-deployment"
	resourceWebService     resource.Name = "web-service"
	resourceWebIngress     resource.Name = "web-ingress"
	resourceJVB            resource.Name = "jvb-deployment"
	resourceJVBConfig      resource.Name = "jvb-config"
	resourceJVBAutoscaler  resource.Name = "jvb-hpa"
	resourceJibri          resource.Name = "jibri-deployment"
)

// scheme knows the kinds the function composes, to fill in apiVersion and kind.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, autoscalingv2.AddToScheme, networkingv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(fmt.Sprintf("cannot build the scheme: %v", err))
		}
	}
	return s
}()

// toComposed turns a typed object into the unstructured form the SDK sends to Crossplane.
//
// It drops what a desired object must not carry: status, which belongs to the object's
// controller, and the null creationTimestamp of an unset metav1.Time. Crossplane applies
// desired objects with server-side apply, so any field sent here becomes owned by Crossplane.
func toComposed(obj runtime.Object) (*composed.Unstructured, error) {
	gvks, _, err := scheme.ObjectKinds(obj)
	if err != nil || len(gvks) == 0 {
		return nil, fmt.Errorf("cannot find the kind of %T: %w", obj, err)
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("cannot convert %T to unstructured: %w", obj, err)
	}
	delete(m, "status")
	if meta, ok := m["metadata"].(map[string]any); ok {
		delete(meta, "creationTimestamp")
	}
	u := &composed.Unstructured{Unstructured: unstructured.Unstructured{Object: m}}
	u.SetGroupVersionKind(gvks[0])
	return u, nil
}
