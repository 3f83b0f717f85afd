package runner

import (
	"fmt"
	"time"
)

// The production settings a run compresses, in trace time, with where each comes from.
const (
	// DefaultBootDelay is how long a JVB node takes from cluster-autoscaler's request to a
	// registered Node: a cloud VM booting and its kubelet joining, typically one to two
	// minutes.
	DefaultBootDelay = 90 * time.Second
	// hpaSyncPeriod is kube-controller-manager's --horizontal-pod-autoscaler-sync-period.
	hpaSyncPeriod = 15 * time.Second
	// hpaDownscaleStabilization is --horizontal-pod-autoscaler-downscale-stabilization, the
	// window of an HPA without behavior.
	hpaDownscaleStabilization = 5 * time.Minute
	// hpaInitialReadinessDelay and hpaCPUInitializationPeriod only matter for CPU metrics,
	// compressed all the same.
	hpaInitialReadinessDelay   = 30 * time.Second
	hpaCPUInitializationPeriod = 5 * time.Minute
	// drainPoll is how often the bridges' preStop hook polls /colibri/stats (fn/jvb.go).
	drainPoll = 10 * time.Second
	// groupUnneededTime is the JVB node group's scaleDown.unneededTime
	// (examples/nodescaler/config-kwok.yaml): an empty node goes five minutes after its
	// bridge left.
	groupUnneededTime = 5 * time.Minute
	// DefaultSampleEvery is the timeline's resolution: four samples per trace minute, so that
	// a scale-up is timed to 15 trace seconds.
	DefaultSampleEvery = 15 * time.Second
)

// autoscalerFlags are cluster-autoscaler's flags: those of
// examples/nodescaler/deploy/cluster-autoscaler.yaml, then cluster-autoscaler 1.33's own
// defaults for every other flag that is a duration of the model (not a bound on its
// computation), all compressed. bridgeGrace is the bridges' longest
// terminationGracePeriodSeconds, uncompressed: CA's --max-graceful-termination-sec covers it,
// as the example's does.
func autoscalerFlags(s TimeScale, bridgeGrace int64) []string {
	grace, _ := s.Seconds(bridgeGrace, 1)
	return []string{
		"--cloud-provider=externalgrpc",
		"--scan-interval=" + s.Flag(10*time.Second),
		"--new-pod-scale-up-delay=0s",
		"--expander=least-waste",
		"--ignore-daemonsets-utilization=true",
		"--skip-nodes-with-local-storage=false",
		"--scale-down-unneeded-time=" + s.Flag(5*time.Minute),
		"--scale-down-delay-after-add=" + s.Flag(5*time.Minute),
		"--scale-down-unready-time=" + s.Flag(10*time.Minute),
		"--max-node-provision-time=" + s.Flag(10*time.Minute),
		fmt.Sprintf("--max-graceful-termination-sec=%d", grace),
		"--balance-similar-node-groups=false",
		// CA 1.33's defaults, compressed.
		"--scale-down-delay-after-delete=0s",
		"--scale-down-delay-after-failure=" + s.Flag(3*time.Minute),
		"--unremovable-node-recheck-timeout=" + s.Flag(5*time.Minute),
		"--node-delete-delay-after-taint=" + s.Flag(5*time.Second),
		"--node-deletion-delay-timeout=" + s.Flag(2*time.Minute),
		"--max-pod-eviction-time=" + s.Flag(2*time.Minute),
		"--initial-node-group-backoff-duration=" + s.Flag(5*time.Minute),
		"--max-node-group-backoff-duration=" + s.Flag(30*time.Minute),
		"--node-group-backoff-reset-timeout=" + s.Flag(3*time.Hour),
		"--write-status-configmap=false",
		"--v=1",
	}
}

// controllerManagerFlags compress the HPA controller's durations; the sync period is
// harness.Options.HPASyncPeriod.
func controllerManagerFlags(s TimeScale) []string {
	return []string{
		"--horizontal-pod-autoscaler-downscale-stabilization=" + s.Flag(hpaDownscaleStabilization),
		"--horizontal-pod-autoscaler-initial-readiness-delay=" + s.Flag(hpaInitialReadinessDelay),
		"--horizontal-pod-autoscaler-cpu-initialization-period=" + s.Flag(hpaCPUInitializationPeriod),
	}
}

// groupLabel is the label jitsi-nodescaler puts on every node of a group.
const groupLabel = "nodescaler.jit.si/node-group"

// nodeGroupConfig is jitsi-nodescaler's configuration: the JVB group of
// examples/nodescaler/config-kwok.yaml, with room for maxSize nodes that boot in bootDelay
// (trace time), compressed.
func nodeGroupConfig(s TimeScale, maxSize int, bootDelay time.Duration) []byte {
	return fmt.Appendf(nil, `nodeGroups:
- id: jvb
  minSize: 0
  maxSize: %d
  template:
    labels:
      jitsi.org/role: jvb
    taints:
    - {key: jitsi.org/role, value: jvb, effect: NoSchedule}
    capacity: {cpu: "4", memory: 8Gi, pods: "110"}
    allocatable: {cpu: 3800m, memory: 7Gi, pods: "110"}
  driver:
    kwok:
      bootDelay: %s
  scaleDown:
    unneededTime: %s
    ignoreDaemonSetsUtilization: true
`, maxSize, s.Flag(bootDelay), s.Flag(groupUnneededTime))
}
