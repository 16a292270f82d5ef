package controller

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	reportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/headless-guard/headless-guard/internal/lookup"
	"github.com/headless-guard/headless-guard/rules"
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

// AuditRequest names one object to audit. Kind is a rules.Kind* of a
// pod-template owner: a reconcile.Request would not say which of the seven
// kinds the name belongs to.
type AuditRequest struct {
	Kind      string
	Namespace string
	Name      string
}

func (r AuditRequest) String() string { return r.Kind + " " + r.Namespace + "/" + r.Name }

// Audit re-checks every StatefulSet and every pod-template owner that asks
// for a subdomain, one object at a time, whenever it or an object its
// findings depend on changes. Findings become Warning Events on the
// offending object, recorded once per change of its findings (and deleted
// when it is fixed), and the headless_guard_audit_violations gauge.
type Audit struct {
	Client   client.Client
	Live     client.Reader
	Lookup   *lookup.CacheLookup
	Registry *rules.Registry
	Policy   rules.Policy
	Recorder events.EventRecorder
	// Reports, when set, keeps the findings as one Report per namespace.
	Reports *Reports

	mu sync.Mutex
	// reported holds the findings last recorded for each object that has
	// some. It is keyed by name, not UID: a deleted object's request
	// carries only its name.
	reported map[AuditRequest]auditState
	// counts maps a namespace and a rule ID to the number of findings: the
	// gauge, kept here so that one object's change adjusts it.
	counts map[string]map[string]int
	// recalled is done once the Events of an earlier run were looked up.
	recalled sync.Once
}

// staleKey marks an object that has Events from an earlier run of the
// audit: whatever its findings are now, they differ, so a clean object's
// Events are deleted.
const staleKey = "\x00events of an earlier run"

// recall remembers the objects the audit's earlier runs recorded Events
// about, before the first object is audited: an object fixed while
// headless-guard was down would otherwise keep its Warning Events until
// they expire. A failure is logged and not retried; the Events then
// expire as they would have.
func (a *Audit) recall(ctx context.Context) {
	var list corev1.EventList
	sel := fields.Set{"reason": ReasonViolation}.AsSelector()
	if err := a.Live.List(ctx, &list, client.MatchingFieldsSelector{Selector: sel}); err != nil {
		log.FromContext(ctx).Error(err, "audit: listing the Events of earlier runs; those of objects fixed meanwhile stay until they expire")
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.reported == nil {
		a.reported = map[AuditRequest]auditState{}
		a.counts = map[string]map[string]int{}
	}
	for _, ev := range list.Items {
		o := ev.InvolvedObject
		req := AuditRequest{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
		if _, known := a.reported[req]; !known {
			a.reported[req] = auditState{uid: o.UID, key: staleKey}
		}
	}
}

// auditState is what was recorded for one object.
type auditState struct {
	uid types.UID
	// key is the findings, one line each, sorted: a change records Events.
	key string
	// rules is the rule ID of each finding, for the gauge.
	rules []string
	// results are the findings as a Report carries them.
	results []reportResult
}

// SetupWithManager registers the reconciler: a change to a Service or a
// pod-template owner queues the objects whose findings it can change
// (forService, forWorkload).
func (a *Audit) SetupWithManager(mgr ctrl.Manager) error {
	logger := mgr.GetLogger().WithValues("controller", "audit")
	b := builder.TypedControllerManagedBy[AuditRequest](mgr).Named("audit").
		WithLogConstructor(func(req *AuditRequest) logr.Logger {
			if req == nil {
				return logger
			}
			return logger.WithValues("kind", req.Kind, "namespace", req.Namespace, "name", req.Name)
		}).
		Watches(&corev1.Service{}, handler.TypedEnqueueRequestsFromMapFunc(a.forService))
	for _, obj := range lookup.WorkloadObjects {
		b = b.Watches(obj, handler.TypedEnqueueRequestsFromMapFunc(a.forWorkload))
	}
	if a.Reports != nil {
		if err := reportsv1alpha1.Install(mgr.GetScheme()); err != nil {
			return err
		}
		a.Reports.snapshot = a.results
		if a.Reports.Log.GetSink() == nil {
			a.Reports.Log = logger.WithName("reports")
		}
		if err := mgr.Add(a.Reports); err != nil {
			return err
		}
	}
	return b.Complete(a)
}

// forService maps a Service (old and new, on update) to the objects whose
// findings read it: the StatefulSets that name it (HG002–HG006, HG008,
// HG009), the pod-template owners whose subdomain is its name (HG012), and
// the StatefulSets it selects, whose HG002 message names the headless
// Services that select them.
func (a *Audit) forService(ctx context.Context, o client.Object) []AuditRequest {
	svc, ok := o.(*corev1.Service)
	if !ok {
		return nil
	}
	ns := svc.Namespace
	lookup := a.Lookup.For(ctx)
	var out []AuditRequest
	governed, err := lookup.StatefulSetsFor(ns, svc.Name)
	if err != nil {
		return mapFailed(ctx, o, err, out)
	}
	for _, sts := range governed {
		out = append(out, AuditRequest{Kind: rules.KindStatefulSet, Namespace: ns, Name: sts.Name})
	}
	selected, err := lookup.WorkloadsSelectedBy(ns, svc.Spec.Selector)
	if err != nil {
		return mapFailed(ctx, o, err, out)
	}
	for _, w := range selected {
		if w.Ref.Kind == rules.KindStatefulSet {
			out = append(out, AuditRequest{Kind: rules.KindStatefulSet, Namespace: ns, Name: w.Ref.Name})
		}
	}
	withSubdomain, err := a.Lookup.WithSubdomain(ns, svc.Name)
	if err != nil {
		return mapFailed(ctx, o, err, out)
	}
	for _, obj := range withSubdomain {
		if kind, _ := rules.KindOf(obj); kind != rules.KindStatefulSet { // HG012 does not apply to StatefulSets
			out = append(out, AuditRequest{Kind: kind, Namespace: ns, Name: obj.GetName()})
		}
	}
	return out
}

// forWorkload maps a pod-template owner (old and new, on update) to the
// objects whose findings read it: itself when it is audited, and the
// StatefulSets whose governing Service selects its pods (HG008 names the
// other workloads a Service selects). A controller's copy is neither.
func (a *Audit) forWorkload(ctx context.Context, o client.Object) []AuditRequest {
	if rules.Derived(o) {
		return nil
	}
	w, ok := rules.WorkloadOf(o)
	if !ok {
		return nil
	}
	ns := w.Ref.Namespace
	var out []AuditRequest
	if audited(o, w) {
		out = append(out, AuditRequest{Kind: w.Ref.Kind, Namespace: ns, Name: w.Ref.Name})
	}
	lookup := a.Lookup.For(ctx)
	selecting, err := lookup.ServicesSelecting(ns, w.Template.Labels)
	if err != nil {
		return mapFailed(ctx, o, err, out)
	}
	for _, svc := range selecting {
		governed, err := lookup.StatefulSetsFor(ns, svc.Name)
		if err != nil {
			return mapFailed(ctx, o, err, out)
		}
		for _, sts := range governed {
			out = append(out, AuditRequest{Kind: rules.KindStatefulSet, Namespace: ns, Name: sts.Name})
		}
	}
	return out
}

// mapFailed logs a failed cache read of a map function, which cannot
// return an error: the indexes are registered before the cache starts, so
// it means a programming error, and what was found so far is queued.
func mapFailed(ctx context.Context, o client.Object, err error, out []AuditRequest) []AuditRequest {
	log.FromContext(ctx).Error(err, "audit: finding the objects a change affects", "object", client.ObjectKeyFromObject(o))
	return out
}

// audited reports whether the audit checks o: every StatefulSet, and the
// pod-template owners with a subdomain (HG012), but not the copies their
// controllers make.
func audited(o runtime.Object, w rules.Workload) bool {
	if rules.Derived(o) {
		return false
	}
	_, isSTS := o.(*appsv1.StatefulSet)
	return isSTS || w.Template.Spec.Subdomain != ""
}

// newObject returns an empty object of a pod-template owner kind, or nil.
func newObject(kind string) client.Object {
	for _, obj := range lookup.WorkloadObjects {
		if k, _ := rules.KindOf(obj); k == kind {
			return obj.DeepCopyObject().(client.Object)
		}
	}
	return nil
}

// Reconcile audits one object. One that is gone, or no longer audited, is
// forgotten: its findings leave the gauge, and its Events are left to
// expire.
func (a *Audit) Reconcile(ctx context.Context, req AuditRequest) (reconcile.Result, error) {
	a.recalled.Do(func() { a.recall(ctx) })
	obj := newObject(req.Kind)
	if obj == nil {
		return reconcile.Result{}, nil
	}
	// Read only: Evaluate does not modify what it reads.
	err := a.Client.Get(ctx, types.NamespacedName{Namespace: req.Namespace, Name: req.Name}, obj, client.UnsafeDisableDeepCopy)
	if apierrors.IsNotFound(err) {
		a.commit(req, auditState{})
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if w, _ := rules.WorkloadOf(obj); !audited(obj, w) {
		a.commit(req, auditState{})
		return reconcile.Result{}, nil
	}
	res, err := a.Registry.Evaluate(&rules.Request{Operation: rules.Create, Object: obj}, a.Lookup.For(ctx), &a.Policy)
	if err != nil {
		return reconcile.Result{}, err
	}
	now := auditState{uid: obj.GetUID()}
	if a.Reports != nil && len(res.Findings) > 0 {
		subject := corev1.ObjectReference{Kind: req.Kind, Namespace: req.Namespace, Name: req.Name, UID: obj.GetUID()}
		if gvk, err := apiutil.GVKForObject(obj, a.Client.Scheme()); err == nil {
			subject.APIVersion = gvk.GroupVersion().String()
		}
		now.results = resultsOf(subject, res.Findings)
	}
	var lines []string
	for _, f := range res.Findings {
		now.rules = append(now.rules, f.Rule.ID)
		lines = append(lines, f.Rule.ID+" "+f.Field()+": "+f.Message())
	}
	sort.Strings(lines)
	now.key = strings.Join(lines, "\n")
	if err := a.report(ctx, req, obj, now.key, res.Findings); err != nil {
		return reconcile.Result{}, err
	}
	a.commit(req, now)
	return reconcile.Result{}, nil
}

// report records a Warning Event per finding when the object's findings
// changed since the last report, and deletes the audit's Events once the
// object is clean. What was reported is committed only after it succeeds,
// so that a failed deletion is retried.
func (a *Audit) report(ctx context.Context, req AuditRequest, obj client.Object, key string, findings []rules.Finding) error {
	a.mu.Lock()
	last := a.reported[req]
	a.mu.Unlock()
	if last.uid != obj.GetUID() {
		last = auditState{} // another object of that name: nothing reported yet
	}
	if last.key == key {
		return nil
	}
	if key == "" {
		return a.clearEvents(ctx, obj)
	}
	// The rule ID is the Event's action: the events library folds Events
	// with the same object version, reason and action into one series that
	// keeps the first message, so a shared action would hide every finding
	// but the first.
	for _, f := range findings {
		a.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, ReasonViolation, f.Rule.ID,
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

// results returns the Report results of every object of namespace, in a
// stable order.
func (a *Audit) results(namespace string) []reportResult {
	a.mu.Lock()
	var out []reportResult
	for req, st := range a.reported {
		if req.Namespace == namespace {
			out = append(out, st.results...)
		}
	}
	a.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].sortKey() < out[j].sortKey() })
	return out
}

// commit stores an object's findings (none: forgets it) and moves the gauge
// by the difference with the ones stored before; a label set whose count
// reaches 0 is deleted.
func (a *Audit) commit(req AuditRequest, now auditState) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.reported == nil {
		a.reported = map[AuditRequest]auditState{}
		a.counts = map[string]map[string]int{}
	}
	before := a.reported[req]
	if now.key == "" {
		delete(a.reported, req)
	} else {
		a.reported[req] = now
	}
	if a.Reports != nil && (before.key != now.key || before.uid != now.uid && now.key != "") {
		a.Reports.markDirty(req.Namespace, time.Now())
	}
	if len(before.rules) == 0 && len(now.rules) == 0 {
		return
	}
	counts := a.counts[req.Namespace]
	if counts == nil {
		counts = map[string]int{}
		a.counts[req.Namespace] = counts
	}
	touched := map[string]bool{}
	for _, id := range before.rules {
		counts[id]--
		touched[id] = true
	}
	for _, id := range now.rules {
		counts[id]++
		touched[id] = true
	}
	for id := range touched {
		if n := counts[id]; n > 0 {
			AuditViolations.WithLabelValues(id, req.Namespace).Set(float64(n))
		} else {
			AuditViolations.DeleteLabelValues(id, req.Namespace)
			delete(counts, id)
		}
	}
	if len(counts) == 0 {
		delete(a.counts, req.Namespace)
	}
}
