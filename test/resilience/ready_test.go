package resilience

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/headless-guard/headless-guard/test/framework"
)

// TestReadyOnlyOnceTheCacheHasSynced starts a second guard whose API
// server answers its first list of Services (the informer's initial list,
// or a watch-list's initial events) only after listDelay, through a proxy
// in front of the real kube-apiserver, and polls its /readyz: a readiness
// that passed before that answer (a cold cache, whose verdicts would read
// every Service live and see no StatefulSets) fails the test. It also
// holds that the guard becomes ready once the answer is through.
func TestReadyOnlyOnceTheCacheHasSynced(t *testing.T) {
	const listDelay = 6 * time.Second
	c := guard(t)
	transport, err := rest.TransportFor(c.Config())
	if err != nil {
		t.Fatal(err)
	}
	apiserver, err := url.Parse(c.Config().Host)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var released time.Time // when the first list of Services went through
	proxy := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(apiserver) },
		Transport:     transport,
		FlushInterval: -1,
	}
	delayed := false
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path == "/api/v1/services" && (q.Get("watch") != "true" || q.Get("sendInitialEvents") == "true") {
			mu.Lock()
			first := !delayed
			delayed = true
			mu.Unlock()
			if first {
				time.Sleep(listDelay)
				mu.Lock()
				released = time.Now()
				mu.Unlock()
			}
		}
		proxy.ServeHTTP(w, r)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters: [{name: proxy, cluster: {server: "http://%s"}}]
users: [{name: admin, user: {}}]
contexts: [{name: proxy, context: {cluster: proxy, user: admin}}]
current-context: proxy
`, ln.Addr()), 0o600); err != nil {
		t.Fatal(err)
	}
	health, webhook := freePort(t), freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Its reconcilers stay off: the shared cluster's guard runs its own.
	cmd := exec.CommandContext(ctx, framework.Binary, "serve", "--kubeconfig", kubeconfig,
		"--webhook-cert-path", c.WebhookCertDir(), "--webhook-host", "127.0.0.1", "--webhook-port", strconv.Itoa(webhook),
		"--health-probe-bind-address", "127.0.0.1:"+strconv.Itoa(health), "--audit=false")
	logPath := filepath.Join(dir, "guard.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	hc := &http.Client{Timeout: time.Second}
	readyz := fmt.Sprintf("http://127.0.0.1:%d/readyz", health)
	answered := false // /readyz answered at all before the list was through
	healthyWhileHeld := false
	for time.Since(start) < listDelay+60*time.Second {
		resp, err := hc.Get(readyz)
		if err == nil {
			resp.Body.Close()
			mu.Lock()
			rel := released
			mu.Unlock()
			if rel.IsZero() {
				answered = true
				if !healthyWhileHeld {
					if h, err := hc.Get(strings.TrimSuffix(readyz, "/readyz") + "/healthz"); err == nil {
						h.Body.Close()
						healthyWhileHeld = h.StatusCode == http.StatusOK
					}
				}
			}
			if resp.StatusCode == http.StatusOK {
				if rel.IsZero() {
					t.Fatalf("/readyz passed %s after the start, before the API server answered the informer's list of Services (held %s)\n%s",
						time.Since(start).Round(time.Millisecond), listDelay, readLog(logPath))
				}
				// While the list is held the probe server must answer:
				// /readyz with a failure, /healthz with 200. (It was one of
				// the manager's runnables, started once the caches had
				// synced: both refused connections, a kubelet's liveness
				// probe counted failures and restarted a pod that was only
				// listing a big cluster.)
				if !answered {
					t.Errorf("/readyz refused connections while the list of Services was held: the probe server waits for the caches\n%s", readLog(logPath))
				}
				if !healthyWhileHeld {
					t.Errorf("/healthz did not answer 200 while the list of Services was held: a liveness probe would restart a syncing pod")
				}
				t.Logf("ready %s after the start, %s after the list of Services went through (held %s); /readyz answered while it was held: %v",
					time.Since(start).Round(time.Millisecond), time.Since(rel).Round(time.Millisecond), listDelay, answered)
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("/readyz did not pass within %s of the list going through\n%s", 60*time.Second, readLog(logPath))
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func readLog(path string) string {
	data, _ := os.ReadFile(path)
	return string(data)
}
