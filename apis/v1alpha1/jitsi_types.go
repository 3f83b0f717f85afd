package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// XJitsi is a complete Jitsi Meet installation: prosody, jicofo, web, videobridges (JVB) that
// scale on their own load, and jibri when enabled. Tenants usually create it through its
// namespaced claim, Jitsi.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,categories=crossplane
type XJitsi struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   JitsiSpec   `json:"spec"`
	Status JitsiStatus `json:"status,omitempty"`
}

// JitsiSpec is what a tenant asks for.
type JitsiSpec struct {
	// Domain is the public DNS name of the site, for example meet.example.org. The Ingress
	// serves it and every component uses it as PUBLIC_URL.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self.split('.').all(label, size(label) <= 63)",message="domain must be a DNS name whose labels are at most 63 characters"
	Domain string `json:"domain"`

	// Region names where the videobridges run. It becomes the bridges' relay (octo) region,
	// jicofo's local region and the web client's deployment region, so that region-based
	// bridge selection keeps participants on nearby bridges.
	// +kubebuilder:default=default
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Region *string `json:"region,omitempty"`

	// Timezone is an IANA time zone name such as Europe/Paris, given to every component as TZ.
	// The schema checks its shape; the function checks it against the time zone database.
	// +kubebuilder:default=UTC
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9][A-Za-z0-9_+-]*)*$`
	// +optional
	Timezone *string `json:"timezone,omitempty"`

	// Image selects the container images of every component.
	// +kubebuilder:default={}
	// +optional
	Image ImageSpec `json:"image,omitempty"`

	// Web configures the web front end (nginx with the Jitsi Meet app).
	// +kubebuilder:default={}
	// +optional
	Web WebSpec `json:"web,omitempty"`

	// JVB configures the videobridges, which carry the media and are what scales.
	// +kubebuilder:default={}
	// +optional
	JVB JVBSpec `json:"jvb,omitempty"`

	// Jibri configures recording and streaming.
	// +kubebuilder:default={}
	// +optional
	Jibri JibriSpec `json:"jibri,omitempty"`

	// Ingress configures how the site is exposed over HTTPS.
	// +kubebuilder:default={}
	// +optional
	Ingress IngressSpec `json:"ingress,omitempty"`

	// TURN points clients at a TURN server for networks that block UDP. Optional.
	// +optional
	TURN *TURNSpec `json:"turn,omitempty"`

	// NetworkPolicy says who may reach the Jitsi's pods. By default only the Jitsi's own pods
	// reach prosody, jicofo and jibri; the ingress controller reaches web; the metrics
	// adapter and the Jitsi's own pods reach the bridges' private REST API (whose
	// /colibri/shutdown would otherwise be open to every pod of the cluster); media (UDP) is
	// open to everyone.
	// +kubebuilder:default={}
	// +optional
	NetworkPolicy NetworkPolicySpec `json:"networkPolicy,omitempty"`

	// ClusterDomain is the cluster's DNS domain. nginx in the web pods resolves prosody by
	// its fully qualified name, which ends with it.
	// +kubebuilder:default="cluster.local"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	ClusterDomain *string `json:"clusterDomain,omitempty"`
}

// ImageSpec selects the container images. Images are <registry>/<component>:<tag>.
type ImageSpec struct {
	// Registry is the image registry and organisation of the Jitsi images.
	// +kubebuilder:default="ghcr.io/jitsi"
	// +kubebuilder:validation:MinLength=1
	// +optional
	Registry *string `json:"registry,omitempty"`

	// Tag is the image tag shared by every component. The composition needs the rootless
	// images without colibri websockets, first released as stable-11146: older stable tags
	// (stable-NNNN below 11146) and unstable tags before 2026-08-01 are refused. Tags of
	// another form (a mirror's own, say) are taken as they are.
	// +kubebuilder:default="stable-11146-2"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^stable-[0-9]+(-[0-9]+)?$') || int(self.split('-')[1]) >= 11146",message="must be stable-11146 or newer: older images run as root and still use colibri websockets, which this composition's security context and routing break"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^unstable-[0-9]{4}-[0-9]{2}-[0-9]{2}$') || self.substring(9) >= '2026-08-01'",message="must be an unstable tag from 2026-08-01 or later: older images run as root and still use colibri websockets"
	// +optional
	Tag *string `json:"tag,omitempty"`

	// PullPolicy is the image pull policy of every container.
	// +kubebuilder:default=IfNotPresent
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	// +optional
	PullPolicy *corev1.PullPolicy `json:"pullPolicy,omitempty"`
}

// WebSpec configures the web front end.
type WebSpec struct {
	// Replicas is the number of web pods.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
}

// StrategyType says how the number of videobridges is chosen.
// +kubebuilder:validation:Enum=static;autoscaled
type StrategyType string

// Strategy types.
const (
	// StrategyStatic runs a fixed number of videobridges and no autoscaler.
	StrategyStatic StrategyType = "static"
	// StrategyAutoscaled scales the videobridges with a HorizontalPodAutoscaler on their
	// stress level.
	StrategyAutoscaled StrategyType = "autoscaled"
)

// JVBStrategy says how many videobridges run.
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",message="must be less than or equal to maxReplicas",fieldPath=".minReplicas"
type JVBStrategy struct {
	// Type is static (a fixed number of bridges) or autoscaled (an HPA on the bridges'
	// stress level).
	// +kubebuilder:default=autoscaled
	// +optional
	Type *StrategyType `json:"type,omitempty"`

	// Replicas is the number of bridges for the static strategy.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// MinReplicas is the fewest bridges the autoscaler keeps, at night.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	MinReplicas *int32 `json:"minReplicas,omitempty"`

	// MaxReplicas is the most bridges the autoscaler starts, at the peak; each needs a node,
	// so it caps the cost. The default carries the mission's peak: 1,000 participants at the
	// default target stress of 0.3 need 34 bridges of 100 participants each (jicofo's
	// 0.01 stress per participant), and 40 leaves room above it.
	// +kubebuilder:default=40
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	MaxReplicas *int32 `json:"maxReplicas,omitempty"`
}

// JVBAutoscaling tunes the HorizontalPodAutoscaler of the autoscaled strategy.
type JVBAutoscaling struct {
	// (The CEL rule repeats the bounds: OpenAPI validation compares an integer 0 with the
	// bound truncated to an integer, and lets it through.)

	// TargetStressLevel is the average bridge stress_level the autoscaler aims for. A bridge
	// reports 0 when idle and 1 when fully loaded. 0.3 is the scale-up threshold Jitsi uses
	// for its own pools: it leaves room for conferences to grow while a new node boots.
	// +kubebuilder:default=0.3
	// +kubebuilder:validation:Type=number
	// +kubebuilder:validation:Minimum=0.01
	// +kubebuilder:validation:Maximum=1
	// +kubebuilder:validation:XValidation:rule="double(self) >= 0.01 && double(self) <= 1.0",message="targetStressLevel must be between 0.01 and 1"
	// +optional
	TargetStressLevel *float64 `json:"targetStressLevel,omitempty"`

	// ScaleDownStabilizationSeconds is how long the load must stay low before a bridge is
	// removed. Bridges are removed one at a time, at most one a minute, and each drains its
	// conferences first. At least 60: the HPA counts its one-a-minute limit from the replicas
	// a minute ago, so a shorter window could remove bridges it has just added all at once.
	// +kubebuilder:default=600
	// +kubebuilder:validation:Minimum=60
	// +kubebuilder:validation:Maximum=3600
	// +optional
	ScaleDownStabilizationSeconds *int32 `json:"scaleDownStabilizationSeconds,omitempty"`
}

// GracefulShutdown bounds how long a videobridge may drain before it stops.
type GracefulShutdown struct {
	// MaxDuration is the longest a bridge waits for its conferences to end before it stops;
	// a conference still running then is cut. Make it at least the longest conference: a
	// bridge may be removed minutes after a lecture started on it. The pod's termination
	// grace period is derived from it.
	// +kubebuilder:default="4h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) <= duration('24h')",message="maxDuration must be between 1m and 24h"
	// +optional
	MaxDuration *metav1.Duration `json:"maxDuration,omitempty"`
}

// PublicAddressSource says where a bridge learns the address it announces.
// +kubebuilder:validation:Enum=NodeExternalIP;NodeInternalIP;STUN;Static
type PublicAddressSource string

// Public address sources.
const (
	// PublicAddressNodeExternalIP: at start, the bridge reads its node's ExternalIP from the
	// Node object (get on nodes, nothing more). A node without one falls back to STUN, with
	// a log line saying so.
	PublicAddressNodeExternalIP PublicAddressSource = "NodeExternalIP"
	// PublicAddressNodeInternalIP: the node's InternalIP (status.hostIP), for clusters whose
	// node addresses are reachable by the participants, or sit behind a 1:1 NAT that STUN
	// cannot see through.
	PublicAddressNodeInternalIP PublicAddressSource = "NodeInternalIP"
	// PublicAddressSTUN: the bridge asks the STUN servers (jvb.stunServers).
	PublicAddressSTUN PublicAddressSource = "STUN"
	// PublicAddressStatic: every bridge announces the listed addresses. Only for a fixed set
	// of bridges (the static strategy): nodes added later are never in the list.
	PublicAddressStatic PublicAddressSource = "Static"
)

// JVBPublicAddress says how each bridge learns the address it announces.
// +kubebuilder:validation:XValidation:rule="(has(self.source) && self.source == 'Static') == (has(self.ips) && size(self.ips) > 0)",message="ips must be given with source Static, and only then",fieldPath=".ips"
type JVBPublicAddress struct {
	// Source is NodeExternalIP (the node's ExternalIP, read at start; the default),
	// NodeInternalIP (the node's InternalIP), STUN (discovered through jvb.stunServers) or
	// Static (the ips below).
	// +kubebuilder:default=NodeExternalIP
	// +optional
	Source *PublicAddressSource `json:"source,omitempty"`

	// IPs are the addresses every bridge announces with source Static, as IP or IP#port for
	// a NAT that maps another public port.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:Pattern=`^[0-9A-Fa-f:.]+(#[0-9]{1,5})?$`
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:items:XValidation:rule="isIP(self.split('#')[0]) && (size(self.split('#')) == 1 || (int(self.split('#')[1]) >= 1 && int(self.split('#')[1]) <= 65535))",message="must be an IP address, optionally followed by #port (1 to 65535), such as 203.0.113.7 or 203.0.113.7#30000"
	// +optional
	IPs []string `json:"ips,omitempty"`
}

// Weekday is a day of the week, as the timetable names it.
// +kubebuilder:validation:Enum=Mon;Tue;Wed;Thu;Fri;Sat;Sun
type Weekday string

// JVBSchedule is a timetable of busy windows. While a window is active, or opens within
// leadTime, the autoscaler keeps at least the window's minReplicas bridges.
type JVBSchedule struct {
	// LeadTime raises the floor this long before a window opens, so that nodes have booted
	// when the first participants arrive. The floor falls when the window closes.
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('6h')",message="leadTime must be between 0s and 6h"
	// +optional
	LeadTime *metav1.Duration `json:"leadTime,omitempty"`

	// Windows are the busy times. Where windows overlap, the largest minReplicas wins.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Windows []ScheduleWindow `json:"windows"`
}

// ScheduleWindow is one busy window, on some days of the week, in the claim's time zone.
// +kubebuilder:validation:XValidation:rule="self.from != self.to",message="must differ from from: a window needs a length (to before from runs past midnight into the next day)",fieldPath=".to"
type ScheduleWindow struct {
	// Days the window opens on, Mon to Sun. A window whose to is before its from opens on
	// these days and closes the next day.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=7
	// +listType=set
	Days []Weekday `json:"days"`

	// From is when the window opens, HH:MM in spec.timezone.
	// +kubebuilder:validation:MaxLength=5
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	From string `json:"from"`

	// To is when the window closes, HH:MM in spec.timezone; before From, the next day.
	// +kubebuilder:validation:MaxLength=5
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	To string `json:"to"`

	// MinReplicas is the fewest bridges the autoscaler keeps during the window. It must not
	// exceed the strategy's maxReplicas.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MinReplicas int32 `json:"minReplicas"`
}

// JVBHeadroom keeps warm spare nodes for bridges.
type JVBHeadroom struct {
	// SpareNodes is how many booted, empty nodes are kept for new bridges. Each holds a
	// placeholder pod of the lowest priority, which a new bridge preempts; cluster-autoscaler
	// then boots the next spare in the background. 0 keeps none.
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	SpareNodes *int32 `json:"spareNodes,omitempty"`

	// Image is the placeholders' image: it only sleeps, as an unprivileged user. The default
	// is the Kubernetes pause image of the release this project is tested with; a mirror
	// may serve it under another name.
	// +kubebuilder:default="registry.k8s.io/pause:3.10.1"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Image *string `json:"image,omitempty"`
}

// JVBSpec configures the videobridges.
// +kubebuilder:validation:XValidation:rule="!has(self.publicAddress) || !has(self.publicAddress.source) || self.publicAddress.source != 'Static' || (has(self.strategy) && has(self.strategy.type) && self.strategy.type == 'static')",message="Static addresses cannot follow an autoscaled set of bridges: nodes added later are not in the list; use NodeExternalIP, NodeInternalIP or STUN, or the static strategy",fieldPath=".publicAddress.source"
// +kubebuilder:validation:XValidation:rule="!has(self.schedule) || !has(self.strategy) || !has(self.strategy.type) || self.strategy.type == 'autoscaled'",message="a schedule raises the autoscaler's floor: the static strategy has no autoscaler",fieldPath=".schedule"
type JVBSpec struct {
	// Strategy says how many bridges run.
	// +kubebuilder:default={}
	// +optional
	Strategy JVBStrategy `json:"strategy,omitempty"`

	// Autoscaling tunes the autoscaler of the autoscaled strategy.
	// +kubebuilder:default={}
	// +optional
	Autoscaling JVBAutoscaling `json:"autoscaling,omitempty"`

	// UDPPort is the media port. Each bridge binds it on its node (hostPort), which is why
	// only one bridge runs per node.
	// +kubebuilder:default=10000
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=65535
	// +optional
	UDPPort *int32 `json:"udpPort,omitempty"`

	// PublicAddress is the address each bridge announces to clients for its media port.
	// With one bridge per node and the media port on the node, that is the bridge's own
	// node's address, which only the bridge can know: nodes come and go with the autoscaler.
	// +kubebuilder:default={}
	// +optional
	PublicAddress JVBPublicAddress `json:"publicAddress,omitempty"`

	// STUNServers are host:port pairs the bridges use to discover their public address
	// (publicAddress.source STUN, and the fallback of NodeExternalIP). Empty keeps the
	// image's default.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9.-]+:[0-9]{1,5}$`
	// +optional
	STUNServers []string `json:"stunServers,omitempty"`

	// GracefulShutdown bounds how long a bridge drains before it stops.
	// +kubebuilder:default={}
	// +optional
	GracefulShutdown GracefulShutdown `json:"gracefulShutdown,omitempty"`

	// Schedule raises the autoscaler's floor ahead of known busy times: a timetable in
	// spec.timezone. Autoscaled strategy only.
	// +optional
	Schedule *JVBSchedule `json:"schedule,omitempty"`

	// Headroom keeps nodes booted and empty for bridges, so that a new bridge starts in
	// seconds instead of waiting for a node to boot.
	// +kubebuilder:default={}
	// +optional
	Headroom JVBHeadroom `json:"headroom,omitempty"`

	// Resources of the videobridge container. Defaults to requests of 1 CPU and 1Gi.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// NodeSelector places the bridges on dedicated nodes, for example jitsi.org/role: jvb.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Tolerations let the bridges run on tainted, dedicated nodes.
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
}

// JibriSpec configures recording and streaming.
type JibriSpec struct {
	// Enabled adds jibri and turns recording on. Turning it off removes jibri.
	// +kubebuilder:default=false
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// Replicas is the number of jibri pods; each records one conference at a time.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// Recordings says where each recorder writes its recordings, and what happens to a
	// recording once it is finished.
	// +kubebuilder:default={}
	// +optional
	Recordings JibriRecordings `json:"recordings,omitempty"`
}

// RecordingsVolume is the kind of volume recordings are written to.
// +kubebuilder:validation:Enum=PersistentVolumeClaim;EmptyDir
type RecordingsVolume string

// Recordings volumes.
const (
	// RecordingsPersistentVolumeClaim gives each recorder a PersistentVolumeClaim of its own
	// that outlives the pod, a restart and the claim itself: no recording is lost.
	RecordingsPersistentVolumeClaim RecordingsVolume = "PersistentVolumeClaim"
	// RecordingsEmptyDir writes to a size-limited emptyDir: recordings live as long as the
	// pod, so a finalize script must upload them.
	RecordingsEmptyDir RecordingsVolume = "EmptyDir"
)

// JibriRecordings says where recordings go.
type JibriRecordings struct {
	// Volume is PersistentVolumeClaim (the default: one claim per recorder, kept when the
	// recorder or the Jitsi goes) or EmptyDir (lost with the pod; use a finalize script).
	// +kubebuilder:default=PersistentVolumeClaim
	// +optional
	Volume *RecordingsVolume `json:"volume,omitempty"`

	// Size is the claim's requested storage, or the emptyDir's size limit. A one-hour
	// recording takes a few hundred megabytes to a gigabyte.
	// +kubebuilder:default="10Gi"
	// +optional
	Size *resource.Quantity `json:"size,omitempty"`

	// StorageClassName is the claims' StorageClass. Empty uses the cluster's default class.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`

	// FinalizeScript runs after each recording, with the recording's directory as its
	// argument, to upload it, say. It comes from a ConfigMap in the claim's namespace.
	// +optional
	FinalizeScript *FinalizeScript `json:"finalizeScript,omitempty"`
}

// FinalizeScript names a script in a ConfigMap.
type FinalizeScript struct {
	// ConfigMapName is the ConfigMap that holds the script.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	ConfigMapName string `json:"configMapName"`

	// Key is the script's key in the ConfigMap.
	// +kubebuilder:default="finalize.sh"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +optional
	Key *string `json:"key,omitempty"`
}

// IngressSpec configures the Ingress of the web front end.
type IngressSpec struct {
	// ClassName is the IngressClass to use. Empty uses the cluster's default class.
	// +kubebuilder:validation:MinLength=1
	// +optional
	ClassName *string `json:"className,omitempty"`

	// Annotations are added to the Ingress. They override the defaults of the same name.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`

	// TLS configures HTTPS.
	// +kubebuilder:default={}
	// +optional
	TLS IngressTLS `json:"tls,omitempty"`
}

// IngressTLS configures HTTPS on the Ingress.
type IngressTLS struct {
	// Enabled serves the site over HTTPS. Browsers only allow camera and microphone on
	// HTTPS pages, so leave it on unless TLS ends in front of the Ingress.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// ClusterIssuer is a cert-manager ClusterIssuer. When set, cert-manager issues the
	// certificate into SecretName.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ClusterIssuer *string `json:"clusterIssuer,omitempty"`

	// SecretName holds the certificate. Defaults to <name>-tls.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +optional
	SecretName *string `json:"secretName,omitempty"`
}

// NetworkPolicySpec says who may reach the Jitsi's pods.
type NetworkPolicySpec struct {
	// Enabled composes the NetworkPolicies. They take effect only where the cluster's
	// network plugin enforces NetworkPolicy.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// IngressController selects the ingress controller's pods, the only ones besides the
	// Jitsi's own that may reach web. Defaults to every pod of the ingress-nginx namespace.
	// +kubebuilder:default={namespaceSelector: {matchLabels: {"kubernetes.io/metadata.name": "ingress-nginx"}}}
	// +optional
	IngressController *PeerSelector `json:"ingressController,omitempty"`

	// MetricsAdapter selects the pods that scrape the bridges' /colibri/stats for the
	// autoscaler (kube-metrics-adapter). Defaults to every pod of kube-system.
	// +kubebuilder:default={namespaceSelector: {matchLabels: {"kubernetes.io/metadata.name": "kube-system"}}}
	// +optional
	MetricsAdapter *PeerSelector `json:"metricsAdapter,omitempty"`

	// DeletionCost selects the pods of jvb-deletion-cost, which reads each bridge's
	// participants from /colibri/stats so that the emptiest bridge leaves first. Defaults to
	// every pod of the jitsi-system namespace, where its manifests install it.
	// +kubebuilder:default={namespaceSelector: {matchLabels: {"kubernetes.io/metadata.name": "jitsi-system"}}}
	// +optional
	DeletionCost *PeerSelector `json:"deletionCost,omitempty"`
}

// PeerSelector selects pods as a NetworkPolicy peer does: pods matching podSelector in the
// namespaces matching namespaceSelector. Without namespaceSelector, the claim's namespace;
// without podSelector, every pod of those namespaces.
// +kubebuilder:validation:XValidation:rule="has(self.namespaceSelector) || has(self.podSelector)",message="give a namespaceSelector, a podSelector or both"
type PeerSelector struct {
	// NamespaceSelector selects namespaces by their labels.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// PodSelector selects pods by their labels.
	// +optional
	PodSelector *metav1.LabelSelector `json:"podSelector,omitempty"`
}

// TURNSpec points clients at a TURN server.
type TURNSpec struct {
	// Host is the TURN server's DNS name or address.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Host string `json:"host"`

	// Port is the TURN server's port.
	// +kubebuilder:default=443
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port *int32 `json:"port,omitempty"`

	// SecretRef names a Secret in the claim's namespace that holds the TURN shared secret.
	SecretRef SecretKeyRef `json:"secretRef"`
}

// SecretKeyRef names a key of a Secret in the claim's namespace.
type SecretKeyRef struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Key in the Secret.
	// +kubebuilder:default=secret
	// +kubebuilder:validation:MinLength=1
	// +optional
	Key *string `json:"key,omitempty"`
}

// JitsiStatus is what the function reports back.
type JitsiStatus struct {
	// URL is where users join meetings.
	// +optional
	URL string `json:"url,omitempty"`

	// JVB reports the videobridges.
	// +optional
	JVB JVBStatus `json:"jvb,omitempty"`
}

// JVBStatus reports the videobridges. Desired above Replicas means bridges are waiting,
// usually for a node.
type JVBStatus struct {
	// Replicas is the number of bridges that are ready.
	// +optional
	Replicas int32 `json:"replicas"`

	// Desired is the number of bridges wanted now, by the autoscaler or the static strategy.
	// +optional
	Desired int32 `json:"desired"`

	// Schedule reports the timetable's effect, when the claim has one.
	// +optional
	Schedule *JVBScheduleStatus `json:"schedule,omitempty"`
}

// JVBScheduleStatus is what the timetable does now.
type JVBScheduleStatus struct {
	// MinReplicas is the autoscaler's floor now.
	MinReplicas int32 `json:"minReplicas"`

	// Windows are the indexes of the windows that hold the floor: open, or opening within
	// the lead time.
	// +optional
	Windows []int32 `json:"windows,omitempty"`

	// NextChange is when the floor changes next.
	// +optional
	NextChange *metav1.Time `json:"nextChange,omitempty"`
}
