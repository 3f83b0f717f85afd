package jitsiemu

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
)

// terminatingPod is a videobridge pod being deleted, whose preStop hook is the project's.
func terminatingPod(t *testing.T, name string, grace int64) *corev1.Pod {
	pod := bridgePod(name, "127.0.0.1", "unused")
	pod.DeletionTimestamp = &metav1.Time{Time: time.Now().Add(time.Duration(grace) * time.Second)}
	pod.DeletionGracePeriodSeconds = ptr.To(grace)
	pod.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
		Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", productionHook(t)}}}}
	return pod
}

func requireHookTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the preStop hook needs %s on this host: %v", tool, err)
		}
	}
}

func startKubelet(t *testing.T, client *fake.Clientset, urls map[string]string) *Kubelet {
	t.Helper()
	k, err := StartKubelet(context.Background(), KubeletOptions{
		Client: client, Logf: t.Logf, Env: []string{"DRAIN_POLL_SECONDS=0.2"},
		RESTURL: func(p *corev1.Pod) string { return urls[p.Name] },
	})
	require.NoError(t, err)
	t.Cleanup(k.Close)
	return k
}

func marked(t *testing.T, client *fake.Clientset, name string) bool {
	pod, err := client.CoreV1().Pods("university").Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return pod.Annotations[harness.PreStopDoneAnnotation] == "true"
}

// TestKubeletRunsTheHookUntilTheBridgeIsEmpty runs fn/jvb.go's own preStop script against an
// emulated bridge: it asks for a graceful shutdown and waits for the last local participant.
func TestKubeletRunsTheHookUntilTheBridgeIsEmpty(t *testing.T) {
	requireHookTools(t)
	b := newTestBridge(t, RealClock{}, BridgeConfig{Name: "jvb-a"})
	require.NoError(t, b.Serve("127.0.0.1:0"))
	for range 3 {
		require.NoError(t, b.AllocateEndpoint("lecture"))
	}
	client := fake.NewClientset(terminatingPod(t, "jvb-a", 60))
	k := startKubelet(t, client, map[string]string{"jvb-a": b.URL()})

	poll(t, "the hook asks for a graceful shutdown", func() bool { s, _ := b.State(); return s == StateGracefulShutdown })
	time.Sleep(time.Second) // five polls
	require.Len(t, k.Runs(), 1)
	assert.True(t, k.Runs()[0].Ended.IsZero(), "the hook waits while participants remain")
	assert.False(t, marked(t, client, "jvb-a"))

	for range 3 {
		require.NoError(t, b.ExpireEndpoint("lecture"))
	}
	poll(t, "the hook ends", func() bool { return marked(t, client, "jvb-a") })
	run := k.Runs()[0]
	assert.NoError(t, run.Err)
	assert.False(t, run.TimedOut)
	assert.Equal(t, "university/jvb-a", run.Pod)
	assert.Equal(t, time.Minute, run.GracePeriod)
	assert.Zero(t, b.Counters().ParticipantsCut)
	state, _ := b.State()
	assert.Equal(t, StateShuttingDown, state)
}

// TestKubeletGivesUpAfterTheGracePeriod: the kubelet does not wait past the grace period.
func TestKubeletGivesUpAfterTheGracePeriod(t *testing.T) {
	requireHookTools(t)
	b := newTestBridge(t, RealClock{}, BridgeConfig{Name: "jvb-a"})
	require.NoError(t, b.Serve("127.0.0.1:0"))
	require.NoError(t, b.AllocateEndpoint("lecture"))
	client := fake.NewClientset(terminatingPod(t, "jvb-a", 1))
	k := startKubelet(t, client, map[string]string{"jvb-a": b.URL()})
	poll(t, "marked after the grace period", func() bool { return marked(t, client, "jvb-a") })
	run := k.Runs()[0]
	assert.True(t, run.TimedOut)
	assert.Error(t, run.Err, "the hook was killed")
	assert.GreaterOrEqual(t, run.Ended.Sub(run.Started), time.Second)
}

// TestKubeletHookEndsWhenTheBridgeIsGone: nothing answers, so the hook ends at once.
func TestKubeletHookEndsWhenTheBridgeIsGone(t *testing.T) {
	requireHookTools(t)
	b := newTestBridge(t, RealClock{}, BridgeConfig{Name: "jvb-a"})
	require.NoError(t, b.Serve("127.0.0.1:0"))
	url := b.URL()
	b.Stop("crashed")
	client := fake.NewClientset(terminatingPod(t, "jvb-a", 60))
	k := startKubelet(t, client, map[string]string{"jvb-a": url})
	poll(t, "marked at once", func() bool { return marked(t, client, "jvb-a") })
	run := k.Runs()[0]
	assert.NoError(t, run.Err)
	assert.Less(t, run.Ended.Sub(run.Started), 5*time.Second)
}
