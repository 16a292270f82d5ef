// Package webhook adapts Kubernetes admission requests to the rules package
// and back: a thin layer over controller-runtime's webhook server. It decodes
// the object, reads the namespace's opt-in labels, asks rules.Registry for a
// verdict over a Lookup backed by the informer cache (with one live GET on a
// cache miss), and answers with a denial carrying per-field causes, warnings,
// or a JSON patch. All decisions are counted in Prometheus metrics.
package webhook
