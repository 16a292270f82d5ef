package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	dto "github.com/prometheus/client_model/go"
)

// handshake is the leaf a TLS client meets on l, trusting roots.
func handshake(t *testing.T, l net.Listener, roots *x509.Certificate) (*x509.Certificate, error) {
	t.Helper()
	go func() {
		conn, err := l.Accept()
		if err == nil {
			_ = conn.(*tls.Conn).Handshake()
			conn.Close()
		}
	}()
	pool := x509.NewCertPool()
	pool.AddCert(roots)
	conn, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "webhook.hg.svc"})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// TestServing follows the files of a webhook server through their life:
// none yet (not ready, handshakes fail), written (ready, served, gauge
// set), replaced (served at once, without a restart), expired (not ready).
func TestServing(t *testing.T) {
	dir := t.TempDir()
	s := NewServing(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), logr.Discard())
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: s.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := testPolicy()
	ca, err := issue(p.CA, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	if err := s.ReadyCheck(nil); err == nil {
		t.Errorf("ready without a certificate")
	}
	if _, err := handshake(t, l, ca.Cert); err == nil {
		t.Errorf("a handshake succeeded without a certificate")
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Start(ctx) }()
	first, err := issue(p.Serving, ca, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(first.CertPEM, first.KeyPEM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.ReadyCheck(nil) != nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.ReadyCheck(nil); err != nil {
		t.Fatalf("not ready after the files were written: %v", err)
	}
	if got, err := handshake(t, l, ca.Cert); err != nil || !got.Equal(first.Cert) {
		t.Fatalf("handshake: %v (same certificate: %v)", err, got != nil && got.Equal(first.Cert))
	}
	var m dto.Metric
	if err := ExpiryTimestamp.Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetGauge().GetValue(); got != float64(first.Cert.NotAfter.Unix()) {
		t.Errorf("expiry gauge %v, want %v", got, first.Cert.NotAfter.Unix())
	}

	// Replaced: served from the next handshake on.
	second, err := issue(p.Serving, ca, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(second.CertPEM, second.KeyPEM); err != nil {
		t.Fatal(err)
	}
	if got, err := handshake(t, l, ca.Cert); err != nil || !got.Equal(second.Cert) {
		t.Fatalf("after Write: %v (the new certificate: %v)", err, got != nil && got.Equal(second.Cert))
	}

	// Expired: not ready.
	old, err := issue(p.Serving, ca, time.Now().Add(-10*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(old.CertPEM, old.KeyPEM); err != nil {
		t.Fatal(err)
	}
	if err := s.ReadyCheck(nil); err == nil {
		t.Errorf("ready with an expired certificate")
	}
}
