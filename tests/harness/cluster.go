// Package harness runs a real Kubernetes control plane on 127.0.0.1 for the end-to-end tests:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok, which plays the
// kubelet of fake nodes (pods bound to them are marked Running; no container ever runs).
// No Docker, no root: pinned binaries built from the Go module proxy (hack/tools.sh).
package harness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Cluster is a running control plane.
type Cluster struct {
	// Dir holds the cluster's certificates, data and logs (Dir/logs/<component>.log).
	Dir string
	// Kubeconfig is the admin kubeconfig.
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface
	// ReadyIn is how long the cluster took from start to ready.
	ReadyIn time.Duration
	// ControllerManagerURL and SchedulerURL are the components' secure ports
	// (https://127.0.0.1:<port>); MetricsText reads their /metrics.
	ControllerManagerURL, SchedulerURL string
	// adminTLS authenticates as the cluster admin, to the components too.
	adminTLS *tls.Config

	*Processes
	tools *Tools
}

// Options tune a cluster.
type Options struct {
	// KwokCIDR is the range kwok hands pod IPs from.
	KwokCIDR string
	// HPASyncPeriod is the HPA controller's period.
	HPASyncPeriod time.Duration
	// ControllerManagerFlags are added to kube-controller-manager's flags, such as the HPA
	// controller's --horizontal-pod-autoscaler-downscale-stabilization.
	ControllerManagerFlags []string
	// HoldTerminatingBridges keeps a terminating videobridge pod until PreStopDoneAnnotation
	// says its preStop hook ended, instead of kwok deleting it at once; every other pod
	// still goes at once. Something must play the kubelet and set the annotation.
	HoldTerminatingBridges bool
	// Logf reports progress; nil is silent.
	Logf func(format string, args ...any)
}

// Start starts a fresh cluster in a new directory under root and waits until it is ready:
// the API answers, the controllers and the scheduler are healthy, and pods can be created.
// Call Stop when done, even after a failure; Start stops what it started if it fails.
func Start(ctx context.Context, tools *Tools, root string, opts Options) (c *Cluster, err error) {
	if opts.KwokCIDR == "" {
		opts.KwokCIDR = "10.244.0.1/16"
	}
	if opts.HPASyncPeriod == 0 {
		opts.HPASyncPeriod = 15 * time.Second
	}
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(root, "cluster-")
	if err != nil {
		return nil, err
	}
	c = &Cluster{Dir: dir, tools: tools, Processes: &Processes{Dir: dir, LogDir: filepath.Join(dir, "logs"), logf: logf}}
	defer func() {
		if err != nil {
			c.Stop()
			err = fmt.Errorf("%w (logs in %s)", err, c.LogDir)
		}
	}()
	start := time.Now()
	if err := os.MkdirAll(c.Processes.LogDir, 0o755); err != nil {
		return c, err
	}
	pk := &pki{dir: filepath.Join(dir, "pki")}
	if err := pk.generate(); err != nil {
		return c, fmt.Errorf("cannot generate certificates: %w", err)
	}
	ports, err := freePorts(5)
	if err != nil {
		return c, err
	}
	etcdPort, etcdPeerPort, apiPort, kcmPort, schedPort := ports[0], ports[1], ports[2], ports[3], ports[4]
	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	admin, err := pk.kubeconfig("admin", server)
	if err != nil {
		return c, err
	}
	kcmConfig, err := pk.kubeconfig("kube-controller-manager", server)
	if err != nil {
		return c, err
	}
	schedConfig, err := pk.kubeconfig("kube-scheduler", server)
	if err != nil {
		return c, err
	}
	c.Kubeconfig = admin

	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeerPort)
	if err := c.Start("etcd", tools.Path("etcd"),
		"--name=default", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		// Tests need no durability, and fsync makes every write slow.
		"--unsafe-no-fsync=true", "--log-level=warn"); err != nil {
		return c, err
	}
	if err := c.waitHTTP(ctx, "etcd", etcdURL+"/health", nil, 30*time.Second); err != nil {
		return c, err
	}

	P := pk.path
	if err := c.Start("kube-apiserver", tools.Path("kube-apiserver"),
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", apiPort),
		"--tls-cert-file="+P("apiserver.crt"), "--tls-private-key-file="+P("apiserver.key"),
		"--client-ca-file="+P("ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+P("sa.pub"), "--service-account-signing-key-file="+P("sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16",
		"--authorization-mode=Node,RBAC", "--allow-privileged=true",
		// The aggregation layer, for metrics APIs served by test doubles.
		"--requestheader-client-ca-file="+P("front-proxy-ca.crt"), "--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file="+P("front-proxy-client.crt"), "--proxy-client-key-file="+P("front-proxy-client.key"),
		// Without it the apiserver complains every few seconds that 127.0.0.1 is loopback.
		"--endpoint-reconciler-type=none", "--profiling=false"); err != nil {
		return c, err
	}
	adminTLS, err := clientTLS(P("ca.crt"), P("admin.crt"), P("admin.key"))
	if err != nil {
		return c, err
	}
	c.adminTLS = adminTLS
	if err := c.waitHTTP(ctx, "kube-apiserver", server+"/readyz", adminTLS, 120*time.Second); err != nil {
		return c, err
	}

	// --client-ca-file on both: the admin's client certificate then reads their /metrics.
	kcmArgs := append([]string{
		"--kubeconfig=" + kcmConfig, "--authentication-kubeconfig=" + kcmConfig, "--authorization-kubeconfig=" + kcmConfig,
		"--client-ca-file=" + P("ca.crt"),
		"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", kcmPort), "--leader-elect=false",
		"--root-ca-file=" + P("ca.crt"), "--service-account-private-key-file=" + P("sa.key"),
		"--use-service-account-credentials=true",
		"--cluster-signing-cert-file=" + P("ca.crt"), "--cluster-signing-key-file=" + P("ca.key"),
		"--controllers=*", "--horizontal-pod-autoscaler-sync-period=" + opts.HPASyncPeriod.String(),
		// Otherwise it creates its flex-volume plugin directory on the host.
		"--flex-volume-plugin-dir=" + filepath.Join(dir, "flexvolume"),
	}, opts.ControllerManagerFlags...)
	if err := c.Start("kube-controller-manager", tools.Path("kube-controller-manager"), kcmArgs...); err != nil {
		return c, err
	}
	if err := c.Start("kube-scheduler", tools.Path("kube-scheduler"),
		"--kubeconfig="+schedConfig, "--authentication-kubeconfig="+schedConfig, "--authorization-kubeconfig="+schedConfig,
		"--client-ca-file="+P("ca.crt"),
		"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", schedPort), "--leader-elect=false"); err != nil {
		return c, err
	}
	c.ControllerManagerURL = fmt.Sprintf("https://127.0.0.1:%d", kcmPort)
	c.SchedulerURL = fmt.Sprintf("https://127.0.0.1:%d", schedPort)
	stages := tools.Path("kwok-stages.yaml")
	if opts.HoldTerminatingBridges {
		if stages, err = writeHoldingStages(stages, dir); err != nil {
			return c, err
		}
	}
	// kwok manages only the nodes annotated for it. Without a lease duration no Lease is
	// renewed and its nodes go NotReady after ~50 s.
	if err := c.Start("kwok", tools.Path("kwok"),
		"--kubeconfig="+admin, "--config="+stages,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--manage-nodes-with-label-selector=",
		"--disregard-status-with-annotation-selector=kwok.x-k8s.io/status=custom",
		"--disregard-status-with-label-selector=",
		"--node-lease-duration-seconds=40",
		"--cidr="+opts.KwokCIDR, "--node-ip=127.0.0.1"); err != nil {
		return c, err
	}
	insecure := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // self-signed serving certs of local components
	if err := c.waitHTTP(ctx, "kube-controller-manager", fmt.Sprintf("https://127.0.0.1:%d/healthz", kcmPort), insecure, 60*time.Second); err != nil {
		return c, err
	}
	if err := c.waitHTTP(ctx, "kube-scheduler", fmt.Sprintf("https://127.0.0.1:%d/healthz", schedPort), insecure, 60*time.Second); err != nil {
		return c, err
	}

	c.Config, err = clientcmd.BuildConfigFromFlags("", admin)
	if err != nil {
		return c, err
	}
	// Certificates in memory, not as file paths: client-go watches certificate files, and
	// would complain for the rest of the run once this cluster's directory is removed.
	if err := rest.LoadTLSFiles(c.Config); err != nil {
		return c, err
	}
	c.Config.CAFile, c.Config.CertFile, c.Config.KeyFile = "", "", ""
	c.Config.QPS, c.Config.Burst = 200, 400
	c.Client, err = kubernetes.NewForConfig(c.Config)
	if err != nil {
		return c, err
	}
	// Pods can be created once the service-account controller made the default account.
	if err := Poll(ctx, 60*time.Second, func() (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	}); err != nil {
		return c, fmt.Errorf("the default service account never appeared: %w", err)
	}
	c.ReadyIn = time.Since(start)
	c.logf("cluster ready in %s (%s)", c.ReadyIn.Round(10*time.Millisecond), dir)
	return c, nil
}

// MetricsText reads the Prometheus text of a component's /metrics (base is
// ControllerManagerURL or SchedulerURL) as the cluster admin.
func (c *Cluster) MetricsText(ctx context.Context, base string) (string, error) {
	tlsConfig := c.adminTLS.Clone()
	// The components serve self-signed certificates.
	tlsConfig.InsecureSkipVerify = true //nolint:gosec // loopback, self-signed serving certificates
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return "", err
	}
	rsp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("cannot read %s/metrics: %w", base, err)
	}
	defer rsp.Body.Close()
	body, err := io.ReadAll(rsp.Body)
	if err != nil {
		return "", fmt.Errorf("cannot read %s/metrics: %w", base, err)
	}
	if rsp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s/metrics answered %s: %s", base, rsp.Status, body)
	}
	return string(body), nil
}

// waitHTTP waits until url answers 200, and fails at once if one of the processes exited.
func (ps *Processes) waitHTTP(ctx context.Context, what, url string, tlsConfig *tls.Config, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	err := Poll(ctx, timeout, func() (bool, error) {
		if err := ps.Exited(); err != nil {
			return false, err
		}
		rsp, err := client.Get(url)
		if err != nil {
			return false, nil
		}
		_ = rsp.Body.Close()
		return rsp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("%s never became healthy at %s: %w", what, url, err)
	}
	ps.logf("%s healthy", what)
	return nil
}

func clientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("no certificate in %s", caFile)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// Poll calls cond until it is true, fails, or the timeout passes.
func Poll(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// portsHandedOut are the ports freePorts gave in this process: suites start side by side,
// and a port one of them was given and has not bound yet still looks free to the next.
var portsHandedOut = struct {
	sync.Mutex
	given map[int]bool
}{given: map[int]bool{}}

// freePorts returns n distinct loopback ports that are free now, for components that bind
// them a moment later. They come from below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range), never from it: a port inside it can become the source port of
// any outgoing connection between this check and the component's bind, and that made
// kube-controller-manager exit with "bind: address already in use" during a cold CI run with
// eight control planes side by side.
func freePorts(n int) ([]int, error) {
	low, high := belowEphemeralRange()
	return freePortsIn(n, low, high)
}

// freePortsIn returns n distinct free loopback ports from low to high, none handed out before.
func freePortsIn(n, low, high int) ([]int, error) {
	portsHandedOut.Lock()
	defer portsHandedOut.Unlock()
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries == 10000 {
			return nil, fmt.Errorf("no %d free loopback ports in %d-%d after %d tries", n, low, high, tries)
		}
		port := low + rand.IntN(high-low+1)
		if portsHandedOut.given[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // in use by another process
		}
		_ = l.Close()
		portsHandedOut.given[port] = true
		ports = append(ports, port)
	}
	return ports, nil
}

// belowEphemeralRange is the range freePorts picks from: the 16,384 ports (or as many as there
// are above 1024) just below the ephemeral range Linux gives outgoing connections.
func belowEphemeralRange() (low, high int) {
	ephemeralLow := 32768 // Linux's default, when /proc does not say
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var lo, hi int
		if _, err := fmt.Sscan(string(b), &lo, &hi); err == nil && lo > 2048 {
			ephemeralLow = lo
		}
	}
	return max(1025, ephemeralLow-16384), ephemeralLow - 1
}

// FreePort returns a free loopback port.
func FreePort() (int, error) {
	p, err := freePorts(1)
	if err != nil {
		return 0, err
	}
	return p[0], nil
}

// LoopbackPodCIDR is a pod range (Options.KwokCIDR) on a random /16 of 127.0.0.0/8, all of
// which reaches lo on Linux: each pod gets an address this process can serve its emulated
// bridge on, and clusters running side by side on one machine rarely share a range.
func LoopbackPodCIDR() string { return fmt.Sprintf("127.%d.0.1/16", 64+rand.IntN(190)) }

// NodeCapacity is a roomy fake node: videobridges are limited by their anti-affinity, not by
// resources.
var NodeCapacity = corev1.ResourceList{
	corev1.ResourceCPU:    resource.MustParse("8"),
	corev1.ResourceMemory: resource.MustParse("32Gi"),
	corev1.ResourcePods:   resource.MustParse("110"),
}

// KwokNode is a Node that kwok runs: it turns Ready within a second.
func KwokNode(name string, labels map[string]string, capacity corev1.ResourceList) *corev1.Node {
	l := map[string]string{corev1.LabelHostname: name, corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64"}
	for k, v := range labels {
		l[k] = v
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Labels:      l,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
		},
		Spec:   corev1.NodeSpec{ProviderID: "kwok://" + name},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
}
