package harness

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// FunctionRevisions is the resource of Crossplane's FunctionRevisions.
var FunctionRevisions = schema.GroupVersionResource{Group: "pkg.crossplane.io", Version: "v1", Resource: "functionrevisions"}

// Labels and values Crossplane v2.4.0 puts on and in package revisions
// (apis/pkg/v1/interfaces.go, revision_types.go, conditions.go).
const (
	labelParentPackage      = "pkg.crossplane.io/package"
	revisionActive          = "Active"
	revisionInactive        = "Inactive"
	reasonHealthyRevision   = "HealthyPackageRevision"
	reasonUnhealthyRevision = "UnhealthyPackageRevision"
	reasonActiveRuntime     = "ActiveRuntime"
	rootCASecretName        = "crossplane-root-ca"
)

// FunctionRuntime stands in for Crossplane's Deployment runtime for Functions, which
// `crossplane core start --package-runtime=External` leaves out. It follows the runtime
// controller of github.com/crossplane/crossplane/v2 v2.4.0,
// internal/controller/pkg/runtime (reconciler.go and runtime_function.go), for each
// FunctionRevision:
//
//   - Pre (before the revision's objects are established): a TLS server Secret named by the
//     revision's spec.tlsServerSecretName, or <function>-tls-server as the package manager
//     would have set it had the runtime been Deployment, holding tls.crt and tls.key signed by the
//     crossplane-root-ca Secret's CA and that CA as ca.crt (created once, kept while it is
//     complete, as internal/initializer/tls.go does); status.tlsServerSecretName and
//     status.endpoint set on the revision. The revision controller waits for that Secret.
//   - While the revision is not RevisionHealthy: RuntimeHealthy=False, "Package revision is
//     not healthy yet".
//   - Post: where the Deployment runtime applies a Deployment of the package image, this runs
//     the image's entrypoint as a local process (extracted from the image in the registry
//     with crane), with the image's environment plus TLS_SERVER_CERTS_DIR, FUNCTION_NAME,
//     REVISION_NAME and REVISION_UID as the Deployment sets them, and with --address on a
//     free 127.0.0.1 port instead of the container's :9443. Once it accepts connections:
//     RuntimeHealthy=True (HealthyPackageRevision) and RuntimeActive=True (ActiveRuntime).
//   - Deactivate (an Inactive revision): the process stops, RuntimeHealthy=True.
//
// Differences, all due to running on loopback without containers: the endpoint is
// dns:///127.0.0.1:<port> instead of the Service's dns:///<function>.<namespace>:9443, and
// the server certificate also names IP 127.0.0.1; no Service, ServiceAccount or Deployment
// exists; a function whose flags include --metrics-address gets it empty (disabled), since
// every function's metrics default to :8080 and all would share the host's network. A
// function without that flag (function-patch-and-transform v0.10.7) keeps its SDK default,
// whose error the SDK ignores when the port is taken; when it is free, the function holds
// :8080 on every interface while it runs (in a pod it has a network of its own). Flags are read from the binary's
// --help: no flag it lacks is passed.
type FunctionRuntime struct {
	namespace string
	tools     *Tools
	procs     *Processes
	dir       string
	kube      kubernetes.Interface
	revisions dynamic.NamespaceableResourceInterface
	logf      func(format string, args ...any)

	mu        sync.Mutex
	running   map[string]*functionProcess // by revision name
	addresses map[string]string           // by revision name: the endpoint, chosen once
	lastErr   map[string]string           // by revision name, to log each new error once

	// procMu serialises starting and stopping processes: the loop restarts an exited one,
	// Restart restarts one on request.
	procMu sync.Mutex

	controller *controller
}

// functionProcess is one function revision's process.
type functionProcess struct {
	function, revision string
	process            string // the name among procs
	binary             string
	args, env          []string
	address            string
}

// StartFunctionRuntime starts the runtime double for the Crossplane in namespace. It acts
// with cfg, the core's credentials, since the Deployment runtime is part of the core. Stop
// it before procs are stopped.
func StartFunctionRuntime(ctx context.Context, tools *Tools, cfg *rest.Config, procs *Processes, namespace string) (*FunctionRuntime, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(procs.Dir, "function-runtime")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r := &FunctionRuntime{
		namespace: namespace, tools: tools, procs: procs, dir: dir,
		kube: kube, revisions: dyn.Resource(FunctionRevisions), logf: procs.logf,
		running: map[string]*functionProcess{}, addresses: map[string]string{}, lastErr: map[string]string{},
	}
	// A watch on FunctionRevisions, as the controller's For(&FunctionRevision{}).
	if r.controller, err = startController(ctx, dyn, FunctionRevisions, r.reconcileAll); err != nil {
		return nil, err
	}
	return r, nil
}

// Stop stops reconciling and stops every function process.
func (r *FunctionRuntime) Stop() {
	r.controller.stop()
	r.procMu.Lock()
	defer r.procMu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, p := range r.running {
		r.procs.StopProcess(p.process)
		delete(r.running, name)
	}
}

// reconcileAll reconciles every FunctionRevision and reports whether all succeeded.
func (r *FunctionRuntime) reconcileAll(ctx context.Context) bool {
	list, err := r.revisions.List(ctx, metav1.ListOptions{})
	if err != nil {
		if ctx.Err() == nil {
			r.logf("function runtime: cannot list function revisions: %v", err)
		}
		return false
	}
	ok := true
	seen := map[string]bool{}
	for i := range list.Items {
		rev := &list.Items[i]
		seen[rev.GetName()] = true
		err := r.reconcile(ctx, rev)
		r.mu.Lock()
		if err != nil && !apierrors.IsConflict(err) && ctx.Err() == nil && r.lastErr[rev.GetName()] != err.Error() {
			r.logf("function runtime: revision %s: %v", rev.GetName(), err)
		}
		if err != nil {
			r.lastErr[rev.GetName()] = err.Error()
			ok = false
		} else {
			delete(r.lastErr, rev.GetName())
		}
		r.mu.Unlock()
	}
	// A deleted revision's Deployment goes with it (owner reference); so does its process.
	r.procMu.Lock()
	defer r.procMu.Unlock()
	r.mu.Lock()
	for name, p := range r.running {
		if !seen[name] {
			r.procs.StopProcess(p.process)
			delete(r.running, name)
		}
	}
	for name := range r.addresses {
		if !seen[name] {
			delete(r.addresses, name)
		}
	}
	r.mu.Unlock()
	return ok
}

func (r *FunctionRuntime) reconcile(ctx context.Context, rev *unstructured.Unstructured) error {
	if rev.GetDeletionTimestamp() != nil || rev.GetAnnotations()["crossplane.io/paused"] == "true" {
		return nil
	}
	function := rev.GetLabels()[labelParentPackage]
	if function == "" {
		return fmt.Errorf("no %s label", labelParentPackage)
	}
	desired, _, _ := unstructured.NestedString(rev.Object, "spec", "desiredState")
	if desired == revisionInactive {
		r.stopRevision(rev.GetName())
		return r.setConditions(ctx, rev, newCondition("RuntimeHealthy", "True", reasonHealthyRevision, ""))
	}
	if desired != revisionActive {
		return nil
	}

	// Pre: the TLS server Secret and the endpoint. With the Deployment runtime the package
	// manager copies the Function's secret name into the revision's spec; with the External
	// runtime it does not (manager/reconciler.go, WithManagingRevisionRuntimeSpec), so the
	// name is the one it would copy: <function>-tls-server (apis/pkg/v1/interfaces.go).
	secretName, _, _ := unstructured.NestedString(rev.Object, "spec", "tlsServerSecretName")
	if secretName == "" {
		secretName = tlsServerSecretName(function)
	}
	secret, err := r.ensureServerSecret(ctx, rev, function, secretName)
	if err != nil {
		return err
	}
	address, err := r.address(rev.GetName())
	if err != nil {
		return err
	}
	if err := unstructured.SetNestedField(rev.Object, "dns:///"+address, "status", "endpoint"); err != nil {
		return err
	}
	if err := unstructured.SetNestedField(rev.Object, secretName, "status", "tlsServerSecretName"); err != nil {
		return err
	}

	if conditionStatus(rev, "RevisionHealthy") != "True" {
		return r.setConditions(ctx, rev,
			newCondition("RuntimeHealthy", "False", reasonUnhealthyRevision, "Package revision is not healthy yet"))
	}

	// Post: the function runs and accepts connections.
	p, err := r.ensureRunning(ctx, rev, function, address, secret)
	if err == nil {
		err = r.waitListening(ctx, p)
	}
	if err != nil {
		return r.errorCondition(ctx, rev, err)
	}
	return r.setConditions(ctx, rev,
		newCondition("RuntimeHealthy", "True", reasonHealthyRevision, ""),
		newCondition("RuntimeActive", "True", reasonActiveRuntime, ""))
}

// ensureRunning starts the revision's process unless it runs.
func (r *FunctionRuntime) ensureRunning(ctx context.Context, rev *unstructured.Unstructured, function, address string, secret *corev1.Secret) (*functionProcess, error) {
	r.procMu.Lock()
	defer r.procMu.Unlock()
	r.mu.Lock()
	p := r.running[rev.GetName()]
	r.mu.Unlock()
	switch {
	case p == nil:
		return r.startRevision(ctx, rev, function, address, secret)
	case !r.procs.IsRunning(p.process):
		// The kubelet restarts a container that exited; so does this, at the retry pace.
		r.logf("function runtime: %s exited; starting it again (see %s)", p.process, filepath.Join(r.procs.LogDir, p.process+".log"))
		return p, r.startProcess(p)
	}
	return p, nil
}

// tlsServerSecretName is Function.GetTLSServerSecretName of Crossplane v2.4.0.
func tlsServerSecretName(function string) string {
	const suffix = "-tls-server"
	if len(function) > 253-len(suffix) {
		function = function[:253-len(suffix)]
	}
	return function + suffix
}

// address is the loopback address of a revision's function, chosen once: the Service in
// front of a Deployment keeps its name too.
func (r *FunctionRuntime) address(revision string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.addresses[revision]; ok {
		return a, nil
	}
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	r.addresses[revision] = fmt.Sprintf("127.0.0.1:%d", port)
	return r.addresses[revision], nil
}

// errorCondition records a failed Post hook on the revision, as the reconciler does.
func (r *FunctionRuntime) errorCondition(ctx context.Context, rev *unstructured.Unstructured, err error) error {
	msg := "post establish runtime hook failed for package: " + err.Error()
	if uerr := r.setConditions(ctx, rev, newCondition("RuntimeHealthy", "False", reasonUnhealthyRevision, msg)); uerr != nil {
		return errors.Join(err, uerr)
	}
	return err
}

// ensureServerSecret creates the revision's TLS server Secret unless a complete one exists.
func (r *FunctionRuntime) ensureServerSecret(ctx context.Context, rev *unstructured.Unstructured, function, name string) (*corev1.Secret, error) {
	secrets := r.kube.CoreV1().Secrets(r.namespace)
	s, err := secrets.Get(ctx, name, metav1.GetOptions{})
	if err == nil && len(s.Data[corev1.TLSCertKey]) > 0 && len(s.Data[corev1.TLSPrivateKeyKey]) > 0 && len(s.Data["ca.crt"]) > 0 {
		return s, nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("cannot get TLS server secret %s: %w", name, err)
	}
	ca, err := secrets.Get(ctx, rootCASecretName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("cannot get the root CA secret %s (did crossplane core init run?): %w", rootCASecretName, err)
	}
	certPEM, keyPEM, err := signServerCertificate(ca.Data[corev1.TLSCertKey], ca.Data[corev1.TLSPrivateKeyKey],
		[]string{function, function + "." + r.namespace, function + "." + r.namespace + ".svc"})
	if err != nil {
		return nil, err
	}
	want := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: r.namespace,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "pkg.crossplane.io/v1", Kind: "FunctionRevision", Name: rev.GetName(), UID: rev.GetUID(),
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Data: map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM, "ca.crt": ca.Data[corev1.TLSCertKey]},
	}
	if s != nil && s.Name != "" {
		s.Data = want.Data
		s, err = secrets.Update(ctx, s, metav1.UpdateOptions{})
	} else {
		s, err = secrets.Create(ctx, want, metav1.CreateOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("cannot write TLS server secret %s: %w", name, err)
	}
	return s, nil
}

// startRevision pulls the revision's package image and runs its entrypoint.
func (r *FunctionRuntime) startRevision(ctx context.Context, rev *unstructured.Unstructured, function, address string, secret *corev1.Secret) (*functionProcess, error) {
	image, _, _ := unstructured.NestedString(rev.Object, "status", "resolvedImage")
	if image == "" {
		image, _, _ = unstructured.NestedString(rev.Object, "spec", "image")
	}
	if image == "" {
		return nil, errors.New("the revision names no package image (spec.image)")
	}
	dir := filepath.Join(r.dir, rev.GetName())
	rootfs := filepath.Join(dir, "rootfs")
	cfg, err := pullImage(ctx, r.tools, image, rootfs)
	if err != nil {
		return nil, err
	}
	binary := filepath.Join(rootfs, filepath.Clean("/"+cfg.Config.Entrypoint[0]))
	if _, err := os.Stat(binary); err != nil {
		return nil, fmt.Errorf("the entrypoint %s of image %s is not in the image: %w", cfg.Config.Entrypoint[0], image, err)
	}
	// The server certificates as the Deployment mounts the Secret at /tls/server.
	certs := filepath.Join(dir, "tls", "server")
	if err := os.MkdirAll(certs, 0o700); err != nil {
		return nil, err
	}
	for _, k := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey, "ca.crt"} {
		if err := os.WriteFile(filepath.Join(certs, k), secret.Data[k], 0o600); err != nil {
			return nil, err
		}
	}
	flags, err := binaryFlags(ctx, binary)
	if err != nil {
		return nil, err
	}
	if !flags["address"] {
		return nil, fmt.Errorf("%s has no --address flag: it cannot listen on a loopback port of its own", cfg.Config.Entrypoint[0])
	}
	args := append(append(append([]string{}, cfg.Config.Entrypoint[1:]...), cfg.Config.Cmd...), "--address="+address)
	if flags["metrics-address"] {
		args = append(args, "--metrics-address=")
	}
	env := append(append([]string{}, cfg.Config.Env...),
		"TLS_SERVER_CERTS_DIR="+certs,
		"FUNCTION_NAME="+function,
		"REVISION_NAME="+rev.GetName(),
		"REVISION_UID="+string(rev.GetUID()),
	)
	p := &functionProcess{
		function: function, revision: rev.GetName(), process: "function-" + rev.GetName(),
		binary: binary, args: args, env: env, address: address,
	}
	r.mu.Lock()
	r.running[rev.GetName()] = p
	r.mu.Unlock()
	return p, r.startProcess(p)
}

// startProcess starts a revision's process, forgetting an earlier one that exited.
func (r *FunctionRuntime) startProcess(p *functionProcess) error {
	r.procs.StopProcess(p.process)
	return r.procs.StartEnv(p.process, p.env, p.binary, p.args...)
}

func (r *FunctionRuntime) stopRevision(revision string) {
	r.procMu.Lock()
	defer r.procMu.Unlock()
	r.mu.Lock()
	p := r.running[revision]
	delete(r.running, revision)
	r.mu.Unlock()
	if p != nil {
		r.procs.StopProcess(p.process)
	}
}

// waitListening waits until the process accepts connections, as the Deployment runtime
// waits for the Deployment to be Available; it fails if the process exited.
func (r *FunctionRuntime) waitListening(ctx context.Context, p *functionProcess) error {
	err := Poll(ctx, 30*time.Second, func() (bool, error) {
		if !r.procs.IsRunning(p.process) {
			return false, fmt.Errorf("%s exited (see %s)", p.process, filepath.Join(r.procs.LogDir, p.process+".log"))
		}
		return dialable(p.address), nil
	})
	if err != nil {
		return fmt.Errorf("function %s never listened on %s: %w", p.function, p.address, err)
	}
	return nil
}

// Restart stops the active revision's process of a function and starts it again on the same
// address, as a Deployment replaces a deleted pod behind the same Service. It returns once
// the new process accepts connections.
func (r *FunctionRuntime) Restart(ctx context.Context, function string) error {
	r.mu.Lock()
	var p *functionProcess
	for _, rp := range r.running {
		if rp.function == function {
			p = rp
		}
	}
	r.mu.Unlock()
	if p == nil {
		return fmt.Errorf("function %s is not running", function)
	}
	r.procMu.Lock()
	err := r.startProcess(p)
	r.procMu.Unlock()
	if err != nil {
		return err
	}
	return r.waitListening(ctx, p)
}

// Endpoint is the address a function's active revision listens on, or "".
func (r *FunctionRuntime) Endpoint(function string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.running {
		if p.function == function {
			return p.address
		}
	}
	return ""
}

// setConditions writes conditions (and whatever else changed in rev's status) to the
// revision's status subresource. A conflict is retried on the next reconcile.
func (r *FunctionRuntime) setConditions(ctx context.Context, rev *unstructured.Unstructured, conds ...map[string]any) error {
	before := rev.DeepCopy()
	existing, _, _ := unstructured.NestedSlice(rev.Object, "status", "conditions")
	for _, c := range conds {
		c["observedGeneration"] = rev.GetGeneration()
		replaced := false
		for i, e := range existing {
			em, ok := e.(map[string]any)
			if !ok || em["type"] != c["type"] {
				continue
			}
			if em["status"] == c["status"] && em["reason"] == c["reason"] {
				c["lastTransitionTime"] = em["lastTransitionTime"]
			}
			existing[i] = c
			replaced = true
		}
		if !replaced {
			existing = append(existing, c)
		}
	}
	if err := unstructured.SetNestedSlice(rev.Object, existing, "status", "conditions"); err != nil {
		return err
	}
	if reflect.DeepEqual(before.Object["status"], rev.Object["status"]) {
		return nil
	}
	_, err := r.revisions.UpdateStatus(ctx, rev, metav1.UpdateOptions{})
	return err
}

func newCondition(typ, status, reason, message string) map[string]any {
	c := map[string]any{
		"type": typ, "status": status, "reason": reason,
		"lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
	}
	if message != "" {
		c["message"] = message
	}
	return c
}

// binaryFlags lists the long flags a function binary's --help shows.
func binaryFlags(ctx context.Context, binary string) (map[string]bool, error) {
	out, err := exec.CommandContext(ctx, binary, "--help").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s --help: %w: %s", binary, err, out)
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	return flags, nil
}

// signServerCertificate issues a server certificate for the DNS names and 127.0.0.1 from a
// CA given as PEM (the crossplane-root-ca Secret's tls.crt and tls.key).
func signServerCertificate(caCertPEM, caKeyPEM []byte, dnsNames []string) (certPEM, keyPEM []byte, err error) {
	block, _ := pem.Decode(caCertPEM)
	if block == nil {
		return nil, nil, errors.New("the root CA secret's tls.crt holds no PEM certificate")
	}
	caCert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot parse the root CA certificate: %w", err)
	}
	caKey, err := parsePrivateKey(caKeyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot parse the root CA key: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: dnsNames[0], Organization: []string{"Crossplane"}},
		DNSNames:     dnsNames,
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot sign the server certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

func parsePrivateKey(keyPEM []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s is neither PKCS#1, SEC 1 nor PKCS#8: %w", block.Type, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T cannot sign", k)
	}
	return s, nil
}
