// Package admissionhttp is the HTTP layer of the admission webhook: it
// turns HTTPS requests into admission.Requests for an admission.Handler
// (package webhook's Validator and Mutator) and their answers back into
// AdmissionReviews. It knows nothing of the rules. Each file replaces one
// piece of controller-runtime, which headless-guard otherwise uses as is
// (its manager, cache, admission.Request/Response and healthz), and says
// why:
//
//   - review.go (Handler) replaces admission.Webhook, the http.Handler of
//     pkg/webhook/admission/http.go. Upstream decodes each review three
//     times (a json.Unmarshal to sniff the version, the universal
//     deserializer, a copy of the objects out of the body), reads the body
//     with io.ReadAll into a fresh buffer and builds a logger per request;
//     here the review is decoded once, the objects stay raw JSON in a
//     pooled body until the handler decodes as far as the rules read, and
//     the parts nothing reads (userInfo, resources) are stepped over. It
//     serves AdmissionReview v1 only and refuses v1beta1 with a message
//     (upstream coerces it), charges the body to the BodyBudget, bounds the
//     handler by the API server's own timeout, sets "Connection: close"
//     while draining, and reports every refusal by reason (Refused*) so
//     that package webhook counts it.
//   - budget.go (BodyBudget) has no upstream counterpart: upstream holds
//     up to 7 MiB per request with no bound on requests at once, so a
//     flood of large reviews could grow the heap past the container's
//     limit. The budget bounds the review bytes held at once, in a small
//     lane every ordinary review fits in and a large lane the huge ones
//     queue for.
//   - server.go (Server) replaces the webhook server (DefaultServer of
//     pkg/webhook/server.go) and implements its interface, so the manager
//     runs it. The port is reachable from any pod, and upstream has no
//     connection limit, header limit or read timeout, nor a way to set
//     them: Server serves within internal/netlimit's limits (Limits),
//     optionally requires a client certificate from the API server
//     (ClientCAFile, re-read on change), and its StartedChecker dials TCP
//     instead of completing a TLS handshake a client-certificate server
//     would refuse.
//
// The health and metrics servers, the metrics authentication filter and the
// memory tuning that replace other upstream pieces belong to `serve` and
// live in internal/serve.
package admissionhttp
