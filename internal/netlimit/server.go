package netlimit

import (
	"context"
	"crypto/tls"
	"errors"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Limits are what one peer may hold of a server.
type Limits struct {
	// MaxConnections and PerSource bound connections (Listener).
	MaxConnections int
	PerSource      int
	// ReadHeaderTimeout bounds the TLS handshake, and then each request's
	// headers, each on its own (net/http applies the smallest of its
	// timeouts to the handshake).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds headers and body together.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a kept-alive
	// connection.
	IdleTimeout    time.Duration
	MaxHeaderBytes int
}

// ConnectionsClosed is headless_guard_connections_closed_total: the
// connections the limits closed, by server and reason (fixed sets).
var ConnectionsClosed = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "headless_guard_connections_closed_total",
	Help: "Connections closed by the servers' limits, by server (webhook, health, metrics) and reason: per-source (the source address held its share), full (no room could be made), evicted (an idle connection closed to make room).",
}, []string{"server", "reason"})

func init() {
	ctrlmetrics.Registry.MustRegister(ConnectionsClosed)
}

// Listen listens on addr (TCP) within the limits, counting what they
// close under server's name; with tlsConfig the connections are TLS.
func (lim Limits) Listen(server, addr string, tlsConfig *tls.Config) (net.Listener, *Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	limited := NewListener(ln, lim.MaxConnections, lim.PerSource)
	limited.Counted = func(reason string) { ConnectionsClosed.WithLabelValues(server, reason).Inc() }
	if tlsConfig == nil {
		return limited, limited, nil
	}
	return tls.NewListener(limited, tlsConfig), limited, nil
}

// Server returns an http.Server of h with the limits, reporting connection
// states to l. errorLog receives the server's own errors (handshakes and
// requests cut off); nil discards them.
func (lim Limits) Server(ctx context.Context, h http.Handler, l *Listener, errorLog *log.Logger) *http.Server {
	if errorLog == nil {
		errorLog = log.New(discard{}, "", 0)
	}
	return &http.Server{
		Handler:           h,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
		ConnState:         l.ConnState,
		ErrorLog:          errorLog,
	}
}

// Serve serves h on addr within the limits until ctx ends, then shuts
// down within shutdown.
func (lim Limits) Serve(ctx context.Context, server, addr string, tlsConfig *tls.Config, h http.Handler, errorLog *log.Logger, shutdown time.Duration) error {
	ln, limited, err := lim.Listen(server, addr, tlsConfig)
	if err != nil {
		return err
	}
	srv := lim.Server(ctx, h, limited, errorLog)
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), shutdown)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-done
	return nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// ErrorLog is an http.Server's ErrorLog that writes each line to l (a
// logr.Logger at the verbosity the caller chose): the TLS handshake errors
// and refused connections of a limited server are expected, and belong in
// the structured log at a debug level rather than on stderr.
func ErrorLog(l interface{ Info(string, ...any) }) *log.Logger {
	return log.New(infoWriter{l}, "", 0)
}

type infoWriter struct {
	log interface{ Info(string, ...any) }
}

func (w infoWriter) Write(p []byte) (int, error) {
	w.log.Info(string(p))
	return len(p), nil
}
