package certs

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// ExpiryTimestamp is headless_guard_certificate_expiry_timestamp_seconds:
// when the serving certificate in use expires. Alert well before it: a
// value that stops moving forward means renewal is failing.
var ExpiryTimestamp = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "headless_guard_certificate_expiry_timestamp_seconds",
	Help: "Expiry (Unix time) of the serving certificate the webhook server presents.",
})

// RegisterMetrics adds the certificate gauge to controller-runtime's
// registry; registering it again is not an error.
func RegisterMetrics() error {
	err := ctrlmetrics.Registry.Register(ExpiryTimestamp)
	if errors.As(err, new(prometheus.AlreadyRegisteredError)) {
		return nil
	}
	return err
}
