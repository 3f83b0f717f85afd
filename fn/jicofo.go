package main

import (
	corev1 "k8s.io/api/core/v1"
)

// regionBasedSelection keeps a participant on a bridge of their region and, with a single
// region, spreads a conference over several bridges (relays) once one is overloaded. That is
// what lets a 1000-student lecture outgrow a single bridge.
const regionBasedSelection = "RegionBasedBridgeSelectionStrategy"

// jicofo returns the conference focus, which picks a bridge for each participant.
//
// Its REST API is enabled (on 0.0.0.0:8888) for /stats and /about/health; /about/health
// exists only with jicofo's health checks on (jicofo.health.enabled, default false), without
// which the readiness probe would get 404 for ever. There is one jicofo per installation, so
// the Deployment uses Recreate.
func jicofo(in *instance) []composedObject {
	volumes, mounts := scratchVolumes("16Mi")
	env := append(in.sharedEnv(envTZ, envXMPPServer, envXMPPPort, envXMPPDomain, envXMPPAuthDomain,
		envXMPPMUCDomain, envXMPPInternalMUCDomain, envXMPPHiddenDomain, envEnableRecording),
		in.secretEnv(keyJicofoPassword),
		envVar("JICOFO_ENABLE_REST", "1"),
		envVar("JICOFO_ENABLE_HEALTH_CHECKS", "1"),
		envVar("JICOFO_ENABLE_BRIDGE_HEALTH_CHECKS", "1"),
		envVar("ENABLE_OCTO", "1"),
		envVar("OCTO_BRIDGE_SELECTION_STRATEGY", regionBasedSelection),
		envVar("JICOFO_OCTO_REGION", *in.spec.Region),
		envVar("JVB_BREWERY_MUC", jvbBreweryMUC),
	)
	if in.jibriEnabled() {
		// JIBRI_PENDING_TIMEOUT is left to the template's default: jicofo reads it as a
		// duration, and a bare number is milliseconds.
		env = append(env, envVar("JIBRI_BREWERY_MUC", jibriBreweryMUC))
	}

	deployment := singleton(in.deployment(componentJicofo, corev1.Container{
		Env:            env,
		Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: portJicofoREST, Protocol: corev1.ProtocolTCP}},
		ReadinessProbe: httpProbe("/about/health", portJicofoREST),
		Resources:      requests("100m", "512Mi"),
		VolumeMounts:   mounts,
	}, volumes))
	return []composedObject{{resourceJicofo, deployment}}
}
