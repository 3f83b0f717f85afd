package main

import (
	"fmt"

	"github.com/crossplane/function-sdk-go/resource"
	"google.golang.org/protobuf/types/known/structpb"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
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
	// The bridges' ServiceAccount, and its binding to the node reader ClusterRole: what the
	// NodeExternalIP public address needs.
	resourceJVBServiceAccount resource.Name = "jvb-serviceaccount"
	resourceJVBNodeReader     resource.Name = "jvb-node-reader"
	resourceJVBSpares         resource.Name = "jvb-spares"
	resourceJibri             resource.Name = "jibri-statefulset"
	// One NetworkPolicy per component: networkpolicy-<component>.
	resourceNetworkPolicyPrefix = "networkpolicy-"
)

// scheme knows the kinds the function composes, to fill in apiVersion and kind.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, autoscalingv2.AddToScheme, networkingv1.AddToScheme, rbacv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(fmt.Sprintf("cannot build the scheme: %v", err))
		}
	}
	return s
}()

// toStruct turns a typed object into the Struct the function sends Crossplane.
//
// It drops what a desired object must not carry: status, which belongs to the object's
// controller, and the null creationTimestamp of an unset metav1.Time. Crossplane applies
// desired objects with server-side apply, so any field sent here becomes owned by Crossplane.
func toStruct(obj runtime.Object) (*structpb.Struct, error) {
	gvks, _, err := scheme.ObjectKinds(obj)
	if err != nil || len(gvks) == 0 {
		return nil, fmt.Errorf("cannot find the kind of %T: %w", obj, err)
	}
	s, err := structOf(obj)
	if err != nil {
		return nil, fmt.Errorf("cannot convert %T: %w", obj, err)
	}
	delete(s.Fields, "status")
	if meta := s.Fields["metadata"].GetStructValue(); meta != nil {
		delete(meta.Fields, "creationTimestamp")
	}
	apiVersion, kind := gvks[0].ToAPIVersionAndKind()
	s.Fields["apiVersion"] = structpb.NewStringValue(apiVersion)
	s.Fields["kind"] = structpb.NewStringValue(kind)
	return s, nil
}
