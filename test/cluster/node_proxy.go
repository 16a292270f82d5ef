package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// apiProxy is what kube-proxy and the Service default/kubernetes are to a
// pod on a real cluster: the API server at KUBERNETES_SERVICE_HOST:443,
// the address the kubelet gives every pod. kube-apiserver listens on
// loopback only, where no pod reaches; the proxy listens on that Service
// address, which the node's bridge holds, with a certificate for it
// signed by the CA the pods trust (kube-root-ca.crt: kube-controller-
// manager's --root-ca-file), and passes each request on as it came, the
// pod's own bearer token included: the API server authenticates and
// authorizes the pod, never the proxy.
type apiProxy struct {
	srv *http.Server
	ln  net.Listener
	// done is closed when Serve has returned.
	done chan struct{}
}

// startAPIProxy serves addr (host:port) with certPEM/keyPEM and forwards
// to upstream, trusting upstreamCA.
func startAPIProxy(addr string, certPEM, keyPEM []byte, upstream string, upstreamCA []byte, errLog *log.Logger) (*apiProxy, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	target, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(upstreamCA) {
		return nil, errors.New("the API server's CA: no certificate")
	}
	transport := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 100,
		IdleConnTimeout:     90 * time.Second,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
		},
		Transport: transport,
		// Watches stream: every event at once.
		FlushInterval: -1,
		ErrorLog:      errLog,
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("the API server's address for pods %s: %w", addr, err)
	}
	p := &apiProxy{
		srv: &http.Server{
			Handler:           rp,
			TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
			ReadHeaderTimeout: 30 * time.Second,
			ErrorLog:          errLog,
		},
		ln:   ln,
		done: make(chan struct{}),
	}
	go func() {
		defer close(p.done)
		_ = p.srv.ServeTLS(ln, "", "")
	}()
	return p, nil
}

// stop closes the listener and every connection (watches never end by
// themselves).
func (p *apiProxy) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := p.srv.Shutdown(ctx); err != nil {
		_ = p.srv.Close()
	}
	<-p.done
	return nil
}
