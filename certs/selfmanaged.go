package certs

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/cert-manager/cert-manager/pkg/util/pki"
	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ManagedByLabel marks the Secret as headless-guard's.
const ManagedByLabel = "app.kubernetes.io/managed-by"

// SelfManaged keeps the CA and serving certificate in one Secret, shared by
// every replica, and the caBundle of the webhook configurations in step
// with it. Replicas converge on one Secret through the API server: the
// Secret is created with Create (the loser of a race reads the winner's)
// and changed with Update at the resourceVersion read (a conflict means
// re-read and re-plan), so two replicas starting at once end with one CA.
//
// A new CA is added to the bundle before anything it signed is served: the
// serving certificate it signs waits in the Secret until the webhook
// configurations have trusted the new CA for Settle, so that the API
// server never meets a certificate it cannot verify.
//
// It is a controller-runtime Runnable that runs on every replica.
type SelfManaged struct {
	// Client reads and writes the Secret and the webhook configurations.
	// It must not be a cached client: a cache would list and watch every
	// Secret of the cluster.
	Client client.Client
	// Namespace and SecretName locate the Secret.
	Namespace, SecretName string
	// WebhookConfigName names the ValidatingWebhookConfiguration and the
	// MutatingWebhookConfiguration whose caBundle is kept up to date.
	WebhookConfigName string
	// Policy describes the certificates.
	Policy Policy
	// Serving receives the serving pair.
	Serving *Serving
	// Settle is how long the webhook configurations must have trusted a new
	// CA before replicas serve certificates it signed (default 5s).
	Settle time.Duration
	// Refresh is the longest time between two reads of the Secret, which
	// is how soon a replica follows a renewal made by another (default 1m).
	Refresh time.Duration
	Log     logr.Logger

	mu sync.Mutex
	// trustedSince maps a CA fingerprint to when the webhook
	// configurations were first seen trusting it.
	trustedSince map[string]time.Time
	// synced is set after the first successful reconcile.
	synced bool
	now    func() time.Time
}

// errStale means another replica has patched the webhook configurations
// with a newer CA than the Secret this replica read.
var errStale = errors.New("the webhook configurations trust a newer CA than the Secret read; reading it again")

// NeedLeaderElection is false: every replica serves and needs the certificate.
func (m *SelfManaged) NeedLeaderElection() bool { return false }

// Start reconciles until ctx ends: at once, then whenever a certificate is
// due, at least every Refresh, and with backoff after errors.
func (m *SelfManaged) Start(ctx context.Context) error {
	backoff := time.Duration(0)
	for {
		wake, err := m.Reconcile(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var wait time.Duration
		if err != nil {
			backoff = min(max(2*backoff, 500*time.Millisecond), 30*time.Second)
			wait = backoff
			m.Log.Error(err, "self-managed certificate: will retry", "in", wait)
		} else {
			backoff = 0
			wait = max(time.Until(wake), 100*time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// ReadyCheck fails until the Secret has been read or created and the
// serving certificate written once.
func (m *SelfManaged) ReadyCheck(*http.Request) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.synced {
		return fmt.Errorf("no serving certificate from Secret %s/%s yet", m.Namespace, m.SecretName)
	}
	return nil
}

func (m *SelfManaged) clock() time.Time {
	if m.now != nil {
		return m.now()
	}
	return time.Now()
}

// Reconcile brings the Secret, the webhook configurations and the serving
// files up to date once, and returns when it next needs to run.
func (m *SelfManaged) Reconcile(ctx context.Context) (time.Time, error) {
	refresh := m.Refresh
	if refresh <= 0 {
		refresh = time.Minute
	}
	var b *bundle
	for attempt := 0; ; attempt++ {
		var err error
		b, err = m.sync(ctx)
		if err == nil {
			err = m.ensureCABundle(ctx, b)
		}
		if err == nil {
			break
		}
		// Another replica got there first: read again.
		retry := apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) || errors.Is(err, errStale)
		if !retry || attempt == 4 {
			return time.Time{}, err
		}
		if errors.Is(err, errStale) {
			m.Log.Info(err.Error())
		}
	}
	// The configurations now trust every CA of b: start their clocks.
	m.markTrusted(b.CAs)
	if err := m.Serving.Write(b.Serve.CertPEM, b.Serve.KeyPEM); err != nil {
		return time.Time{}, err
	}
	m.mu.Lock()
	m.synced = true
	m.mu.Unlock()
	wake := b.wakeAt(m.trusted(ctx))
	if limit := m.clock().Add(refresh); wake.After(limit) {
		wake = limit
	}
	return wake, nil
}

// sync reads the Secret, creates or updates it as plan says, and returns
// what it holds. Conflict and AlreadyExists errors mean another replica
// got there first.
func (m *SelfManaged) sync(ctx context.Context) (*bundle, error) {
	now := m.clock()
	key := client.ObjectKey{Namespace: m.Namespace, Name: m.SecretName}
	secret := &corev1.Secret{}
	err := m.Client.Get(ctx, key, secret)
	if apierrors.IsNotFound(err) {
		b, reason, err := m.Policy.plan(&bundle{}, now, m.trusted(ctx))
		if err != nil {
			return nil, err
		}
		secret = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: m.Namespace, Name: m.SecretName, Labels: map[string]string{ManagedByLabel: "headless-guard"}},
			Type:       corev1.SecretTypeTLS,
			Data:       b.data(),
		}
		if err := m.Client.Create(ctx, secret); err != nil {
			if apierrors.IsAlreadyExists(err) {
				m.Log.Info("another replica created the Secret first; using its CA", "secret", key)
			}
			return nil, err
		}
		m.Log.Info("created the certificate Secret", "secret", key, "reason", reason, "ca", fingerprint(b.CAKey.Cert), "servingNotAfter", b.Serve.Cert.NotAfter)
		return b, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading Secret %s: %w", key, err)
	}
	cur := parseBundle(secret.Data)
	b, reason, err := m.Policy.plan(cur, now, m.trusted(ctx))
	if err != nil {
		return nil, err
	}
	if reason == "" {
		return b, nil
	}
	if len(cur.parsed) > 0 {
		m.Log.Info("the certificate Secret held unusable data", "secret", key, "problems", cur.parsed)
	}
	// The type of a Secret is immutable: one created without data (by the
	// Helm chart, so that uninstalling removes it) stays Opaque.
	if secret.Type == "" {
		secret.Type = corev1.SecretTypeTLS
	}
	secret.Data = b.data()
	// secret carries the resourceVersion read: a replica that changed it
	// meanwhile makes this a conflict, and the next attempt starts over.
	if err := m.Client.Update(ctx, secret); err != nil {
		if apierrors.IsConflict(err) {
			m.Log.V(1).Info("the Secret changed meanwhile; reading it again", "secret", key)
		}
		return nil, err
	}
	m.Log.Info("updated the certificate Secret", "secret", key, "reason", reason, "ca", fingerprint(b.CAKey.Cert), "cas", len(b.CAs), "servingNotAfter", b.Serve.Cert.NotAfter, "pendingSwitch", b.Next != nil)
	return b, nil
}

// webhookConfigs are empty objects of the two configuration kinds.
func webhookConfigs() []client.Object {
	return []client.Object{&admissionregistrationv1.ValidatingWebhookConfiguration{}, &admissionregistrationv1.MutatingWebhookConfiguration{}}
}

// caBundles are the caBundle of every webhook of a configuration.
func caBundles(obj client.Object) [][]byte {
	var out [][]byte
	switch c := obj.(type) {
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		for i := range c.Webhooks {
			out = append(out, c.Webhooks[i].ClientConfig.CABundle)
		}
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		for i := range c.Webhooks {
			out = append(out, c.Webhooks[i].ClientConfig.CABundle)
		}
	}
	return out
}

func setCABundles(obj client.Object, pem []byte) {
	switch c := obj.(type) {
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		for i := range c.Webhooks {
			c.Webhooks[i].ClientConfig.CABundle = pem
		}
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		for i := range c.Webhooks {
			c.Webhooks[i].ClientConfig.CABundle = pem
		}
	}
}

// ensureCABundle sets the caBundle of every webhook of both configurations
// to b's CAs. A configuration that trusts a CA newer than b's newest, and
// not in b, was patched by a replica that read a newer Secret: errStale,
// rather than taking that CA away. The patch carries the resourceVersion
// read, so that check and write are one step. A missing configuration is
// left alone.
func (m *SelfManaged) ensureCABundle(ctx context.Context, b *bundle) error {
	want := b.caBundle()
	for _, obj := range webhookConfigs() {
		for attempt := 0; ; attempt++ {
			err := m.Client.Get(ctx, client.ObjectKey{Name: m.WebhookConfigName}, obj)
			if apierrors.IsNotFound(err) {
				break
			}
			if err != nil {
				return fmt.Errorf("reading %T %s: %w", obj, m.WebhookConfigName, err)
			}
			current := caBundles(obj)
			upToDate := true
			for _, pemData := range current {
				if !bytes.Equal(pemData, want) {
					upToDate = false
				}
				if newerCA(pemData, b) {
					return errStale
				}
			}
			if upToDate {
				break
			}
			orig := obj.DeepCopyObject().(client.Object)
			setCABundles(obj, want)
			err = m.Client.Patch(ctx, obj, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
			if apierrors.IsConflict(err) && attempt < 5 {
				continue
			}
			if err != nil {
				return fmt.Errorf("patching the caBundle of %s %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, m.WebhookConfigName, err)
			}
			m.Log.Info("patched the caBundle", "configuration", fmt.Sprintf("%T", obj), "name", m.WebhookConfigName, "cas", len(b.CAs))
			break
		}
	}
	return nil
}

// newerCA reports whether pemData holds a headless-guard CA issued after
// b's newest that b does not hold. Other CAs (envtest's, one set by hand or
// by cert-manager before a switch of mode) are simply replaced.
func newerCA(pemData []byte, b *bundle) bool {
	cas, err := pki.DecodeX509CertificateSetBytes(pemData)
	if err != nil {
		return false
	}
	for _, ca := range cas {
		ours := ca.Subject.CommonName == CACommonName && ca.Issuer.CommonName == CACommonName
		if ours && ca.NotBefore.After(b.CAs[0].NotBefore) && !containsCert(b.CAs, ca) {
			return true
		}
	}
	return false
}

func containsCert(list []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range list {
		if x.Equal(c) {
			return true
		}
	}
	return false
}

func (m *SelfManaged) markTrusted(cas []*x509.Certificate) {
	now := m.clock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.trustedSince == nil {
		m.trustedSince = map[string]time.Time{}
	}
	for _, ca := range cas {
		if _, ok := m.trustedSince[fingerprint(ca)]; !ok {
			m.trustedSince[fingerprint(ca)] = now
		}
	}
}

// trusted returns plan's trustFunc: whether every webhook of both
// configurations has trusted ca (a missing configuration trusts
// anything) for Settle, as seen by this replica. The first time it sees
// them trust ca starts the clock.
func (m *SelfManaged) trusted(ctx context.Context) trustFunc {
	settle := m.Settle
	if settle <= 0 {
		settle = 5 * time.Second
	}
	return func(ca *x509.Certificate) (bool, time.Time) {
		fp := fingerprint(ca)
		m.mu.Lock()
		since, seen := m.trustedSince[fp]
		m.mu.Unlock()
		now := m.clock()
		if !seen {
			for _, obj := range webhookConfigs() {
				err := m.Client.Get(ctx, client.ObjectKey{Name: m.WebhookConfigName}, obj)
				if apierrors.IsNotFound(err) {
					continue
				}
				if err != nil {
					return false, now.Add(settle)
				}
				for _, pemData := range caBundles(obj) {
					cas, err := pki.DecodeX509CertificateSetBytes(pemData)
					if err != nil || !containsCert(cas, ca) {
						// Not yet: this replica or another patches it next.
						return false, now.Add(min(settle, time.Second))
					}
				}
			}
			m.markTrusted([]*x509.Certificate{ca})
			since = now
		}
		if now.Sub(since) >= settle {
			return true, time.Time{}
		}
		return false, since.Add(settle)
	}
}
