package jitsiemu

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var epoch = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func newTestBridge(t *testing.T, clock Clock, cfg BridgeConfig) *Bridge {
	t.Helper()
	cfg.Clock = clock
	if cfg.Name == "" {
		cfg.Name = "jvb-a"
	}
	cfg.Logf = t.Logf
	b := NewBridge(cfg)
	t.Cleanup(func() { b.Stop("test ended") })
	return b
}

func serveBridge(t *testing.T, b *Bridge) string {
	t.Helper()
	require.NoError(t, b.Serve("127.0.0.1:0"))
	return b.URL()
}

func getStats(t *testing.T, url string) map[string]any {
	t.Helper()
	rsp, err := http.Get(url + "/colibri/stats")
	require.NoError(t, err)
	defer rsp.Body.Close()
	require.Equal(t, http.StatusOK, rsp.StatusCode)
	assert.Equal(t, "application/json", rsp.Header.Get("Content-Type"))
	var out map[string]any
	require.NoError(t, json.NewDecoder(rsp.Body).Decode(&out))
	return out
}

func post(t *testing.T, url, contentType, body string) (int, string) {
	t.Helper()
	rsp, err := http.Post(url, contentType, strings.NewReader(body))
	require.NoError(t, err)
	defer rsp.Body.Close()
	b, _ := io.ReadAll(rsp.Body)
	return rsp.StatusCode, string(b)
}

func TestBridgeStatsOverHTTP(t *testing.T) {
	b := newTestBridge(t, NewFakeClock(epoch), BridgeConfig{Region: "europe", RelayID: "jvb-a-relay"})
	url := serveBridge(t, b)
	for range 30 {
		require.NoError(t, b.AllocateEndpoint("lecture"))
	}
	for range 5 {
		require.NoError(t, b.AllocateEndpoint("seminar"))
	}
	require.NoError(t, b.SetRelayedEndpoints("seminar", 7))

	s := getStats(t, url)
	assert.InDelta(t, 0.35, s["stress_level"], 1e-9, "35 local participants of a 100-participant bridge")
	assert.InDelta(t, 0.01, s["average_participant_stress"], 1e-9)
	assert.EqualValues(t, 2, s["conferences"])
	assert.EqualValues(t, 35, s["local_endpoints"])
	assert.EqualValues(t, 7, s["octo_endpoints"], "relayed endpoints")
	assert.EqualValues(t, 42, s["endpoints"], "local and relayed")
	assert.EqualValues(t, 42, s["participants"], "participants is endpoints, relayed included")
	assert.EqualValues(t, 30, s["largest_conference"])
	assert.EqualValues(t, 1, s["octo_conferences"])
	assert.Equal(t, false, s["graceful_shutdown"])
	assert.Equal(t, false, s["shutting_down"])
	assert.Equal(t, false, s["drain"])
	assert.Equal(t, true, s["healthy"])
	assert.Equal(t, "europe", s["region"])
	assert.Equal(t, "jvb-a-relay", s["relay_id"])
	assert.Equal(t, "2026-12-07 10:00:00.000", s["current_timestamp"])

	// The hook's own expression reads the same numbers.
	left := s["local_endpoints"].(float64)
	assert.EqualValues(t, 35, left)

	rsp, err := http.Get(url + "/about/health")
	require.NoError(t, err)
	body, _ := io.ReadAll(rsp.Body)
	_ = rsp.Body.Close()
	assert.Equal(t, http.StatusOK, rsp.StatusCode)
	assert.Empty(t, body)

	b.SetHealthy(false, "Failed to bind single-port")
	rsp, err = http.Get(url + "/about/health")
	require.NoError(t, err)
	body, _ = io.ReadAll(rsp.Body)
	_ = rsp.Body.Close()
	assert.Equal(t, http.StatusInternalServerError, rsp.StatusCode)
	assert.Contains(t, string(body), "Failed to bind single-port")
	assert.Equal(t, false, getStats(t, url)["healthy"])

	rsp, err = http.Get(url + "/colibri/nothing")
	require.NoError(t, err)
	_ = rsp.Body.Close()
	assert.Equal(t, http.StatusNotFound, rsp.StatusCode)
	code, _ := post(t, url+"/colibri/stats", "application/json", "{}")
	assert.Equal(t, http.StatusMethodNotAllowed, code)
}

func TestBridgeShutdownRequests(t *testing.T) {
	cases := []struct {
		name, contentType, body string
		status                  int
		state                   ShutdownState
		graceful                bool
	}{
		{"graceful", "application/json", `{"graceful-shutdown": true}`, 200, StateShuttingDown, true},
		{"graceful with charset", "application/json; charset=utf-8", `{"graceful-shutdown": true}`, 200, StateShuttingDown, true},
		{"coerced string", "application/json", `{"graceful-shutdown": "true"}`, 200, StateShuttingDown, true},
		{"not graceful", "application/json", `{"graceful-shutdown": false}`, 200, StateShuttingDown, false},
		{"not JSON", "text/plain", `{"graceful-shutdown": true}`, 415, StateRunning, false},
		{"no content type", "", `{"graceful-shutdown": true}`, 415, StateRunning, false},
		{"malformed", "application/json", `{"graceful-shutdown": tru`, 400, StateRunning, false},
		{"missing property", "application/json", `{}`, 400, StateRunning, false},
		{"unknown property", "application/json", `{"graceful-shutdown": true, "force": true}`, 400, StateRunning, false},
		{"not a boolean", "application/json", `{"graceful-shutdown": "soon"}`, 400, StateRunning, false},
		{"an array", "application/json", `[true]`, 400, StateRunning, false},
		{"null value", "application/json", `{"graceful-shutdown": null}`, 500, StateRunning, false},
		{"empty body", "application/json", ``, 500, StateRunning, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newTestBridge(t, NewFakeClock(epoch), BridgeConfig{})
			url := serveBridge(t, b)
			code, body := post(t, url+"/colibri/shutdown", tc.contentType, tc.body)
			assert.Equal(t, tc.status, code, "body: %s", body)
			if code == 200 {
				assert.Empty(t, body)
			}
			state, _ := b.State()
			// An idle bridge goes on to SHUTTING_DOWN at once: no participant is left.
			assert.Equal(t, tc.state, state)
			assert.Equal(t, tc.graceful, getStats(t, url)["graceful_shutdown"])
		})
	}

	t.Run("GET is not allowed", func(t *testing.T) {
		b := newTestBridge(t, NewFakeClock(epoch), BridgeConfig{})
		url := serveBridge(t, b)
		rsp, err := http.Get(url + "/colibri/shutdown")
		require.NoError(t, err)
		_ = rsp.Body.Close()
		assert.Equal(t, http.StatusMethodNotAllowed, rsp.StatusCode)
		assert.Contains(t, rsp.Header.Get("Allow"), "POST")
	})
}

// TestBridgeGracefulShutdownWaitsForItsConferences: no new conference, the running one goes
// on and takes participants; when the last one leaves the bridge shuts down, and exits a
// shutting-down delay later. Nobody is cut.
func TestBridgeGracefulShutdownWaitsForItsConferences(t *testing.T) {
	clock := NewFakeClock(epoch)
	b := newTestBridge(t, clock, BridgeConfig{GracefulShutdownMaxDuration: time.Hour})
	url := serveBridge(t, b)
	for range 12 {
		require.NoError(t, b.AllocateEndpoint("lecture"))
	}
	code, _ := post(t, url+"/colibri/shutdown", "application/json", `{"graceful-shutdown": true}`)
	require.Equal(t, http.StatusOK, code)

	state, _ := b.State()
	assert.Equal(t, StateGracefulShutdown, state)
	assert.ErrorIs(t, b.AllocateEndpoint("another"), ErrGracefulShutdown, "no new conference")
	require.NoError(t, b.AllocateEndpoint("lecture"), "the running conference takes a latecomer")
	s := getStats(t, url)
	assert.Equal(t, true, s["graceful_shutdown"])
	assert.Equal(t, false, s["shutting_down"])
	assert.EqualValues(t, 13, s["local_endpoints"])

	clock.Advance(59 * time.Minute)
	for range 12 {
		require.NoError(t, b.ExpireEndpoint("lecture"))
	}
	state, _ = b.State()
	assert.Equal(t, StateGracefulShutdown, state, "one participant is left")
	b.ExpireConference("lecture")
	state, stopped := b.State()
	assert.Equal(t, StateShuttingDown, state, "the last participant left")
	assert.False(t, stopped)
	assert.Equal(t, true, getStats(t, url)["shutting_down"])

	clock.Advance(59 * time.Second)
	_, stopped = b.State()
	assert.False(t, stopped, "the process lives for the shutting-down delay")
	clock.Advance(time.Second)
	_, stopped = b.State()
	assert.True(t, stopped)
	_, err := http.Get(url + "/colibri/stats")
	assert.Error(t, err, "nothing answers once the process exited")

	c := b.Counters()
	assert.Zero(t, c.ConferencesCut)
	assert.Zero(t, c.ParticipantsCut)
	assert.False(t, c.MaxDurationExceeded)
	assert.Equal(t, epoch, c.GracefulShutdownAt)
	assert.Equal(t, epoch.Add(59*time.Minute), c.ShuttingDownAt)
	assert.Equal(t, epoch.Add(60*time.Minute), c.StoppedAt)
	assert.Equal(t, 13, c.EndpointsCreated)
	assert.Equal(t, 1, c.ConferencesCreated)
	assert.Equal(t, 1, c.ConferencesCompleted)
}

// TestBridgeMaxDurationCutsTheRest: once graceful-shutdown-max-duration has passed, the
// participants still there are cut, once.
func TestBridgeMaxDurationCutsTheRest(t *testing.T) {
	clock := NewFakeClock(epoch)
	b := newTestBridge(t, clock, BridgeConfig{GracefulShutdownMaxDuration: 90 * time.Minute})
	for range 20 {
		require.NoError(t, b.AllocateEndpoint("lecture"))
	}
	for range 3 {
		require.NoError(t, b.AllocateEndpoint("office-hours"))
	}
	require.NoError(t, b.Shutdown(true))
	for range 3 {
		require.NoError(t, b.ExpireEndpoint("office-hours"))
	}
	clock.Advance(90*time.Minute - time.Second)
	state, _ := b.State()
	assert.Equal(t, StateGracefulShutdown, state)
	clock.Advance(time.Second)
	state, _ = b.State()
	assert.Equal(t, StateShuttingDown, state)
	c := b.Counters()
	assert.True(t, c.MaxDurationExceeded)
	assert.Equal(t, 1, c.ConferencesCut, "office-hours had already ended")
	assert.Equal(t, 20, c.ParticipantsCut)

	clock.Advance(time.Minute)
	_, stopped := b.State()
	assert.True(t, stopped)
	c = b.Counters()
	assert.Equal(t, 1, c.ConferencesCut, "not counted twice when the process exits")
	assert.Equal(t, 20, c.ParticipantsCut)
}

func TestBridgeStopCutsItsConferences(t *testing.T) {
	b := newTestBridge(t, NewFakeClock(epoch), BridgeConfig{})
	url := serveBridge(t, b)
	for range 4 {
		require.NoError(t, b.AllocateEndpoint("a"))
	}
	require.NoError(t, b.AllocateEndpoint("b"))
	b.Stop("SIGTERM")
	c := b.Counters()
	assert.Equal(t, 2, c.ConferencesCut)
	assert.Equal(t, 5, c.ParticipantsCut)
	assert.Equal(t, "SIGTERM", c.StopReason)
	assert.ErrorIs(t, b.AllocateEndpoint("a"), ErrBridgeStopped)
	_, err := http.Get(url + "/colibri/stats")
	assert.Error(t, err)
	select {
	case <-b.Done():
	default:
		t.Fatal("Done is not closed")
	}
}

func TestBridgeOverCapacity(t *testing.T) {
	b := newTestBridge(t, NewFakeClock(epoch), BridgeConfig{Capacity: 10})
	for range 12 {
		require.NoError(t, b.AllocateEndpoint("lecture"))
	}
	s := b.Stats()
	assert.InDelta(t, 1.2, s.StressLevel, 1e-9, "above 1: overloaded")
	assert.InDelta(t, 0.1, s.AverageParticipantStress, 1e-9)
	assert.Equal(t, 2, b.Counters().EndpointsOverCapacity, "the 11th and 12th")
	assert.Error(t, b.ExpireEndpoint("nope"))
	assert.Error(t, b.SetRelayedEndpoints("nope", 1))
}
