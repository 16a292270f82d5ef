package certs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/test/cluster"
)

// The tests below run SelfManaged against a real kube-apiserver (with
// deploy/base/webhooks.yaml registered), several replicas in one process.

const testNamespace = "hg-certs"

var (
	apiOnce    sync.Once
	apiCluster *cluster.Cluster
	apiErr     error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if apiCluster != nil {
		apiCluster.Stop()
	}
	os.Exit(code)
}

// apiServer is one control plane for this package's tests.
func apiServer(t *testing.T) *cluster.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts kube-apiserver")
	}
	apiOnce.Do(func() {
		apiCluster, apiErr = cluster.Start(context.Background(), cluster.Options{})
		if apiErr == nil {
			apiErr = apiCluster.Client().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNamespace}})
		}
	})
	if apiErr != nil {
		t.Fatalf("starting kube-apiserver: %v", apiErr)
	}
	return apiCluster
}

// logCounter counts log lines containing a string.
type logCounter struct {
	mu    sync.Mutex
	lines []string
}

func (l *logCounter) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		l.lines = append(l.lines, args)
		l.mu.Unlock()
	}, funcr.Options{})
}

func (l *logCounter) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

func replica(t *testing.T, c client.Client, secret string, p Policy, log logr.Logger) *SelfManaged {
	dir := t.TempDir()
	return &SelfManaged{
		Client: c, Namespace: testNamespace, SecretName: secret, WebhookConfigName: DefaultWebhookConfigName,
		Policy:  p,
		Serving: NewServing(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), logr.Discard()),
		Settle:  time.Second,
		Log:     log,
	}
}

func getSecret(t *testing.T, c client.Client, name string) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: testNamespace, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	return s
}

// configBundles are the caBundles of every webhook of both configurations.
func configBundles(t *testing.T, c client.Client) [][]byte {
	t.Helper()
	var out [][]byte
	for _, obj := range webhookConfigs() {
		if err := c.Get(context.Background(), client.ObjectKey{Name: DefaultWebhookConfigName}, obj); err != nil {
			t.Fatal(err)
		}
		out = append(out, caBundles(obj)...)
	}
	return out
}

// restoreConfigs puts the configurations back as envtest registered them.
func restoreConfigs(t *testing.T, c *cluster.Cluster) {
	t.Cleanup(func() {
		for _, obj := range webhookConfigs() {
			ctx := context.Background()
			if err := c.Client().Get(ctx, client.ObjectKey{Name: DefaultWebhookConfigName}, obj); err != nil {
				t.Error(err)
				continue
			}
			orig := obj.DeepCopyObject().(client.Object)
			setCABundles(obj, c.WebhookCA())
			if err := c.Client().Patch(ctx, obj, client.MergeFrom(orig)); err != nil {
				t.Error(err)
			}
		}
	})
}

// TestReplicasConvergeOnOneCA starts six replicas at the same instant
// against no Secret, several times over: every replica must end serving
// the certificate of the one Secret, whose single CA the webhook
// configurations trust.
func TestReplicasConvergeOnOneCA(t *testing.T) {
	c := apiServer(t)
	restoreConfigs(t, c)
	p := Policy{
		CA:      CACertificate(testNamespace, "race", time.Hour),
		Serving: ServingCertificate(Names{Service: "webhook", Namespace: testNamespace}, "race", 10*time.Minute),
	}
	const replicas, rounds = 6, 5
	var logs logCounter
	for round := range rounds {
		err := c.Client().Delete(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: "race"}})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		var ms []*SelfManaged
		for range replicas {
			ms = append(ms, replica(t, c.Client(), "race", p, logs.logger()))
		}
		start := make(chan struct{})
		errs := make([]error, replicas)
		var wg sync.WaitGroup
		for i, m := range ms {
			wg.Go(func() {
				<-start
				_, errs[i] = m.Reconcile(context.Background())
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		secret := getSecret(t, c.Client(), "race")
		b := parseBundle(secret.Data)
		if len(b.CAs) != 1 || b.Next != nil || len(b.parsed) > 0 {
			t.Fatalf("round %d: the Secret holds %d CAs (next: %v, problems: %v), want one", round, len(b.CAs), b.Next != nil, b.parsed)
		}
		for i, m := range ms {
			served, err := os.ReadFile(m.Serving.CertPath)
			if err != nil || !bytes.Equal(served, secret.Data[KeyCert]) {
				t.Errorf("round %d: replica %d serves another certificate than the Secret's (%v)", round, i, err)
			}
		}
		for _, got := range configBundles(t, c.Client()) {
			if !bytes.Equal(got, secret.Data[KeyCABundle]) {
				t.Errorf("round %d: a webhook's caBundle is not the Secret's ca.crt", round)
			}
		}
	}
	created, lost := logs.count("created the certificate Secret"), logs.count("another replica created the Secret first")
	t.Logf("%d rounds of %d replicas: %d Secrets created, %d creates lost to another replica", rounds, replicas, created, lost)
	if created != rounds {
		t.Errorf("%d Secrets created in %d rounds, want one per round", created, rounds)
	}
	if lost == 0 {
		t.Errorf("no replica ever lost the race to create the Secret: the test did not exercise it")
	}
}

// TestRenewalAcrossReplicas drives two replicas with one clock through a
// serving renewal and a CA renewal: the replica that renews writes the
// Secret, the other follows without writing, and the switch to the new
// CA's certificate waits until the configurations trust it.
func TestRenewalAcrossReplicas(t *testing.T) {
	c := apiServer(t)
	restoreConfigs(t, c)
	ctx := context.Background()
	p := Policy{
		CA:      CACertificate(testNamespace, "renew", 30*time.Hour),
		Serving: ServingCertificate(Names{Service: "webhook", Namespace: testNamespace}, "renew", 9*time.Hour),
	}
	var now atomic.Pointer[time.Time]
	setNow := func(t time.Time) { now.Store(&t) }
	setNow(time.Now())
	clock := func() time.Time { return *now.Load() }
	a := replica(t, c.Client(), "renew", p, logr.Discard())
	b := replica(t, c.Client(), "renew", p, logr.Discard())
	a.now, b.now = clock, clock
	a.Settle, b.Settle = time.Minute, time.Minute
	reconcile := func(m *SelfManaged) {
		t.Helper()
		if _, err := m.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
	}
	version := func() string { return getSecret(t, c.Client(), "renew").ResourceVersion }
	served := func(m *SelfManaged) []byte {
		data, _ := os.ReadFile(m.Serving.CertPath)
		return data
	}

	reconcile(a)
	reconcile(b)
	first := parseBundle(getSecret(t, c.Client(), "renew").Data)

	// Serving renewal: a renews, b follows without a write.
	setNow(renewalTime(first.Serve.Cert).Add(time.Second))
	reconcile(a)
	v := version()
	reconcile(b)
	second := parseBundle(getSecret(t, c.Client(), "renew").Data)
	if version() != v || second.Serve.Cert.Equal(first.Serve.Cert) || !bytes.Equal(served(a), served(b)) || !bytes.Equal(served(b), second.Serve.CertPEM) {
		t.Fatalf("after the serving renewal: want one new certificate served by both and no second write")
	}

	// CA renewal: the new CA is trusted at once, its certificate waits
	// (behind one still good: an expired one would be replaced at once).
	caDue := renewalTime(first.CAKey.Cert).Add(time.Second)
	setNow(caDue.Add(-time.Hour))
	reconcile(a)
	before := served(a)
	setNow(caDue)
	reconcile(a)
	reconcile(b)
	third := parseBundle(getSecret(t, c.Client(), "renew").Data)
	if len(third.CAs) != 2 || third.Next == nil || !bytes.Equal(served(a), before) || !bytes.Equal(served(b), before) {
		t.Fatalf("after the CA renewal: %d CAs, next=%v; want 2 CAs, a pending certificate, the old one still served", len(third.CAs), third.Next != nil)
	}
	for _, got := range configBundles(t, c.Client()) {
		if !bytes.Equal(got, third.caBundle()) {
			t.Fatalf("the configurations do not trust both CAs")
		}
	}
	// Within Settle nothing switches; after it, b switches and a follows.
	setNow(caDue.Add(30 * time.Second))
	reconcile(b)
	if parseBundle(getSecret(t, c.Client(), "renew").Data).Next == nil {
		t.Fatalf("switched before the configurations trusted the new CA for Settle")
	}
	setNow(caDue.Add(2 * time.Minute))
	reconcile(b)
	reconcile(a)
	fourth := parseBundle(getSecret(t, c.Client(), "renew").Data)
	if fourth.Next != nil || !fourth.Serve.Cert.Equal(third.Next.Cert) || !bytes.Equal(served(a), fourth.Serve.CertPEM) || !bytes.Equal(served(b), fourth.Serve.CertPEM) {
		t.Fatalf("after Settle: want both replicas serving the new CA's certificate")
	}

	// The old CA leaves the bundle (and the configurations) when it expires.
	setNow(first.CAKey.Cert.NotAfter.Add(time.Second))
	reconcile(a)
	last := parseBundle(getSecret(t, c.Client(), "renew").Data)
	if len(last.CAs) != 1 || !last.CAs[0].Equal(third.CAKey.Cert) {
		t.Fatalf("after the old CA expired: %d CAs", len(last.CAs))
	}
	for _, got := range configBundles(t, c.Client()) {
		if !bytes.Equal(got, last.caBundle()) {
			t.Fatalf("the configurations still trust the expired CA")
		}
	}
}

// TestStaleReplicaKeepsNewerCA: a replica that read the Secret before
// another renewed the CA must not patch the new CA out of the
// configurations, and the patch keeps everything else in them.
func TestStaleReplicaKeepsNewerCA(t *testing.T) {
	c := apiServer(t)
	restoreConfigs(t, c)
	ctx := context.Background()
	p := Policy{
		CA:      CACertificate(testNamespace, "stale", 30*time.Hour),
		Serving: ServingCertificate(Names{Service: "webhook", Namespace: testNamespace}, "stale", 9*time.Hour),
	}
	a := replica(t, c.Client(), "stale", p, logr.Discard())
	if _, err := a.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	old := parseBundle(getSecret(t, c.Client(), "stale").Data)
	a.now = func() time.Time { return renewalTime(old.CAKey.Cert).Add(time.Second) }
	if _, err := a.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	renewed := parseBundle(getSecret(t, c.Client(), "stale").Data)
	stale := replica(t, c.Client(), "stale", p, logr.Discard())
	if err := stale.ensureCABundle(ctx, old); !errors.Is(err, errStale) {
		t.Fatalf("ensureCABundle with the old bundle: %v, want errStale", err)
	}
	for _, got := range configBundles(t, c.Client()) {
		if !bytes.Equal(got, renewed.caBundle()) {
			t.Fatalf("a stale replica changed the caBundle")
		}
	}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := c.Client().Get(ctx, client.ObjectKey{Name: DefaultWebhookConfigName}, vwc); err != nil {
		t.Fatal(err)
	}
	var conditions, urls int
	for _, w := range vwc.Webhooks {
		conditions += len(w.MatchConditions)
		if w.ClientConfig.URL != nil {
			urls++
		}
	}
	if len(vwc.Webhooks) != 4 || conditions == 0 || urls != 4 {
		t.Errorf("patching the caBundle changed the rest: %d webhooks, %d match conditions, %d URLs", len(vwc.Webhooks), conditions, urls)
	}
}
