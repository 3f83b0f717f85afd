package harness

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const (
	// JitsiFunction is the name Crossplane gives function-jitsi, installed as the
	// Configuration's dependency: the package path without the registry, as a DNS label.
	JitsiFunction = "crossplane-jitsi-function-jitsi"
	// JitsiXRD is the Configuration's CompositeResourceDefinition.
	JitsiXRD = "xjitsis.apps.jit.si"
	// JitsiConfiguration is the name of the Configuration object InstallJitsi applies.
	JitsiConfiguration = "configuration-jitsi"
)

// InstallJitsi installs the Configuration pushed to registryHost (Registry.PushProjectPackages)
// as a user does, with a Configuration object that names the package in the registry, applied
// by kubectl. It waits until Crossplane's package manager has installed it and, by itself, its
// Function dependency: both Installed and Healthy, the XRD Established and Offered. It returns
// the Function as last seen.
func (x *Crossplane) InstallJitsi(ctx context.Context, kubectl *Applier, registryHost string) (*unstructured.Unstructured, error) {
	configuration := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "pkg.crossplane.io/v1",
		"kind":       "Configuration",
		"metadata":   map[string]any{"name": JitsiConfiguration},
		"spec": map[string]any{
			"package": registryHost + "/crossplane-jitsi/configuration-jitsi:v0.1.0",
		},
	}}
	if report := kubectl.Apply(ctx, []*unstructured.Unstructured{configuration}); len(report.Rejected()) > 0 {
		return nil, fmt.Errorf("the Configuration was refused: %s", report)
	}
	if _, err := x.WaitFor(ctx, "pkg.crossplane.io/v1", "Configuration", "", JitsiConfiguration, 2*time.Minute, "Installed", "Healthy"); err != nil {
		return nil, err
	}
	fn, err := x.WaitFor(ctx, "pkg.crossplane.io/v1", "Function", "", JitsiFunction, time.Minute, "Installed", "Healthy")
	if err != nil {
		return nil, err
	}
	if _, err := x.WaitFor(ctx, "apiextensions.crossplane.io/v1", "CompositeResourceDefinition", "", JitsiXRD, time.Minute, "Established", "Offered"); err != nil {
		return nil, err
	}
	return fn, nil
}
