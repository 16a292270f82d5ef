package certs

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/cert-manager/cert-manager/pkg/util/pki"
)

// Keys of the self-managed Secret (type kubernetes.io/tls).
const (
	// KeyCABundle holds every CA the webhook configurations trust, newest
	// first: the caBundle patched into them.
	KeyCABundle = "ca.crt"
	// KeyCAKey is the private key of the newest CA.
	KeyCAKey = "ca.key"
	// KeyCert and KeyKey are the serving certificate and key replicas serve.
	KeyCert = "tls.crt"
	KeyKey  = "tls.key"
	// KeyNextCert and KeyNextKey are a serving certificate signed by a CA
	// that was just added to the bundle; replicas switch to it once the
	// webhook configurations trust that CA.
	KeyNextCert = "next.crt"
	KeyNextKey  = "next.key"
)

// bundle is the content of the self-managed Secret.
type bundle struct {
	// CAs are the trusted CAs, newest first; CAs[0] is signed with CAKey.
	CAs    []*x509.Certificate
	CAKey  *keyPair // CAs[0] and its key
	Serve  *keyPair
	Next   *keyPair // nil unless a CA renewal is under way
	parsed []string // problems found when parsing, for the log
}

// parseBundle reads Secret data; what is missing or broken is left nil
// (and noted in parsed) for plan to replace.
func parseBundle(data map[string][]byte) *bundle {
	b := &bundle{}
	if cas, err := pki.DecodeX509CertificateSetBytes(data[KeyCABundle]); err == nil {
		b.CAs = cas
	} else {
		b.parsed = append(b.parsed, "ca.crt: "+err.Error())
	}
	if len(b.CAs) > 0 {
		caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b.CAs[0].Raw})
		if kp, err := parseKeyPair(caPEM, data[KeyCAKey]); err == nil {
			b.CAKey = kp
		} else {
			b.parsed = append(b.parsed, "ca.key: "+err.Error())
		}
	}
	if kp, err := parseKeyPair(data[KeyCert], data[KeyKey]); err == nil {
		b.Serve = kp
	} else {
		b.parsed = append(b.parsed, "tls.crt: "+err.Error())
	}
	if len(data[KeyNextCert]) > 0 {
		if kp, err := parseKeyPair(data[KeyNextCert], data[KeyNextKey]); err == nil {
			b.Next = kp
		} else {
			b.parsed = append(b.parsed, "next.crt: "+err.Error())
		}
	}
	return b
}

// data is the Secret data of b.
func (b *bundle) data() map[string][]byte {
	d := map[string][]byte{
		KeyCABundle: b.caBundle(),
		KeyCAKey:    b.CAKey.KeyPEM,
		KeyCert:     b.Serve.CertPEM,
		KeyKey:      b.Serve.KeyPEM,
	}
	if b.Next != nil {
		d[KeyNextCert], d[KeyNextKey] = b.Next.CertPEM, b.Next.KeyPEM
	}
	return d
}

// caBundle is the PEM of every trusted CA, newest first.
func (b *bundle) caBundle() []byte {
	var buf bytes.Buffer
	for _, ca := range b.CAs {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	}
	return buf.Bytes()
}

// fingerprint names a certificate in logs and maps.
func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:8])
}

// Policy is what plan needs to know to issue and renew.
type Policy struct {
	// CA and Serving describe the certificates (ServingCertificate,
	// CACertificate); their Spec.Duration is the lifetime.
	CA, Serving *cmapi.Certificate
}

// trustFunc reports whether the webhook configurations have trusted ca
// long enough for replicas to serve certificates it signed, and if not
// yet, when to ask again (zero: when something changes).
type trustFunc func(ca *x509.Certificate) (ok bool, retry time.Time)

// plan returns the bundle the Secret should hold at now and why it changed
// ("" when it did not). It is the whole renewal policy:
//   - no usable CA: a new CA and serving certificate, used at once;
//   - the CA at 2/3 of its lifetime: a new CA is added to the bundle with a
//     serving certificate it signed as Next; the old CA stays trusted until
//     it expires;
//   - Next becomes the served certificate once trusted(new CA) says the
//     webhook configurations have trusted it long enough;
//   - the serving certificate at 2/3 of its lifetime, expired, not signed by
//     the newest CA or not matching the policy (names, key): a new one from
//     the newest CA, unless Next is about to replace it; it is served at
//     once if trusted(newest CA) or nothing usable is served, else it
//     becomes Next.
func (p Policy) plan(cur *bundle, now time.Time, trusted trustFunc) (*bundle, string, error) {
	b := &bundle{CAs: cur.CAs, CAKey: cur.CAKey, Serve: cur.Serve, Next: cur.Next}
	var reasons []string
	fresh := func(why string) (*bundle, string, error) {
		ca, err := issue(p.CA, nil, now)
		if err != nil {
			return nil, "", err
		}
		serve, err := issue(p.Serving, ca, now)
		if err != nil {
			return nil, "", err
		}
		return &bundle{CAs: []*x509.Certificate{ca.Cert}, CAKey: ca, Serve: serve}, why, nil
	}
	if b.CAKey == nil {
		return fresh("no usable CA")
	}
	if !now.Before(b.CAKey.Cert.NotAfter) {
		return fresh("the CA has expired")
	}
	// Expired CAs vouch for nothing; the newest stays (checked above).
	kept := b.CAs[:1:1]
	for _, ca := range b.CAs[1:] {
		if now.Before(ca.NotAfter) {
			kept = append(kept, ca)
		}
	}
	if len(kept) != len(b.CAs) {
		b.CAs = kept
		reasons = append(reasons, "dropped expired CAs")
	}
	usable := func(kp *keyPair) bool {
		return kp != nil && now.Before(kp.Cert.NotAfter) && kp.Cert.CheckSignatureFrom(b.CAKey.Cert) == nil && mismatch(kp, p.Serving) == ""
	}
	if b.Next != nil && !usable(b.Next) {
		b.Next = nil
		reasons = append(reasons, "dropped an unusable next certificate")
	}
	if b.Next == nil && !now.Before(renewalTime(b.CAKey.Cert)) {
		ca, err := issue(p.CA, nil, now)
		if err != nil {
			return nil, "", err
		}
		next, err := issue(p.Serving, ca, now)
		if err != nil {
			return nil, "", err
		}
		b.CAs = append([]*x509.Certificate{ca.Cert}, b.CAs...)
		b.CAKey, b.Next = ca, next
		reasons = append(reasons, fmt.Sprintf("the CA is due for renewal: new CA %s, serving certificate to follow once trusted", fingerprint(ca.Cert)))
	}
	serveUnusable := b.Serve == nil || !now.Before(b.Serve.Cert.NotAfter)
	if b.Next != nil {
		// A serving certificate that is already unusable is replaced at
		// once: waiting would not save any request.
		if ok, _ := trusted(b.CAKey.Cert); ok || serveUnusable {
			b.Serve, b.Next = b.Next, nil
			reasons = append(reasons, fmt.Sprintf("switched to the serving certificate of CA %s", fingerprint(b.CAKey.Cert)))
		}
	} else {
		why := ""
		switch {
		case b.Serve == nil:
			why = "no usable serving certificate"
		case !now.Before(b.Serve.Cert.NotAfter):
			why = "the serving certificate has expired"
		case b.Serve.Cert.CheckSignatureFrom(b.CAKey.Cert) != nil:
			why = "the serving certificate is not signed by the newest CA"
		case mismatch(b.Serve, p.Serving) != "":
			why = "the serving certificate does not match: " + mismatch(b.Serve, p.Serving)
		case !now.Before(renewalTime(b.Serve.Cert)):
			why = "the serving certificate is due for renewal"
		}
		if why != "" {
			kp, err := issue(p.Serving, b.CAKey, now)
			if err != nil {
				return nil, "", err
			}
			// Served at once only when the newest CA is known to be trusted
			// (or nothing usable is served): else it waits as Next.
			if ok, _ := trusted(b.CAKey.Cert); ok || serveUnusable {
				b.Serve = kp
			} else {
				b.Next = kp
				why += " (the new certificate waits until the webhook configurations trust its CA)"
			}
			reasons = append(reasons, why)
		}
	}
	if len(reasons) == 0 {
		return cur, "", nil
	}
	return b, strings.Join(reasons, "; "), nil
}

// wakeAt is the next time plan may change b: a renewal, an expiry, or the
// retry time trusted gave for a pending switch.
func (b *bundle) wakeAt(trusted trustFunc) time.Time {
	t := renewalTime(b.CAKey.Cert)
	earliest := func(c time.Time) {
		if !c.IsZero() && c.Before(t) {
			t = c
		}
	}
	if b.Next == nil {
		// With Next pending, the served certificate is not renewed but
		// replaced, at the retry time below (or when it expires).
		earliest(renewalTime(b.Serve.Cert))
	}
	earliest(b.Serve.Cert.NotAfter)
	for _, ca := range b.CAs[1:] {
		earliest(ca.NotAfter)
	}
	if b.Next != nil {
		_, retry := trusted(b.CAKey.Cert)
		earliest(retry)
	}
	return t
}
