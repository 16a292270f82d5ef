package webhook

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/headless-guard/headless-guard/rules"
)

func TestOversizedBodyIsRefused(t *testing.T) {
	srv, _ := newServer(t, rules.FixOptions{}, headless())
	body := review(t, admissionv1.Create, stsGVK, sts("nginx-headless"), nil, false)
	// Pad the object with a huge annotation, past the 7 MiB cap.
	big := bytes.Replace(body, []byte(`"name":"web"`), []byte(`"name":"web","annotations":{"pad":"`+strings.Repeat("x", maxReviewBytes)+`"}`), 1)
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
	srv, c := newServer(t, rules.FixOptions{InjectService: true, FixLabels: true}, headless())
	srv.Close()
	cfg := &Config{Lookup: &CacheLookup{Cache: c}, Namespaces: &Namespaces{Cache: c}, Writer: c, Metrics: NewMetrics()}
	fuzzHandlerCache = map[string]http.Handler{}
	for path, h := range map[string]admission.Handler{
		PathValidateStatefulSets: &Validator{Config: cfg, Name: "statefulsets", Kinds: []string{rules.KindStatefulSet}},
		PathValidateServices:     &Validator{Config: cfg, Name: "services", Kinds: []string{rules.KindService}},
		PathValidateWorkloads:    &Validator{Config: cfg, Name: "workloads", Kinds: rules.PodTemplateOwnerKinds},
		PathMutateStatefulSets:   &Mutator{Config: cfg, Name: "mutate-statefulsets", Kinds: []string{rules.KindStatefulSet}},
		PathMutateServices:       &Mutator{Config: cfg, Name: "mutate-services", Kinds: []string{rules.KindService}},
	} {
		fuzzHandlerCache[path] = serveReviews(h, false)
	}
	return fuzzHandlerCache
}
