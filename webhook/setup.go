package webhook

import (
	"cmp"
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

	"github.com/headless-guard/headless-guard/internal/admissionhttp"
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

// CacheLookups registers the informer indexes and the namespace informer
// on mgr's cache and returns the lookups over them: the informer cache,
// with one live GET through the API reader on a miss. Setup makes them
// when Config has none; the binary makes them itself to share them with
// its reconcilers (internal/serve).
func CacheLookups(ctx context.Context, mgr ctrl.Manager) (*lookup.CacheLookup, *lookup.Namespaces, error) {
	indexes, err := lookup.SetupIndexes(ctx, mgr.GetCache())
	if err != nil {
		return nil, nil, err
	}
	nsInformer, err := mgr.GetCache().GetInformer(ctx, &corev1.Namespace{})
	if err != nil {
		return nil, nil, err
	}
	lk := &lookup.CacheLookup{Cache: mgr.GetCache(), Live: mgr.GetAPIReader(), Indexes: indexes}
	namespaces := &lookup.Namespaces{Cache: mgr.GetCache(), Live: mgr.GetAPIReader()}
	if s, ok := nsInformer.(interface{ GetStore() toolscache.Store }); ok {
		namespaces.Store = s.GetStore()
	}
	return lk, namespaces, nil
}

// Setup registers the five webhooks on mgr's webhook server, each behind
// the HTTP layer of internal/admissionhttp with one body budget for all,
// and the readiness checks. cfg.Lookup and cfg.Namespaces are made by
// CacheLookups when nil, cfg.Metrics by NewMetrics (registered with
// controller-runtime's registry) and cfg.Log from mgr's logger.
func Setup(ctx context.Context, mgr ctrl.Manager, cfg *Config) error {
	if cfg.Lookup == nil || cfg.Namespaces == nil {
		lk, namespaces, err := CacheLookups(ctx, mgr)
		if err != nil {
			return err
		}
		cfg.Lookup, cfg.Namespaces = lk, namespaces
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
	budget := admissionhttp.NewBodyBudget(cmp.Or(cfg.BodyBudgetBytes, admissionhttp.DefaultBodyBudget))
	for _, wh := range Webhooks(cfg) {
		server.Register(wh.Path, admissionhttp.Handler(wh.Handler, admissionhttp.Options{
			RecoverPanic: true, Budget: budget, Refused: refusedCounter(wh.Handler), Draining: cfg.Draining,
		}))
	}

	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("webhook", server.StartedChecker()); err != nil {
		return err
	}
	// Not ready until every informer has synced: a verdict from a cold cache
	// would fall back to live reads for every Service and see no StatefulSets.
	// The wait is short: the probe server answers from before the caches
	// start, and a kubelet's probe gives up after one second (its default
	// timeoutSeconds), which would count as a failure without a reason.
	return mgr.AddReadyzCheck("informers", func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), 200*time.Millisecond)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("informer caches have not synced")
		}
		return nil
	})
}

// refusedCounter counts a review the HTTP layer refused in
// headless_guard_admission_refused_total, under the webhook name of h.
func refusedCounter(h admission.Handler) func(reason string) {
	return func(reason string) {
		var name string
		var m *Metrics
		switch h := h.(type) {
		case *Validator:
			name, m = h.Name, h.Metrics
		case *Mutator:
			name, m = h.Name, h.Metrics
		}
		if m != nil {
			m.Refused.WithLabelValues(name, reason).Inc()
		}
	}
}
