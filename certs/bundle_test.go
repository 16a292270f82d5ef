package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"slices"
	"testing"
	"time"

	"github.com/cert-manager/cert-manager/pkg/util/pki"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func testPolicy(names ...string) Policy {
	return Policy{
		CA:      CACertificate("hg", "s", 30*time.Hour),
		Serving: ServingCertificate(Names{Service: "webhook", Namespace: "hg", Extra: names}, "s", 9*time.Hour),
	}
}

func always(*x509.Certificate) (bool, time.Time) { return true, time.Time{} }
func never(*x509.Certificate) (bool, time.Time)  { return false, time.Time{} }

// mkBundle plans a fresh bundle at t0.
func mkBundle(t *testing.T, p Policy) *bundle {
	t.Helper()
	b, reason, err := p.plan(&bundle{}, t0, always)
	if err != nil || reason == "" {
		t.Fatalf("fresh bundle: %q %v", reason, err)
	}
	return b
}

// roundTrip is b as another replica reads it from the Secret.
func roundTrip(t *testing.T, b *bundle) *bundle {
	t.Helper()
	out := parseBundle(b.data())
	if len(out.parsed) > 0 {
		t.Fatalf("parsing a bundle's own data: %v", out.parsed)
	}
	return out
}

func TestFreshBundle(t *testing.T) {
	p := testPolicy("127.0.0.1", "localhost")
	b := roundTrip(t, mkBundle(t, p))
	ca, serve := b.CAKey.Cert, b.Serve.Cert
	if !ca.IsCA || ca.Subject.CommonName != CACommonName || len(b.CAs) != 1 {
		t.Errorf("CA: isCA=%v CN=%q bundle=%d", ca.IsCA, ca.Subject.CommonName, len(b.CAs))
	}
	if _, ok := b.CAKey.Key.(*ecdsa.PrivateKey); !ok || ca.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("CA key is %T, want ECDSA", b.CAKey.Key)
	}
	if k, ok := b.Serve.Key.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("serving key is %T, want ECDSA P-256", b.Serve.Key)
	}
	if err := serve.CheckSignatureFrom(ca); err != nil {
		t.Errorf("serving certificate not signed by the CA: %v", err)
	}
	wantDNS := []string{"localhost", "webhook", "webhook.hg", "webhook.hg.svc"}
	if !slices.Equal(serve.DNSNames, wantDNS) || len(serve.IPAddresses) != 1 || serve.IPAddresses[0].String() != "127.0.0.1" {
		t.Errorf("SANs = %v %v, want %v [127.0.0.1]", serve.DNSNames, serve.IPAddresses, wantDNS)
	}
	if serve.IsCA || !slices.Contains(serve.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		t.Errorf("serving certificate: isCA=%v extKeyUsage=%v", serve.IsCA, serve.ExtKeyUsage)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b.caBundle())
	if _, err := serve.Verify(x509.VerifyOptions{DNSName: "webhook.hg.svc", Roots: pool, CurrentTime: t0}); err != nil {
		t.Errorf("the serving certificate does not verify against ca.crt: %v", err)
	}
	// Valid now (backdated for clock skew), for the lifetime asked.
	if !serve.NotBefore.Before(t0) || serve.NotAfter.Sub(t0) != 9*time.Hour || ca.NotAfter.Sub(t0) != 30*time.Hour {
		t.Errorf("validity: serving %s..%s, CA until %s", serve.NotBefore, serve.NotAfter, ca.NotAfter)
	}
}

func TestRenewalTimeIsTwoThirds(t *testing.T) {
	b := mkBundle(t, testPolicy())
	for _, c := range []*x509.Certificate{b.CAKey.Cert, b.Serve.Cert} {
		life := c.NotAfter.Sub(c.NotBefore)
		if got, want := renewalTime(c), c.NotBefore.Add(life*2/3).Truncate(time.Second); !got.Equal(want) {
			t.Errorf("renewal of %s: %s, want %s (2/3 of %s)", c.Subject, got, want, life)
		}
	}
}

// TestPlan walks one bundle through the events of its life.
func TestPlan(t *testing.T) {
	p := testPolicy()
	base := mkBundle(t, p)
	serveRenewal := renewalTime(base.Serve.Cert)
	caRenewal := renewalTime(base.CAKey.Cert)

	type check func(t *testing.T, before, after *bundle)
	sameCA := func(t *testing.T, before, after *bundle) {
		if !after.CAKey.Cert.Equal(before.CAKey.Cert) || len(after.CAs) != len(before.CAs) {
			t.Errorf("the CA changed")
		}
	}
	newServe := func(t *testing.T, before, after *bundle) {
		if after.Serve.Cert.Equal(before.Serve.Cert) {
			t.Errorf("serving certificate not renewed")
		}
		if err := after.Serve.Cert.CheckSignatureFrom(after.CAKey.Cert); err != nil {
			t.Errorf("new serving certificate not signed by the newest CA: %v", err)
		}
	}
	sameServe := func(t *testing.T, before, after *bundle) {
		if !after.Serve.Cert.Equal(before.Serve.Cert) {
			t.Errorf("serving certificate changed")
		}
	}
	pending := func(t *testing.T, _, after *bundle) {
		if after.Next == nil {
			t.Fatalf("no next certificate")
		}
		if err := after.Next.Cert.CheckSignatureFrom(after.CAKey.Cert); err != nil {
			t.Errorf("next certificate not signed by the newest CA: %v", err)
		}
	}
	noPending := func(t *testing.T, _, after *bundle) {
		if after.Next != nil {
			t.Errorf("unexpected next certificate")
		}
	}
	rotatedCA := func(t *testing.T, before, after *bundle) {
		if len(after.CAs) != 2 || !after.CAs[1].Equal(before.CAKey.Cert) || after.CAKey.Cert.Equal(before.CAKey.Cert) {
			t.Errorf("want the new CA first and the old one kept, got %d CAs", len(after.CAs))
		}
	}
	// withNext is base right after its CA renewal.
	withNext := func(t *testing.T) *bundle {
		// A serving certificate still good at the CA renewal: an expired
		// one would be replaced at once.
		fresh, _, err := p.plan(base, caRenewal.Add(-time.Hour), always)
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := p.plan(fresh, caRenewal, never)
		if err != nil || b.Next == nil {
			t.Fatalf("CA renewal: %v", err)
		}
		return b
	}

	cases := []struct {
		name    string
		from    func(t *testing.T) *bundle
		at      time.Time
		trusted trustFunc
		changed bool
		checks  []check
	}{
		{"nothing due", func(*testing.T) *bundle { return base }, serveRenewal.Add(-time.Second), always, false, nil},
		{"serving certificate due", func(*testing.T) *bundle { return base }, serveRenewal, always, true, []check{sameCA, newServe, noPending}},
		{"serving certificate due, CA not yet trusted by this replica", func(*testing.T) *bundle { return base }, serveRenewal, never, true, []check{sameCA, sameServe, pending}},
		{"serving certificate expired, CA not trusted: replaced at once", func(*testing.T) *bundle { return base }, base.Serve.Cert.NotAfter, never, true, []check{sameCA, newServe, noPending}},
		{"CA due: new CA, certificate waits", func(*testing.T) *bundle {
			// Keep the serving certificate fresh to see the CA renewal alone.
			b, _, _ := p.plan(base, caRenewal.Add(-time.Hour), always)
			return b
		}, caRenewal, never, true, []check{rotatedCA, sameServe, pending}},
		{"pending certificate, CA not trusted yet", withNext, caRenewal.Add(time.Minute), never, false, []check{pending}},
		{"pending certificate, CA trusted: switch", withNext, caRenewal.Add(time.Minute), always, true, []check{newServe, noPending}},
		{"old CA expired: dropped", func(t *testing.T) *bundle {
			b, _, _ := p.plan(withNext(t), caRenewal.Add(time.Minute), always)
			return b
		}, base.CAKey.Cert.NotAfter, always, true, []check{func(t *testing.T, before, after *bundle) {
			if len(after.CAs) != 1 || !after.CAs[0].Equal(before.CAs[0]) {
				t.Errorf("CAs: %d, want the newest only", len(after.CAs))
			}
		}}},
		{"CA expired: start over", func(*testing.T) *bundle { return base }, base.CAKey.Cert.NotAfter, always, true, []check{newServe, func(t *testing.T, before, after *bundle) {
			if after.CAKey.Cert.Equal(before.CAKey.Cert) || len(after.CAs) != 1 {
				t.Errorf("want one new CA")
			}
		}}},
		{"names changed: reissued", func(*testing.T) *bundle { return roundTrip(t, mkBundle(t, testPolicy("localhost"))) }, t0.Add(time.Minute), always, true, []check{sameCA, newServe}},
		{"broken serving pair: reissued", func(t *testing.T) *bundle {
			d := base.data()
			d[KeyKey] = []byte("garbage")
			return parseBundle(d)
		}, t0.Add(time.Minute), never, true, []check{sameCA, noPending}},
		{"broken CA key: start over", func(t *testing.T) *bundle {
			d := base.data()
			d[KeyCAKey] = base.Serve.KeyPEM
			return parseBundle(d)
		}, t0.Add(time.Minute), always, true, []check{func(t *testing.T, before, after *bundle) {
			if after.CAs[0].Equal(base.CAKey.Cert) {
				t.Errorf("kept a CA without its key")
			}
		}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			from := tc.from(t)
			after, reason, err := p.plan(from, tc.at, tc.trusted)
			if err != nil {
				t.Fatal(err)
			}
			if (reason != "") != tc.changed {
				t.Fatalf("changed = %v (%q), want %v", reason != "", reason, tc.changed)
			}
			for _, c := range tc.checks {
				c(t, from, after)
			}
			if after.Serve.Cert.NotAfter.After(after.CAKey.Cert.NotAfter) {
				t.Errorf("the serving certificate outlives its CA")
			}
			if err := after.Serve.Cert.CheckSignatureFrom(after.CAs[0]); err != nil && !containsIssuer(after.CAs, after.Serve.Cert) {
				t.Errorf("the served certificate is signed by no CA of the bundle")
			}
		})
	}
}

func containsIssuer(cas []*x509.Certificate, c *x509.Certificate) bool {
	for _, ca := range cas {
		if c.CheckSignatureFrom(ca) == nil {
			return true
		}
	}
	return false
}

// TestTimeline runs three CA lifetimes in steps, with an API server that
// sees the caBundle with a delay, and checks that at every step the served
// certificate verifies against the bundle the API server has: the
// invariant behind zero failed requests during rotation.
func TestTimeline(t *testing.T) {
	p := testPolicy()
	const (
		step   = 10 * time.Minute
		lag    = 20 * time.Minute // how late the API server sees a patch
		settle = 30 * time.Minute // how long a replica waits after seeing a patch
	)
	type patch struct {
		at     time.Time
		bundle []byte
	}
	var patches []patch
	apiServerView := func(now time.Time) []byte {
		var cur []byte
		for _, p := range patches {
			if !p.at.Add(lag).After(now) {
				cur = p.bundle
			}
		}
		return cur
	}
	trustedSince := map[string]time.Time{}
	b := &bundle{}
	serials := map[string]bool{}
	cas := map[string]bool{}
	for now := t0; now.Before(t0.Add(90 * time.Hour)); now = now.Add(step) {
		trusted := func(ca *x509.Certificate) (bool, time.Time) {
			// The configurations hold what was patched last.
			if len(patches) == 0 {
				return false, time.Time{}
			}
			pool, _ := pki.DecodeX509CertificateSetBytes(patches[len(patches)-1].bundle)
			if !containsCert(pool, ca) {
				return false, time.Time{}
			}
			if _, ok := trustedSince[fingerprint(ca)]; !ok {
				trustedSince[fingerprint(ca)] = now
			}
			return now.Sub(trustedSince[fingerprint(ca)]) >= settle, time.Time{}
		}
		if b.CAKey != nil {
			b = roundTrip(t, b)
		}
		next, _, err := p.plan(b, now, trusted)
		if err != nil {
			t.Fatal(err)
		}
		b = next
		if len(patches) == 0 || string(patches[len(patches)-1].bundle) != string(b.caBundle()) {
			patches = append(patches, patch{now, b.caBundle()})
		}
		serials[b.Serve.Cert.SerialNumber.String()] = true
		cas[fingerprint(b.CAKey.Cert)] = true
		if now.Before(t0.Add(lag)) {
			continue // the API server has not seen the first bundle yet
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(apiServerView(now))
		if _, err := b.Serve.Cert.Verify(x509.VerifyOptions{DNSName: "webhook.hg.svc", Roots: pool, CurrentTime: now}); err != nil {
			t.Fatalf("at +%s the API server cannot verify the served certificate: %v", now.Sub(t0), err)
		}
	}
	// 90h of 9h certificates and 30h CAs: many renewals, at least two CA renewals.
	if len(serials) < 12 || len(cas) < 3 {
		t.Errorf("%d serving certificates and %d CAs in 90h; want renewals at 2/3 of each lifetime", len(serials), len(cas))
	}
}
