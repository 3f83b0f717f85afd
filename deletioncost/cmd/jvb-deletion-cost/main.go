// Command jvb-deletion-cost keeps each videobridge pod's controller.kubernetes.io/pod-deletion-cost
// annotation equal to its participants, read from the bridge's /colibri/stats, so that the
// ReplicaSet removes the emptiest bridge first when the HPA scales the bridges down.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/crossplane-jitsi/crossplane-jitsi/deletioncost"
)

// CLI are the flags.
type CLI struct {
	Kubeconfig     string        `help:"Kubeconfig to reach the API server. Default: in-cluster configuration." type:"existingfile"`
	Namespace      string        `help:"Watch the bridges of this namespace only (a namespaced Role suffices). Default: every namespace."`
	Selector       string        `default:"${default_selector}" help:"Label selector of the videobridge pods."`
	Interval       time.Duration `default:"15s" help:"How often every bridge is read and its cost updated."`
	StatsPort      int           `default:"8080" help:"Port of the bridges' private REST API."`
	StatsPath      string        `default:"/colibri/stats" help:"Path of the bridges' statistics."`
	Timeout        time.Duration `default:"2s" help:"Timeout of one stats request, connection included. Less than --interval."`
	Concurrency    int           `default:"10" help:"How many bridges are read at once."`
	MetricsAddress string        `default:":8080" help:"Address of /metrics, /healthz and /readyz. Empty disables them."`
	Debug          bool          `help:"Log every skipped bridge and every patch." short:"d"`
}

func main() {
	cli := &CLI{}
	kctx := kong.Parse(cli,
		kong.Description("Sets each videobridge pod's pod-deletion-cost to its participants, so that the emptiest bridge leaves first."),
		kong.Vars{"default_selector": deletioncost.DefaultSelector})
	level := slog.LevelInfo
	if cli.Debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	// client-go logs through klog (a failing watch, a forbidden list): in the same JSON.
	klog.SetSlogLogger(log)
	if err := run(cli, log); err != nil {
		log.Error("jvb-deletion-cost failed", "error", err)
		kctx.Exit(1)
	}
}

func (c *CLI) config() deletioncost.Config {
	return deletioncost.Config{
		Namespace:   c.Namespace,
		Selector:    c.Selector,
		Interval:    c.Interval,
		StatsPort:   c.StatsPort,
		StatsPath:   c.StatsPath,
		Timeout:     c.Timeout,
		Concurrency: c.Concurrency,
	}
}

func run(cli *CLI, log *slog.Logger) error {
	cfg := cli.config()
	if err := cfg.Validate(); err != nil {
		return err
	}
	rc, err := restConfig(cli.Kubeconfig)
	if err != nil {
		return err
	}
	rc.UserAgent = deletioncost.Name
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("cannot build a Kubernetes client: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ctrl, err := deletioncost.New(kube, cfg, log, deletioncost.NewMetrics(reg))
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if cli.MetricsAddress != "" {
		// Listen before starting, so that a bad or taken address stops the start.
		lis, err := net.Listen("tcp", cli.MetricsAddress)
		if err != nil {
			return fmt.Errorf("--metrics-address: cannot listen on %s: %w", cli.MetricsAddress, err)
		}
		go serveHTTP(ctx, log, lis, reg, ctrl.Ready)
	}
	return ctrl.Run(ctx)
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("cannot load kubeconfig %s: %w", kubeconfig, err)
		}
		return rc, nil
	}
	rc, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("not in a cluster and no --kubeconfig: %w", err)
	}
	return rc, nil
}

// serveHTTP serves /metrics, /healthz (the process runs) and /readyz (the bridge pods are
// listed) on lis until ctx ends.
func serveHTTP(ctx context.Context, log *slog.Logger, lis net.Listener, reg *prometheus.Registry, ready func() bool) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "the bridge pods are not listed yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = hs.Close()
	}()
	if err := hs.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("Metrics server failed", "address", lis.Addr().String(), "error", err)
	}
}
