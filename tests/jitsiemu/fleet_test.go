package jitsiemu

import (
	"context"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/crossplane-jitsi/crossplane-jitsi/tests/harness"
)

// productionHook is the preStop script fn/jvb.go renders, read from its source so that the
// tests run the script the pods get.
func productionHook(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile("../../fn/jvb.go")
	require.NoError(t, err)
	const start = "const gracefulShutdownHook = `"
	s := string(src)
	i := strings.Index(s, start)
	require.GreaterOrEqual(t, i, 0, "fn/jvb.go has no gracefulShutdownHook")
	s = s[i+len(start):]
	j := strings.Index(s, "`")
	require.Greater(t, j, 0)
	return s[:j]
}

// bridgePod is a running JVB pod shaped like fn/jvb.go's.
func bridgePod(name, ip string, configMap string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "university", UID: types.UID("uid-" + name),
			Labels: map[string]string{"app.kubernetes.io/component": "jvb"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "jvb",
				Env: []corev1.EnvVar{
					{Name: "JVB_OCTO_REGION", Value: "europe"},
					{Name: "JVB_OCTO_RELAY_ID", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				},
			}},
			Volumes: []corev1.Volume{{Name: "custom-config", VolumeSource: corev1.VolumeSource{
				ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: configMap}}}}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip},
	}
}

func jvbConfigMap(name, file string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "university"},
		Data: map[string]string{CustomJVBConfigFile: file}}
}

func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.NoError(t, harness.Poll(context.Background(), 10*time.Second, func() (bool, error) { return cond(), nil }), what)
}

func TestFleetRunsABridgePerRunningPod(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset(
		jvbConfigMap("jitsi-sample-jvb-config", "videobridge.shutdown.graceful-shutdown-max-duration = 120 seconds\n"),
		bridgePod("jvb-a", "127.0.0.1", "jitsi-sample-jvb-config"),
	)
	brewery := NewBrewery()
	fleet, err := StartFleet(ctx, FleetOptions{Client: client, Brewery: brewery, Logf: t.Logf,
		Addr: func(*corev1.Pod) string { return "127.0.0.1:0" }})
	require.NoError(t, err)
	t.Cleanup(fleet.Close)

	poll(t, "jvb-a starts", func() bool { return len(fleet.Bridges()) == 1 })
	a := fleet.Bridge("jvb-a")
	assert.Equal(t, 120*time.Second, a.Config().GracefulShutdownMaxDuration, "read from custom-jvb.conf")
	assert.Equal(t, "europe", a.Config().Region)
	assert.Equal(t, "jvb-a", a.Config().RelayID, "JVB_OCTO_RELAY_ID is the pod name")
	assert.Equal(t, "europe", a.Stats().Region)
	assert.Equal(t, []*Bridge{a}, brewery.Members())

	// A pending pod gets its bridge once it runs.
	pending := bridgePod("jvb-b", "", "jitsi-sample-jvb-config")
	pending.Status = corev1.PodStatus{Phase: corev1.PodPending}
	_, err = client.CoreV1().Pods("university").Create(ctx, pending, metav1.CreateOptions{})
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond)
	assert.Len(t, fleet.Bridges(), 1)
	pending.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.0.0.1"}
	_, err = client.CoreV1().Pods("university").UpdateStatus(ctx, pending, metav1.UpdateOptions{})
	require.NoError(t, err)
	poll(t, "jvb-b starts", func() bool { return len(fleet.Bridges()) == 2 })

	// SIGTERM once the preStop hook ended; the pod's deletion stops the other.
	require.NoError(t, a.AllocateEndpoint("lecture"))
	podA, err := client.CoreV1().Pods("university").Get(ctx, "jvb-a", metav1.GetOptions{})
	require.NoError(t, err)
	podA.Annotations = map[string]string{harness.PreStopDoneAnnotation: "true"}
	_, err = client.CoreV1().Pods("university").Update(ctx, podA, metav1.UpdateOptions{})
	require.NoError(t, err)
	poll(t, "jvb-a stops", func() bool { _, stopped := a.State(); return stopped })
	assert.Equal(t, "SIGTERM after the preStop hook", a.Counters().StopReason)
	assert.Equal(t, 1, a.Counters().ParticipantsCut, "its participant had not left")
	require.NoError(t, client.CoreV1().Pods("university").Delete(ctx, "jvb-b", metav1.DeleteOptions{}))
	poll(t, "jvb-b stops", func() bool { return len(fleet.Bridges()) == 0 })
	assert.Equal(t, FleetTotals{BridgesStarted: 2, ConferencesCut: 1, ParticipantsCut: 1}, fleet.Totals())
	assert.Empty(t, brewery.Members())
	assert.Empty(t, fleet.Errors())
}

func TestFleetReportsBridgesThatCannotStart(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset(
		jvbConfigMap("bad-config", "videobridge.shutdown.graceful-shutdown-max-duration = an hour\n"),
		bridgePod("jvb-missing", "127.0.0.1", "no-such-config"),
		bridgePod("jvb-bad", "127.0.0.1", "bad-config"),
	)
	fleet, err := StartFleet(ctx, FleetOptions{Client: client, Brewery: NewBrewery(), Logf: t.Logf,
		Addr: func(*corev1.Pod) string { return "127.0.0.1:0" }})
	require.NoError(t, err)
	t.Cleanup(fleet.Close)
	poll(t, "two errors", func() bool { return len(fleet.Errors()) == 2 })
	var msgs []string
	for _, e := range fleet.Errors() {
		msgs = append(msgs, e.Error())
	}
	joined := strings.Join(msgs, "\n")
	assert.Contains(t, joined, `bridge university/jvb-missing cannot start: ConfigMap no-such-config of volume custom-config`)
	assert.Contains(t, joined, `bridge university/jvb-bad cannot start: custom-jvb.conf in ConfigMap bad-config: videobridge.shutdown.graceful-shutdown-max-duration: "an hour" is not a duration`)
	assert.Empty(t, fleet.Bridges())
	_, err = StartFleet(ctx, FleetOptions{Client: client})
	assert.EqualError(t, err, "FleetOptions.Brewery: must be set")
}

// TestFleetStartsABridgeOnceItsConfigMapExists: Crossplane may create the JVB ConfigMap after
// the Deployment, and kwok runs the pod at once; the bridge starts when the ConfigMap appears,
// as the container would once the kubelet can mount it.
func TestFleetStartsABridgeOnceItsConfigMapExists(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset(bridgePod("jvb-early", "127.0.0.1", "late-config"))
	fleet, err := StartFleet(ctx, FleetOptions{Client: client, Brewery: NewBrewery(), Logf: t.Logf,
		Addr: func(*corev1.Pod) string { return "127.0.0.1:0" }})
	require.NoError(t, err)
	t.Cleanup(fleet.Close)
	poll(t, "the missing ConfigMap reported", func() bool { return len(fleet.Errors()) == 1 })
	assert.ErrorContains(t, fleet.Errors()[0], "bridge university/jvb-early cannot start: ConfigMap late-config of volume custom-config")
	assert.Empty(t, fleet.Bridges())

	_, err = client.CoreV1().ConfigMaps("university").Create(ctx,
		jvbConfigMap("late-config", "videobridge.shutdown.graceful-shutdown-max-duration = 2 hours\n"), metav1.CreateOptions{})
	require.NoError(t, err)
	poll(t, "the bridge starts", func() bool { return len(fleet.Bridges()) == 1 })
	assert.Equal(t, 2*time.Hour, fleet.Bridges()[0].Config().GracefulShutdownMaxDuration, "read from the ConfigMap that came late")
	assert.Empty(t, fleet.Errors(), "the bridge started: nothing is wrong any more")
}

func TestParseJVBConfig(t *testing.T) {
	cfg := BridgeConfig{ShuttingDownDelay: time.Second}
	require.NoError(t, applyJVBConfig(&cfg, `# rendered by function-jitsi
videobridge.shutdown.graceful-shutdown-max-duration = 3600 seconds
videobridge {
  shutdown {
    graceful-shutdown-min-participants: 2 // a comment
  }
}
include "other.conf"
`))
	assert.Equal(t, time.Hour, cfg.GracefulShutdownMaxDuration)
	assert.Equal(t, 2, cfg.GracefulShutdownMinParticipants)
	assert.Equal(t, time.Second, cfg.ShuttingDownDelay, "not in the file: unchanged")

	for in, want := range map[string]time.Duration{
		"1h": time.Hour, "90 minutes": 90 * time.Minute, "2 days": 48 * time.Hour, "1500": 1500 * time.Millisecond,
		"0.5 s": 500 * time.Millisecond, `24 hours`: 24 * time.Hour,
	} {
		got, err := parseHOCONDuration(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "hour", "3 fortnights", "-1 s"} {
		_, err := parseHOCONDuration(bad)
		assert.Error(t, err, bad)
	}
	for _, bad := range []string{"a {\n", "}\n", "just words\n", "a = [1, 2]\n", "a = ${b}\n"} {
		_, err := parseHOCON(bad)
		assert.Error(t, err, bad)
	}
}

// TestNetworkRoutesAroundATakenPort: when another process holds the pod's port, the bridge
// listens on a free one and the network routes the pod address there.
func TestNetworkRoutesAroundATakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.7:0")
	require.NoError(t, err)
	defer taken.Close()
	podAddr := taken.Addr().String()
	n := NewNetwork()
	lis, err := n.Listen(podAddr)
	require.NoError(t, err)
	defer lis.Close()
	assert.NotEqual(t, podAddr, lis.Addr().String())
	assert.Equal(t, lis.Addr().String(), n.Resolve(podAddr))
	assert.Equal(t, "127.0.0.8:8080", n.Resolve("127.0.0.8:8080"), "unrouted addresses are themselves")

	b := newTestBridge(t, RealClock{}, BridgeConfig{})
	require.NoError(t, b.ServeListener(lis))
	client := &http.Client{Transport: &http.Transport{DialContext: n.DialContext}}
	rsp, err := client.Get("http://" + podAddr + "/about/health")
	require.NoError(t, err)
	_ = rsp.Body.Close()
	assert.Equal(t, http.StatusOK, rsp.StatusCode)
}
