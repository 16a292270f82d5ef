package load

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"

	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Paths are the webhook paths of deploy/base/webhooks.yaml; the do-nothing
// webhook answers all of them (TestPathsMatchTheGuard keeps them in step
// with package webhook).
var Paths = []string{
	"/validate/statefulsets",
	"/validate/services",
	"/validate/workloads",
	"/mutate/statefulsets",
	"/mutate/services",
}

// ProbeDenyPrefix: the do-nothing webhook denies objects whose name starts
// with it, so that a probe can tell whether the API server calls it (the
// guard denies the same probe object for a reason of its own).
const ProbeDenyPrefix = "deny-probe"

// NopOptions configure the do-nothing webhook.
type NopOptions struct {
	// Host and Port are the listen address, as `serve --webhook-host/-port`.
	Host string
	Port int
	// CertDir holds tls.crt and tls.key, as `serve --webhook-cert-path`.
	CertDir string
	// Record, when set, receives every request body with its path.
	Record func(path string, body []byte)
}

// ServeNop runs the baseline the guard is measured against: a
// controller-runtime webhook server with the guard's TLS settings (TLS 1.2
// minimum, HTTP/1.1 only) whose handlers decode the AdmissionReview, as
// every controller-runtime webhook does, and allow it. It returns when ctx
// ends.
func ServeNop(ctx context.Context, o NopOptions) error {
	server := ctrlwebhook.NewServer(ctrlwebhook.Options{
		Host: o.Host, Port: o.Port, CertDir: o.CertDir,
		TLSOpts: []func(*tls.Config){func(c *tls.Config) {
			c.MinVersion = tls.VersionTLS12
			c.NextProtos = []string{"http/1.1"}
		}},
	})
	allow := admission.HandlerFunc(func(_ context.Context, req admission.Request) admission.Response {
		if strings.HasPrefix(req.Name, ProbeDenyPrefix) {
			return admission.Denied("denied by the do-nothing webhook's probe rule")
		}
		return admission.Allowed("")
	})
	for _, p := range Paths {
		var h http.Handler = &admission.Webhook{Handler: allow}
		if o.Record != nil {
			h = record(p, o.Record, h)
		}
		server.Register(p, h)
	}
	return server.Start(ctx)
}

func record(path string, rec func(string, []byte), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rec(path, body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}
