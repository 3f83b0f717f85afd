package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/status"

	"github.com/crossplane-jitsi/crossplane-jitsi/nodescaler/driver"
)

// Metrics are jitsi-nodescaler's Prometheus metrics.
type Metrics struct {
	calls          *prometheus.CounterVec
	callDuration   *prometheus.HistogramVec
	nodes          *prometheus.GaugeVec
	targetSize     *prometheus.GaugeVec
	driverDuration *prometheus.HistogramVec
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "jitsi_nodescaler", Name: "grpc_calls_total",
			Help: "gRPC calls from cluster-autoscaler, by method and status code (code != OK is an error).",
		}, []string{"method", "code"}),
		callDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "jitsi_nodescaler", Name: "grpc_call_duration_seconds",
			Help:    "Time to answer a gRPC call, by method.",
			Buckets: []float64{.0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5},
		}, []string{"method"}),
		nodes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "jitsi_nodescaler", Name: "nodes",
			Help: "Instances per node group and state, at the last refresh.",
		}, []string{"group", "state"}),
		targetSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "jitsi_nodescaler", Name: "target_size",
			Help: "Target size of each node group.",
		}, []string{"group"}),
		driverDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "jitsi_nodescaler", Name: "driver_duration_seconds",
			Help:    "Latency of driver operations, by group, operation and result.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}, []string{"group", "operation", "result"}),
	}
	reg.MustRegister(m.calls, m.callDuration, m.nodes, m.targetSize, m.driverDuration)
	return m
}

func (m *Metrics) observeCall(method string, start time.Time, err error) {
	m.calls.WithLabelValues(method, status.Code(err).String()).Inc()
	m.callDuration.WithLabelValues(method).Observe(time.Since(start).Seconds())
}

func (m *Metrics) observeDriver(group, operation string, start time.Time, err error) {
	result := "success"
	if err != nil {
		result = "error"
	}
	m.driverDuration.WithLabelValues(group, operation, result).Observe(time.Since(start).Seconds())
}

// observeStates counts a group's instances by state.
func (m *Metrics) observeStates(group string, instances []driver.Instance) {
	counts := map[driver.State]int{driver.StateCreating: 0, driver.StateRunning: 0, driver.StateDeleting: 0}
	for _, i := range instances {
		counts[i.State]++
	}
	for state, n := range counts {
		m.nodes.WithLabelValues(group, state.String()).Set(float64(n))
	}
}

func (m *Metrics) setTarget(group string, n int) {
	m.targetSize.WithLabelValues(group).Set(float64(n))
}
