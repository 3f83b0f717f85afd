package main

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/utils/ptr"

	"github.com/crossplane-jitsi/crossplane-jitsi/apis/v1alpha1"
)

// NodeReaderClusterRole is the ClusterRole, shipped in package/cluster, that lets a bridge read
// the Node it runs on: get on nodes, nothing more. The composition binds it to each Jitsi's
// bridges; Crossplane may bind it (and only it) through the bind verb.
const NodeReaderClusterRole = "crossplane-jitsi:jvb-node-reader"

// imageEntrypoint is the entrypoint of every docker-jitsi-meet image: s6-overlay's /init. The
// bridge's container runs the address lookup first, then execs it.
const imageEntrypoint = "/init"

// nodeExternalIPLookup runs in the bridge's container before the image's entrypoint. It reads
// the Node the pod runs on from the API server, with the pod's ServiceAccount, and exports its
// first ExternalIP as JVB_ADVERTISE_IPS, which the image turns into ice4j's static mapping.
// A node without an ExternalIP, or a lookup that fails (no permission, API unreachable), falls
// back to STUN discovery, and the log says which and why. It then execs its arguments: the
// image's entrypoint. The jvb image has sh, curl and jq.
//
// SERVICEACCOUNT_DIR is never set in the pod; it lets the end-to-end tests run this very
// script on the host, as the pod would, against the test's API server.
const nodeExternalIPLookup = `sa=${SERVICEACCOUNT_DIR:-/var/run/secrets/kubernetes.io/serviceaccount}
host=$KUBERNETES_SERVICE_HOST
case $host in *:*) host="[$host]" ;; esac
if node=$(curl -sf --max-time 10 --cacert "$sa/ca.crt" -H "Authorization: Bearer $(cat "$sa/token")" \
    "https://$host:$KUBERNETES_SERVICE_PORT/api/v1/nodes/$NODE_NAME"); then
  ip=$(printf '%s' "$node" | jq -r '[.status.addresses[]? | select(.type == "ExternalIP") | .address][0] // empty')
  if [ -n "$ip" ]; then
    echo "jvb public address: node $NODE_NAME has ExternalIP $ip; advertising it"
    export JVB_ADVERTISE_IPS="$ip"
  else
    echo "jvb public address: node $NODE_NAME has no ExternalIP; falling back to STUN discovery" >&2
  fi
else
  echo "jvb public address: cannot read node $NODE_NAME from the API server (is ClusterRole ` + NodeReaderClusterRole + ` bound to this pod's ServiceAccount?); falling back to STUN discovery" >&2
fi
exec "$@"
`

func (in *instance) publicAddressSource() v1alpha1.PublicAddressSource {
	return ptr.Deref(in.spec.JVB.PublicAddress.Source, v1alpha1.PublicAddressNodeExternalIP)
}

func (in *instance) jvbServiceAccountName() string { return in.objectName(componentJVB) }

// publicAddressEnv is what tells a bridge its public address, for the sources the kubelet can
// give it: the node's InternalIP through the downward API, or the static list. STUN needs
// nothing (the image discovers it), and NodeExternalIP is looked up at start.
func (in *instance) publicAddressEnv() []corev1.EnvVar {
	switch in.publicAddressSource() {
	case v1alpha1.PublicAddressNodeInternalIP:
		return []corev1.EnvVar{{Name: "JVB_ADVERTISE_IPS", ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.hostIP"},
		}}}
	case v1alpha1.PublicAddressStatic:
		return []corev1.EnvVar{envVar("JVB_ADVERTISE_IPS", strings.Join(in.spec.JVB.PublicAddress.IPs, ","))}
	}
	return nil
}

// resolvePublicAddressAtStart makes a bridge with the NodeExternalIP source look its node up
// before the image starts: the container runs nodeExternalIPLookup and then the image's
// entrypoint, as its own ServiceAccount, which is the only one with a token.
func (in *instance) resolvePublicAddressAtStart(d *appsv1.Deployment) {
	if in.publicAddressSource() != v1alpha1.PublicAddressNodeExternalIP {
		return
	}
	pod := &d.Spec.Template.Spec
	pod.ServiceAccountName = in.jvbServiceAccountName()
	pod.AutomountServiceAccountToken = ptr.To(true)
	c := &pod.Containers[0]
	c.Command = []string{"/bin/sh", "-c", nodeExternalIPLookup, "jvb-public-address", imageEntrypoint}
	c.Env = append(c.Env, corev1.EnvVar{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.nodeName"},
	}})
}

// jvbNodeAccess returns what the NodeExternalIP lookup needs: the bridges' ServiceAccount
// and, bound to it, the node reader ClusterRole. A ClusterRoleBinding is cluster-scoped, so
// only a claim's XR (cluster-scoped itself) may compose it; a namespaced XR gets the
// ServiceAccount and a warning that says what to bind, and its bridges fall back to STUN until
// someone does.
func jvbNodeAccess(in *instance) ([]composedObject, []string) {
	if in.publicAddressSource() != v1alpha1.PublicAddressNodeExternalIP {
		return nil, nil
	}
	account := &corev1.ServiceAccount{
		ObjectMeta: in.objectMeta(in.jvbServiceAccountName(), componentJVB),
		// Only the bridges mount its token, and they ask for it.
		AutomountServiceAccountToken: ptr.To(false),
	}
	objects := []composedObject{{resourceJVBServiceAccount, account}}
	if !in.claim {
		return objects, []string{fmt.Sprintf(
			"spec.jvb.publicAddress.source NodeExternalIP: a namespaced XR cannot compose the cluster-scoped ClusterRoleBinding "+
				"its bridges need to read their node; bind ClusterRole %s to ServiceAccount %s/%s, or the bridges fall back to STUN discovery",
			NodeReaderClusterRole, in.namespace, account.Name)}
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: in.objectMeta("crossplane-jitsi:"+in.namespace+":"+account.Name, componentJVB),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: NodeReaderClusterRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: account.Name, Namespace: in.namespace}},
	}
	binding.Namespace = ""
	return append(objects, composedObject{resourceJVBNodeReader, binding}), nil
}
