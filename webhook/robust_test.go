package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/internal/admissionhttp"
	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/test/load/reviews"
)

func TestOversizedBodyIsRefused(t *testing.T) {
	srv, _ := newServer(t, rules.FixOptions{}, headless())
	body := review(t, admissionv1.Create, stsGVK, sts("nginx-headless"), nil, false)
	// Pad the object with a huge annotation, past the 7 MiB cap.
	big := bytes.Replace(body, []byte(`"name":"web"`), []byte(`"name":"web","annotations":{"pad":"`+strings.Repeat("x", admissionhttp.MaxReviewBytes)+`"}`), 1)
	code, resp := post(t, srv, PathValidateStatefulSets, "application/json", big)
	if code == http.StatusOK && (resp == nil || resp.Allowed) {
		t.Fatalf("an oversized review must be refused, got HTTP %d %+v", code, resp)
	}
	// The server is still there.
	if _, resp := post(t, srv, PathValidateStatefulSets, "application/json", body); resp == nil || !resp.Allowed {
		t.Fatalf("server after an oversized body: %+v", resp)
	}
}

// A valid StatefulSet with 1,000 containers of 20 env entries each gets its
// verdict quickly.
func TestHugeValidStatefulSet(t *testing.T) {
	srv, _ := newServer(t, rules.FixOptions{}, headless())
	s := sts("nginx-headless")
	c := s.Spec.Template.Spec.Containers[0]
	s.Spec.Template.Spec.Containers = nil
	for i := 0; i < 1000; i++ {
		ci := *c.DeepCopy()
		ci.Name = fmt.Sprintf("c%d", i)
		if i > 0 {
			ci.Ports = []corev1.ContainerPort{{Name: fmt.Sprintf("p%d", i), ContainerPort: int32(1000 + i)}}
		}
		for j := 0; j < 20; j++ {
			ci.Env = append(ci.Env, corev1.EnvVar{Name: fmt.Sprintf("E%d", j), Value: strings.Repeat("v", 50)})
		}
		s.Spec.Template.Spec.Containers = append(s.Spec.Template.Spec.Containers, ci)
	}
	body := review(t, admissionv1.Create, stsGVK, s, nil, false)
	start := time.Now()
	_, resp := post(t, srv, PathValidateStatefulSets, "application/json", body)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("verdict took %v for a %d-byte review", d, len(body))
	}
	if resp == nil || !resp.Allowed || len(resp.Warnings) != 0 {
		t.Errorf("want a clean allow, got %+v", resp)
	}
}

// FuzzAdmissionReview posts arbitrary bodies, seeded with recorded reviews,
// through the HTTP handlers: never a panic (the handler would answer 500),
// always a well-formed answer.
func FuzzAdmissionReview(f *testing.F) {
	t := &testing.T{}
	seeds := [][]byte{
		review(t, admissionv1.Create, stsGVK, sts("nginx"), nil, false),
		review(t, admissionv1.Update, stsGVK, sts("nginx-headless"), sts("nginx-headless"), true),
		review(t, admissionv1.Delete, stsGVK, nil, sts("x"), false),
		[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","kind":{"version":"v1","kind":"Service"},"operation":"DELETE","oldObject":{"apiVersion":"v1","kind":"Service","metadata":{"name":"nginx-headless","namespace":"default"},"spec":{"clusterIP":"None","selector":{"app":"nginx"}}}}}`),
	}
	// And what a real kube-apiserver sent (test/load/reviews).
	recorded, err := reviews.All()
	if err != nil {
		f.Fatal(err)
	}
	for _, r := range recorded {
		seeds = append(seeds, r.Body)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		handlers := fuzzHandlers(t)
		for path, h := range handlers {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			h.ServeHTTP(rec, req)
			if rec.Code == http.StatusInternalServerError {
				t.Fatalf("%s: HTTP 500 for %q", path, body)
			}
			if rec.Code == http.StatusOK && !bytes.Contains(rec.Body.Bytes(), []byte(`"response"`)) {
				t.Fatalf("%s: HTTP 200 without a response: %s", path, rec.Body.Bytes())
			}
		}
	})
}

var fuzzHandlerCache map[string]http.Handler

// fuzzHandlers builds the handlers once, with panics not recovered, so that
// a panic fails the fuzz run instead of hiding as an error response.
func fuzzHandlers(t *testing.T) map[string]http.Handler {
	if fuzzHandlerCache != nil {
		return fuzzHandlerCache
	}
	srv, cfg := newServer(t, rules.FixOptions{InjectService: true, FixLabels: true}, headless())
	srv.Close()
	fuzzHandlerCache = map[string]http.Handler{}
	for _, wh := range Webhooks(cfg) {
		fuzzHandlerCache[wh.Path] = serveReviews(wh.Handler, false, admissionhttp.NewBodyBudget(admissionhttp.DefaultBodyBudget))
	}
	return fuzzHandlerCache
}

// hangingReader is an API server that accepts the connection and never
// answers: each read blocks until its context ends.
type hangingReader struct{ client.Reader }

func (hangingReader) Get(ctx context.Context, _ client.ObjectKey, _ client.Object, _ ...client.GetOption) error {
	<-ctx.Done()
	return ctx.Err()
}

// A cache miss reads the Service live; when the API server does not answer,
// the verdict (admitted unchecked, with a warning) must come before the API
// server's own timeout, which it passes as the "timeout" parameter.
func TestLiveReadIsBoundedByTheRequestTimeout(t *testing.T) {
	srv, cfg := newServer(t, rules.FixOptions{})
	hanging := *cacheLookupOf(cfg)
	hanging.Live = hangingReader{}
	h := serveReviews(&Validator{Config: &Config{
		Lookup:     &hanging,
		Namespaces: cfg.Namespaces,
		Metrics:    NewMetrics(),
	}, Name: "statefulsets", Kinds: []string{rules.KindStatefulSet}, Operations: []admissionv1.Operation{admissionv1.Create}}, true, nil)
	mux := http.NewServeMux()
	mux.Handle(PathValidateStatefulSets, h)
	srv.Config.Handler = mux
	body := review(t, admissionv1.Create, stsGVK, sts("missing"), nil, false)
	for _, tc := range []struct {
		query string
		want  time.Duration
	}{
		{"?timeout=2s", 1500 * time.Millisecond},
		{"?timeout=1s", 750 * time.Millisecond},
	} {
		start := time.Now()
		hc := &http.Client{Timeout: 5 * time.Second} // a hang fails the test, not the run
		resp, err := hc.Post(srv.URL+PathValidateStatefulSets+tc.query, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var out admissionv1.AdmissionReview
		_ = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		took := time.Since(start)
		if took < tc.want-100*time.Millisecond || took > tc.want+time.Second {
			t.Errorf("%q: answered after %v, want about %v", tc.query, took, tc.want)
		}
		if r := out.Response; r == nil || !r.Allowed || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "admitted unchecked") {
			t.Errorf("%q: response %+v, want allowed with an 'admitted unchecked' warning", tc.query, r)
		}
	}
}

// Bad and huge input, over and over, leaves nothing behind: the live heap
// after a garbage collection is back where it started (oversized bodies
// are cut at the cap, and buffers over 1 MiB are not pooled).
func TestBadInputKeepsMemoryBounded(t *testing.T) {
	srv, _ := newServer(t, rules.FixOptions{}, headless())
	good := review(t, admissionv1.Create, stsGVK, sts("nginx-headless"), nil, false)
	oversized := bytes.Replace(good, []byte(`"name":"web"`), []byte(`"name":"web","annotations":{"pad":"`+strings.Repeat("x", admissionhttp.MaxReviewBytes)+`"}`), 1)
	huge := sts("nginx-headless")
	for i := range 1000 {
		huge.Spec.Template.Spec.Containers = append(huge.Spec.Template.Spec.Containers, corev1.Container{
			Name: fmt.Sprintf("c%d", i), Env: []corev1.EnvVar{{Name: "E", Value: strings.Repeat("v", 1000)}}})
	}
	inputs := [][]byte{
		oversized,
		review(t, admissionv1.Create, stsGVK, huge, nil, false),
		[]byte(`{"request":`),
		bytes.Replace(good, []byte("admission.k8s.io/v1"), []byte("admission.k8s.io/v1beta1"), 1),
		bytes.Repeat([]byte("["), 1<<20), // deep nesting
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	for _, in := range inputs { // warm the pools
		post(t, srv, PathValidateStatefulSets, "application/json", in)
	}
	before := heap()
	for range 20 {
		for _, in := range inputs {
			post(t, srv, PathValidateStatefulSets, "application/json", in)
		}
	}
	after := heap()
	t.Logf("live heap %.1f MiB before, %.1f MiB after 100 bad or huge reviews (%.1f MiB of input)",
		float64(before)/(1<<20), float64(after)/(1<<20), float64(20*(len(oversized)+len(inputs[1])+(1<<20)))/(1<<20))
	if after > before+8<<20 {
		t.Errorf("live heap grew from %d to %d bytes", before, after)
	}
	if _, resp := post(t, srv, PathValidateStatefulSets, "application/json", good); resp == nil || !resp.Allowed {
		t.Fatalf("server after the bad input: %+v", resp)
	}
}

// The HTTP layer's refusals are counted in
// headless_guard_admission_refused_total under the path's webhook name and
// the reason, as the trust checks' are.
func TestHTTPRefusalsAreCounted(t *testing.T) {
	srv, cfg := newServer(t, rules.FixOptions{}, headless())
	good := review(t, admissionv1.Create, stsGVK, sts("nginx-headless"), nil, false)
	for _, tc := range []struct {
		path, contentType string
		body              []byte
		webhook, reason   string
	}{
		{PathValidateStatefulSets, "text/plain", good, "statefulsets", RefusedContentType},
		{PathMutateServices, "application/json", bytes.Replace(good, []byte("admission.k8s.io/v1"), []byte("admission.k8s.io/v1beta1"), 1), "mutate-services", RefusedVersion},
		{PathValidateWorkloads, "application/json", []byte(`{"request":`), "workloads", RefusedMalformed},
		{PathValidateServices, "application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), "services", RefusedMalformed},
	} {
		counter := cfg.Metrics.Refused.WithLabelValues(tc.webhook, tc.reason)
		before := testutil.ToFloat64(counter)
		if _, resp := post(t, srv, tc.path, tc.contentType, tc.body); resp == nil || resp.Allowed {
			t.Errorf("%s %s: want refused, got %+v", tc.path, tc.reason, resp)
		}
		if got := testutil.ToFloat64(counter) - before; got != 1 {
			t.Errorf("%s: refused{webhook=%q,reason=%q} grew by %v, want 1", tc.path, tc.webhook, tc.reason, got)
		}
	}
}
