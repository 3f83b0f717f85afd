package main

import (
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// docker-jitsi-meet's internal XMPP domains. They are names inside prosody, unrelated to the
// public domain, and every component must agree on them, so they are set explicitly rather
// than left to each image's defaults.
const (
	xmppDomain            = "meet.jitsi"
	xmppAuthDomain        = "auth.meet.jitsi"
	xmppMUCDomain         = "muc.meet.jitsi"
	xmppInternalMUCDomain = "internal-muc.meet.jitsi"
	xmppGuestDomain       = "guest.meet.jitsi"
	xmppHiddenDomain      = "hidden.meet.jitsi"
	jvbBreweryMUC         = "jvbbrewery"
	jibriBreweryMUC       = "jibribrewery"
)

// Ports, from docker-jitsi-meet stable-11146. (Nothing listens on prosody's component port
// 5347 at this tag: its component_ports list is empty.)
const (
	portXMPPClient = 5222
	portXMPPHTTP   = 5280
	portJicofoREST = 8888
	portWebHTTP    = 8000
	portJVBREST    = 8080
	portJibriAPI   = 2222
)

// uid is the unprivileged user of the rootless images (s6 in stable-11146 and later).
const uid = int64(1000)

func envVar(name, value string) corev1.EnvVar { return corev1.EnvVar{Name: name, Value: value} }

func boolEnv(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Names of the settings the components share. Each component passes on only those its image
// reads at the pinned tag (fn/testdata/images holds the list, and a test keeps to it).
const (
	envTZ                    = "TZ"
	envPublicURL             = "PUBLIC_URL"
	envXMPPServer            = "XMPP_SERVER"
	envXMPPPort              = "XMPP_PORT"
	envXMPPDomain            = "XMPP_DOMAIN"
	envXMPPAuthDomain        = "XMPP_AUTH_DOMAIN"
	envXMPPMUCDomain         = "XMPP_MUC_DOMAIN"
	envXMPPInternalMUCDomain = "XMPP_INTERNAL_MUC_DOMAIN"
	envXMPPGuestDomain       = "XMPP_GUEST_DOMAIN"
	envXMPPHiddenDomain      = "XMPP_HIDDEN_DOMAIN"
	envEnableRecording       = "ENABLE_RECORDING"
)

// sharedEnv returns the named shared settings, in that order: how to find prosody, the XMPP
// domains every component must agree on, the time zone. (TZ is read by glibc and the JVM,
// not by any template.)
func (in *instance) sharedEnv(names ...string) []corev1.EnvVar {
	values := map[string]string{
		envTZ:                    *in.spec.Timezone,
		envPublicURL:             in.publicURL(),
		envXMPPServer:            in.objectName(componentProsody),
		envXMPPPort:              strconv.Itoa(portXMPPClient),
		envXMPPDomain:            xmppDomain,
		envXMPPAuthDomain:        xmppAuthDomain,
		envXMPPMUCDomain:         xmppMUCDomain,
		envXMPPInternalMUCDomain: xmppInternalMUCDomain,
		envXMPPGuestDomain:       xmppGuestDomain,
		envXMPPHiddenDomain:      xmppHiddenDomain,
		envEnableRecording:       boolEnv(in.jibriEnabled()),
	}
	out := make([]corev1.EnvVar, 0, len(names))
	for _, n := range names {
		out = append(out, envVar(n, values[n]))
	}
	return out
}

// prosodyURL is prosody's HTTP endpoint (BOSH and websocket) as a fully qualified name: nginx
// in the web image resolves it itself, with no search path, so the name must end with the
// cluster's DNS domain.
func (in *instance) prosodyURL() string {
	return "http://" + strings.Join([]string{in.objectName(componentProsody), in.namespace, "svc", *in.spec.ClusterDomain}, ".") +
		":" + strconv.Itoa(portXMPPHTTP)
}

// podSecurityContext runs every pod as the images' unprivileged user.
func podSecurityContext() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To(uid),
		RunAsGroup:     ptr.To(uid),
		FSGroup:        ptr.To(uid),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// containerSecurityContext is the restricted profile the rootless images support: a
// read-only root file system with writable scratch volumes, and no capabilities.
func containerSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

// scratchVolumes are the writable directories of a read-only image: /config, where the
// image renders its configuration at start, and the /run and /tmp that s6-overlay v3 needs.
// docker-jitsi-meet gives /run and /tmp 16M tmpfs mounts (256M for jibri).
func scratchVolumes(runSize string) ([]corev1.Volume, []corev1.VolumeMount) {
	size := resource.MustParse(runSize)
	volumes := []corev1.Volume{
		{Name: "config", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "run", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &size}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &size}}},
	}
	mounts := []corev1.VolumeMount{
		{Name: "config", MountPath: "/config"},
		{Name: "run", MountPath: "/run"},
		{Name: "tmp", MountPath: "/tmp"},
	}
	return volumes, mounts
}

func requests(cpu, memory string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(cpu),
		corev1.ResourceMemory: resource.MustParse(memory),
	}}
}

func httpProbe(path string, port int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: path, Port: intstr.FromInt32(port), Scheme: corev1.URISchemeHTTP,
		}},
		PeriodSeconds:    10,
		TimeoutSeconds:   5,
		FailureThreshold: 3,
	}
}

func tcpProbe(port int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(port)}},
		PeriodSeconds:    10,
		TimeoutSeconds:   5,
		FailureThreshold: 3,
	}
}

// notSafeToEvict keeps cluster-autoscaler from draining the node under a pod whose restart
// would cut conferences. Such a node is never picked for scale-down while the pod runs.
var notSafeToEvict = map[string]string{"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}

// deployment is the Deployment every component shares: pods of one container of the
// component's image, run unprivileged, selected by the component's labels. The container
// brings what is the component's own (env, ports, probe, resources, mounts); callers set
// replicas, strategy and placement on the result.
func (in *instance) deployment(component string, c corev1.Container, volumes []corev1.Volume) *appsv1.Deployment {
	c.Name = component
	c.Image = in.image(component)
	c.ImagePullPolicy = *in.spec.Image.PullPolicy
	c.SecurityContext = containerSecurityContext()
	return &appsv1.Deployment{
		ObjectMeta: in.objectMeta(in.objectName(component), component),
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: in.selectorLabels(component)},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: in.labels(component)},
				Spec: corev1.PodSpec{
					SecurityContext: podSecurityContext(),
					// No component talks to the Kubernetes API, except a bridge that looks
					// up its node (jvb.go turns it back on).
					AutomountServiceAccountToken: ptr.To(false),
					Containers:                   []corev1.Container{c},
					Volumes:                      volumes,
				},
			},
		},
	}
}

// singleton makes a Deployment run exactly one pod, replaced rather than rolled, which
// cluster-autoscaler never evicts: prosody and jicofo hold every conference's state, and two
// of either would split it.
func singleton(d *appsv1.Deployment) *appsv1.Deployment {
	d.Spec.Replicas = ptr.To(int32(1))
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	d.Spec.Template.Annotations = notSafeToEvict
	return d
}
