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
	"path/filepath"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
	"github.com/crossplane-jitsi/crossplane-jitsi/tests/jitsiemu"
)

// neededTools are the pinned tools the playground runs (Makefile's up target builds them).
var neededTools = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok",
	"crossplane", "crossplane-core", "crossplane-crds", "crane"}

const (
	// baseNode is the node for prosody, jicofo, web and jibri; it belongs to no node group.
	baseNode = "base-1"
	// ingressAddress is what the ingress controller's stand-in publishes on every Ingress.
	ingressAddress = "127.0.0.1"
	// recordingsVolumes is how many PersistentVolumes wait for jibri's recordings claims
	// (one per recorder: spec.jibri.replicas, 1 by default), of recordingsSize each
	// (spec.jibri.recordings.size's default).
	recordingsVolumes = 2
	recordingsSize    = "10Gi"
	// jvbUnneededTime replaces the node group's scaleDown.unneededTime of
	// examples/nodescaler/config-kwok.yaml (5m): an empty JVB node goes a minute after its
	// bridge.
	jvbUnneededTime = "1m"
	// The metric path's periods, shortened as cluster-autoscaler's flags are
	// (harness.AutoscalerFlags) so that a new HPA reads its metric, and a bridge's stress
	// reaches the HPA, within seconds: kube-controller-manager's
	// --horizontal-pod-autoscaler-sync-period defaults to 15 s, kube-metrics-adapter's
	// collection and HPA discovery intervals to 60 s and 30 s
	// (jitsiemu.DefaultCollectionInterval, DefaultResourceUpdateInterval).
	hpaSyncPeriod             = 5 * time.Second
	metricsCollectionInterval = 5 * time.Second
	metricsHPAInterval        = 5 * time.Second
)

// serve runs the playground until SIGTERM or SIGINT. It writes its PID first, then either
// ready.json once everything is ready or error if something failed; it stops everything it
// started before it returns.
func serve(s stateDir) error {
	ctx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stopSignals()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	// Crossplane's v1 XRD is deprecated, and the API server says so on every request for it.
	rest.SetDefaultWarningHandler(rest.NoWarnings{})

	if err := os.MkdirAll(string(s), 0o755); err != nil {
		return err
	}
	_ = os.Remove(s.readyFile())
	_ = os.Remove(s.errorFile())
	if err := os.WriteFile(s.pidFile(), fmt.Appendf(nil, "%d\n", os.Getpid()), 0o644); err != nil {
		return err
	}
	defer os.Remove(s.pidFile())

	p := &playground{dir: s, log: log}
	start := time.Now()
	err := p.start(ctx)
	if err == nil {
		err = s.writeReady(readyInfo{
			PID: os.Getpid(), Kubeconfig: s.kubeconfig(), Kubectl: p.tools.Path("kubectl"),
			Jicofo: p.jicofoURL, Registry: p.registry.Host, ReadyIn: time.Since(start).Round(100 * time.Millisecond).String(),
		})
	}
	if err != nil {
		log.Error("the playground failed to start", "error", err)
		_ = os.WriteFile(s.errorFile(), []byte(err.Error()+"\n"), 0o644)
		p.stop()
		return err
	}
	log.Info(fmt.Sprintf("the playground is ready, %s after start; stop it with SIGTERM (playground down)", time.Since(start).Round(100*time.Millisecond)))
	go p.watch(ctx)
	<-ctx.Done()
	log.Info("stopping the playground")
	_ = os.Remove(s.readyFile())
	p.stop()
	log.Info("the playground stopped")
	return nil
}

// playground is everything serve runs.
type playground struct {
	dir   stateDir
	log   *slog.Logger
	tools *harness.Tools

	procs     *harness.Processes
	cluster   *harness.Cluster
	registry  *harness.Registry
	xp        *harness.Crossplane
	emulators *jitsiemu.Emulators
	adapter   *jitsiemu.MetricsAdapter
	ingress   *harness.IngressStatus
	jicofo    *http.Server
	jicofoURL string
}

func (p *playground) logf(format string, args ...any) { p.log.Info(fmt.Sprintf(format, args...)) }

// step logs how long a step took.
func (p *playground) step(name string, start time.Time) {
	p.logf("%s in %s", name, time.Since(start).Round(10*time.Millisecond))
}

// start starts everything and returns once it is ready. Whatever it started before a
// failure stays for stop to stop.
func (p *playground) start(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var err error
	start := time.Now()
	if p.tools, err = harness.FindTools(neededTools...); err != nil {
		return err
	}
	p.step("pinned tools present", start)
	if p.procs, err = harness.NewProcesses(p.dir.processes(), p.logf); err != nil {
		return err
	}

	// While the control plane starts: the node scaler and cluster-autoscaler are built, and
	// the packages are built and pushed to a registry on loopback.
	built := async(func() error {
		defer p.step("jitsi-nodescaler and cluster-autoscaler built", time.Now())
		return harness.BuildAutoscaler(p.tools, p.procs.Dir)
	})
	pushed := async(func() error { return p.pushPackages(ctx) })
	// Whatever happens, nothing goes on building once start returns.
	defer func() { _, _ = built.wait(), pushed.wait() }()

	start = time.Now()
	p.cluster, err = harness.Start(ctx, p.tools, string(p.dir), harness.Options{
		// Each bridge pod gets a loopback address its emulated bridge serves /colibri/stats on.
		KwokCIDR: harness.LoopbackPodCIDR(),
		// A bridge leaving runs its preStop hook (the kubelet double) before it goes.
		HoldTerminatingBridges: true,
		HPASyncPeriod:          hpaSyncPeriod,
		Logf:                   p.logf,
	})
	if err != nil {
		return err
	}
	if err := writeKubeconfig(p.cluster.Kubeconfig, p.dir.kubeconfig()); err != nil {
		return err
	}
	kubectl, err := harness.NewApplier(p.cluster.Config, "kubectl")
	if err != nil {
		return err
	}

	err = parallel(cancel,
		func() error {
			start := time.Now()
			xp, err := harness.StartCrossplane(ctx, p.tools, p.cluster, p.procs, harness.CrossplaneOptions{LeastPrivilege: true})
			if err != nil {
				return err
			}
			p.xp = xp
			p.step("Crossplane started", start)
			if err := pushed.wait(); err != nil {
				return err
			}
			start = time.Now()
			if _, err := p.xp.InstallJitsi(ctx, kubectl, p.registry.Host); err != nil {
				return err
			}
			p.step("Configuration and its Function installed by Crossplane's package manager, XRD offered", start)
			return nil
		},
		func() error { return p.startCluster(ctx, kubectl) },
		func() error {
			if err := built.wait(); err != nil {
				return err
			}
			return p.startAutoscaler(ctx)
		},
	)
	if err != nil {
		return err
	}
	return p.serveJicofo()
}

// pushPackages starts the registry and pushes the packages as `PUSH=1 make package` does.
func (p *playground) pushPackages(ctx context.Context) error {
	start := time.Now()
	var err error
	if p.registry, err = harness.StartRegistry(ctx, p.tools, p.procs); err != nil {
		return err
	}
	if err := p.registry.PushProjectPackages(ctx, p.dir.packagesDir()); err != nil {
		return err
	}
	p.step("packages built and pushed to "+p.registry.Host, start)
	return nil
}

// startCluster adds what a cluster has besides Crossplane: package/cluster/ (the RBAC and the
// spare-node PriorityClass), the base node, volumes for jibri's recordings, an ingress
// controller's status updates, the emulated bridges and the metrics adapter.
func (p *playground) startCluster(ctx context.Context, kubectl *harness.Applier) error {
	start := time.Now()
	objs, err := harness.ReadYAMLDir(filepath.Join(p.tools.Root, "package", "cluster"))
	if err != nil {
		return err
	}
	if report := kubectl.Apply(ctx, objs); len(report.Rejected()) > 0 {
		return fmt.Errorf("package/cluster/ was refused: %s", report)
	}
	nodes := p.cluster.Client.CoreV1().Nodes()
	if _, err := nodes.Create(ctx, harness.KwokNode(baseNode, nil, harness.NodeCapacity), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("cannot create node %s: %w", baseNode, err)
	}
	for i := 1; i <= recordingsVolumes; i++ {
		if err := p.createRecordingsVolume(ctx, fmt.Sprintf("playground-recordings-%d", i)); err != nil {
			return err
		}
	}
	if p.ingress, err = harness.StartIngressStatus(ctx, p.cluster.Config, ingressAddress, p.logf); err != nil {
		return err
	}
	claim, err := readSampleClaim(p.tools.Root)
	if err != nil {
		return err
	}
	namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: claim.Metadata.Namespace}}
	if _, err := p.cluster.Client.CoreV1().Namespaces().Create(ctx, namespace, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("cannot create namespace %s: %w", namespace.Name, err)
	}
	if p.emulators, err = jitsiemu.StartEmulators(ctx, jitsiemu.EmulatorsOptions{
		Client: p.cluster.Client, Region: claim.Spec.Region, Logf: p.logf,
	}); err != nil {
		return err
	}
	if p.adapter, err = jitsiemu.StartMetricsAdapter(jitsiemu.MetricsAdapterOptions{
		Client: p.cluster.Client, Network: p.emulators.Network,
		CollectionInterval: metricsCollectionInterval, ResourceUpdateInterval: metricsHPAInterval, Logf: p.logf,
	}); err != nil {
		return err
	}
	admin, err := harness.NewApplier(p.cluster.Config, "playground")
	if err != nil {
		return err
	}
	if err := p.adapter.Register(ctx, admin); err != nil {
		return err
	}
	p.step("package/cluster/ applied; namespace "+namespace.Name+", base node, recordings volumes, ingress status, emulated bridges and metrics adapter ready", start)
	return nil
}

// createRecordingsVolume creates a PersistentVolume of the size of jibri's default
// recordings claim, which has no StorageClass: the PersistentVolume controller binds the
// claim to it, as to a volume an administrator made beforehand. Its hostPath is a directory
// of the state directory that nothing writes to, since no container runs.
func (p *playground) createRecordingsVolume(ctx context.Context, name string) error {
	path := filepath.Join(p.dir.volumes(), name)
	if err := os.MkdirAll(path, 0o755); err != nil {
		return err
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/part-of": "playground"}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(recordingsSize)},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: path},
			},
		},
	}
	if _, err := p.cluster.Client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("cannot create PersistentVolume %s: %w", name, err)
	}
	return nil
}

// startAutoscaler starts jitsi-nodescaler with the JVB node group of
// examples/nodescaler/config-kwok.yaml, without its taint (examples/claim.yaml's bridges
// neither select nor tolerate JVB nodes, so cluster-autoscaler would find the group useless
// for them) and with a shorter unneededTime, and cluster-autoscaler's loop in front of it.
func (p *playground) startAutoscaler(ctx context.Context) error {
	start := time.Now()
	b, err := os.ReadFile(filepath.Join(p.tools.Root, "examples", "nodescaler", "config-kwok.yaml"))
	if err != nil {
		return err
	}
	var config map[string]any
	if err := yaml.Unmarshal(b, &config); err != nil {
		return fmt.Errorf("examples/nodescaler/config-kwok.yaml: %w", err)
	}
	groups, _ := config["nodeGroups"].([]any)
	if len(groups) == 0 {
		return errors.New("examples/nodescaler/config-kwok.yaml: nodeGroups: must hold the JVB group")
	}
	for _, g := range groups {
		group, ok := g.(map[string]any)
		if !ok {
			return errors.New("examples/nodescaler/config-kwok.yaml: nodeGroups: must be a list of groups")
		}
		if template, ok := group["template"].(map[string]any); ok {
			delete(template, "taints")
		}
		scaleDown, _ := group["scaleDown"].(map[string]any)
		if scaleDown == nil {
			scaleDown = map[string]any{}
			group["scaleDown"] = scaleDown
		}
		scaleDown["unneededTime"] = jvbUnneededTime
	}
	if b, err = yaml.Marshal(config); err != nil {
		return err
	}
	if _, err := harness.StartAutoscaler(ctx, p.tools, p.cluster, p.procs, b); err != nil {
		return err
	}
	p.step("jitsi-nodescaler (kwok driver, JVB group) and cluster-autoscaler started", start)
	return nil
}

// serveJicofo serves the emulated jicofo's participants endpoint on loopback.
func (p *playground) serveJicofo() error {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	p.jicofo = &http.Server{Handler: newParticipantsHandler(p.emulators.Jicofo), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = p.jicofo.Serve(lis) }()
	p.jicofoURL = "http://" + lis.Addr().String()
	return nil
}

// watch logs a process of the playground that exits while it serves; up's second run
// finds the playground no longer answering and starts it again.
func (p *playground) watch(ctx context.Context) {
	reported := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
		for _, ps := range []*harness.Processes{p.cluster.Processes, p.procs} {
			if err := ps.Exited(); err != nil && !reported[err.Error()] {
				reported[err.Error()] = true
				p.log.Error("a process of the playground exited", "error", err)
			}
		}
	}
}

// stop stops everything start started, newest first, then the processes.
func (p *playground) stop() {
	if p.jicofo != nil {
		_ = p.jicofo.Close()
	}
	if p.adapter != nil {
		p.adapter.Close()
	}
	if p.emulators != nil {
		p.emulators.Close()
	}
	if p.ingress != nil {
		p.ingress.Stop()
	}
	if p.xp != nil {
		// Before the processes: the runtime must not start functions again meanwhile.
		p.xp.Stop()
	}
	if p.procs != nil {
		p.procs.Stop()
	}
	if p.cluster != nil {
		p.cluster.Stop()
	}
}

// writeKubeconfig writes the admin kubeconfig with its certificates inline, so that it is one
// file a user can point KUBECONFIG at.
func writeKubeconfig(from, to string) error {
	cfg, err := clientcmd.LoadFromFile(from)
	if err != nil {
		return err
	}
	if err := clientcmdapi.FlattenConfig(cfg); err != nil {
		return err
	}
	cfg.Contexts["playground"] = cfg.Contexts[cfg.CurrentContext]
	delete(cfg.Contexts, cfg.CurrentContext)
	cfg.CurrentContext = "playground"
	return clientcmd.WriteToFile(*cfg, to)
}

// sampleClaim is what the playground takes from examples/claim.yaml, the claim the
// instructions apply: its namespace, which the playground creates as a platform team creates
// a tenant's, and its spec.region, the emulated jicofo's local region (JICOFO_OCTO_REGION),
// where participants come from.
type sampleClaim struct {
	Metadata struct {
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec struct {
		Region string `json:"region"`
	} `json:"spec"`
}

func readSampleClaim(root string) (*sampleClaim, error) {
	b, err := os.ReadFile(filepath.Join(root, "examples", "claim.yaml"))
	if err != nil {
		return nil, err
	}
	claim := &sampleClaim{}
	if err := yaml.Unmarshal(b, claim); err != nil {
		return nil, fmt.Errorf("examples/claim.yaml: %w", err)
	}
	if claim.Metadata.Namespace == "" {
		return nil, errors.New("examples/claim.yaml: metadata.namespace: must name the claim's namespace")
	}
	return claim, nil
}

// future is the result of a function running in its own goroutine.
type future struct {
	done chan struct{}
	err  error
}

func async(f func() error) *future {
	ft := &future{done: make(chan struct{})}
	go func() {
		defer close(ft.done)
		ft.err = f()
	}()
	return ft
}

// wait waits for the function and returns its error; it may be called any number of times.
func (f *future) wait() error {
	<-f.done
	return f.err
}

// parallel runs fns at once and returns their errors, joined, once all have returned. The
// first error calls cancel, so that the others stop waiting.
func parallel(cancel context.CancelFunc, fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, f := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = f(); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	// The cause, not the "context canceled" of the others it stopped.
	var causes []error
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			causes = append(causes, err)
		}
	}
	if len(causes) > 0 {
		return errors.Join(causes...)
	}
	return errors.Join(errs...)
}
