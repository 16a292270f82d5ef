package webhook

import (
	"context"
	"errors"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/headless-guard/headless-guard/internal/lookup"
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

// Webhook is one path the server answers and its handler.
type Webhook struct {
	Path    string
	Handler admission.Handler
}

// Webhooks is the table of the five webhooks of deploy/base/webhooks.yaml:
// each path with the kinds and operations its configuration registers,
// which are all it serves (trust.go). Setup registers it; the tests use it.
func Webhooks(cfg *Config) []Webhook {
	return []Webhook{
		{PathValidateStatefulSets, &Validator{Config: cfg, Name: "statefulsets", Kinds: []string{rules.KindStatefulSet},
			Operations: []admissionv1.Operation{admissionv1.Create, admissionv1.Update}}},
		{PathValidateServices, &Validator{Config: cfg, Name: "services", Kinds: []string{rules.KindService},
			Operations: []admissionv1.Operation{admissionv1.Create, admissionv1.Update, admissionv1.Delete}}},
		{PathValidateWorkloads, &Validator{Config: cfg, Name: "workloads", Kinds: rules.PodTemplateOwnerKinds,
			Operations: []admissionv1.Operation{admissionv1.Create, admissionv1.Update}}},
		{PathMutateStatefulSets, &Mutator{Config: cfg, Name: "mutate-statefulsets", Kinds: []string{rules.KindStatefulSet}}},
		{PathMutateServices, &Mutator{Config: cfg, Name: "mutate-services", Kinds: []string{rules.KindService}}},
	}
}

// Setup registers the cache indexes, the namespace informer, the five
// webhooks and the readiness checks on mgr. cfg.Lookup and cfg.Namespaces
// are filled in from mgr when nil.
func Setup(ctx context.Context, mgr ctrl.Manager, cfg *Config) error {
	indexes, err := lookup.SetupIndexes(ctx, mgr.GetCache())
	if err != nil {
		return err
	}
	nsInformer, err := mgr.GetCache().GetInformer(ctx, &corev1.Namespace{})
	if err != nil {
		return err
	}
	if cfg.Lookup == nil {
		cfg.Lookup = &lookup.CacheLookup{Cache: mgr.GetCache(), Live: mgr.GetAPIReader(), Indexes: indexes}
	}
	if cfg.Namespaces == nil {
		cfg.Namespaces = &lookup.Namespaces{Cache: mgr.GetCache(), Live: mgr.GetAPIReader()}
		if s, ok := nsInformer.(interface{ GetStore() toolscache.Store }); ok {
			cfg.Namespaces.Store = s.GetStore()
		}
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
	budget := cfg.BodyBudget
	if budget == nil {
		budget = NewBodyBudget(DefaultBodyBudget)
	}
	for _, wh := range Webhooks(cfg) {
		server.Register(wh.Path, closeWhenDraining(cfg.Draining, serveReviews(wh.Handler, true, budget)))
	}

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
