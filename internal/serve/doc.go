// Package serve wires `headless-guard serve` together, in the shape of
// cert-manager's internal/webhook/webhook.go: Run takes Options and builds
// one controller-runtime manager holding everything the server runs, and
// the command (internal/cli/serve.go) only maps its flags onto Options and
// calls Run. The pieces:
//
//   - serve.go: Run. The manager with the webhook server of
//     internal/admissionhttp, the five webhooks of package webhook, the
//     injected-Service reconciler and the audit of internal/controller,
//     all reading one informer cache through the same lookups
//     (webhook.CacheLookups).
//   - options.go: Options, Validate, the policy and TLS settings they make.
//   - certs.go: the serving certificate, from files or self-managed (the
//     certs package does the work).
//   - shutdown.go: the first SIGTERM takes the replica out of rotation
//     (readiness fails, responses close their connections) before it stops.
//
// Three files replace pieces of controller-runtime, each for a reason:
//
//   - servers.go replaces the manager's own health-probe and metrics
//     servers (controller-runtime's internal/httpserver), which take 1 MiB
//     of headers over 32 seconds with no connection limit: 400 peers sending
//     unfinished headers held 400 MiB and the guard was killed. Both ports
//     are served within internal/netlimit's limits.
//   - metricsauth.go replaces filters.WithAuthenticationAndAuthorization
//     of controller-runtime's metrics server (the same TokenReview and
//     SubjectAccessReview, caching, status codes and messages) without
//     linking k8s.io/apiserver, whose authenticator and authorizer bring
//     20 MB of the binary, and adds --metrics-token-audiences.
//   - memory.go has no upstream counterpart: it sets the Go soft memory
//     limit from the container's cgroup limit and bounds the garbage
//     collector's headroom, so that the heap stays inside the limit of
//     deploy/ (docs/performance.md, "GC settings").
//
// To add a flag of `serve`: a field in Options (with its flag name in the
// comment when it differs), the flag in internal/cli/serve.go's
// addServeFlags, a check in Validate if a value can be wrong, and its use
// in Run. A metric belongs to the package that counts it (webhook/metrics.go
// for admission, internal/controller for the audit, the certs package for
// certificate expiry), registered in controller-runtime's registry, which
// servers.go serves.
package serve
