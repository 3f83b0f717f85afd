package deletioncost

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Label values, created up front so that every series exists (at 0) from the start and a
// rate() or an alert over them does not wait for the first event.
const (
	resultOK    = "ok"
	resultError = "error"
	// resultStale: the pod changed (a resourceVersion conflict: it may be terminating now) or
	// went away between the read and the patch. Retried at the next interval, not an error.
	resultStale = "stale"

	stateAnswering = "answering"
	stateSilent    = "silent"
	stateSkipped   = "skipped"
)

// Metrics are jvb-deletion-cost's Prometheus metrics.
type Metrics struct {
	scrapes      *prometheus.CounterVec
	patches      *prometheus.CounterVec
	bridges      *prometheus.GaugeVec
	loopDuration prometheus.Gauge
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		scrapes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "jvb_deletion_cost", Name: "scrapes_total",
			Help: "Reads of a bridge's /colibri/stats, by result (ok, error).",
		}, []string{"result"}),
		patches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "jvb_deletion_cost", Name: "patches_total",
			Help: "Patches of a pod's deletion-cost annotation, by result (ok, stale: the pod changed or went since it was read, error).",
		}, []string{"result"}),
		bridges: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "jvb_deletion_cost", Name: "bridges",
			Help: "Bridges seen in the last loop, by state (answering, silent: stats unreadable, skipped: not running, not ready, terminating or without an IP).",
		}, []string{"state"}),
		loopDuration: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "jvb_deletion_cost", Name: "loop_duration_seconds",
			Help: "How long the last loop over all bridges took (reads and patches).",
		}),
	}
	for _, r := range []string{resultOK, resultError} {
		m.scrapes.WithLabelValues(r)
	}
	for _, r := range []string{resultOK, resultStale, resultError} {
		m.patches.WithLabelValues(r)
	}
	for _, s := range []string{stateAnswering, stateSilent, stateSkipped} {
		m.bridges.WithLabelValues(s)
	}
	reg.MustRegister(m.scrapes, m.patches, m.bridges, m.loopDuration)
	return m
}
