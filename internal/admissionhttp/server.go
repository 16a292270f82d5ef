package admissionhttp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/headless-guard/headless-guard/internal/netlimit"
)

// Limits of the webhook server. The port is reachable from any pod, so
// every resource a client can hold is bounded: connection slots (per source
// address, and in total with idle ones given up first: netlimit.Listener),
// header bytes, and the time to finish a handshake, send a request, or send
// nothing. The API server sends a review at once, right after its
// handshake, and waits at most 30 seconds (timeoutSeconds) for the answer.
const (
	// DefaultMaxConnections bounds the connections held at once. An idle
	// TLS connection costs about 40 KiB, so this is at most 40 MiB.
	DefaultMaxConnections = 1024
	// DefaultMaxConnectionsPerSource bounds those of one source address:
	// one pod cannot hold more than a quarter of the slots, and the API
	// server, which holds one per review in flight, is never near it.
	DefaultMaxConnectionsPerSource = 256
	// readHeaderTimeout bounds the TLS handshake, and then the headers,
	// each on its own: a peer that connects and sends nothing is gone
	// after it.
	readHeaderTimeout = 5 * time.Second
	// readTimeout bounds headers and body together; the body is charged to
	// the BodyBudget as it arrives, so a slow one holds only what it sent.
	readTimeout = 10 * time.Second
	// writeTimeout is past the longest answer (3/4 of a 30s timeout).
	writeTimeout = 35 * time.Second
	// idleTimeout is past the API server's own (90s, client-go's
	// IdleConnTimeout), so that the API server, not the guard, closes its
	// idle connections: a review it sends just as the guard closed the
	// connection would fail the write (POSTs are not retried). Idle
	// connections cannot hold slots others need: the listener gives them
	// up first when it is full.
	idleTimeout = 2 * time.Minute
	// maxHeaderBytes is far above the API server's few headers.
	maxHeaderBytes = 64 << 10
)

// Limits are the webhook server's limits, with maxConnections and
// perSource connections (the defaults when 0).
func Limits(maxConnections, perSource int) netlimit.Limits {
	if maxConnections <= 0 {
		maxConnections = DefaultMaxConnections
	}
	if perSource <= 0 {
		perSource = DefaultMaxConnectionsPerSource
	}
	return netlimit.Limits{
		MaxConnections: maxConnections, PerSource: perSource,
		ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout, WriteTimeout: writeTimeout,
		IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes,
	}
}

// ServerOptions configure Server. Host, Port, CertDir, CertName, KeyName
// and TLSOpts mean what they mean in controller-runtime's webhook.Options.
type ServerOptions struct {
	Host     string
	Port     int
	CertDir  string
	CertName string
	KeyName  string
	TLSOpts  []func(*tls.Config)
	// ClientCAFile, when set, makes the server require a client
	// certificate issued by one of its CAs (PEM, re-read when it changes):
	// the certificate the API server presents from the kubeconfig of its
	// AdmissionConfiguration. Every other caller fails the handshake.
	ClientCAFile string
	// ClientNames, when set with ClientCAFile, are the only client
	// certificate names served: the subject's common name or a DNS name.
	ClientNames []string
	// MaxConnections bounds the connections held at once
	// (DefaultMaxConnections when 0).
	MaxConnections int
	// MaxConnectionsPerSource bounds those of one source address
	// (DefaultMaxConnectionsPerSource when 0).
	MaxConnectionsPerSource int
}

// Server is the webhook server: controller-runtime's webhook.Server with
// every limit of a server reachable from any pod (connections, header
// size, read timeouts) and optional client-certificate authentication.
// controller-runtime's DefaultServer has neither the limits nor a way to
// set them.
type Server struct {
	opts ServerOptions
	mux  *http.ServeMux

	mu      sync.Mutex
	paths   map[string]bool
	started bool
	addr    string
}

var _ ctrlwebhook.Server = (*Server)(nil)

// NewServer returns a server with opts, defaulted as controller-runtime
// defaults its own (port 9443, tls.crt and tls.key).
func NewServer(opts ServerOptions) *Server {
	if opts.Port == 0 {
		opts.Port = ctrlwebhook.DefaultPort
	}
	if opts.CertDir == "" {
		opts.CertDir = filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs")
	}
	if opts.CertName == "" {
		opts.CertName = "tls.crt"
	}
	if opts.KeyName == "" {
		opts.KeyName = "tls.key"
	}
	return &Server{opts: opts, mux: http.NewServeMux(), paths: map[string]bool{}}
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every
// replica serves.
func (*Server) NeedLeaderElection() bool { return false }

// Register serves hook on path; it panics when path is taken, as
// controller-runtime's server does.
func (s *Server) Register(path string, hook http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paths[path] {
		panic(fmt.Errorf("can't register duplicate path: %v", path))
	}
	s.paths[path] = true
	s.mux.Handle(path, hook)
}

// WebhookMux returns the server's mux.
func (s *Server) WebhookMux() *http.ServeMux { return s.mux }

// Start serves until ctx ends, then shuts down within a minute, as
// controller-runtime's server does.
func (s *Server) Start(ctx context.Context) error {
	logger := logf.Log.WithName("webhook-server")
	cfg := &tls.Config{NextProtos: []string{"h2"}}
	for _, op := range s.opts.TLSOpts {
		op(cfg)
	}
	if cfg.GetCertificate == nil {
		watcher, err := certwatcher.New(filepath.Join(s.opts.CertDir, s.opts.CertName), filepath.Join(s.opts.CertDir, s.opts.KeyName))
		if err != nil {
			return err
		}
		cfg.GetCertificate = watcher.GetCertificate
		go func() {
			if err := watcher.Start(ctx); err != nil {
				logger.Error(err, "certificate watcher error")
			}
		}()
	}
	if s.opts.ClientCAFile != "" {
		cas, err := newClientCAs(s.opts.ClientCAFile, s.opts.ClientNames, logger)
		if err != nil {
			return err
		}
		// Any certificate is asked for, and verified here against the CA
		// file as it is now, so that a rotated CA needs no restart.
		cfg.ClientAuth = tls.RequireAnyClientCert
		cfg.VerifyPeerCertificate = cas.verify
	}
	lim := Limits(s.opts.MaxConnections, s.opts.MaxConnectionsPerSource)
	listener, limited, err := lim.Listen("webhook", net.JoinHostPort(s.opts.Host, strconv.Itoa(s.opts.Port)), cfg)
	if err != nil {
		return err
	}
	// Handshakes refused for want of a client certificate, and clients cut
	// off by the timeouts, are the callers' failures: logged at V(1).
	srv := lim.Server(ctx, s.mux, limited, netlimit.ErrorLog(logger.V(1)))
	logger.Info("serving webhook server", "host", s.opts.Host, "port", s.opts.Port, "clientAuth", s.opts.ClientCAFile != "")
	idleClosed := make(chan struct{})
	go func() {
		defer close(idleClosed)
		<-ctx.Done()
		logger.Info("shutting down webhook server with timeout of 1 minute")
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			logger.Error(err, "error shutting down the HTTP server")
		}
	}()
	s.mu.Lock()
	s.started, s.addr = true, listener.Addr().String()
	s.mu.Unlock()
	if err := srv.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-idleClosed
	return nil
}

// StartedChecker is healthy once the server listens and accepts TCP
// connections. (controller-runtime's completes a TLS handshake without a
// client certificate, which a server requiring one refuses.)
func (s *Server) StartedChecker() healthz.Checker {
	return func(*http.Request) error {
		s.mu.Lock()
		started, addr := s.started, s.addr
		s.mu.Unlock()
		if !started {
			return errors.New("webhook server has not been started yet")
		}
		conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			return fmt.Errorf("webhook server is not reachable: %w", err)
		}
		return conn.Close()
	}
}

// clientCAs verifies client certificates against a CA file, re-read at
// most every clientCARecheck when its size or modification time changed.
type clientCAs struct {
	file  string
	names []string
	log   logr.Logger

	mu      sync.Mutex
	pool    *x509.CertPool
	stamp   string
	checked time.Time
}

const clientCARecheck = 10 * time.Second

func newClientCAs(file string, names []string, log logr.Logger) (*clientCAs, error) {
	c := &clientCAs{file: file, names: names, log: log}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *clientCAs) load() error {
	fi, err := os.Stat(c.file)
	if err != nil {
		return fmt.Errorf("reading the client CA file: %w", err)
	}
	stamp := fmt.Sprint(fi.Size(), fi.ModTime().UnixNano())
	c.checked = time.Now()
	if stamp == c.stamp {
		return nil
	}
	data, err := os.ReadFile(c.file)
	if err != nil {
		return fmt.Errorf("reading the client CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return fmt.Errorf("client CA file %s holds no PEM certificate", c.file)
	}
	c.pool, c.stamp = pool, stamp
	return nil
}

func (c *clientCAs) current() *x509.CertPool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) >= clientCARecheck {
		if err := c.load(); err != nil {
			// Keep the CAs that were good: a file half-written by a
			// rotation must not lock the API server out.
			c.log.Error(err, "keeping the client CAs loaded before")
		}
	}
	return c.pool
}

func (c *clientCAs) verify(raw [][]byte, _ [][]*x509.Certificate) error {
	if len(raw) == 0 {
		return errors.New("a client certificate is required")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, der := range raw {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("parsing the client certificate: %w", err)
		}
		certs[i] = cert
	}
	opts := x509.VerifyOptions{Roots: c.current(), Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for _, cert := range certs[1:] {
		opts.Intermediates.AddCert(cert)
	}
	leaf := certs[0]
	if _, err := leaf.Verify(opts); err != nil {
		return fmt.Errorf("client certificate: %w", err)
	}
	if len(c.names) == 0 || slices.Contains(c.names, leaf.Subject.CommonName) || slices.ContainsFunc(leaf.DNSNames, func(n string) bool { return slices.Contains(c.names, n) }) {
		return nil
	}
	return fmt.Errorf("client certificate %s is not one of the allowed names", Quote(leaf.Subject.CommonName))
}
