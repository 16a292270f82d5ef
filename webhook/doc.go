// Package webhook adapts Kubernetes admission requests to the rules package
// and back. It decodes the object (decode_stripped.go: only as far as the
// rules read, one decoder per kind of rules.Kinds), refuses reviews the
// API server could not have sent (trust.go), reads the namespace's opt-in
// labels, asks rules.Registry for a verdict over a Lookup backed by the
// informer cache (with one live GET on a cache miss), and answers with a
// denial carrying per-field causes, warnings, or a JSON patch (handler.go).
// All decisions are counted in Prometheus metrics (metrics.go: add a metric
// there and count it in handler.go).
//
// The HTTP side (reading and writing AdmissionReviews, the body budget, the
// TLS server with its limits) is internal/admissionhttp, which replaces
// controller-runtime's admission.Webhook and webhook server and says why;
// Setup puts the five webhooks of deploy/ (Webhooks) behind it on a
// controller-runtime manager. Rule logic does not belong here: what a
// finding means for admission is a field of rules.Finding (InjectReplaces,
// Reason), read by the handler.
//
// To admit a new kind: add it to rules.Kinds, give it a stripped decoder in
// decode_stripped.go (TestEveryKindHasAStrippedDecoder fails until then), a
// route in Webhooks, and the webhook configuration in deploy/.
package webhook
