package admissionhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// MaxReviewBytes is the largest review body served: controller-runtime's
// own cap on admission bodies.
const MaxReviewBytes = 7 * 1024 * 1024

// Reasons a review is refused before its handler sees it: the HTTP request
// could not carry a review the API server sends. They are values of the
// "reason" label of headless_guard_admission_refused_total, next to the
// reasons webhook's trust checks give (webhook.Refused*).
const (
	// RefusedBusy is a body that could not be charged to the BodyBudget
	// within its wait (HTTP 429).
	RefusedBusy = "busy"
	// RefusedTooLarge is a body over MaxReviewBytes.
	RefusedTooLarge = "too-large"
	// RefusedBody is an empty body or one that failed to arrive.
	RefusedBody = "body"
	// RefusedContentType is a Content-Type other than application/json.
	RefusedContentType = "content-type"
	// RefusedVersion is an AdmissionReview of a version other than v1.
	RefusedVersion = "version"
	// RefusedMalformed is a body that is no AdmissionReview with a request.
	RefusedMalformed = "malformed"
)

// Options configure the handler of one webhook path.
type Options struct {
	// RecoverPanic turns a panic of the admission.Handler into an error
	// response (HTTP 200, code 500), as admission.Webhook.WithRecoverPanic
	// does; without, it propagates (the fuzz test wants to see it).
	RecoverPanic bool
	// Budget bounds the bodies of all paths held at once; nil: unbounded.
	Budget *BodyBudget
	// Refused is called with a Refused* reason for each review refused
	// before the handler saw it; nil: not counted.
	Refused func(reason string)
	// Draining reports a graceful shutdown in progress: responses then
	// carry "Connection: close" (see Handler). Nil: never.
	Draining func() bool
}

// reviewHandler is the HTTP side of one webhook path: it reads the
// AdmissionReview, calls an admission.Handler and writes the response
// review, as controller-runtime's admission.Webhook does, but decodes the
// review once instead of three times (controller-runtime sniffs the type
// with one full json.Unmarshal, decodes with another, and copies the
// objects out of the body), reads and writes through pooled buffers, and
// builds no per-request logger. The objects stay raw JSON pointing into
// the pooled body; the handler decodes them only as far as it reads. The
// handler must not keep req.Object.Raw or req.OldObject.Raw after it
// returns.
//
// Only AdmissionReview admission.k8s.io/v1 is served, and another version
// is refused with a clear message: the configurations declare
// admissionReviewVersions [v1], so another version means a misconfigured
// caller (controller-runtime would quietly coerce v1beta1 to v1).
type reviewHandler struct {
	handler admission.Handler
	opts    Options
}

// Handler returns the http.Handler of one webhook path, serving h. It is
// what admission.Webhook is to controller-runtime's webhook server.
//
// With opts.Draining, responses set "Connection: close" once draining has
// begun: each client then opens a fresh connection for its next request,
// and by the time the listener closes no idle connection is left to race a
// request (a POST on a connection the server is closing fails with EOF and
// is not retried).
func Handler(h admission.Handler, opts Options) http.Handler {
	rh := &reviewHandler{handler: h, opts: opts}
	if opts.Draining == nil {
		return rh
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if opts.Draining() {
			w.Header().Set("Connection", "close")
		}
		rh.ServeHTTP(w, r)
	})
}

// reviewIn is an AdmissionReview whose objects are kept as raw JSON without
// copying them out of the body.
type reviewIn struct {
	APIVersion string     `json:"apiVersion"`
	Request    *requestIn `json:"request"`
}

type requestIn struct {
	admissionv1.AdmissionRequest
	// These shadow the embedded RawExtensions, whose decoding copies.
	Object    rawJSON `json:"object"`
	OldObject rawJSON `json:"oldObject"`
	Options   rawJSON `json:"options"`
	// Nothing in headless-guard reads these (the rules see the object,
	// the route the kind and operation): the decoder steps over them
	// instead of allocating the user's groups and extra map, about a
	// fifth of the allocations of a minimal review.
	Resource           skipJSON `json:"resource"`
	RequestKind        skipJSON `json:"requestKind"`
	RequestResource    skipJSON `json:"requestResource"`
	RequestSubResource skipJSON `json:"requestSubResource"`
	UserInfo           skipJSON `json:"userInfo"`
}

// rawJSON is a JSON value left undecoded, aliasing the decoder's input.
type rawJSON []byte

// UnmarshalJSON keeps data without copying it: the body buffer it points
// into outlives the request.
func (r *rawJSON) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*r = nil
		return nil
	}
	*r = data
	return nil
}

// defaultRequestTimeout is the API server's default webhook timeout
// (timeoutSeconds: 10), assumed when a request does not say.
const defaultRequestTimeout = 10 * time.Second

// answerWithin is how long the handler may take: the API server passes the
// webhook's remaining timeoutSeconds as the "timeout" query parameter and
// gives up after it, failing the write under failurePolicy: Fail. The
// handler gets three quarters of it, so that a live read stuck on an
// unreachable API server ends in the documented verdict (admitted
// unchecked, with a warning) while the API server still listens.
func answerWithin(r *http.Request) time.Duration {
	d, err := time.ParseDuration(r.URL.Query().Get("timeout"))
	if err != nil || d <= 0 || d > time.Minute {
		d = defaultRequestTimeout
	}
	return d * 3 / 4
}

// buffers hold request bodies and encoded responses between requests.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer keeps one huge review from pinning its buffer forever.
const maxPooledBuffer = 1 << 20

func (rh *reviewHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	buf := buffers.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledBuffer {
			buffers.Put(buf)
		}
	}()
	if r.Body == nil || r.Body == http.NoBody {
		rh.refuse(w, buf, RefusedBody, http.StatusOK, errored(http.StatusBadRequest, "request body is empty"))
		return
	}
	defer r.Body.Close()
	if r.ContentLength > MaxReviewBytes {
		// Refused before a byte of it is read.
		rh.refuse(w, buf, RefusedTooLarge, http.StatusOK, errored(http.StatusRequestEntityTooLarge, fmt.Sprintf("request entity is too large; limit is %d bytes", MaxReviewBytes)))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), answerWithin(r))
	defer cancel()
	// The body, and what decoding makes of it, is held only within the
	// budget: a flood of huge reviews waits here instead of growing the
	// heap past the container's limit.
	held, err := rh.opts.Budget.readBody(ctx, r.Body, buf, r.ContentLength, MaxReviewBytes)
	defer held.release()
	switch {
	case errors.Is(err, errBusy):
		rh.refuse(w, buf, RefusedBusy, http.StatusTooManyRequests, errored(http.StatusTooManyRequests, "too many review bytes in flight; try again"))
		return
	case err != nil:
		rh.refuse(w, buf, RefusedBody, http.StatusOK, errored(http.StatusBadRequest, "reading the request body: "+Cut(err.Error())))
		return
	case buf.Len() > MaxReviewBytes:
		rh.refuse(w, buf, RefusedTooLarge, http.StatusOK, errored(http.StatusRequestEntityTooLarge, fmt.Sprintf("request entity is too large; limit is %d bytes", MaxReviewBytes)))
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		rh.refuse(w, buf, RefusedContentType, http.StatusOK, errored(http.StatusBadRequest, fmt.Sprintf("contentType=%s, expected application/json", Cut(ct))))
		return
	}
	var in reviewIn
	if err := json.Unmarshal(buf.Bytes(), &in); err != nil {
		rh.refuse(w, buf, RefusedMalformed, http.StatusOK, errored(http.StatusBadRequest, "decoding the AdmissionReview: "+Cut(err.Error())))
		return
	}
	if v := in.APIVersion; v != "" && v != admissionv1.SchemeGroupVersion.String() {
		msg := fmt.Sprintf("AdmissionReview %s is not supported: headless-guard serves %s only (set admissionReviewVersions: [v1])", Cut(v), admissionv1.SchemeGroupVersion)
		rh.refuse(w, buf, RefusedVersion, http.StatusBadRequest, errored(http.StatusBadRequest, msg))
		return
	}
	if in.Request == nil {
		rh.refuse(w, buf, RefusedMalformed, http.StatusOK, errored(http.StatusBadRequest, "the AdmissionReview has no request"))
		return
	}
	req := admission.Request{AdmissionRequest: in.Request.AdmissionRequest}
	req.Object.Raw, req.OldObject.Raw, req.Options.Raw = in.Request.Object, in.Request.OldObject, in.Request.Options
	resp := rh.handle(ctx, req)
	// The response holds no reference into the body: buf can take it.
	buf.Reset()
	writeReview(w, buf, http.StatusOK, &resp.AdmissionResponse)
}

// refuse answers a review refused before its handler saw it, and reports
// it under reason (a Refused* constant).
func (rh *reviewHandler) refuse(w http.ResponseWriter, buf *bytes.Buffer, reason string, status int, resp *admissionv1.AdmissionResponse) {
	if rh.opts.Refused != nil {
		rh.opts.Refused(reason)
	}
	writeReview(w, buf, status, resp)
}

// handle calls the handler and completes its response (UID, status code,
// the JSON patch), as admission.Webhook.Handle does.
func (rh *reviewHandler) handle(ctx context.Context, req admission.Request) (resp admission.Response) {
	if rh.opts.RecoverPanic {
		defer func() {
			if p := recover(); p != nil {
				logf.Log.WithName("admission").Error(fmt.Errorf("panic: %v", p), "handler panicked; answering with an error",
					"namespace", req.Namespace, "name", req.Name, "stack", string(debug.Stack()))
				resp = admission.Errored(http.StatusInternalServerError, fmt.Errorf("panic: %v [recovered]", p))
				resp.UID = req.UID
			}
		}()
	}
	resp = rh.handler.Handle(ctx, req)
	if err := resp.Complete(req); err != nil {
		resp = admission.Errored(http.StatusInternalServerError, fmt.Errorf("encoding the response: %w", err))
		resp.UID = req.UID
	}
	return resp
}

func errored(code int32, msg string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{Status: metav1.StatusFailure, Code: code, Message: msg}}
}

// writeReview writes resp as an AdmissionReview v1, encoded into buf.
func writeReview(w http.ResponseWriter, buf *bytes.Buffer, status int, resp *admissionv1.AdmissionResponse) {
	buf.Reset()
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"},
		Response: resp,
	}
	if err := json.NewEncoder(buf).Encode(&review); err != nil {
		http.Error(w, "encoding the AdmissionReview response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// skipJSON is a field nothing reads: the decoder steps over it.
type skipJSON struct{}

// UnmarshalJSON ignores the value.
func (*skipJSON) UnmarshalJSON([]byte) error { return nil }

// maxEchoed bounds what a response or a log line repeats of a request
// value: a 4 MiB `kind` must not come back 4 MiB long.
const maxEchoed = 64

// Cut is s, cut to maxEchoed bytes: the one helper every value a request
// chose goes through before a log line or a response repeats it.
func Cut(s string) string {
	if len(s) > maxEchoed {
		return fmt.Sprintf("%s... (%d bytes)", s[:maxEchoed], len(s))
	}
	return s
}

// Quote quotes s, cut as Cut does.
func Quote(s string) string {
	if len(s) > maxEchoed {
		return fmt.Sprintf("%q... (%d bytes)", s[:maxEchoed], len(s))
	}
	return fmt.Sprintf("%q", s)
}
