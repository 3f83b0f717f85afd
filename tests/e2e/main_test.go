package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
)

// Every suite runs on its own cluster, on free loopback ports and its own loopback pod range,
// and mostly waits on the controllers' windows and the nodes' boot: the suites run side by
// side (t.Parallel, `make test-e2e` passes -parallel). The one exception is
// TestCrossplaneNodeDriver: function-patch-and-transform has no flag for its metrics server,
// which takes :8080 on every interface, where the emulated bridges serve; it runs alone,
// before the others.

// tools are the pinned binaries; TestMain builds whichever are missing.
var tools *harness.Tools

func TestMain(m *testing.M) {
	var err error
	tools, err = harness.FindTools("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok",
		"crossplane", "crossplane-core", "crossplane-crds", "crane", "function-patch-and-transform")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// startCluster starts a fresh control plane for one suite and stops it when the suite ends,
// failed or not. A failed suite names the directory of the components' logs.
func startCluster(t *testing.T) *harness.Cluster {
	t.Helper()
	return startClusterWith(t, harness.Options{})
}

func startClusterWith(t *testing.T, opts harness.Options) *harness.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	opts.Logf = t.Logf
	c, err := harness.Start(ctx, tools, filepath.Join(tools.Root, ".cache", "e2e"), opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		pids := c.Running()
		c.Stop()
		if alive := harness.Alive(pids); len(alive) > 0 {
			t.Errorf("processes still alive after the cluster stopped: %v", alive)
		}
		if t.Failed() {
			t.Logf("cluster logs: %s", c.Processes.LogDir)
			return
		}
		_ = os.RemoveAll(c.Dir)
	})
	t.Logf("time to cluster ready: %s", c.ReadyIn.Round(10*time.Millisecond))
	return c
}

func testContext(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// nodeCapacity is a roomy fake node: JVBs are limited by anti-affinity, not by resources.
var nodeCapacity = harness.NodeCapacity

func addNode(t *testing.T, c *harness.Cluster, name string, labels map[string]string) {
	t.Helper()
	_, err := c.Client.CoreV1().Nodes().Create(context.Background(), harness.KwokNode(name, labels, nodeCapacity), metav1.CreateOptions{})
	require.NoError(t, err)
}

// testProcesses holds the processes a suite starts besides the control plane (the function,
// the node scaler, cluster-autoscaler): their logs sit next to the cluster's, and they stop
// before it.
func testProcesses(t *testing.T, c *harness.Cluster) *harness.Processes {
	t.Helper()
	procs, err := harness.NewProcesses(filepath.Join(c.Dir, "tests"), t.Logf)
	require.NoError(t, err)
	t.Cleanup(func() {
		pids := procs.Running()
		procs.Stop()
		if alive := harness.Alive(pids); len(alive) > 0 {
			t.Errorf("processes still alive after the suite: %v", alive)
		}
	})
	return procs
}

// ensureNamespace creates a namespace unless it exists.
func ensureNamespace(t *testing.T, ctx context.Context, c *harness.Cluster, name string) {
	t.Helper()
	_, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
}
