package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// PreStopDoneAnnotation marks a terminating videobridge pod whose preStop hook has ended. With
// Options.HoldTerminatingBridges, kwok deletes a terminating bridge only once it carries
// this annotation set to "true"; whoever plays the kubelet (jitsiemu.Kubelet) sets it.
const PreStopDoneAnnotation = "e2e.jit.si/prestop-done"

// bridgeComponent is the label value that marks a videobridge pod.
const bridgeComponent = "jvb"

// holdTerminatingBridgesStages replaces kwok's pod-delete stage, which deletes every pod the
// moment it has a deletionTimestamp, with two: one that does so for every pod but a
// videobridge, and one that deletes a videobridge once PreStopDoneAnnotation says its preStop
// hook ended. A kubelet would likewise keep the pod until the hook and the container exited.
const holdTerminatingBridgesStages = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-delete-now
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'Exists'
    - key: '.metadata.labels["app.kubernetes.io/component"]'
      operator: 'NotIn'
      values: ['` + bridgeComponent + `']
  next:
    delete: true
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-delete-after-prestop
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'Exists'
    - key: '.metadata.labels["app.kubernetes.io/component"]'
      operator: 'In'
      values: ['` + bridgeComponent + `']
    - key: '.metadata.annotations["` + PreStopDoneAnnotation + `"]'
      operator: 'In'
      values: ['true']
  next:
    delete: true
`

// writeHoldingStages writes kwok's stages from the file at stages, with pod-delete replaced
// as holdTerminatingBridgesStages says, into dir, and returns the new file's path.
func writeHoldingStages(stages, dir string) (string, error) {
	b, err := os.ReadFile(stages)
	if err != nil {
		return "", fmt.Errorf("cannot read kwok's stages: %w", err)
	}
	var kept []string
	replaced := false
	for _, doc := range strings.Split(string(b), "\n---") {
		if strings.Contains(doc, "\n  name: pod-delete\n") {
			replaced = true
			continue
		}
		if strings.TrimSpace(doc) != "" && strings.TrimSpace(doc) != "---" {
			kept = append(kept, strings.TrimPrefix(strings.TrimSpace(doc), "---\n"))
		}
	}
	if !replaced {
		return "", fmt.Errorf("%s has no stage named pod-delete to replace", stages)
	}
	kept = append(kept, holdTerminatingBridgesStages)
	out := filepath.Join(dir, "kwok-stages.yaml")
	return out, os.WriteFile(out, []byte(strings.Join(kept, "\n---\n")), 0o644)
}
