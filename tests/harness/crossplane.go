package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
)

// CrossplaneNamespace is where Crossplane runs, as its Helm chart installs it.
const CrossplaneNamespace = "crossplane-system"

// Crossplane is Crossplane core v2.4.0 running out of cluster against a test cluster, with
// the External package runtime and FunctionRuntime, the harness's stand-in for the
// Deployment runtime, running its functions.
type Crossplane struct {
	Namespace string
	// Runtime runs the functions of active FunctionRevisions.
	Runtime *FunctionRuntime
	// CRDsIn is how long the core CRDs took to be applied and Established, InitIn how long
	// `crossplane core init` took after that, ReadyIn how long `core start` took to answer
	// /readyz.
	CRDsIn, InitIn, ReadyIn time.Duration

	applier  *Applier
	xrdRoles *XRDRoles
}

// CrossplaneOptions tune how Crossplane runs.
type CrossplaneOptions struct {
	// LeastPrivilege runs `core init` and the core as the crossplane service account, with
	// the ClusterRoles of the Crossplane v2.4.0 Helm chart, plus the stand-in for the RBAC
	// manager (XRDRoles) as the rbac-manager service account, which grants the core each
	// XRD's types. Composed kinds outside the chart's role (HPAs, Ingresses, Nodes) then need a
	// ClusterRole labelled rbac.crossplane.io/aggregate-to-crossplane, as in a real cluster.
	// Otherwise the core runs as the cluster admin.
	LeastPrivilege bool
	// CircuitBreakerBurst is the core's --circuit-breaker-burst: how many watch events of an
	// XR's composed resources it takes at once before it stops reconciling the XR on every
	// event (100 by default, refilled at one a second, and then open for five minutes). 0
	// keeps the default.
	CircuitBreakerBurst int
}

// StartCrossplane initialises Crossplane in the cluster and starts its core among procs.
// Call Stop when done.
func StartCrossplane(ctx context.Context, tools *Tools, c *Cluster, procs *Processes, opts CrossplaneOptions) (*Crossplane, error) {
	applier, err := NewApplier(c.Config, "crossplane-e2e")
	if err != nil {
		return nil, err
	}
	x := &Crossplane{Namespace: CrossplaneNamespace, applier: applier}
	if err := x.start(ctx, tools, c, procs, opts); err != nil {
		x.Stop()
		return nil, err
	}
	return x, nil
}

func (x *Crossplane) start(ctx context.Context, tools *Tools, c *Cluster, procs *Processes, opts CrossplaneOptions) error {
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: x.Namespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	dir := filepath.Join(procs.Dir, "crossplane")
	kubeconfig, coreConfig := c.Kubeconfig, c.Config
	var rbacConfig *rest.Config
	if opts.LeastPrivilege {
		kubeconfigs, err := installCrossplaneRBAC(ctx, c, x.Namespace, dir)
		if err != nil {
			return err
		}
		kubeconfig = kubeconfigs[crossplaneServiceAccount]
		if coreConfig, err = restConfigFor(kubeconfig); err != nil {
			return err
		}
		if rbacConfig, err = restConfigFor(kubeconfigs[rbacManagerServiceAccount]); err != nil {
			return err
		}
	}
	env := append(os.Environ(), "KUBECONFIG="+kubeconfig)

	// `core init` applies the CRDs, then creates a Lock at once: against a fresh API server
	// that fails with `no matches for kind "Lock"` until the CRDs are Established. (In a
	// cluster, the init container just restarts.) Apply them first and wait.
	start := time.Now()
	crdsDir := tools.Path("crossplane-crds")
	crds, err := ReadYAMLDir(crdsDir)
	if err != nil {
		return fmt.Errorf("cannot read Crossplane's CRDs (hack/tools.sh crossplane-crds): %w", err)
	}
	if report := x.applier.Apply(ctx, crds); len(report.Rejected()) > 0 {
		return fmt.Errorf("crossplane's CRDs were refused: %s", report)
	}
	for _, crd := range crds {
		if _, err := x.WaitFor(ctx, "apiextensions.k8s.io/v1", "CustomResourceDefinition", "", crd.GetName(), 30*time.Second, "Established"); err != nil {
			return err
		}
	}
	x.CRDsIn = time.Since(start)
	if rbacConfig != nil {
		// After the CRDs, as the chart's `rbac init` waits for them.
		if x.xrdRoles, err = StartXRDRoles(ctx, rbacConfig, procs.logf); err != nil {
			return err
		}
	}

	start = time.Now()
	initCmd := exec.CommandContext(ctx, tools.Path("crossplane-core"), "core", "init")
	initCmd.Env = append(env,
		"POD_NAMESPACE="+x.Namespace,
		"TLS_CA_SECRET_NAME="+rootCASecretName,
		"TLS_CLIENT_SECRET_NAME=crossplane-tls-client",
		"ENABLE_WEBHOOKS=false",
		// The flag would be --cr-ds-path; the environment variable is plainer.
		"CRDS_PATH="+crdsDir,
	)
	out, err := initCmd.CombinedOutput()
	if werr := os.WriteFile(filepath.Join(procs.LogDir, "crossplane-init.log"), out, 0o644); werr != nil {
		return werr
	}
	if err != nil {
		return fmt.Errorf("crossplane core init: %w\n%s", err, out)
	}
	x.InitIn = time.Since(start)

	// The client certificate `init` made: the core loads it unconditionally, and presents it
	// to every function (mTLS).
	client, err := c.Client.CoreV1().Secrets(x.Namespace).Get(ctx, "crossplane-tls-client", metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("crossplane core init made no client certificate: %w", err)
	}
	tlsDir, cacheDir := filepath.Join(dir, "tls-client"), filepath.Join(dir, "xpkg-cache")
	for _, d := range []string{tlsDir, cacheDir} {
		// The cache directory must exist, or unpacking fails with "read/write on closed pipe".
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	for _, k := range []string{"ca.crt", corev1.TLSCertKey, corev1.TLSPrivateKeyKey} {
		if len(client.Data[k]) == 0 {
			return fmt.Errorf("secret crossplane-tls-client has no %s", k)
		}
		if err := os.WriteFile(filepath.Join(tlsDir, k), client.Data[k], 0o600); err != nil {
			return err
		}
	}

	// Metrics and health default to 8080 and 8081 on every interface: free ports instead.
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	start = time.Now()
	var extra []string
	if os.Getenv("E2E_CROSSPLANE_DEBUG") == "1" {
		// Every reconcile and its error in crossplane.log; events stay in the API either way.
		extra = []string{"--debug"}
	}
	if opts.CircuitBreakerBurst > 0 {
		extra = append(extra, fmt.Sprintf("--circuit-breaker-burst=%d", opts.CircuitBreakerBurst))
	}
	if err := procs.StartEnv("crossplane", env, tools.Path("crossplane-core"), append([]string{"core", "start"}, append(extra,
		"--namespace="+x.Namespace,
		"--enable-webhooks=false",
		"--package-runtime=External",
		"--tls-client-certs-dir="+tlsDir,
		"--xpkg-cache-dir="+cacheDir,
		fmt.Sprintf("--metrics-port=%d", ports[0]),
		fmt.Sprintf("--health-probe-port=%d", ports[1]),
	)...)...); err != nil {
		return err
	}
	if err := procs.waitHTTP(ctx, "crossplane", fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[1]), nil, 60*time.Second); err != nil {
		return err
	}
	x.ReadyIn = time.Since(start)

	x.Runtime, err = StartFunctionRuntime(ctx, tools, coreConfig, procs, x.Namespace)
	return err
}

// Stop stops the doubles and the functions; the core stops with procs.
func (x *Crossplane) Stop() {
	if x.Runtime != nil {
		x.Runtime.Stop()
	}
	if x.xrdRoles != nil {
		x.xrdRoles.Stop()
	}
}

// Apply applies objects as `kubectl apply --server-side` would, and fails on a rejection.
func (x *Crossplane) Apply(ctx context.Context, objs ...*unstructured.Unstructured) error {
	report := x.applier.Apply(ctx, objs)
	if len(report.Rejected()) > 0 {
		return fmt.Errorf("%s", report)
	}
	return nil
}

// Get reads one object.
func (x *Crossplane) Get(ctx context.Context, apiVersion, kind, namespace, name string) (*unstructured.Unstructured, error) {
	return x.applier.Get(ctx, apiVersion, kind, namespace, name)
}

// WaitFor waits until the object exists and every condition type in conditions is True.
// It returns the object as last seen; the error names the conditions that were not True,
// with their reasons and messages.
func (x *Crossplane) WaitFor(ctx context.Context, apiVersion, kind, namespace, name string, timeout time.Duration, conditions ...string) (*unstructured.Unstructured, error) {
	var last *unstructured.Unstructured
	var lastErr error
	err := Poll(ctx, timeout, func() (bool, error) {
		u, err := x.applier.Get(ctx, apiVersion, kind, namespace, name)
		if apierrors.IsNotFound(err) {
			lastErr = err
			return false, nil
		}
		if err != nil {
			return false, err
		}
		last, lastErr = u, nil
		for _, c := range conditions {
			if ConditionStatus(u, c) != "True" {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		ref := strings.TrimSpace(kind + " " + strings.Trim(namespace+"/"+name, "/"))
		if last == nil {
			return nil, fmt.Errorf("%s never appeared: %w (%v)", ref, err, lastErr)
		}
		return last, fmt.Errorf("%s never became %s: %w; conditions: %s", ref, strings.Join(conditions, "+"), err, DescribeConditions(last))
	}
	return last, nil
}

// Condition returns the status condition of a type, or nil.
func Condition(u *unstructured.Unstructured, conditionType string) map[string]any {
	conditions, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conditions {
		if m, ok := c.(map[string]any); ok && m["type"] == conditionType {
			return m
		}
	}
	return nil
}

// ConditionStatus is the status ("True", "False", "Unknown") of a condition, or "".
func ConditionStatus(u *unstructured.Unstructured, conditionType string) string {
	s, _ := Condition(u, conditionType)["status"].(string)
	return s
}

// conditionStatus is ConditionStatus, for the runtime double.
func conditionStatus(u *unstructured.Unstructured, conditionType string) string {
	return ConditionStatus(u, conditionType)
}

// DescribeConditions lists an object's conditions as type=status (reason: message).
func DescribeConditions(u *unstructured.Unstructured) string {
	conditions, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	var out []string
	for _, c := range conditions {
		m, ok := c.(map[string]any)
		if !ok {
			continue
		}
		s := fmt.Sprintf("%v=%v (%v", m["type"], m["status"], m["reason"])
		if msg, _ := m["message"].(string); msg != "" {
			s += ": " + msg
		}
		out = append(out, s+")")
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, "; ")
}

// ReadYAMLDir reads every YAML document of the .yaml files in dir, in name order, as
// `kubectl apply -f dir/` does.
func ReadYAMLDir(dir string) ([]*unstructured.Unstructured, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".yaml") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var out []*unstructured.Unstructured
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		objs, err := SplitYAML(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		out = append(out, objs...)
	}
	return out, nil
}
