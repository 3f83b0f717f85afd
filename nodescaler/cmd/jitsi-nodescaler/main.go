// Command jitsi-nodescaler is a cluster-autoscaler cloud provider, served over the
// externalgrpc protocol: run the stock cluster-autoscaler with --cloud-provider=externalgrpc
// and point its cloud-config at this server. Node groups and their drivers are configured
// in a YAML file.
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
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/config"
	"github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/driver/crossplane"
	"github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/driver/kwok"
	pb "github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/externalgrpc"
	"github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/server"
)

// CLI are the flags.
type CLI struct {
	Config         string `required:"" type:"existingfile" help:"Node group configuration file (YAML)."`
	Address        string `default:":8086" help:"Address of the gRPC server cluster-autoscaler connects to."`
	TLSCertFile    string `name:"tls-cert-file" help:"Server certificate (PEM)." type:"existingfile"`
	TLSKeyFile     string `name:"tls-key-file" help:"Server key (PEM)." type:"existingfile"`
	TLSClientCA    string `name:"tls-client-ca-file" help:"CA that signs cluster-autoscaler's client certificate (PEM)." type:"existingfile"`
	Insecure       bool   `help:"Serve plaintext gRPC without client authentication. For local tests only."`
	MetricsAddress string `default:":8080" help:"Address of /metrics, /healthz and /readyz. Empty disables them."`
	Kubeconfig     string `help:"Kubeconfig to reach the API server. Default: in-cluster configuration." type:"existingfile"`
	Debug          bool   `help:"Log every call." short:"d"`
}

func main() {
	cli := &CLI{}
	kctx := kong.Parse(cli, kong.Description("A cluster-autoscaler externalgrpc cloud provider with pluggable node drivers."))
	level := slog.LevelInfo
	if cli.Debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := run(cli, log); err != nil {
		log.Error("jitsi-nodescaler failed", "error", err)
		kctx.Exit(1)
	}
}

func (c *CLI) tlsFiles() (*server.TLSFiles, error) {
	if c.Insecure {
		return nil, nil
	}
	if c.TLSCertFile == "" || c.TLSKeyFile == "" || c.TLSClientCA == "" {
		return nil, errors.New("mTLS is required: set --tls-cert-file, --tls-key-file and --tls-client-ca-file, " +
			"or --insecure for a local test")
	}
	return &server.TLSFiles{Cert: c.TLSCertFile, Key: c.TLSKeyFile, ClientCA: c.TLSClientCA}, nil
}

func run(cli *CLI, log *slog.Logger) error {
	tlsFiles, err := cli.tlsFiles()
	if err != nil {
		return err
	}
	cfg, err := config.Load(cli.Config)
	if err != nil {
		return err
	}
	rc, err := restConfig(cli.Kubeconfig)
	if err != nil {
		return err
	}
	groups, err := buildGroups(cfg, rc, log)
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := server.New(log, server.NewMetrics(reg), groups)
	if err != nil {
		return err
	}
	g, err := server.NewGRPCServer(srv, tlsFiles)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	// Know every existing node before the first call; cluster-autoscaler refreshes anyway.
	refreshCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	if _, err := srv.Refresh(refreshCtx, &pb.RefreshRequest{}); err != nil {
		log.Warn("Initial refresh failed; not ready until one succeeds", "error", err)
	}
	cancel()

	if cli.MetricsAddress != "" {
		go serveHTTP(ctx, log, cli.MetricsAddress, reg, srv)
	}
	lis, err := net.Listen("tcp", cli.Address)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", cli.Address, err)
	}
	log.Info("Serving the externalgrpc cloud provider", "address", lis.Addr().String(), "mtls", tlsFiles != nil, "groups", len(groups))
	go func() {
		<-ctx.Done()
		g.GracefulStop()
	}()
	return g.Serve(lis)
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

func buildGroups(cfg *config.Config, rc *rest.Config, log *slog.Logger) ([]server.Group, error) {
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	kwokTemplates := map[string]config.Template{}
	kwokOptions := []kwok.Option{kwok.WithLogger(log)}
	crossplaneGroups := map[string]crossplane.Group{}
	for _, g := range cfg.NodeGroups {
		if k := g.Driver.Kwok; k != nil {
			kwokTemplates[g.ID] = g.Template
			if k.BootDelay != nil && k.BootDelay.Duration > 0 {
				kwokOptions = append(kwokOptions, kwok.WithBoot(g.ID, kwok.Boot{Delay: k.BootDelay.Duration, Namespace: k.BootNamespace}))
			}
		} else {
			crossplaneGroups[g.ID] = crossplane.Group{Settings: *g.Driver.Crossplane, Template: g.Template}
		}
	}
	kwokDriver := kwok.New(kube, kwokTemplates, kwokOptions...)
	var crossplaneDriver *crossplane.Driver
	if len(crossplaneGroups) > 0 {
		dyn, err := dynamic.NewForConfig(rc)
		if err != nil {
			return nil, err
		}
		mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(kube.Discovery()))
		crossplaneDriver, err = crossplane.New(dyn, kube, mapper, crossplaneGroups)
		if err != nil {
			return nil, err
		}
	}
	out := make([]server.Group, 0, len(cfg.NodeGroups))
	for _, g := range cfg.NodeGroups {
		sg := server.Group{Config: g, Driver: kwokDriver}
		if g.Driver.Crossplane != nil {
			sg.Driver = crossplaneDriver
		}
		out = append(out, sg)
	}
	return out, nil
}

func serveHTTP(ctx context.Context, log *slog.Logger, addr string, reg *prometheus.Registry, srv *server.Server) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !srv.Ready() {
			http.Error(w, "no successful refresh yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	hs := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = hs.Close()
	}()
	if err := hs.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("Metrics server failed", "address", addr, "error", err)
	}
}
