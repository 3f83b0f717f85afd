package deletioncost

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeBridge answers GET /colibri/stats as jitsi-videobridge does at stable/jitsi-meet_11146
// with COLIBRI_REST_ENABLED=true: jvb/src/main/java/org/jitsi/videobridge/rest/root/colibri/stats/Stats.java
// answers 200 with Content-Type application/json and the flat object that
// jvb/src/main/kotlin/org/jitsi/videobridge/stats/VideobridgeStatisticsShim.kt (getStatsJson)
// builds, every gauge a JSON integer; any other path is a 404. It fills the participant
// fields and a few neighbours (stress_level, conferences, endpoints, graceful_shutdown,
// drain, healthy), not the other ~90 keys, which the controller does not read.
type fakeBridge struct {
	ip string

	mu           sync.Mutex
	local        int64
	participants int64
	octo         int64
	// legacy: a bridge that does not report local_endpoints (participants and octo_endpoints only).
	legacy bool
	// status, when not 0 or 200, is answered instead of the stats; body replaces the stats.
	status int
	body   string
}

// setParticipants sets the participants connected to this bridge: local and relayed ones
// count in participants and endpoints, as VideobridgePeriodicMetrics.endpoints does.
func (b *fakeBridge) setParticipants(local, relayed int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.local, b.octo, b.participants = local, relayed, local+relayed
}

// fail makes the bridge answer status with body (status 0: answer the stats again).
func (b *fakeBridge) fail(status int, body string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.status, b.body = status, body
}

func (b *fakeBridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/colibri/stats" {
		http.NotFound(w, r)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.status != 0 && b.status != http.StatusOK {
		http.Error(w, b.body, b.status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if b.body != "" {
		_, _ = w.Write([]byte(b.body))
		return
	}
	stats := map[string]any{
		"participants":      b.participants,
		"endpoints":         b.participants,
		"octo_endpoints":    b.octo,
		"conferences":       min(b.participants, 1),
		"stress_level":      float64(b.local) * 0.01,
		"graceful_shutdown": false,
		"shutting_down":     false,
		"drain":             false,
		"healthy":           true,
	}
	if !b.legacy {
		stats["local_endpoints"] = b.local
	}
	_ = json.NewEncoder(w).Encode(stats)
}

// startBridges serves one fakeBridge on each of the loopback addresses 127.0.0.2,
// 127.0.0.3, …, all on the same port, as bridges on their pod IPs share the port of their
// REST API. It returns the bridges and the port.
func startBridges(t *testing.T, n int) ([]*fakeBridge, int) {
	t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		bridges, port, err := listenBridges(t, n)
		if err == nil {
			return bridges, port
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			require.NoError(t, err)
		}
	}
	t.Fatalf("no port free on %d loopback addresses after 20 attempts", n)
	return nil, 0
}

func listenBridges(t *testing.T, n int) ([]*fakeBridge, int, error) {
	var listeners []net.Listener
	closeAll := func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}
	port := 0
	for i := range n {
		ip := fmt.Sprintf("127.0.0.%d", i+2)
		l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			closeAll()
			return nil, 0, err
		}
		listeners = append(listeners, l)
		port = l.Addr().(*net.TCPAddr).Port
	}
	bridges := make([]*fakeBridge, n)
	for i, l := range listeners {
		bridges[i] = &fakeBridge{ip: fmt.Sprintf("127.0.0.%d", i+2)}
		srv := &http.Server{Handler: bridges[i]}
		go func() { _ = srv.Serve(l) }()
		t.Cleanup(func() { _ = srv.Close() })
	}
	return bridges, port, nil
}
