//go:build externalgrpc

// Command cluster-autoscaler runs cluster-autoscaler 1.33's own core loop, for the end-to-end
// tests: the released binary's flags and its scale-up and scale-down logic, talking to
// jitsi-nodescaler through the externalgrpc provider.
//
// It exists because the released binary cannot be built from the Go module proxy: its
// main package imports the provisioning-request API, a nested module the proxy does not
// serve. This program wires the same core without provisioning requests. Build it with
// -tags externalgrpc, which compiles only the externalgrpc cloud provider.
package main

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/autoscaler/cluster-autoscaler/config/flags"
	"k8s.io/autoscaler/cluster-autoscaler/core"
	"k8s.io/autoscaler/cluster-autoscaler/core/podlistprocessor"
	"k8s.io/autoscaler/cluster-autoscaler/core/scaledown/pdb"
	"k8s.io/autoscaler/cluster-autoscaler/core/scaleup/orchestrator"
	"k8s.io/autoscaler/cluster-autoscaler/debuggingsnapshot"
	"k8s.io/autoscaler/cluster-autoscaler/loop"
	"k8s.io/autoscaler/cluster-autoscaler/metrics"
	"k8s.io/autoscaler/cluster-autoscaler/processors"
	"k8s.io/autoscaler/cluster-autoscaler/processors/nodeinfosprovider"
	"k8s.io/autoscaler/cluster-autoscaler/simulator/clustersnapshot/predicate"
	"k8s.io/autoscaler/cluster-autoscaler/simulator/clustersnapshot/store"
	"k8s.io/autoscaler/cluster-autoscaler/simulator/drainability/rules"
	"k8s.io/autoscaler/cluster-autoscaler/simulator/framework"
	"k8s.io/autoscaler/cluster-autoscaler/simulator/options"
	"k8s.io/autoscaler/cluster-autoscaler/simulator/scheduling"
	kubeutil "k8s.io/autoscaler/cluster-autoscaler/utils/kubernetes"
	"k8s.io/client-go/informers"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"
)

// metricsAddress serves cluster-autoscaler's Prometheus metrics (the released binary's
// --address, which defaults to every interface): off unless set, and meant for loopback.
var metricsAddress = flag.String("metrics-address", "", "Where to serve /metrics, such as 127.0.0.1:8085; empty: nowhere.")

func main() {
	klog.InitFlags(nil)
	pflag.CommandLine.AddGoFlagSet(flag.CommandLine)
	pflag.Parse()
	opts := flags.AutoscalingOptions()
	metrics.RegisterAll(opts.EmitPerNodeGroupMetrics)
	metrics.InitMetrics()

	client := kubeutil.CreateKubeClient(opts.KubeClientOpts)
	informerFactory := informers.NewSharedInformerFactory(client, 0)
	handle, err := framework.NewHandle(informerFactory, opts.SchedulerConfig, opts.DynamicResourceAllocationEnabled)
	if err != nil {
		klog.Fatalf("Cannot create the scheduler framework: %v", err)
	}
	deleteOptions := options.NewNodeDeleteOptions(opts)

	procs := processors.DefaultProcessors(opts)
	procs.TemplateNodeInfoProvider = nodeinfosprovider.NewDefaultTemplateNodeInfoProvider(&opts.NodeInfoCacheExpireTime, opts.ForceDaemonSets)
	procs.PodListProcessor = podlistprocessor.NewDefaultPodListProcessor(scheduling.ScheduleAnywhere)

	autoscaler, err := core.NewAutoscaler(core.AutoscalerOptions{
		AutoscalingOptions:   opts,
		FrameworkHandle:      handle,
		ClusterSnapshot:      predicate.NewPredicateSnapshot(store.NewDeltaSnapshotStore(opts.ClusterSnapshotParallelism), handle, opts.DynamicResourceAllocationEnabled),
		KubeClient:           client,
		InformerFactory:      informerFactory,
		DebuggingSnapshotter: debuggingsnapshot.NewDebuggingSnapshotter(false),
		DeleteOptions:        deleteOptions,
		DrainabilityRules:    rules.Default(deleteOptions),
		RemainingPdbTracker:  pdb.NewBasicRemainingPdbTracker(),
		ScaleUpOrchestrator:  orchestrator.New(),
		Processors:           procs,
	}, informerFactory)
	if err != nil {
		klog.Fatalf("Cannot create the autoscaler: %v", err)
	}

	stop := make(chan struct{})
	informerFactory.Start(stop)
	for informer, synced := range informerFactory.WaitForCacheSync(stop) {
		if !synced {
			klog.Fatalf("Cannot sync the informer of %v", informer)
		}
	}
	if err := autoscaler.Start(); err != nil {
		klog.Fatalf("Cannot start the autoscaler: %v", err)
	}

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer cancel()
	if *metricsAddress != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", legacyregistry.Handler())
		server := &http.Server{Addr: *metricsAddress, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := server.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				klog.Errorf("Cannot serve metrics on %s: %v", *metricsAddress, err)
			}
		}()
		defer server.Close()
	}
	health := metrics.NewHealthCheck(opts.MaxInactivityTime, opts.MaxFailingTime)
	klog.Infof("Cluster-autoscaler core loop running every %s", opts.ScanInterval)
	for {
		select {
		case <-ctx.Done():
			autoscaler.ExitCleanUp()
			close(stop)
			return
		case <-time.After(opts.ScanInterval):
			loop.RunAutoscalerOnce(autoscaler, health, time.Now())
		}
	}
}
