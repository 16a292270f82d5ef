package certs

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/cert-manager/cert-manager/pkg/util/pki"
)

// maxBackdate bounds how far before its issuance a certificate is valid
// from, so that a peer whose clock is behind ours accepts it.
const maxBackdate = 5 * time.Minute

// keyPair is a certificate and its private key, parsed and PEM encoded.
type keyPair struct {
	CertPEM, KeyPEM []byte
	Cert            *x509.Certificate
	Key             crypto.Signer
}

// issue creates a new key and a certificate for it as crt describes, valid
// from now (backdated by a tenth of its lifetime, at most maxBackdate) and
// signed by issuer, or self-signed when issuer is nil. It never outlives
// its issuer.
func issue(crt *cmapi.Certificate, issuer *keyPair, now time.Time) (*keyPair, error) {
	key, err := pki.GeneratePrivateKeyForCertificate(crt)
	if err != nil {
		return nil, err
	}
	tmpl, err := pki.CertificateTemplateFromCertificate(crt)
	if err != nil {
		return nil, err
	}
	validity := crt.Spec.Duration.Duration
	tmpl.NotBefore = now.Add(-min(validity/10, maxBackdate)).Truncate(time.Second)
	tmpl.NotAfter = now.Add(validity).Truncate(time.Second)
	issuerCert, signer := tmpl, key
	if issuer != nil {
		issuerCert, signer = issuer.Cert, issuer.Key
		if tmpl.NotAfter.After(issuer.Cert.NotAfter) {
			tmpl.NotAfter = issuer.Cert.NotAfter
		}
	}
	certPEM, cert, err := pki.SignCertificate(tmpl, issuerCert, key.Public(), signer)
	if err != nil {
		return nil, err
	}
	keyPEM, err := pki.EncodePrivateKey(key, cmapi.PKCS8)
	if err != nil {
		return nil, err
	}
	return &keyPair{CertPEM: certPEM, KeyPEM: keyPEM, Cert: cert, Key: key}, nil
}

// parseKeyPair parses a PEM certificate (its first block) and key that
// belong together.
func parseKeyPair(certPEM, keyPEM []byte) (*keyPair, error) {
	if len(certPEM) == 0 || len(keyPEM) == 0 {
		return nil, errors.New("certificate or key missing")
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return nil, err
	}
	cert, err := pki.DecodeX509CertificateBytes(certPEM)
	if err != nil {
		return nil, err
	}
	key, err := pki.DecodePrivateKeyBytes(keyPEM)
	if err != nil {
		return nil, err
	}
	return &keyPair{CertPEM: certPEM, KeyPEM: keyPEM, Cert: cert, Key: key}, nil
}

// renewalTime is when cert is due for renewal: at 2/3 of its lifetime,
// cert-manager's default.
func renewalTime(cert *x509.Certificate) time.Time {
	rt, err := pki.RenewalTime(cert.NotBefore, cert.NotAfter, nil, nil, nil)
	if err != nil || rt == nil {
		// Only renewal windows, which are not used here, can fail.
		return cert.NotBefore.Add(cert.NotAfter.Sub(cert.NotBefore) * 2 / 3)
	}
	return rt.Time
}

// mismatch says why cert is not what crt describes (names, key), or "".
func mismatch(kp *keyPair, crt *cmapi.Certificate) string {
	if v := pki.PrivateKeyMatchesSpec(kp.Key, crt.Spec); len(v) > 0 {
		return fmt.Sprintf("its key does not match %v", v)
	}
	dns := slices.Clone(kp.Cert.DNSNames)
	slices.Sort(dns)
	if !slices.Equal(dns, crt.Spec.DNSNames) {
		return fmt.Sprintf("its DNS names %v are not %v", dns, crt.Spec.DNSNames)
	}
	var ips []string
	for _, ip := range kp.Cert.IPAddresses {
		ips = append(ips, ip.String())
	}
	slices.Sort(ips)
	if !slices.EqualFunc(ips, crt.Spec.IPAddresses, func(a, b string) bool { return net.ParseIP(a).Equal(net.ParseIP(b)) }) {
		return fmt.Sprintf("its IP addresses %v are not %v", ips, crt.Spec.IPAddresses)
	}
	return ""
}
