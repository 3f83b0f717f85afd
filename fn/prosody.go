package main

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// prosody returns the XMPP server every other component logs in to, and its Service.
//
// Prosody keeps its state in memory and registers the component accounts from the Secret at
// start, so one replica with the Recreate strategy is both enough and required.
func prosody(in *instance) []composedObject {
	name := in.objectName(componentProsody)
	volumes, mounts := scratchVolumes("16Mi")
	volumes = append(volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	mounts = append(mounts, corev1.VolumeMount{Name: "data", MountPath: "/var/lib/prosody"})

	env := append(in.sharedEnv(envTZ, envPublicURL, envXMPPServer, envXMPPPort, envXMPPDomain, envXMPPAuthDomain,
		envXMPPMUCDomain, envXMPPInternalMUCDomain, envXMPPGuestDomain, envXMPPHiddenDomain, envEnableRecording),
		envVar("ENABLE_XMPP_WEBSOCKET", "1"),
		in.secretEnv(keyJicofoPassword),
		in.secretEnv(keyJVBPassword),
	)
	if in.jibriEnabled() {
		// Prosody registers the recorder's accounts whenever their passwords are set: without
		// jibri there must be no such account to log in with.
		env = append(env, in.secretEnv(keyJibriXMPPPassword), in.secretEnv(keyJibriRecorderPassword))
	}
	if t := in.spec.TURN; t != nil {
		env = append(env,
			envVar("TURN_HOST", t.Host),
			envVar("TURN_PORT", strconv.Itoa(int(*t.Port))),
			corev1.EnvVar{Name: "TURN_CREDENTIALS", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: t.SecretRef.Name},
				Key:                  *t.SecretRef.Key,
			}}},
		)
	}

	deployment := singleton(in.deployment(componentProsody, corev1.Container{
		Env: env,
		Ports: []corev1.ContainerPort{
			{Name: "xmpp-c2s", ContainerPort: portXMPPClient, Protocol: corev1.ProtocolTCP},
			{Name: "http", ContainerPort: portXMPPHTTP, Protocol: corev1.ProtocolTCP},
		},
		ReadinessProbe: tcpProbe(portXMPPClient),
		Resources:      requests("100m", "256Mi"),
		VolumeMounts:   mounts,
	}, volumes))

	service := &corev1.Service{
		ObjectMeta: in.objectMeta(name, componentProsody),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: in.selectorLabels(componentProsody),
			Ports: []corev1.ServicePort{
				{Name: "xmpp-c2s", Port: portXMPPClient, TargetPort: intstr.FromString("xmpp-c2s"), Protocol: corev1.ProtocolTCP},
				{Name: "http", Port: portXMPPHTTP, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
			},
		},
	}
	return []composedObject{{resourceProsody, deployment}, {resourceProsodyService, service}}
}
