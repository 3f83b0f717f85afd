package deletioncost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"time"
)

// maxStatsBytes bounds what is read of one answer. A bridge's /colibri/stats is a flat JSON
// object of about a hundred keys, a few KiB.
const maxStatsBytes = 1 << 20

// colibriStats holds the fields of a bridge's GET /colibri/stats that count its
// participants. jitsi-videobridge at stable/jitsi-meet_11146 builds that JSON in
// jvb/src/main/kotlin/org/jitsi/videobridge/stats/VideobridgeStatisticsShim.kt (getStats):
//   - local_endpoints: VideobridgeMetrics.currentLocalEndpoints, incremented and decremented as
//     endpoints are created and expire (Videobridge.java); the count the bridge's own
//     ShutdownManager waits on during a graceful shutdown;
//   - participants: VideobridgePeriodicMetrics.endpoints, local and relayed endpoints, refreshed
//     every videobridge.stats.interval (5 s); deprecated upstream;
//   - octo_endpoints: VideobridgePeriodicMetrics.endpointsRelayed, the relayed ones.
//
// All three are Long gauges, written as JSON integers.
type colibriStats struct {
	LocalEndpoints *int64 `json:"local_endpoints"`
	Participants   *int64 `json:"participants"`
	OctoEndpoints  *int64 `json:"octo_endpoints"`
}

// localParticipants is the number of participants connected to this bridge itself:
// local_endpoints when the bridge reports it, else participants - octo_endpoints (older
// bridges). fn/jvb.go's preStop hook counts the same way.
func (s colibriStats) localParticipants() (int64, error) {
	switch {
	case s.LocalEndpoints != nil:
		return *s.LocalEndpoints, nil
	case s.Participants != nil:
		n := *s.Participants
		if s.OctoEndpoints != nil {
			n -= *s.OctoEndpoints
		}
		return n, nil
	default:
		return 0, errors.New("the JSON has neither local_endpoints nor participants")
	}
}

// costOf turns a participant count into a deletion cost: the count itself, within int32 (the
// annotation's type). A negative count (participants and octo_endpoints are sampled apart)
// means nobody, as for the preStop hook.
func costOf(participants int64) int32 {
	return int32(min(max(participants, 0), math.MaxInt32))
}

// newHTTPClient returns the client that reads the bridges. It goes straight to the pod IP:
// no proxy from the environment (a cluster-wide HTTP_PROXY cannot reach pod IPs), and a
// redirect is an answer, not something to follow.
func newHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: timeout}).DialContext,
			MaxIdleConnsPerHost: 1,
			IdleConnTimeout:     90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// readParticipants GETs a bridge's stats at url and returns its local participants.
func readParticipants(ctx context.Context, client *http.Client, url string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, fmt.Errorf("cannot build a request for %s: %w", url, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", Name)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err // *url.Error: names the method, the URL and the cause
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxStatsBytes)
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, body) // lets the connection be reused
		hint := ""
		if resp.StatusCode == http.StatusNotFound {
			hint = " (the bridge serves /colibri/stats only with COLIBRI_REST_ENABLED=true)"
		}
		return 0, fmt.Errorf("GET %s: status %s%s", url, resp.Status, hint)
	}
	var stats colibriStats
	if err := json.NewDecoder(body).Decode(&stats); err != nil {
		return 0, fmt.Errorf("GET %s: the answer is not the bridge's stats JSON: %w", url, err)
	}
	n, err := stats.localParticipants()
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", url, err)
	}
	return n, nil
}
