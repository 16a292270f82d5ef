package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/headless-guard/headless-guard/internal/netlimit"
)

// The health and metrics ports are reachable from any pod, like the
// webhook's, and served with limits of the same kind. controller-runtime's
// own servers for them (internal/httpserver) take 1 MiB of headers over 32
// seconds with no connection limit: 400 peers sending unfinished headers
// held 400 MiB, past the container's limit, and the guard was killed. The
// kubelet's probes open a connection each, send a few hundred bytes and
// wait at most a second; Prometheus sends one request per scrape with a
// bearer token of a few KB.
var (
	healthLimits = netlimit.Limits{
		MaxConnections: 64, PerSource: 16,
		ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second,
		// Past the slowest check (the webhook's dial, 10s).
		WriteTimeout: 15 * time.Second,
		IdleTimeout:  5 * time.Second, MaxHeaderBytes: 8 << 10,
	}
	metricsLimits = netlimit.Limits{
		MaxConnections: 64, PerSource: 16,
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		// Past the token and access reviews with their retries.
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  40 * time.Second, MaxHeaderBytes: 16 << 10,
	}
)

// probeManager is the manager with its health and readiness checks kept
// here, to be served by healthServer instead of controller-runtime's.
type probeManager struct {
	ctrl.Manager
	mu      sync.Mutex
	healthz map[string]healthz.Checker
	readyz  map[string]healthz.Checker
	// early are servers to run from before the manager starts (the probe
	// server), by startEarly.
	early []func(context.Context) error
}

// AddHealthzCheck implements manager.Manager.
func (m *probeManager) AddHealthzCheck(name string, check healthz.Checker) error {
	return m.add(m.healthz, name, check)
}

// AddReadyzCheck implements manager.Manager.
func (m *probeManager) AddReadyzCheck(name string, check healthz.Checker) error {
	return m.add(m.readyz, name, check)
}

func (m *probeManager) add(checks map[string]healthz.Checker, name string, check healthz.Checker) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := checks[name]; ok {
		return fmt.Errorf("check %q is already registered", name)
	}
	checks[name] = check
	return nil
}

// addLimitedServers serves /healthz and /readyz on --health-probe-bind-address
// and the metrics on --metrics-bind-address (HTTPS with the webhook's
// serving certificate and Kubernetes authentication with --metrics-secure)
// within their limits, and returns the manager to register checks on. The
// manager itself must have both of its servers off.
func (o *Options) addLimitedServers(mgr ctrl.Manager, tlsOpts []func(*tls.Config)) (*probeManager, error) {
	pm := &probeManager{Manager: mgr, healthz: map[string]healthz.Checker{}, readyz: map[string]healthz.Checker{}}
	errorLog := netlimit.ErrorLog(ctrl.Log.WithName("servers").V(1))
	if o.HealthProbeBindAddr != "" && o.HealthProbeBindAddr != "0" {
		mux := http.NewServeMux()
		// The maps are complete before the manager starts its runnables.
		mux.Handle("/healthz", http.StripPrefix("/healthz", &healthz.Handler{Checks: pm.healthz}))
		mux.Handle("/healthz/", http.StripPrefix("/healthz", &healthz.Handler{Checks: pm.healthz}))
		mux.Handle("/readyz", http.StripPrefix("/readyz", &healthz.Handler{Checks: pm.readyz}))
		mux.Handle("/readyz/", http.StripPrefix("/readyz", &healthz.Handler{Checks: pm.readyz}))
		addr := o.HealthProbeBindAddr
		// Not one of the manager's runnables: those start once the caches
		// have synced, and until then a kubelet's liveness probe would find
		// the port closed and restart a pod that is only listing a big
		// cluster (25-55 s at 100,000 Services). Run starts it just before
		// the manager: /healthz answers at once, /readyz fails until the
		// informers have synced and the webhook serves.
		pm.early = append(pm.early, func(ctx context.Context) error {
			return healthLimits.Serve(ctx, "health", addr, nil, mux, errorLog, time.Minute)
		})
	}
	if o.MetricsBindAddress != "" && o.MetricsBindAddress != "0" {
		var handler http.Handler = promhttp.HandlerFor(ctrlmetrics.Registry, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError})
		var cfg *tls.Config
		if o.MetricsSecure {
			filter, err := metricsAuthFilterProvider(mgr.GetConfig(), mgr.GetHTTPClient(), o.MetricsTokenAudiences)
			if err != nil {
				return nil, err
			}
			if handler, err = filter(ctrl.Log.WithName("metrics"), handler); err != nil {
				return nil, err
			}
			cfg = &tls.Config{}
			for _, op := range tlsOpts {
				op(cfg)
			}
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", handler)
		addr := o.MetricsBindAddress
		if err := mgr.Add(limitedServer(func(ctx context.Context) error {
			return metricsLimits.Serve(ctx, "metrics", addr, cfg, mux, errorLog, time.Minute)
		})); err != nil {
			return nil, err
		}
	}
	return pm, nil
}

// limitedServer runs on every replica, leader or not.
type limitedServer func(ctx context.Context) error

func (s limitedServer) Start(ctx context.Context) error { return s(ctx) }

func (limitedServer) NeedLeaderElection() bool { return false }

var _ manager.LeaderElectionRunnable = limitedServer(nil)

// startEarly runs the servers that must not wait for the caches, until ctx
// ends. The returned context ends with the first one's error, which Run
// returns: a probe port that cannot be bound stops the guard, as any
// runnable's error does.
func (m *probeManager) startEarly(ctx context.Context) (context.Context, func() error) {
	ctx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	for _, serve := range m.early {
		wg.Go(func() {
			if err := serve(ctx); err != nil {
				cancel(err)
			}
		})
	}
	return ctx, func() error {
		err := context.Cause(ctx)
		cancel(nil)
		wg.Wait()
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
}
