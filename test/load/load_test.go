package load

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/headless-guard/headless-guard/test/load/reviews"
	"github.com/headless-guard/headless-guard/webhook"
)

// TestLoadGeneratorSmoke drives the do-nothing webhook over TLS with every
// recorded review, closed and open loop, for a moment each: the load
// generator of `make bench` works end to end (the figures are make bench's).
func TestLoadGeneratorSmoke(t *testing.T) {
	ctrllog.SetLogger(logr.Discard())
	dir, ca := serving(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- ServeNop(ctx, NopOptions{Host: "127.0.0.1", Port: port, CertDir: dir}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("do-nothing webhook: %v", err)
		}
	})
	target := Target{BaseURL: fmt.Sprintf("https://127.0.0.1:%d", port), CA: ca}
	rs, err := reviews.All()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err = Verify(ctx, target, rs, false); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []Options{
		{Reviews: rs, Concurrency: 4, Warmup: 100 * time.Millisecond, Duration: 300 * time.Millisecond},
		{Reviews: rs, Concurrency: 4, Rate: 200, Warmup: 100 * time.Millisecond, Duration: 300 * time.Millisecond},
	} {
		res, err := Run(ctx, target, o)
		if err != nil {
			t.Fatal(err)
		}
		if res.Errors > 0 || res.Requests == 0 {
			t.Fatalf("%+v: %d requests, %d errors (%v)", o, res.Requests, res.Errors, res.FirstError)
		}
		if !slices.IsSorted(res.Samples) || res.P50 > res.P99 || res.P99 > res.P999 || res.P999 > res.Max {
			t.Errorf("percentiles out of order: %+v", res)
		}
		if o.Rate > 0 && (res.Throughput < o.Rate/2 || res.Throughput > o.Rate*1.5) {
			t.Errorf("open loop at %.0f/s achieved %.0f/s", o.Rate, res.Throughput)
		}
		t.Logf("concurrency %d rate %.0f: %.0f req/s, p50 %s p99 %s", o.Concurrency, o.Rate, res.Throughput, res.P50, res.P99)
	}
}

// TestPathsMatchTheGuard keeps the do-nothing webhook on the guard's paths.
func TestPathsMatchTheGuard(t *testing.T) {
	want := []string{webhook.PathValidateStatefulSets, webhook.PathValidateServices, webhook.PathValidateWorkloads, webhook.PathMutateStatefulSets, webhook.PathMutateServices}
	if !slices.Equal(Paths, want) {
		t.Errorf("Paths %q, want the guard's %q", Paths, want)
	}
	rs, err := reviews.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if !slices.Contains(Paths, r.Path) {
			t.Errorf("review %s is for %s, which no webhook serves", r.Name, r.Path)
		}
	}
}

func TestQuantile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 1000; i++ {
		s = append(s, time.Duration(i))
	}
	if p50, p99, p999 := Quantiles(s); p50 != 500 || p99 != 990 || p999 != 999 {
		t.Errorf("quantiles of 1..1000: %d %d %d", p50, p99, p999)
	}
	if quantile(nil, 0.5) != 0 {
		t.Error("quantile of nothing must be 0")
	}
}

// serving writes a CA-signed serving certificate for 127.0.0.1 into a
// directory and returns it with the CA.
func serving(t *testing.T) (dir string, caPEM []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	dir = t.TempDir()
	write := func(name, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("tls.crt", "CERTIFICATE", der)
	write("tls.key", "EC PRIVATE KEY", keyDER)
	return dir, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
}
