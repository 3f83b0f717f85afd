package harness

import (
	"context"
	"os"
	"path/filepath"
	"slices"
)

// AutoscalerFlags are cluster-autoscaler's flags for the e2e suites and the playground: those
// of examples/nodescaler/deploy/cluster-autoscaler.yaml, with every delay shortened from
// minutes to seconds.
var AutoscalerFlags = []string{
	"--cloud-provider=externalgrpc",
	"--scan-interval=2s",
	"--new-pod-scale-up-delay=0s",
	"--expander=least-waste",
	"--ignore-daemonsets-utilization=true",
	"--skip-nodes-with-local-storage=false",
	"--scale-down-unneeded-time=5s",
	"--scale-down-delay-after-add=5s",
	"--scale-down-delay-after-delete=0s",
	"--scale-down-unready-time=1m",
	"--unremovable-node-recheck-timeout=5s",
	"--node-delete-delay-after-taint=1s",
	"--max-node-provision-time=2m",
	"--max-graceful-termination-sec=14490", // a bridge's grace period at the default maxDuration, 4h
	"--balance-similar-node-groups=false",
	"--write-status-configmap=false",
	"--v=2",
}

// StartAutoscaler starts jitsi-nodescaler with groupConfig (its YAML configuration), over
// mTLS with certificates under procs.Dir/tls, and in front of it cluster-autoscaler 1.33's own
// core loop (tests/cmd/cluster-autoscaler) with AutoscalerFlags, both among procs under the
// names "jitsi-nodescaler" and "cluster-autoscaler". Binaries already in procs.Dir are used
// as they are (BuildAutoscaler builds them ahead).
func StartAutoscaler(ctx context.Context, tools *Tools, c *Cluster, procs *Processes, groupConfig []byte) (*NodeScaler, error) {
	certs, err := NewMTLS(filepath.Join(procs.Dir, "tls"))
	if err != nil {
		return nil, err
	}
	ns, err := StartNodeScaler(ctx, tools, c, procs, groupConfig, certs, "jitsi-nodescaler")
	if err != nil {
		return nil, err
	}
	ca := filepath.Join(procs.Dir, "cluster-autoscaler")
	if _, err := os.Stat(ca); err != nil {
		if ca, err = tools.BuildTestProgram("cmd/cluster-autoscaler", procs.Dir, "externalgrpc"); err != nil {
			return nil, err
		}
	}
	if err := procs.Start("cluster-autoscaler", ca,
		append(slices.Clone(AutoscalerFlags), "--cloud-config="+ns.CloudConfig, "--kubeconfig="+c.Kubeconfig)...); err != nil {
		return nil, err
	}
	return ns, nil
}

// BuildAutoscaler builds jitsi-nodescaler and cluster-autoscaler's loop into dir, where
// StartAutoscaler finds them when dir is its procs.Dir: a caller can build them while the
// cluster starts.
func BuildAutoscaler(tools *Tools, dir string) error {
	if _, err := tools.Build("nodescaler/cmd/jitsi-nodescaler", dir); err != nil {
		return err
	}
	_, err := tools.BuildTestProgram("cmd/cluster-autoscaler", dir, "externalgrpc")
	return err
}
