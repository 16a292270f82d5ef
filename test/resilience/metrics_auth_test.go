package resilience

import (
	"context"
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/headless-guard/headless-guard/test/framework"
)

// TestMetricsBehindAuthnAuthz runs the metrics endpoint as deployed
// (--metrics-secure, the default): HTTPS, and only for callers the API
// server authenticates and authorizes for GET /metrics.
func TestMetricsBehindAuthnAuthz(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, "--metrics-secure=true")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs := kubernetes.NewForConfigOrDie(c.Config())
	ns := framework.Namespace(t, c, "metrics-auth", nil)

	token := func(name string) string {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
		if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	reader, stranger := token("metrics-reader"), token("stranger")
	grantMetricsReader(ctx, t, cs, ns, "metrics-reader")

	url := strings.Replace(c.Guard().MetricsURL(), "http://", "https://", 1)
	// The serving certificate is self-signed by controller-runtime when no
	// metrics certificate is given; what matters here is who may read.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	get := func(token string) int {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(""); code != http.StatusUnauthorized {
		t.Errorf("no credentials: HTTP %d, want 401", code)
	}
	if code := get(stranger); code != http.StatusForbidden {
		t.Errorf("a ServiceAccount without get /metrics: HTTP %d, want 403", code)
	}
	// RBAC changes reach the authorizer within a moment.
	deadline := time.Now().Add(20 * time.Second)
	for code := get(reader); code != http.StatusOK; code = get(reader) {
		if time.Now().After(deadline) {
			t.Fatalf("a ServiceAccount allowed get /metrics: HTTP %d, want 200", code)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if resp, err := http.Get(c.Guard().MetricsURL()); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP metrics answered although --metrics-secure")
		}
	}
}

// grantMetricsReader lets the ServiceAccount ns/name GET /metrics, with a
// ClusterRole and a binding named after ns.
func grantMetricsReader(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ns + "-metrics-reader"},
		Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: ns + "-metrics-reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}}}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
