package resilience

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"strconv"
	"testing"
	"time"
)

// TestWebhookTLSPolicy dials the webhook port as a client would: TLS below
// 1.2 is refused, and HTTP/2 is not offered unless --enable-http2.
func TestWebhookTLSPolicy(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.WebhookPort()))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.WebhookCA())
	dial := func(cfg *tls.Config) (*tls.Conn, error) {
		cfg.RootCAs, cfg.ServerName = pool, "127.0.0.1"
		return tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	}
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		if conn, err := dial(&tls.Config{MinVersion: v, MaxVersion: v}); err == nil {
			conn.Close()
			t.Errorf("a %s handshake succeeded; TLS 1.2 is the minimum", tls.VersionName(v))
		}
	}
	conn, err := dial(&tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatalf("TLS 1.2 with the cluster's CA: %v", err)
	}
	if p := conn.ConnectionState().NegotiatedProtocol; p == "h2" {
		t.Errorf("HTTP/2 negotiated without --enable-http2")
	}
	conn.Close()

	guard(t, "--enable-http2")
	conn, err = dial(&tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Errorf("--enable-http2: negotiated %q, want h2", p)
	}
	conn.Close()
}
