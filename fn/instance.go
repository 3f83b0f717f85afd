package main

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/crossplane-jitsi/crossplane-jitsi/apis/v1alpha1"
)

// Component names, used in object names, labels and image names.
const (
	componentProsody = "prosody"
	componentJicofo  = "jicofo"
	componentWeb     = "web"
	componentJVB     = "jvb"
	componentJibri   = "jibri"
)

// Labels every composed object carries.
const (
	labelName      = "app.kubernetes.io/name"
	labelInstance  = "app.kubernetes.io/instance"
	labelComponent = "app.kubernetes.io/component"
	labelManagedBy = "app.kubernetes.io/managed-by"
	labelPartOf    = "app.kubernetes.io/part-of"

	appName   = "jitsi-meet"
	managedBy = "function-jitsi"
)

// instance is one Jitsi installation as the function sees it: the defaulted spec, where its
// objects go and what they are called.
type instance struct {
	// name prefixes every object. It is the claim's name for a claim, else the XR's name, so
	// tenants find their objects under the name they chose.
	name      string
	namespace string
	// claim is true when the XR stands for a claim. Such an XR is cluster-scoped and may
	// compose cluster-scoped objects; a namespaced XR may not.
	claim bool
	spec  v1alpha1.JitsiSpec
	// floor is the autoscaler's minReplicas now, from the strategy and the schedule.
	floor floor
}

// objectName is the name of a component's objects, e.g. jitsi-sample-jvb.
func (in *instance) objectName(component string) string {
	return in.name + "-" + component
}

// selectorLabels select the pods of one component of this instance.
func (in *instance) selectorLabels(component string) map[string]string {
	return map[string]string{
		labelName:      appName,
		labelInstance:  in.name,
		labelComponent: component,
	}
}

// labels are the selector labels plus the informational ones.
func (in *instance) labels(component string) map[string]string {
	l := in.selectorLabels(component)
	l[labelManagedBy] = managedBy
	l[labelPartOf] = appName
	return l
}

func (in *instance) objectMeta(name, component string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: in.namespace, Labels: in.labels(component)}
}

// image is the image of a component, e.g. ghcr.io/jitsi/jvb:stable-11146-2.
func (in *instance) image(component string) string {
	return fmt.Sprintf("%s/%s:%s", *in.spec.Image.Registry, component, *in.spec.Image.Tag)
}

func (in *instance) tlsEnabled() bool {
	return ptr.Deref(in.spec.Ingress.TLS.Enabled, true)
}

func (in *instance) jibriEnabled() bool {
	return ptr.Deref(in.spec.Jibri.Enabled, false)
}

func (in *instance) autoscaled() bool {
	return *in.spec.JVB.Strategy.Type == v1alpha1.StrategyAutoscaled
}

// publicURL is where users reach the site. It is https whatever the Ingress does: browsers
// allow camera and microphone on secure pages only, so with ingress.tls.enabled false TLS
// ends in front of the Ingress. (web's system-config.js strips only "https://" from it to
// build the BOSH and websocket URLs: an http:// URL would yield https://http://<domain>.)
func (in *instance) publicURL() string {
	return "https://" + in.spec.Domain
}

func (in *instance) networkPoliciesEnabled() bool {
	return ptr.Deref(in.spec.NetworkPolicy.Enabled, true)
}

// jitsiPeers selects every pod of this Jitsi, whatever its component.
func (in *instance) jitsiPeers() map[string]string {
	return map[string]string{labelName: appName, labelInstance: in.name}
}
