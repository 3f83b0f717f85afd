package main

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// jibri returns the recorders when jibri is enabled, and nothing otherwise: a resource the
// function stops returning is deleted by Crossplane, so turning jibri off removes it.
//
// Chrome needs a large /dev/shm; the image refuses to start below 2 GB.
func jibri(in *instance) []composedObject {
	if !in.jibriEnabled() {
		return nil
	}
	shm := resource.MustParse("2Gi")
	volumes, mounts := scratchVolumes("256Mi")
	volumes = append(volumes,
		corev1.Volume{Name: "dshm", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: &shm,
		}}},
		corev1.Volume{Name: "storage", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	)
	mounts = append(mounts,
		corev1.VolumeMount{Name: "dshm", MountPath: "/dev/shm"},
		corev1.VolumeMount{Name: "storage", MountPath: "/storage"},
	)
	env := append(in.commonEnv(),
		in.secretEnv(keyJibriXMPPPassword),
		in.secretEnv(keyJibriRecorderPassword),
		envVar("JIBRI_BREWERY_MUC", jibriBreweryMUC),
		envVar("JIBRI_RECORDING_DIR", "/storage/recordings"),
		envVar("JIBRI_STRIP_DOMAIN_JID", "muc"),
		envVar("DISPLAY", ":0"),
	)

	deployment := in.deployment(componentJibri, corev1.Container{
		Env:            env,
		Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: portJibriAPI, Protocol: corev1.ProtocolTCP}},
		ReadinessProbe: httpProbe("/jibri/api/v1.0/health", portJibriAPI),
		Resources:      requests("1", "2Gi"),
		VolumeMounts:   mounts,
	}, volumes)
	deployment.Spec.Replicas = ptr.To(*in.spec.Jibri.Replicas)
	// Recording is CPU-heavy: keep it off the bridges' nodes when possible.
	deployment.Spec.Template.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
			Weight: 100,
			PodAffinityTerm: corev1.PodAffinityTerm{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
					labelName: appName, labelComponent: componentJVB,
				}},
				TopologyKey: corev1.LabelHostname,
			},
		}},
	}}
	return []composedObject{{resourceJibri, deployment}}
}
