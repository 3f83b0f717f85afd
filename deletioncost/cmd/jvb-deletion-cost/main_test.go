package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crossplane-jitsi/crossplane-jitsi/deletioncost"
)

// parse parses args as main does.
func parse(t *testing.T, args ...string) *CLI {
	t.Helper()
	cli := &CLI{}
	parser, err := kong.New(cli, kong.Vars{"default_selector": deletioncost.DefaultSelector})
	require.NoError(t, err)
	_, err = parser.Parse(args)
	require.NoError(t, err)
	return cli
}

// TestDefaults: without flags, the controller watches fn/jvb.go's bridges in every
// namespace every 15 s on their port 8080, and the defaults are valid.
func TestDefaults(t *testing.T) {
	cli := parse(t)
	assert.Empty(t, cmp.Diff(deletioncost.Config{
		Namespace:   "",
		Selector:    "app.kubernetes.io/name=jitsi-meet,app.kubernetes.io/component=jvb",
		Interval:    15 * time.Second,
		StatsPort:   8080,
		StatsPath:   "/colibri/stats",
		Timeout:     2 * time.Second,
		Concurrency: 10,
	}, cli.config()))
	assert.Equal(t, ":8080", cli.MetricsAddress)
	assert.Empty(t, cli.Kubeconfig)
	require.NoError(t, cli.config().Validate())
}

// TestStartRefusals: a bad flag stops the start with a message naming the flag and what it
// must be, before anything connects anywhere.
func TestStartRefusals(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cases := []struct {
		name       string
		args       []string
		kubeconfig string // set after parsing: kong checks that --kubeconfig exists
		want       string
	}{
		{name: "zero interval", args: []string{"--interval=0s"}, want: `--interval: Invalid value: "0s": must be at least 1s`},
		{name: "timeout not below interval", args: []string{"--interval=5s", "--timeout=5s"}, want: `--timeout: Invalid value: "5s": must be more than 0 and less than --interval (5s)`},
		{name: "no timeout", args: []string{"--timeout=0s"}, want: `--timeout: Invalid value: "0s": must be more than 0`},
		{name: "port 0", args: []string{"--stats-port=0"}, want: "--stats-port: Invalid value: 0: must be a port number, 1 to 65535"},
		{name: "port too high", args: []string{"--stats-port=70000"}, want: "--stats-port: Invalid value: 70000: must be a port number, 1 to 65535"},
		{name: "relative path", args: []string{"--stats-path=colibri/stats"}, want: `--stats-path: Invalid value: "colibri/stats": must be a path starting with /`},
		{name: "no concurrency", args: []string{"--concurrency=0"}, want: "--concurrency: Invalid value: 0: must be 1 or more"},
		{name: "empty selector", args: []string{"--selector="}, want: `--selector: Invalid value: "": must select the bridges; an empty selector would annotate every pod`},
		{name: "bad selector", args: []string{"--selector=app in (jvb"}, want: `--selector: Invalid value: "app in (jvb": must be a label selector`},
		{name: "bad namespace", args: []string{"--namespace=University"}, want: `--namespace: Invalid value: "University": a lowercase RFC 1123 label`},
		{name: "missing kubeconfig", kubeconfig: filepath.Join(t.TempDir(), "missing"), want: "cannot load kubeconfig"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cli := parse(t, append(tc.args, "--metrics-address=127.0.0.1:0")...)
			cli.Kubeconfig = tc.kubeconfig
			err := run(cli, log)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestMetricsAddressTaken: a metrics address that cannot be listened on stops the start.
func TestMetricsAddressTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	require.NoError(t, writeKubeconfig(kubeconfig))
	cli := parse(t, "--kubeconfig="+kubeconfig, "--metrics-address="+taken.Addr().String())
	err = run(cli, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--metrics-address: cannot listen on "+taken.Addr().String())
}

// writeKubeconfig writes a kubeconfig for an API server on a loopback port nothing serves.
func writeKubeconfig(path string) error {
	return os.WriteFile(path, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600)
}

// TestServeHTTP: /healthz answers while the process runs, /readyz once the pods are listed,
// /metrics the controller's metrics.
func TestServeHTTP(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	deletioncost.NewMetrics(reg)
	var ready atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go serveHTTP(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), lis, reg, ready.Load)
	base := "http://" + lis.Addr().String()
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}

	code, _ := get("/healthz")
	assert.Equal(t, http.StatusOK, code)
	code, body := get("/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "the bridge pods are not listed yet")
	ready.Store(true)
	code, _ = get("/readyz")
	assert.Equal(t, http.StatusOK, code)
	code, body = get("/metrics")
	assert.Equal(t, http.StatusOK, code)
	for _, series := range []string{
		`jvb_deletion_cost_scrapes_total{result="ok"} 0`,
		`jvb_deletion_cost_scrapes_total{result="error"} 0`,
		`jvb_deletion_cost_patches_total{result="ok"} 0`,
		`jvb_deletion_cost_patches_total{result="stale"} 0`,
		`jvb_deletion_cost_patches_total{result="error"} 0`,
		`jvb_deletion_cost_bridges{state="answering"} 0`,
		`jvb_deletion_cost_bridges{state="silent"} 0`,
		`jvb_deletion_cost_bridges{state="skipped"} 0`,
		`jvb_deletion_cost_loop_duration_seconds 0`,
	} {
		assert.Contains(t, body, series)
	}
}
