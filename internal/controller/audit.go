package controller

import (
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/webhook"
)

// ReasonViolation is the reason of the Events the audit records.
const ReasonViolation = "HeadlessGuardViolation"

// AuditViolations is the headless_guard_audit_violations gauge.
var AuditViolations = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "headless_guard_audit_violations",
	Help: "Findings of the audit of existing objects, by rule and namespace (the label set is removed when a namespace is clean).",
}, []string{"rule", "namespace"})

// RegisterMetrics adds the audit gauge to controller-runtime's registry.
func RegisterMetrics() error { return ctrlmetrics.Registry.Register(AuditViolations) }

// Audit re-checks every StatefulSet and every pod-template owner that asks
// for a subdomain, one namespace at a time, whenever one of them or a
// Service of the namespace changes. Findings become Warning Events on the
// offending object, recorded once per change of its findings (and deleted
// when it is fixed), and the headless_guard_audit_violations gauge.
type Audit struct {
	Client   client.Client
	Live     client.Reader
	Lookup   *webhook.CacheLookup
	Registry *rules.Registry
	Policy   rules.Policy
	Recorder events.EventRecorder

	mu sync.Mutex
	// reported maps a namespace and an object's UID to the findings last
	// recorded for it.
	reported map[string]map[types.UID]string
	// rulesSeen maps a namespace to the rule IDs its gauge has values for.
	rulesSeen map[string]map[string]bool
}

// SetupWithManager registers the reconciler: any change to a watched object
// queues its namespace.
func (a *Audit) SetupWithManager(mgr ctrl.Manager) error {
	a.reported = map[string]map[types.UID]string{}
	a.rulesSeen = map[string]map[string]bool{}
	byNamespace := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: o.GetNamespace()}}}
	})
	b := ctrl.NewControllerManagedBy(mgr).Named("audit").
		Watches(&corev1.Service{}, byNamespace)
	for _, obj := range webhook.WorkloadObjects {
		b = b.Watches(obj, byNamespace)
	}
	return b.Complete(a)
}

// Reconcile audits one namespace (req.Name).
func (a *Audit) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	ns := req.Name
	subjects, err := a.subjects(ctx, ns)
	if err != nil {
		return reconcile.Result{}, err
	}
	lookup := a.Lookup.For(ctx)
	counts := map[string]int{}
	live := map[types.UID]bool{}
	for _, obj := range subjects {
		res, err := a.Registry.Evaluate(&rules.Request{Operation: rules.Create, Object: obj}, lookup, &a.Policy)
		if err != nil {
			return reconcile.Result{}, err
		}
		uid := obj.(client.Object).GetUID()
		live[uid] = true
		var lines []string
		for _, f := range res.Findings {
			counts[f.Rule.ID]++
			lines = append(lines, f.Rule.ID+" "+f.Field()+": "+f.Message())
		}
		sort.Strings(lines)
		if err := a.report(ctx, obj.(client.Object), strings.Join(lines, "\n"), res.Findings); err != nil {
			return reconcile.Result{}, err
		}
	}
	a.setGauge(ns, counts)
	a.forget(ns, live)
	return reconcile.Result{}, nil
}

// subjects lists the namespace's StatefulSets and the pod-template owners
// with a subdomain (not the copies their controllers make).
func (a *Audit) subjects(ctx context.Context, ns string) ([]runtime.Object, error) {
	var out []runtime.Object
	add := func(list client.ObjectList, items func() []runtime.Object) error {
		if err := a.Client.List(ctx, list, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, o := range items() {
			w, ok := rules.WorkloadOf(o)
			if !ok || rules.Derived(o) {
				continue
			}
			if _, isSTS := o.(*appsv1.StatefulSet); isSTS || w.Template.Spec.Subdomain != "" {
				out = append(out, o)
			}
		}
		return nil
	}
	var (
		sts  appsv1.StatefulSetList
		dep  appsv1.DeploymentList
		rs   appsv1.ReplicaSetList
		ds   appsv1.DaemonSetList
		job  batchv1.JobList
		cron batchv1.CronJobList
		pods corev1.PodList
	)
	for _, l := range []struct {
		list  client.ObjectList
		items func() []runtime.Object
	}{
		{&sts, func() []runtime.Object { return ptrs(sts.Items) }},
		{&dep, func() []runtime.Object { return ptrs(dep.Items) }},
		{&rs, func() []runtime.Object { return ptrs(rs.Items) }},
		{&ds, func() []runtime.Object { return ptrs(ds.Items) }},
		{&job, func() []runtime.Object { return ptrs(job.Items) }},
		{&cron, func() []runtime.Object { return ptrs(cron.Items) }},
		{&pods, func() []runtime.Object { return ptrs(pods.Items) }},
	} {
		if err := add(l.list, l.items); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func ptrs[T any, P interface {
	*T
	runtime.Object
}](items []T) []runtime.Object {
	out := make([]runtime.Object, len(items))
	for i := range items {
		out[i] = P(&items[i])
	}
	return out
}

// report records a Warning Event per finding when the object's findings
// changed since the last report, and deletes the audit's Events once the
// object is clean.
func (a *Audit) report(ctx context.Context, obj client.Object, key string, findings []rules.Finding) error {
	a.mu.Lock()
	byUID := a.reported[obj.GetNamespace()]
	if byUID == nil {
		byUID = map[types.UID]string{}
		a.reported[obj.GetNamespace()] = byUID
	}
	last, known := byUID[obj.GetUID()]
	byUID[obj.GetUID()] = key
	a.mu.Unlock()
	if known && last == key || !known && key == "" {
		return nil
	}
	if key == "" {
		return a.clearEvents(ctx, obj)
	}
	for _, f := range findings {
		a.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, ReasonViolation, "Audit",
			"%s %s: %s: %s", f.Rule.ID, f.Rule.Name, f.Field(), f.Message())
	}
	return nil
}

// clearEvents deletes the Events the audit recorded about obj.
func (a *Audit) clearEvents(ctx context.Context, obj client.Object) error {
	var list corev1.EventList
	sel := fields.Set{"involvedObject.uid": string(obj.GetUID()), "reason": ReasonViolation}.AsSelector()
	if err := a.Live.List(ctx, &list, client.InNamespace(obj.GetNamespace()), client.MatchingFieldsSelector{Selector: sel}); err != nil {
		return err
	}
	for i := range list.Items {
		if err := a.Client.Delete(ctx, &list.Items[i]); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	log.FromContext(ctx).V(1).Info("cleared audit events", "object", client.ObjectKeyFromObject(obj), "events", len(list.Items))
	return nil
}

func (a *Audit) setGauge(ns string, counts map[string]int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	seen := a.rulesSeen[ns]
	if seen == nil {
		seen = map[string]bool{}
		a.rulesSeen[ns] = seen
	}
	for id := range seen {
		if counts[id] == 0 {
			AuditViolations.DeleteLabelValues(id, ns)
			delete(seen, id)
		}
	}
	for id, n := range counts {
		AuditViolations.WithLabelValues(id, ns).Set(float64(n))
		seen[id] = true
	}
}

// forget drops the memory of the namespace's objects that are gone.
func (a *Audit) forget(ns string, live map[types.UID]bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for uid := range a.reported[ns] {
		if !live[uid] {
			delete(a.reported[ns], uid)
		}
	}
	if len(a.reported[ns]) == 0 {
		delete(a.reported, ns)
	}
}
