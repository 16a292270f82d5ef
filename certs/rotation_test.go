package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
)

// TestCARenewalKeepsTrust shows why the cert-manager overlay's CA keeps
// its key on renewal. During a renewal the API server may hold the old or
// the new CA in its caBundle (cainjector copies it from the serving
// Secret) while the server presents the old or the new serving certificate
// (the kubelet updates the mounted Secret, the server reloads it): each of
// the four pairs must verify, as crypto/x509 verifies them in the API
// server. With a new CA key (rotationPolicy: Always) two of them fail.
func TestCARenewalKeepsTrust(t *testing.T) {
	for _, o := range CertManagerObjects(Names{Service: DefaultServiceName, Namespace: "headless-guard-system"}, DefaultSecretName) {
		if c, ok := o.(*cmapi.Certificate); ok && c.Spec.IsCA && c.Spec.PrivateKey.RotationPolicy != cmapi.RotationPolicyNever {
			t.Fatalf("CA Certificate %s: rotationPolicy %q, want Never", c.Name, c.Spec.PrivateKey.RotationPolicy)
		}
	}
	now := time.Now()
	caKey := newKey(t)
	oldCA := issueCA(t, caKey, 1, now.Add(-240*24*time.Hour))
	oldLeaf := issueLeaf(t, oldCA, caKey, now.Add(-30*24*time.Hour))

	for _, tc := range []struct {
		name  string
		key   *ecdsa.PrivateKey
		trust bool
	}{
		{"same key (rotationPolicy: Never)", caKey, true},
		{"new key (rotationPolicy: Always)", newKey(t), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newCA := issueCA(t, tc.key, 2, now)
			newLeaf := issueLeaf(t, newCA, tc.key, now)
			for _, pair := range []struct {
				bundle *x509.Certificate
				leaf   cert
				what   string
			}{
				{oldCA, oldLeaf, "old caBundle, old serving certificate"},
				{newCA, oldLeaf, "new caBundle, old serving certificate"},
				{oldCA, newLeaf, "old caBundle, new serving certificate"},
				{newCA, newLeaf, "new caBundle, new serving certificate"},
			} {
				roots := x509.NewCertPool()
				roots.AddCert(pair.bundle)
				_, err := pair.leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: DefaultServiceName + ".headless-guard-system.svc"})
				mixed := pair.bundle != pair.leaf.issuer
				switch {
				case err != nil && (tc.trust || !mixed):
					t.Errorf("%s: the API server would distrust the server: %v", pair.what, err)
				case err == nil && !tc.trust && mixed:
					t.Errorf("%s: verifies although the CA key changed; the control proves nothing", pair.what)
				}
			}
		})
	}
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// cert is a certificate with the CA that issued it.
type cert struct {
	*x509.Certificate
	issuer *x509.Certificate
}

// issueCA self-signs a CA as cert-manager's SelfSigned issuer does: same
// subject at every renewal, subject key ID from the public key.
func issueCA(t *testing.T, key *ecdsa.PrivateKey, serial int64, notBefore time.Time) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: CACommonName},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(DefaultCAValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func issueLeaf(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, notBefore time.Time) cert {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(notBefore.UnixNano()),
		DNSNames:     []string{DefaultServiceName + ".headless-guard-system.svc"},
		NotBefore:    notBefore,
		NotAfter:     notBefore.Add(DefaultValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert{c, ca}
}
