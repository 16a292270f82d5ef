package resilience

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/headless-guard/headless-guard/test/framework"
)

// TestMetricsVerifiedAndAudienceBound: the metrics server presents the
// webhook's serving certificate, so a scraper verifies it against the CA
// (the chart's ServiceMonitor does, instead of skipping verification and
// sending its token to whoever answers); and with
// --metrics-token-audiences only a token issued for that audience is
// accepted, so the token a scraper sends is of no use against the API
// server. A token for the API server's own audience is refused.
func TestMetricsVerifiedAndAudienceBound(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	const audience = "headless-guard-metrics"
	c := guard(t, "--metrics-secure=true", "--metrics-token-audiences="+audience)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs := kubernetes.NewForConfigOrDie(c.Config())
	ns := framework.Namespace(t, c, "metrics-audience", nil)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "scraper", Namespace: ns}}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	token := func(audiences ...string) string {
		tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "scraper", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: audiences}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	grantMetricsReader(ctx, t, cs, ns, "scraper")

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.WebhookCA())
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}}}
	url := strings.Replace(c.Guard().MetricsURL(), "http://", "https://", 1)
	get := func(token string) int {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s, verifying the server against the webhook's CA: %v", url, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(token()); code != http.StatusUnauthorized {
		t.Errorf("a token for the API server's audience: HTTP %d, want 401", code)
	}
	bound := token(audience)
	deadline := time.Now().Add(20 * time.Second)
	for code := get(bound); code != http.StatusOK; code = get(bound) {
		if time.Now().After(deadline) {
			t.Fatalf("a token for %s of a ServiceAccount allowed get /metrics: HTTP %d, want 200", audience, code)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
