package webhook

import (
	"context"
	"errors"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/headless-guard/headless-guard/rules"
)

// Paths the webhooks are served on; deploy/base/webhooks.yaml names them.
const (
	PathValidateStatefulSets = "/validate/statefulsets"
	PathValidateServices     = "/validate/services"
	PathValidateWorkloads    = "/validate/workloads"
	PathMutateStatefulSets   = "/mutate/statefulsets"
	PathMutateServices       = "/mutate/services"
)

// Setup registers the cache indexes, the namespace informer, the five
// webhooks and the readiness checks on mgr. cfg.Lookup, cfg.Namespaces and
// cfg.Writer are filled in from mgr when nil.
func Setup(ctx context.Context, mgr ctrl.Manager, cfg *Config) error {
	indexes, err := SetupIndexes(ctx, mgr.GetCache())
	if err != nil {
		return err
	}
	if _, err := mgr.GetCache().GetInformer(ctx, &corev1.Namespace{}); err != nil {
		return err
	}
	if cfg.Lookup == nil {
		cfg.Lookup = &CacheLookup{Cache: mgr.GetCache(), Live: mgr.GetAPIReader(), Indexes: indexes}
	}
	if cfg.Namespaces == nil {
		cfg.Namespaces = &Namespaces{Cache: mgr.GetCache(), Live: mgr.GetAPIReader()}
	}
	if cfg.Writer == nil {
		cfg.Writer = mgr.GetClient()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
		if err := cfg.Metrics.Register(nil); err != nil {
			return err
		}
	}
	if cfg.Log.GetSink() == nil {
		cfg.Log = mgr.GetLogger().WithName("admission")
	}
	server := mgr.GetWebhookServer()
	register := func(path string, h admission.Handler) {
		server.Register(path, closeWhenDraining(cfg.Draining, serveReviews(h, true)))
	}
	register(PathValidateStatefulSets, &Validator{Config: cfg, Name: "statefulsets", Kinds: []string{rules.KindStatefulSet}})
	register(PathValidateServices, &Validator{Config: cfg, Name: "services", Kinds: []string{rules.KindService}})
	register(PathValidateWorkloads, &Validator{Config: cfg, Name: "workloads", Kinds: rules.PodTemplateOwnerKinds})
	register(PathMutateStatefulSets, &Mutator{Config: cfg, Name: "mutate-statefulsets", Kinds: []string{rules.KindStatefulSet}})
	register(PathMutateServices, &Mutator{Config: cfg, Name: "mutate-services", Kinds: []string{rules.KindService}})

	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("webhook", server.StartedChecker()); err != nil {
		return err
	}
	// Not ready until every informer has synced: a verdict from a cold cache
	// would fall back to live reads for every Service and see no StatefulSets.
	return mgr.AddReadyzCheck("informers", func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), time.Second)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("informer caches have not synced")
		}
		return nil
	})
}

// closeWhenDraining sets "Connection: close" on responses once draining has
// begun: each client then opens a fresh connection for its next request,
// and by the time the listener closes no idle connection is left to race a
// request (a POST on a connection the server is closing fails with EOF and
// is not retried).
func closeWhenDraining(draining func() bool, next http.Handler) http.Handler {
	if draining == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if draining() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}
