package resilience

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/headless-guard/headless-guard/test/framework"
)

// TestGracefulShutdownUnderLoad sends SIGTERM while admission requests flow
// straight to the webhook over TLS with keep-alive, as the API server does:
// readiness must fail first while requests are still answered, and no
// request fails. The clients stop 500ms after readiness fails, as the API
// server does once the endpoints drop the pod; --shutdown-delay covers that.
func TestGracefulShutdownUnderLoad(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, "--shutdown-delay=2s")
	g := c.Guard()

	client := newReviewer(t, c, fmt.Sprintf("127.0.0.1:%d", c.WebhookPort())).hc
	url := fmt.Sprintf("https://127.0.0.1:%d/validate/statefulsets", c.WebhookPort())
	body := review(t, "default", admissionv1.Create, stsKind, framework.StatefulSetYAML("web", "", ""), "")

	var answered, answeredNotReady, failed, refused atomic.Int64
	var firstRefused, notReady atomic.Int64 // unix nanos
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if nr := notReady.Load(); nr != 0 && time.Since(time.Unix(0, nr)) > 500*time.Millisecond {
					return // the endpoints have dropped the pod
				}
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					if strings.Contains(err.Error(), "connection refused") {
						refused.Add(1)
						firstRefused.CompareAndSwap(0, time.Now().UnixNano())
						return
					}
					failed.Add(1)
					t.Logf("request failed: %v", err)
					continue
				}
				var review admissionv1.AdmissionReview
				err = json.NewDecoder(resp.Body).Decode(&review)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || review.Response == nil || !review.Response.Allowed {
					failed.Add(1)
					t.Logf("bad answer: HTTP %d %v %+v", resp.StatusCode, err, review.Response)
					continue
				}
				answered.Add(1)
				if notReady.Load() != 0 {
					answeredNotReady.Add(1)
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	sigterm := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- g.Stop() }()
	// Readiness drops at once.
	for time.Since(sigterm) < 2*time.Second && notReady.Load() == 0 {
		resp, err := http.Get(g.HealthURL() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusInternalServerError {
				notReady.Store(time.Now().UnixNano())
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := <-stopped; err != nil {
		t.Errorf("headless-guard did not exit cleanly: %v\n%s", err, g.Logs())
	}
	close(stop)
	wg.Wait()

	t.Logf("answered %d (%d while not ready), failed %d, refused %d; not ready %v after SIGTERM",
		answered.Load(), answeredNotReady.Load(), failed.Load(), refused.Load(), time.Duration(notReady.Load()-sigterm.UnixNano()))
	if notReady.Load() == 0 || notReady.Load()-sigterm.UnixNano() > int64(time.Second) {
		t.Errorf("readiness must fail within a second of SIGTERM")
	}
	if firstRefused.Load() != 0 && firstRefused.Load() < notReady.Load() {
		t.Errorf("the listener closed before readiness failed")
	}
	if answered.Load() < 100 {
		t.Errorf("only %d requests answered: the load proves nothing", answered.Load())
	}
	if answeredNotReady.Load() == 0 {
		t.Errorf("no request was answered between readiness failing and the clients stopping")
	}
	if failed.Load()+refused.Load() != 0 {
		t.Errorf("%d requests failed and %d were refused during shutdown", failed.Load(), refused.Load())
	}
}
