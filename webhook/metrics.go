package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Decisions counted in headless_guard_admission_requests_total. controller-
// runtime's own webhook metrics count HTTP responses, which are 200 for a
// denial too, so headless-guard counts its decisions itself.
const (
	DecisionAllowed = "allowed"
	DecisionWarned  = "warned"
	DecisionDenied  = "denied"
	DecisionPatched = "patched"
	// DecisionError is a request that could not be evaluated: malformed, or
	// a failed lookup (which is allowed with a warning, never denied).
	DecisionError = "error"
)

// Metrics are the admission metrics of DESIGN.md.
type Metrics struct {
	Requests *prometheus.CounterVec
	Duration *prometheus.HistogramVec
	Findings *prometheus.CounterVec
	// Refused counts reviews that cannot have come from the API server
	// (trust.go), by webhook and reason: both labels from fixed sets.
	Refused *prometheus.CounterVec
}

// NewMetrics creates the metrics; Register adds them to a registry.
func NewMetrics() *Metrics {
	return &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "headless_guard_admission_requests_total",
			Help: "Admission requests by webhook, operation, kind and decision (allowed, warned, denied, patched, error); a value outside the served set is \"other\".",
		}, []string{"webhook", "operation", "kind", "decision"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "headless_guard_admission_duration_seconds",
			Help:    "Time to answer an admission request, from decoding to response.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 100µs .. ~3.3s
		}, []string{"webhook"}),
		Findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "headless_guard_findings_total",
			Help: "Rule findings by rule and action (deny, warn, skip for objects that opted out).",
		}, []string{"rule", "action"}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "headless_guard_admission_refused_total",
			Help: "Admission reviews refused before evaluation, by webhook and reason: the API server could not have sent them (kind, operation, subresource, namespace, name, malformed, version, content-type, too-large, body), or the server held too many review bytes to take them in its own wait (busy).",
		}, []string{"webhook", "reason"}),
	}
}

// Register adds the metrics to reg (controller-runtime's registry by default).
func (m *Metrics) Register(reg prometheus.Registerer) error {
	if reg == nil {
		reg = ctrlmetrics.Registry
	}
	for _, c := range []prometheus.Collector{m.Requests, m.Duration, m.Findings, m.Refused} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
