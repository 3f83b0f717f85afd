package v1alpha1

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Defaults of the Jitsi API. The kubebuilder markers in jitsi_types.go carry the same values
// into the XRD, so the API server applies them to claims; Default applies them in the
// function, for XRs that never went through an API server (crossplane composition render).
// TestDefaultsMatchXRD checks that both agree.
const (
	DefaultRegion                        = "default"
	DefaultTimezone                      = "UTC"
	DefaultImageRegistry                 = "ghcr.io/jitsi"
	DefaultImageTag                      = "stable-11146-2"
	DefaultPullPolicy                    = corev1.PullIfNotPresent
	DefaultWebReplicas                   = int32(1)
	DefaultStrategy                      = StrategyAutoscaled
	DefaultStaticReplicas                = int32(1)
	DefaultMinReplicas                   = int32(1)
	DefaultMaxReplicas                   = int32(10)
	DefaultTargetStressLevel             = 0.3
	DefaultScaleDownStabilizationSeconds = int32(600)
	DefaultUDPPort                       = int32(10000)
	DefaultGracefulShutdownMaxDuration   = time.Hour
	DefaultJibriEnabled                  = false
	DefaultJibriReplicas                 = int32(1)
	DefaultTLSEnabled                    = true
	DefaultTURNPort                      = int32(443)
	DefaultTURNSecretKey                 = "secret"
)

// Default fills every unset field with its default, in place.
func (s *JitsiSpec) Default() {
	setDefault(&s.Region, DefaultRegion)
	setDefault(&s.Timezone, DefaultTimezone)
	setDefault(&s.Image.Registry, DefaultImageRegistry)
	setDefault(&s.Image.Tag, DefaultImageTag)
	setDefault(&s.Image.PullPolicy, DefaultPullPolicy)
	setDefault(&s.Web.Replicas, DefaultWebReplicas)

	strategy := &s.JVB.Strategy
	setDefault(&strategy.Type, DefaultStrategy)
	setDefault(&strategy.Replicas, DefaultStaticReplicas)
	setDefault(&strategy.MinReplicas, DefaultMinReplicas)
	setDefault(&strategy.MaxReplicas, DefaultMaxReplicas)
	setDefault(&s.JVB.Autoscaling.TargetStressLevel, DefaultTargetStressLevel)
	setDefault(&s.JVB.Autoscaling.ScaleDownStabilizationSeconds, DefaultScaleDownStabilizationSeconds)
	setDefault(&s.JVB.UDPPort, DefaultUDPPort)
	setDefault(&s.JVB.GracefulShutdown.MaxDuration, metav1.Duration{Duration: DefaultGracefulShutdownMaxDuration})

	setDefault(&s.Jibri.Enabled, DefaultJibriEnabled)
	setDefault(&s.Jibri.Replicas, DefaultJibriReplicas)
	setDefault(&s.Ingress.TLS.Enabled, DefaultTLSEnabled)

	if s.TURN != nil {
		setDefault(&s.TURN.Port, DefaultTURNPort)
		setDefault(&s.TURN.SecretRef.Key, DefaultTURNSecretKey)
	}
}

func setDefault[T any](field **T, value T) {
	if *field == nil {
		*field = ptr.To(value)
	}
}
