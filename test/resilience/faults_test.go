package resilience

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/headless-guard/headless-guard/test/cluster"
	"github.com/headless-guard/headless-guard/test/framework"
)

// tcpProxy is a loopback TCP proxy a test can cut: Down refuses new
// connections and resets the open ones (a peer that is gone), Hang accepts
// connections and never answers (a peer behind a dead route), Up forwards
// again on the same address. Each new connection goes to the first
// backend, in round-robin order, that accepts it.
type tcpProxy struct {
	addr     string
	backends func() []string

	mu     sync.Mutex
	l      net.Listener
	hang   bool
	closed bool
	next   int
	conns  map[net.Conn]struct{}
	// connections forwarded, by backend
	forwarded map[string]int
}

// served is the number of connections forwarded to backend.
func (p *tcpProxy) served(backend string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.forwarded[backend]
}

// newTCPProxy listens on addr.
func newTCPProxy(t *testing.T, addr string, backends func() []string) *tcpProxy {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{addr: l.Addr().String(), backends: backends, conns: map[net.Conn]struct{}{}, forwarded: map[string]int{}}
	p.serve(l)
	t.Cleanup(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.Down()
	})
	return p
}

func (p *tcpProxy) serve(l net.Listener) {
	p.l = l
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.handle(c)
		}
	}()
}

// track registers c to be cut by Down; false when the proxy is closed.
func (p *tcpProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *tcpProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *tcpProxy) handle(c net.Conn) {
	if !p.track(c) {
		return
	}
	defer p.untrack(c)
	p.mu.Lock()
	hang, backends, start := p.hang, p.backends(), p.next
	p.next++
	p.mu.Unlock()
	if hang {
		_, _ = io.Copy(io.Discard, c) // until the client gives up or Up cuts it
		return
	}
	var up net.Conn
	for i := range backends {
		b := backends[(start+i)%len(backends)]
		var err error
		if up, err = net.DialTimeout("tcp", b, time.Second); err == nil {
			p.mu.Lock()
			p.forwarded[b]++
			p.mu.Unlock()
			break
		}
	}
	if up == nil || !p.track(up) {
		return
	}
	defer p.untrack(up)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}

// cut closes the listener and every open connection; the caller holds mu.
func (p *tcpProxy) cut() {
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// Down refuses connections until Up.
func (p *tcpProxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut()
}

// Hang accepts connections and answers none until Up.
func (p *tcpProxy) Hang(t *testing.T) { p.listen(t, true) }

// Up forwards again, on the same address.
func (p *tcpProxy) Up(t *testing.T) { p.listen(t, false) }

func (p *tcpProxy) listen(t *testing.T, hang bool) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut()
	p.hang = hang
	var err error
	for range 50 { // the port may take a moment to be free again
		var l net.Listener
		if l, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(l)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("listening on %s again: %v", p.addr, err)
}

// proxiedKubeconfig is the cluster's admin kubeconfig with the API server
// reached through server (the proxy; the API server's certificate is for
// 127.0.0.1, which the proxy listens on too).
func proxiedKubeconfig(t *testing.T, c *cluster.Cluster, server string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(c.KubeconfigPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range cfg.Clusters {
		cl.Server = server
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// reviewer posts AdmissionReviews straight to a webhook server over TLS
// with keep-alive, as the API server does.
type reviewer struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newReviewer(t *testing.T, c *cluster.Cluster, addr string) *reviewer {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.WebhookCA())
	return &reviewer{t: t, base: "https://" + addr, hc: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 8,
	}}}
}

// review builds an AdmissionReview of obj (and old, for an UPDATE).
func review(t *testing.T, ns string, op admissionv1.Operation, kind metav1.GroupVersionKind, obj, old string) []byte {
	t.Helper()
	req := &admissionv1.AdmissionRequest{
		UID: types.UID(fmt.Sprintf("uid-%d", time.Now().UnixNano())), Kind: kind, Operation: op, Namespace: ns,
		Object: framework.RuntimeRaw(t, obj),
	}
	var m struct {
		Metadata struct{ Name string } `json:"metadata"`
	}
	_ = json.Unmarshal(req.Object.Raw, &m)
	req.Name = m.Metadata.Name
	if old != "" {
		req.OldObject = framework.RuntimeRaw(t, old)
	}
	body, _ := json.Marshal(admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Request: req})
	return body
}

var (
	stsKind = metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}
	svcKind = metav1.GroupVersionKind{Version: "v1", Kind: "Service"}
)

// post sends body to path (with query, e.g. "?timeout=2s") and returns the
// response and how long it took.
func (r *reviewer) post(path, query string, body []byte) (*admissionv1.AdmissionResponse, time.Duration) {
	r.t.Helper()
	start := time.Now()
	resp, err := r.hc.Post(r.base+path+query, "application/json", bytes.NewReader(body))
	if err != nil {
		r.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Response == nil {
		r.t.Fatalf("POST %s: HTTP %d, %v", path, resp.StatusCode, err)
	}
	return out.Response, time.Since(start)
}

func verdict(resp *admissionv1.AdmissionResponse) string {
	switch {
	case !resp.Allowed && resp.Result != nil:
		return "denied: " + resp.Result.Message
	case len(resp.Warnings) > 0:
		return "allowed with warnings: " + strings.Join(resp.Warnings, "; ")
	}
	return "allowed"
}

// TestAPIServerOutage cuts a guard off its API server, first refusing its
// connections, then accepting and never answering them, then restores it.
// Throughout, verdicts the cache can give stay right and fast; a verdict
// that needs a live read admits the object with a warning (never a denial,
// never a hang past the API server's timeout); readiness holds (every
// replica is cut off alike, and an unready webhook blocks writes under
// failurePolicy: Fail); and once the API server is back the cache catches
// up with what changed meanwhile.
func TestAPIServerOutage(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t) // the cluster's own guard admits the test's writes
	ns := framework.Namespace(t, c, "outage", nil)
	framework.MustKubectl(t, c, []byte(framework.ServiceYAML("web", "")+"---\n"+framework.StatefulSetYAML("web", "web", "")), "apply", "-n", ns, "-f", "-")

	apiserver, err := url.Parse(c.Config().Host)
	if err != nil {
		t.Fatal(err)
	}
	ports, err := cluster.FreePorts(1, false)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, fmt.Sprintf("127.0.0.1:%d", ports[0]), func() []string { return []string{apiserver.Host} })
	r := framework.StartReplica(t, c, "outage-guard",
		"--kubeconfig", proxiedKubeconfig(t, c, "https://"+proxy.addr),
		"--webhook-cert-path", c.WebhookCertDir(), "--audit=false")
	r.WaitReady(t)
	rv := newReviewer(t, c, r.WebhookAddr)

	known := review(t, ns, admissionv1.Create, stsKind, framework.StatefulSetYAML("web", "web", ""), "")
	unknown := review(t, ns, admissionv1.Create, stsKind, framework.StatefulSetYAML("web3", "nowhere", ""), "")
	// A selector change that leaves the governed pods out: HG011 denies it
	// when, and only when, the cache has the StatefulSet.
	reselect := func(svc string) []byte {
		return review(t, ns, admissionv1.Update, svcKind, strings.Replace(framework.ServiceYAML(svc, ""), "app: "+svc, "app: nobody", 1), framework.ServiceYAML(svc, ""))
	}
	// want is the verdict's start, and then a part of it.
	expect := func(phase string, body []byte, query, want string, within time.Duration) time.Duration {
		t.Helper()
		resp, took := rv.post(pathFor(body), query, body)
		prefix, part, _ := strings.Cut(want, "...")
		if got := verdict(resp); !strings.HasPrefix(got, prefix) || !strings.Contains(got, part) {
			t.Errorf("%s: verdict %q, want %q", phase, got, want)
		}
		if took > within {
			t.Errorf("%s: answered after %v, want within %v", phase, took, within)
		}
		return took
	}
	stillReady := func(phase string) {
		t.Helper()
		if code, body := framework.Readyz(r.Health); code != http.StatusOK {
			t.Errorf("%s: /readyz %d, want 200 (the cache still answers):\n%s", phase, code, body)
		}
	}

	// Connected: the baseline.
	expect("connected", known, "", "allowed", time.Second)
	expect("connected", unknown, "", "denied:...(HG002 service-exists)", time.Second)
	expect("connected", reselect("web"), "", "denied:...(HG011 referenced-service-update)", time.Second)

	// Gone: connections refused.
	proxy.Down()
	expect("refused", known, "", "allowed", time.Second)
	tookRefused := expect("refused", unknown, "", "allowed with warnings: headless-guard could not check this StatefulSet", 2*time.Second)
	expect("refused", reselect("web"), "", "denied:...(HG011 referenced-service-update)", time.Second)
	stillReady("refused")
	// Objects change meanwhile (the cluster's own guard admits them).
	framework.MustKubectl(t, c, []byte(framework.ServiceYAML("during", "")+"---\n"+framework.StatefulSetYAML("during", "during", "")), "apply", "-n", ns, "-f", "-")

	// Unreachable: connections accepted, never answered. The API server
	// says how long it waits; the verdict comes before that.
	proxy.Hang(t)
	expect("hanging", known, "?timeout=2s", "allowed", time.Second)
	tookHang := expect("hanging", unknown, "?timeout=2s", "allowed with warnings: headless-guard could not check this StatefulSet", 2*time.Second)
	if tookHang < time.Second {
		t.Errorf("hanging: answered after %v: the live read cannot have been tried", tookHang)
	}
	stillReady("hanging")

	// Back: the informers resume and catch up with the change made while
	// the guard was cut off.
	proxy.Up(t)
	start := time.Now()
	framework.Eventually(t, 60*time.Second, "the cache has the StatefulSet created during the outage", func() (bool, string) {
		resp, _ := rv.post(pathFor(reselect("during")), "", reselect("during"))
		return !resp.Allowed, verdict(resp)
	})
	caughtUp := time.Since(start)
	expect("back", unknown, "", "denied:...(HG002 service-exists)", time.Second)
	stillReady("back")
	t.Logf("refused: unknown Service answered in %v; hanging (timeout=2s): %v; cache caught up %v after the API server came back", tookRefused, tookHang, caughtUp)
}

// pathFor is the validating path of a review's kind.
func pathFor(body []byte) string {
	if bytes.Contains(body, []byte(`"kind":{"group":"apps","version":"v1","kind":"StatefulSet"}`)) {
		return "/validate/statefulsets"
	}
	return "/validate/services"
}

// TestReplicaTerminatedUnderLoad runs two replicas behind a load balancer
// that, like a Service's endpoints, sends new connections only to ready
// replicas, drives StatefulSet creates through the API server, and
// terminates one replica as the kubelet does (SIGTERM). No write may fail:
// the terminating replica drops readiness, keeps answering while the
// endpoints catch up, and closes its keep-alive connections, so the API
// server's next requests go to the other one.
func TestReplicaTerminatedUnderLoad(t *testing.T) {
	ports, err := cluster.FreePorts(1, false)
	if err != nil {
		t.Fatal(err)
	}
	port := ports[0]
	c := cluster.Setup(t, cluster.Options{WebhookPort: port})

	var mu sync.Mutex
	var ready []string // webhook addresses of ready replicas
	lb := newTCPProxy(t, fmt.Sprintf("127.0.0.1:%d", port), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), ready...)
	})
	args := []string{"--webhook-cert-path", c.WebhookCertDir(), "--shutdown-delay=2s", "--leader-elect", "--leader-election-namespace=default"}
	replicas := []*framework.Replica{framework.StartReplica(t, c, "replica-a", args...), framework.StartReplica(t, c, "replica-b", args...)}
	for _, r := range replicas {
		r.WaitReady(t)
	}
	// The endpoints: readiness probed every 100ms.
	probeDone := make(chan struct{})
	t.Cleanup(func() { close(probeDone) })
	go func() {
		for {
			var now []string
			for _, r := range replicas {
				if code, _ := framework.Readyz(r.Health); code == http.StatusOK {
					now = append(now, r.WebhookAddr)
				}
			}
			mu.Lock()
			ready = now
			mu.Unlock()
			select {
			case <-probeDone:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	framework.Eventually(t, 10*time.Second, "both replicas behind the load balancer", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(ready) == 2, strings.Join(ready, ",")
	})

	ns := framework.Namespace(t, c, "replicas", nil)
	framework.MustKubectl(t, c, []byte(framework.ServiceYAML("web", "")), "apply", "-n", ns, "-f", "-")
	framework.Eventually(t, 30*time.Second, "the webhooks answer through the load balancer", func() (bool, string) {
		_, stderr, err := framework.Kubectl(t, c, []byte(framework.StatefulSetYAML("web", "web", "")), "apply", "--dry-run=server", "-n", ns, "-f", "-")
		return err == nil, stderr
	})

	// Writers: server-side dry-run creates, admitted and denied (the
	// Service does not select the pods) in turn, so the webhooks do their
	// whole work and etcd does not grow.
	good := mustObject(t, framework.StatefulSetYAML("web", "web", ""))
	bad := mustObject(t, framework.StatefulSetYAML("other", "web", ""))
	var answered, denied, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	cl := c.Client()
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				obj := good.DeepCopy()
				if (i+w)%2 == 1 {
					obj = bad.DeepCopy()
				}
				obj.SetNamespace(ns)
				err := cl.Create(context.Background(), obj, client.DryRunAll)
				switch {
				case err == nil:
					answered.Add(1)
				case apierrors.IsInvalid(err) && strings.Contains(err.Error(), "(HG004 selector-matches-pods)"):
					denied.Add(1)
				default:
					failed.Add(1)
					t.Logf("write failed: %v", err)
				}
			}
		}()
	}
	time.Sleep(3 * time.Second)
	before := answered.Load() + denied.Load()
	terminated := time.Now()
	replicas[0].Stop() // SIGTERM; returns once it has exited
	exited := time.Since(terminated)
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()
	after := answered.Load() + denied.Load() - before

	t.Logf("writes: %d admitted, %d denied as expected, %d failed; replica-a exited %v after SIGTERM; %d writes answered after it",
		answered.Load(), denied.Load(), failed.Load(), exited, after)
	if failed.Load() != 0 {
		t.Errorf("%d writes failed while a replica was terminated", failed.Load())
	}
	if answered.Load() < 20 || denied.Load() < 20 || after < 20 {
		t.Errorf("too few writes to prove anything")
	}
	for _, r := range replicas {
		if n := lb.served(r.WebhookAddr); n == 0 {
			t.Errorf("%s was sent no connection: the load balancer did not spread the load", r.LogPath)
		}
	}
}

func mustObject(t *testing.T, doc string) *appsv1.StatefulSet {
	t.Helper()
	var sts appsv1.StatefulSet
	if err := yaml.Unmarshal([]byte(doc), &sts); err != nil {
		t.Fatal(err)
	}
	return &sts
}
