package deletioncost

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadParticipants: the local participants of a bridge from its stats, and a clear
// error for every answer that is not its stats.
func TestReadParticipants(t *testing.T) {
	cases := []struct {
		name    string
		bridge  *fakeBridge
		path    string
		want    int64
		wantErr string
	}{
		{name: "local_endpoints", bridge: &fakeBridge{local: 40, participants: 43, octo: 3}, want: 40},
		{name: "no participant", bridge: &fakeBridge{}, want: 0},
		{name: "older bridge: participants - octo_endpoints", bridge: &fakeBridge{legacy: true, participants: 12, octo: 5}, want: 7},
		{name: "older bridge without octo_endpoints", bridge: &fakeBridge{body: `{"participants": 9}`}, want: 9},
		{name: "relayed sampled above all", bridge: &fakeBridge{legacy: true, participants: 2, octo: 3}, want: -1},
		{name: "REST API disabled", bridge: &fakeBridge{}, path: "/colibri/nothing", wantErr: "status 404 Not Found (the bridge serves /colibri/stats only with COLIBRI_REST_ENABLED=true)"},
		{name: "server error", bridge: &fakeBridge{status: http.StatusInternalServerError, body: "boom"}, wantErr: "status 500 Internal Server Error"},
		{name: "not JSON", bridge: &fakeBridge{body: "<html>"}, wantErr: "the answer is not the bridge's stats JSON"},
		{name: "fractional count", bridge: &fakeBridge{body: `{"local_endpoints": 1.5}`}, wantErr: "the answer is not the bridge's stats JSON"},
		{name: "no participant field", bridge: &fakeBridge{body: `{"stress_level": 0.1}`}, wantErr: "the JSON has neither local_endpoints nor participants"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.bridge)
			defer srv.Close()
			path := "/colibri/stats"
			if tc.path != "" {
				path = tc.path
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			got, err := readParticipants(ctx, newHTTPClient(time.Second), srv.URL+path)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Contains(t, err.Error(), srv.URL+path, "the error names the URL")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestCostOf(t *testing.T) {
	cases := map[int64]int32{0: 0, 1: 1, 40: 40, -1: 0, math.MaxInt32: math.MaxInt32, math.MaxInt32 + 1: math.MaxInt32}
	for in, want := range cases {
		assert.Equal(t, want, costOf(in), "costOf(%d)", in)
	}
}
