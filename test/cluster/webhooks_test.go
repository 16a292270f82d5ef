package cluster

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// statusRecorder keeps the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// TestWebhooksAreCalledWithoutRedirect serves every registered webhook path
// on the cluster's webhook port with an exact-path mux, as the guard's
// server does, creates, updates and deletes an object of every kind the
// webhooks intercept, and fails on any call the server answered with
// anything but 200 (a redirect would make the API server send the review
// twice) and on any path that was never called.
func TestWebhooksAreCalledWithoutRedirect(t *testing.T) {
	c := Setup(t, Options{})
	ctx := t.Context()

	mutating, validating, err := readWebhooks([]string{filepath.Join(c.Root(), "deploy", "base", "webhooks.yaml")}, "127.0.0.1", c.WebhookPort())
	if err != nil {
		t.Fatal(err)
	}
	var urls []*string
	for _, m := range mutating {
		for _, w := range m.Webhooks {
			urls = append(urls, w.ClientConfig.URL)
		}
	}
	for _, v := range validating {
		for _, w := range v.Webhooks {
			urls = append(urls, w.ClientConfig.URL)
		}
	}
	var want []string
	for _, raw := range urls {
		u, err := url.Parse(*raw)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, u.Path)
	}
	// Two webhooks may share a path (Service CREATE/UPDATE and DELETE).
	slices.Sort(want)
	want = slices.Compact(want)
	mux := http.NewServeMux()
	allow := &admission.Webhook{Handler: admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Allowed("")
	})}
	for _, p := range want {
		mux.Handle(p, allow)
	}
	type call struct {
		uri    string
		status int
	}
	var mu sync.Mutex
	var calls []call
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			mux.ServeHTTP(rec, r)
			mu.Lock()
			calls = append(calls, call{r.RequestURI, rec.status})
			mu.Unlock()
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.WebhookPort())))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		err := srv.ServeTLS(ln, filepath.Join(c.WebhookCertDir(), "tls.crt"), filepath.Join(c.WebhookCertDir(), "tls.key"))
		if !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serving the webhooks: %v", err)
		}
	}()
	t.Cleanup(func() { _ = srv.Close() })

	labels := map[string]string{"app": "web"}
	// The match conditions of deploy/ send a workload only when it asks
	// for a subdomain, and a Service to the mutating webhook only when a
	// port has no name.
	template := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Subdomain: "web", Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: labels, Ports: []corev1.ServicePort{{Port: 80}}},
	}
	objects := []client.Object{
		svc,
		&appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
			Spec:       appsv1.StatefulSetSpec{ServiceName: "web", Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: template},
		},
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
			Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: template},
		},
	}
	for _, o := range objects {
		if err := c.Client().Create(ctx, o); err != nil {
			t.Fatalf("creating %T: %v", o, err)
		}
	}
	// A Service update and delete reach the validating Service webhook too.
	svc.Labels = map[string]string{"changed": "true"}
	if err := c.Client().Update(ctx, svc); err != nil {
		t.Fatal(err)
	}
	if err := c.Client().Delete(ctx, svc); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	seen := map[string]bool{}
	for _, cl := range calls {
		if cl.status != http.StatusOK {
			t.Errorf("the API server called %s and the server answered %d, want 200 at the first call", cl.uri, cl.status)
		}
		p, _, _ := strings.Cut(cl.uri, "?")
		seen[p] = true
	}
	for _, p := range want {
		if !seen[p] {
			t.Errorf("no call of %s (calls: %v)", p, calls)
		}
	}
}
