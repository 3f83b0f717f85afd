package main

import (
	"fmt"

	"github.com/crossplane/function-sdk-go/resource/composed"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/crossplane-jitsi/crossplane-jitsi/apis/v1alpha1"
)

const (
	// recordingsVolume is where jibri writes: /storage/recordings (JIBRI_RECORDING_DIR).
	recordingsVolume    = "recordings"
	recordingsMountPath = "/storage"
	// finalizeScriptDir holds the operator's finalize script, mounted from their ConfigMap.
	finalizeScriptDir  = "/opt/jitsi-recordings"
	finalizeScriptFile = "finalize.sh"
)

// jibriHealthy is jibri's readiness: its HTTP API answers 200 whatever its state, so the
// probe reads the JSON and requires a HEALTHY recorder, idle or busy, as jitsi-helm's does.
const jibriHealthy = `curl -sf http://127.0.0.1:2222/jibri/api/v1.0/health | jq -e '.status.health.healthStatus == "HEALTHY" and (.status.busyStatus == "IDLE" or .status.busyStatus == "BUSY")' > /dev/null`

// jibri returns the recorders when jibri is enabled, and nothing otherwise: a resource the
// function stops returning is deleted by Crossplane, so turning jibri off removes it.
//
// The recorders are a StatefulSet so that each gets a PersistentVolumeClaim of its own for its
// recordings, which outlives the pod, a rolling update and the Jitsi itself (the claims are
// retained). Chrome needs a large /dev/shm; the image refuses to start below 2 GB.
func jibri(in *instance, observed *composed.Unstructured) ([]composedObject, []string) {
	if !in.jibriEnabled() {
		return nil, nil
	}
	rec, warnings := in.effectiveRecordings(observed)

	shm := resource.MustParse("2Gi")
	volumes, mounts := scratchVolumes("256Mi")
	volumes = append(volumes, corev1.Volume{Name: "dshm", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
		Medium: corev1.StorageMediumMemory, SizeLimit: &shm,
	}}})
	mounts = append(mounts,
		corev1.VolumeMount{Name: "dshm", MountPath: "/dev/shm"},
		corev1.VolumeMount{Name: recordingsVolume, MountPath: recordingsMountPath},
	)
	if rec.claim == nil {
		volumes = append(volumes, corev1.Volume{Name: recordingsVolume, VolumeSource: corev1.VolumeSource{
			EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(rec.size)},
		}})
	}

	env := append(in.sharedEnv(envTZ, envPublicURL, envXMPPServer, envXMPPPort, envXMPPDomain, envXMPPAuthDomain,
		envXMPPMUCDomain, envXMPPInternalMUCDomain, envXMPPHiddenDomain),
		in.secretEnv(keyJibriXMPPPassword),
		in.secretEnv(keyJibriRecorderPassword),
		envVar("JIBRI_BREWERY_MUC", jibriBreweryMUC),
		envVar("JIBRI_RECORDING_DIR", recordingsMountPath+"/recordings"),
		envVar("JIBRI_STRIP_DOMAIN_JID", "muc"),
		envVar("DISPLAY", ":0"),
	)
	if script := in.spec.Jibri.Recordings.FinalizeScript; script != nil {
		volumes = append(volumes, corev1.Volume{Name: "finalize", VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: script.ConfigMapName},
				Items:                []corev1.KeyToPath{{Key: *script.Key, Path: finalizeScriptFile}},
				// jibri runs the script itself: it must be executable by the image's user.
				DefaultMode: ptr.To(int32(0o555)),
			},
		}})
		mounts = append(mounts, corev1.VolumeMount{Name: "finalize", MountPath: finalizeScriptDir, ReadOnly: true})
		env = append(env, envVar("JIBRI_FINALIZE_RECORDING_SCRIPT_PATH", finalizeScriptDir+"/"+finalizeScriptFile))
	}

	// The Deployment shell every component shares, turned into a StatefulSet.
	d := in.deployment(componentJibri, corev1.Container{
		Env:   env,
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: portJibriAPI, Protocol: corev1.ProtocolTCP}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", jibriHealthy}}},
			PeriodSeconds:    10,
			TimeoutSeconds:   5,
			FailureThreshold: 3,
		},
		Resources:    requests("1", "2Gi"),
		VolumeMounts: mounts,
	}, volumes)
	// Recording is CPU-heavy: keep it off the bridges' nodes when possible.
	d.Spec.Template.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
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

	set := &appsv1.StatefulSet{
		ObjectMeta: d.ObjectMeta,
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To(*in.spec.Jibri.Replicas),
			Selector: d.Spec.Selector,
			Template: d.Spec.Template,
			// Recorders are independent of one another: start and stop them together.
			PodManagementPolicy: appsv1.ParallelPodManagement,
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
		},
	}
	if rec.claim != nil {
		set.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{*rec.claim}
		// Recordings are the tenant's data: they stay when a recorder or the whole Jitsi goes.
		set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
			WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		}
	}
	return []composedObject{{resourceJibri, set}}, warnings
}

// recordings is where the recorders write: a claim template, or an emptyDir of size.
type recordings struct {
	claim *corev1.PersistentVolumeClaim
	size  resource.Quantity
}

// effectiveRecordings is the spec's recordings volume, unless the observed StatefulSet
// already has another: a StatefulSet's volume claim templates cannot change, and an apply
// that tried would fail on every reconcile. Then the observed volume stays, and the warning
// says how to move to the new one.
func (in *instance) effectiveRecordings(observed *composed.Unstructured) (recordings, []string) {
	spec := in.spec.Jibri.Recordings
	want := recordings{size: *spec.Size}
	if ptr.Deref(spec.Volume, v1alpha1.RecordingsPersistentVolumeClaim) == v1alpha1.RecordingsPersistentVolumeClaim {
		want.claim = recordingsClaim(*spec.Size, spec.StorageClassName)
	}
	if observed == nil {
		return want, nil
	}
	have, ok := observedRecordings(observed)
	if !ok || sameRecordings(want, have) {
		return want, nil
	}
	if have.claim == nil && want.claim == nil {
		// Two emptyDirs: the size limit is in the pod template, which may change.
		return want, nil
	}
	keep := have
	if have.claim == nil {
		keep = recordings{size: *spec.Size}
	}
	return keep, []string{fmt.Sprintf(
		"spec.jibri.recordings: StatefulSet %s keeps %s: a StatefulSet's volume claim templates cannot change. "+
			"To move to %s, delete the StatefulSet with `kubectl delete statefulset -n %s %s --cascade=orphan`; "+
			"its recorders and their claims, with the recordings, stay, and the next reconcile recreates it",
		observed.GetName(), have.describe(), want.describe(), in.namespace, observed.GetName())}
}

func (r recordings) describe() string {
	if r.claim == nil {
		return fmt.Sprintf("an emptyDir of at most %s for recordings", r.size.String())
	}
	storage := r.claim.Spec.Resources.Requests[corev1.ResourceStorage]
	class := "the default StorageClass"
	if c := r.claim.Spec.StorageClassName; c != nil {
		class = "StorageClass " + *c
	}
	return fmt.Sprintf("a claim of %s on %s per recorder", storage.String(), class)
}

func recordingsClaim(size resource.Quantity, storageClass *string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: recordingsVolume},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: storageClass,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}
}

// observedRecordings reads the recordings volume of the observed StatefulSet: its claim
// template, or else its emptyDir.
func observedRecordings(observed *composed.Unstructured) (recordings, bool) {
	templates, _ := nested(observed, "spec", "volumeClaimTemplates").([]any)
	for _, t := range templates {
		if name, _ := nestedIn(t, "metadata", "name").(string); name != recordingsVolume {
			continue
		}
		sizeText, _ := nestedIn(t, "spec", "resources", "requests", "storage").(string)
		size, err := resource.ParseQuantity(sizeText)
		if err != nil {
			return recordings{}, false
		}
		var class *string
		if c, ok := nestedIn(t, "spec", "storageClassName").(string); ok {
			class = &c
		}
		return recordings{claim: recordingsClaim(size, class), size: size}, true
	}
	// No claim template: an emptyDir (its size is in the pod template, which may change).
	return recordings{}, nested(observed, "spec", "template") != nil
}

func sameRecordings(a, b recordings) bool {
	if (a.claim == nil) != (b.claim == nil) {
		return false
	}
	if a.claim == nil {
		return true
	}
	as, bs := a.claim.Spec.Resources.Requests[corev1.ResourceStorage], b.claim.Spec.Resources.Requests[corev1.ResourceStorage]
	return as.Cmp(bs) == 0 && ptr.Deref(a.claim.Spec.StorageClassName, "") == ptr.Deref(b.claim.Spec.StorageClassName, "")
}
