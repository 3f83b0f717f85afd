package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
)

// TestBridgesAdvertiseTheirOwnNode runs the bridges' public address lookup (the NodeExternalIP
// source) as a pod would, against the real API server: the script is the one the function
// composed into the JVB container's command, run with /bin/sh on this host, with the pod's
// environment (KUBERNETES_SERVICE_HOST/PORT, NODE_NAME from the downward API) and a token of
// the bridges' ServiceAccount. Each bridge must find its own node's ExternalIP, with nothing
// more than get on nodes.
func TestBridgesAdvertiseTheirOwnNode(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	ctx := testContext(t, 5*time.Minute)
	procs := testProcesses(t, c)
	renderer, err := harness.StartFunction(ctx, tools, procs)
	require.NoError(t, err)
	applier, err := harness.NewApplier(c.Config, fieldManager)
	require.NoError(t, err)

	// The cluster's share of the package: the node reader ClusterRole.
	rbac := readObjects(t, filepath.Join(tools.Root, "package", "cluster", "rbac.yaml"))
	report := applier.Apply(ctx, rbac)
	require.Empty(t, report.Rejected(), report.String())

	// Three nodes, two with a public address of their own, one without. (With an InternalIP
	// and a Hostname already, kwok leaves a node's addresses as they are.)
	nodes := map[string]string{"node-a": "203.0.113.10", "node-b": "203.0.113.20", "node-c": ""}
	internal := map[string]string{"node-a": "10.0.0.1", "node-b": "10.0.0.2", "node-c": "10.0.0.3"}
	for name, external := range nodes {
		n := harness.KwokNode(name, nil, nodeCapacity)
		n.Status.Addresses = []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: internal[name]},
			{Type: corev1.NodeHostName, Address: name},
		}
		if external != "" {
			n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: external})
		}
		_, err := c.Client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		require.NoError(t, err)
	}

	xr := withSpec(t, "xr.yaml", func(spec map[string]any) {
		spec["jibri"] = map[string]any{"enabled": false}
		spec["jvb"] = map[string]any{"strategy": map[string]any{"type": "static", "replicas": int64(3)}}
	})
	r, err := renderer.Render(ctx, xr, "--xrd="+tools.XRD())
	require.NoError(t, err)
	objs := harness.WithoutOwners(r.Composed)
	ensureNamespace(t, ctx, c, sampleNamespace)
	report = applier.Apply(ctx, objs)
	require.Empty(t, report.Rejected(), report.String())

	script, entrypoint := lookupCommand(t, objs)
	assert.Equal(t, []string{"/init"}, entrypoint, "after the lookup the container runs the image's entrypoint")

	var pods []corev1.Pod
	require.NoError(t, harness.Poll(ctx, time.Minute, func() (bool, error) {
		list, err := c.Client.CoreV1().Pods(sampleNamespace).List(ctx, metav1.ListOptions{LabelSelector: sampleBridges})
		if err != nil {
			return false, err
		}
		pods = nil
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning {
				pods = append(pods, p)
			}
		}
		return len(pods) == 3, nil
	}), "3 bridges must run, one per node")

	account := pods[0].Spec.ServiceAccountName
	require.Equal(t, "jitsi-sample-jvb", account, "the bridges run as their own ServiceAccount")
	podEnv := podAPIEnvironment(t, ctx, c, sampleNamespace, account)

	for _, p := range pods {
		out, logs := runLookup(t, ctx, script, append(podEnv, "NODE_NAME="+p.Spec.NodeName))
		want := nodes[p.Spec.NodeName]
		assert.Equal(t, want, out, "bridge %s on %s must advertise its own node's ExternalIP; log: %s", p.Name, p.Spec.NodeName, logs)
		if want == "" {
			assert.Contains(t, logs, "node "+p.Spec.NodeName+" has no ExternalIP; falling back to STUN discovery")
		} else {
			assert.Contains(t, logs, "node "+p.Spec.NodeName+" has ExternalIP "+want+"; advertising it")
		}
		t.Logf("bridge %s on %s advertises %q", p.Name, p.Spec.NodeName, out)
	}

	// Least privilege: the bridges may get nodes, nothing more.
	user := "system:serviceaccount:" + sampleNamespace + ":" + account
	for _, check := range []struct {
		attrs authorizationv1.ResourceAttributes
		want  bool
	}{
		{authorizationv1.ResourceAttributes{Verb: "get", Resource: "nodes", Name: "node-a"}, true},
		{authorizationv1.ResourceAttributes{Verb: "list", Resource: "nodes"}, false},
		{authorizationv1.ResourceAttributes{Verb: "patch", Resource: "nodes", Name: "node-a"}, false},
		{authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods", Namespace: sampleNamespace}, false},
		{authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: sampleNamespace}, false},
	} {
		review, err := c.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{User: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + sampleNamespace},
				ResourceAttributes: &check.attrs},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		assert.Equal(t, check.want, review.Status.Allowed, "%s may %s %s: %v", account, check.attrs.Verb, check.attrs.Resource, check.want)
	}

	// Without the binding the lookup is refused, and the bridge says why and falls back.
	_, err = c.Client.CoreV1().ServiceAccounts(sampleNamespace).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "unbound"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	out, logs := runLookup(t, ctx, script, append(podAPIEnvironment(t, ctx, c, sampleNamespace, "unbound"), "NODE_NAME=node-a"))
	assert.Empty(t, out)
	assert.Contains(t, logs, "cannot read node node-a from the API server (is ClusterRole crossplane-jitsi:jvb-node-reader bound to this pod's ServiceAccount?); falling back to STUN discovery")
}

// lookupCommand returns the JVB container's script and what it execs afterwards.
func lookupCommand(t *testing.T, objs []*unstructured.Unstructured) (string, []string) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() != "Deployment" || o.GetName() != jvbName {
			continue
		}
		containers, _, err := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		require.NoError(t, err)
		command, _, err := unstructured.NestedStringSlice(containers[0].(map[string]any), "command")
		require.NoError(t, err)
		require.Len(t, command, 5, "/bin/sh -c <script> <$0> <entrypoint>: %v", command)
		require.Equal(t, []string{"/bin/sh", "-c"}, command[:2])
		return command[2], command[4:]
	}
	t.Fatalf("no %s Deployment among the composed objects", jvbName)
	return "", nil
}

// podAPIEnvironment is what a pod of that ServiceAccount has to reach the API server: the
// service host and port, and the mounted token and CA (in a directory of the test's).
func podAPIEnvironment(t *testing.T, ctx context.Context, c *harness.Cluster, namespace, account string) []string {
	t.Helper()
	token, err := c.Client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, account, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptrTo(int64(600))},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "token"), []byte(token.Status.Token), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.crt"), c.Config.CAData, 0o600))
	host := strings.TrimPrefix(c.Config.Host, "https://")
	i := strings.LastIndex(host, ":")
	return []string{"SERVICEACCOUNT_DIR=" + dir, "KUBERNETES_SERVICE_HOST=" + host[:i], "KUBERNETES_SERVICE_PORT=" + host[i+1:]}
}

// runLookup runs the script, which then execs a command that prints the address it exported
// instead of the image's entrypoint.
func runLookup(t *testing.T, ctx context.Context, script string, env []string) (advertised, logs string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", script, "jvb-public-address",
		"/bin/sh", "-c", `printf '%s' "${JVB_ADVERTISE_IPS:-}"`)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "the lookup must never keep the bridge from starting: %s", stderr.String())
	out := stdout.String()
	// The script logs to stdout before it execs; the address is the last line.
	lines := strings.Split(out, "\n")
	return lines[len(lines)-1], strings.Join(lines[:len(lines)-1], "\n") + stderr.String()
}

func ptrTo[T any](v T) *T { return &v }
