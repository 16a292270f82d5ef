package controller

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	reportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/headless-guard/headless-guard/internal/lookup"
	"github.com/headless-guard/headless-guard/rules"
)

// ReasonViolation is the reason of the Warning Events the audit records
// about a finding that persisted for the grace period.
const ReasonViolation = "HeadlessGuardViolation"

// ReasonResolved is the reason of the Normal Event that supersedes the
// Warning Events of a reported violation once it is fixed.
const ReasonResolved = "HeadlessGuardResolved"

// AuditViolations is the headless_guard_audit_violations gauge.
var AuditViolations = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "headless_guard_audit_violations",
	Help: "Findings of the audit of existing objects that persisted for the grace period, by rule and namespace (the label set is removed when a namespace is clean).",
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
// findings depend on changes. Findings that persist for GracePeriod are
// reported: Warning Events on the offending object and on its controlling
// owner (the custom resource an operator's user wrote), the object's
// entries in its namespace's Report, and the headless_guard_audit_violations
// gauge. A reported violation that is fixed is withdrawn: its Warning
// Events deleted, a Normal Event (HeadlessGuardResolved) on the object and
// its owner, the Report entries and the gauge down.
type Audit struct {
	Client   client.Client
	Live     client.Reader
	Lookup   *lookup.CacheLookup
	Registry *rules.Registry
	// Policy is the global policy; the labels of the object's namespace
	// override it (rules.Policy.ForNamespace) as they do at admission. Its
	// mode is not applied: a finding the policy would deny is a failure in
	// the Report even in warn mode.
	Policy rules.Policy
	// Namespaces reads those labels; nil: Policy everywhere.
	Namespaces *lookup.Namespaces
	Recorder   events.EventRecorder
	// Reports, when set, keeps the findings as one Report per namespace.
	Reports *Reports
	// GracePeriod is how long an object's findings must persist before
	// they are reported: a StatefulSet written a moment before its Service
	// (kubectl apply of a file in that order, an operator that creates the
	// StatefulSet first) is never reported. 0 reports at once.
	GracePeriod time.Duration

	// now is the clock; time.Now when nil.
	now func() time.Time

	mu sync.Mutex
	// reported holds the findings reported for each object that has some.
	// It is keyed by name, not UID: a deleted object's request carries
	// only its name.
	reported map[AuditRequest]auditState
	// pending holds the objects whose findings are not reported yet, with
	// the time they were first seen with findings.
	pending map[AuditRequest]pendingState
	// earlier holds what the audit's earlier runs reported, read from
	// their Events and Reports, until the object is first audited.
	earlier map[AuditRequest]earlierState
	// counts maps a namespace and a rule ID to the number of findings: the
	// gauge, kept here so that one object's change adjusts it.
	counts map[string]map[string]int
	// recalled is done once the Events of an earlier run were looked up.
	recalled sync.Once
	// waiting are the pending objects in the order they are due.
	waiting dueList
}

// pendingState is an object seen with findings not reported yet.
type pendingState struct {
	uid   types.UID
	since time.Time
}

// earlierState is what an earlier run reported about one object: the
// lines of its Warning Events and Report results (eventNote's format).
type earlierState struct {
	uid   types.UID
	lines map[string]bool
}

func (a *Audit) clock() time.Time {
	if a.now != nil {
		return a.now()
	}
	return time.Now()
}

// recall remembers what the audit's earlier runs reported, before the
// first object is audited: an object fixed while headless-guard was down
// gets its Warning Events withdrawn, and one still wrong in the same way
// is not reported a second time (nor made to wait for the grace period
// again). A failure is logged and not retried; the Events then expire as
// they would have, and the findings are reported again after the grace
// period.
func (a *Audit) recall(ctx context.Context) {
	earlier := map[AuditRequest]earlierState{}
	add := func(o corev1.ObjectReference, line string) {
		req := AuditRequest{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
		st, ok := earlier[req]
		if !ok || st.uid != o.UID {
			st = earlierState{uid: o.UID, lines: map[string]bool{}}
			earlier[req] = st
		}
		st.lines[line] = true
	}
	var list corev1.EventList
	sel := fields.Set{"reason": ReasonViolation}.AsSelector()
	if err := a.Live.List(ctx, &list, client.MatchingFieldsSelector{Selector: sel}); err != nil {
		log.FromContext(ctx).Error(err, "audit: listing the Events of earlier runs; those of objects fixed meanwhile stay until they expire")
	}
	for _, ev := range list.Items {
		// An owner's Event names the object it is about in related.
		if ev.Related == nil {
			add(ev.InvolvedObject, ev.Message)
		}
	}
	if a.Reports != nil {
		var reports reportsv1alpha1.ReportList
		if err := a.Live.List(ctx, &reports, client.MatchingLabels{rules.ManagedByLabel: rules.ManagedByValue}); err == nil {
			for _, rep := range reports.Items {
				if rep.Name != ReportName {
					continue
				}
				for _, res := range rep.Results {
					r := fromReport(res)
					r.subject.Namespace = rep.Namespace
					add(r.subject, r.note())
				}
			}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	for req, st := range earlier {
		if _, known := a.reported[req]; !known {
			a.earlier[req] = st
		}
	}
}

func (a *Audit) init() {
	if a.reported == nil {
		a.reported = map[AuditRequest]auditState{}
		a.pending = map[AuditRequest]pendingState{}
		a.earlier = map[AuditRequest]earlierState{}
		a.counts = map[string]map[string]int{}
	}
}

// auditState is what was reported for one object.
type auditState struct {
	uid types.UID
	// key is the findings, one line each, sorted: a change records Events.
	key string
	// notes are the findings as their Events say them (eventNote).
	notes []string
	// rules is the rule ID of each finding, for the gauge.
	rules []string
	// results are the findings as a Report carries them.
	results []reportResult
}

// eventNote is a finding as the audit's Events and the recall say it.
func eventNote(f rules.Finding) string {
	return fmt.Sprintf("%s %s: %s: %s", f.Rule.ID, f.Rule.Name, f.Field(), f.Message())
}

// note is a Report result in eventNote's format.
func (r reportResult) note() string {
	return fmt.Sprintf("%s %s: %s: %s", r.policy, r.rule, r.field, r.message)
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
		})
	// Early watches (earlyWatch): the first pass, auditAll, audits what
	// the cache holds when the audit starts.
	watch := func(obj client.Object, h handler.TypedEventHandler[client.Object, AuditRequest], predicates ...predicate.TypedPredicate[client.Object]) error {
		w, err := watchEarly(mgr.GetCache(), obj, h, predicates...)
		if err == nil {
			b = b.WatchesRawSource(w)
		}
		return err
	}
	if err := watch(&corev1.Service{}, changesOnly(a.forService)); err != nil {
		return err
	}
	// The namespace's labels set its policy: a change re-audits its
	// objects, so that a finding's action (fail or warn) follows.
	if err := watch(&corev1.Namespace{}, handler.TypedEnqueueRequestsFromMapFunc(a.forNamespace), predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return !reflect.DeepEqual(a.Policy.ForNamespace(e.ObjectOld.GetLabels()), a.Policy.ForNamespace(e.ObjectNew.GetLabels()))
		},
	}); err != nil {
		return err
	}
	for _, obj := range lookup.WorkloadObjects {
		if err := watch(obj, changesOnly(a.forWorkload)); err != nil {
			return err
		}
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
	// The first pass (auditAll), and the findings due (queueWhenDue).
	b = b.WatchesRawSource(source.TypedFunc[AuditRequest](func(ctx context.Context, q workqueue.TypedRateLimitingInterface[AuditRequest]) error {
		go a.auditAll(ctx, q, mgr.GetCache().WaitForCacheSync)
		go a.queueWhenDue(ctx, q)
		return nil
	}))
	return b.Complete(auditReconciler{a})
}

// forService maps a Service (old and new, on update) to the objects whose
// findings read it: the StatefulSets that name it (HG002–HG006, HG008,
// HG009), the pod-template owners whose subdomain is its name (HG012), and
// the StatefulSets it selects, whose HG002 message names the headless
// Services that select them.
func (a *Audit) forService(ctx context.Context, o client.Object) []AuditRequest {
	svc, ok := lookup.ServiceOf(o)
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
	o = lookup.ObjectOf(o) // the cache's record of a StatefulSet
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

// changesOnly is the audit's handler of one informer: changed maps the
// events of the objects that change, not those of the informers' initial
// lists (a start of the guard), which auditAll queues: the objects a
// change would queue besides itself (the StatefulSets that read a
// Service, those whose Service selects a workload) are each on the initial
// list of their own informer, and mapping them again would queue each
// once per object that names it, the whole cluster at once.
func changesOnly(changed handler.TypedMapFunc[client.Object, AuditRequest]) handler.TypedEventHandler[client.Object, AuditRequest] {
	all := handler.TypedEnqueueRequestsFromMapFunc(changed)
	return &changesHandler{TypedEventHandler: all}
}

type changesHandler struct {
	handler.TypedEventHandler[client.Object, AuditRequest]
}

func (h *changesHandler) Create(ctx context.Context, e event.TypedCreateEvent[client.Object], q workqueue.TypedRateLimitingInterface[AuditRequest]) {
	if !e.IsInInitialList {
		h.TypedEventHandler.Create(ctx, e, q)
	}
}

// forNamespace maps a Namespace whose policy labels changed to the objects
// the audit checks in it.
func (a *Audit) forNamespace(ctx context.Context, o client.Object) []AuditRequest {
	var out []AuditRequest
	for _, obj := range lookup.WorkloadObjects {
		items, err := a.Lookup.Objects(obj, o.GetName())
		if err != nil {
			return mapFailed(ctx, o, err, out)
		}
		for _, item := range items {
			if w, ok := rules.WorkloadOf(item); ok && audited(item, w) {
				out = append(out, AuditRequest{Kind: w.Ref.Kind, Namespace: w.Ref.Namespace, Name: w.Ref.Name})
			}
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

// Reconcile audits one object. Its findings are reported once they have
// persisted for the grace period (until then it is requeued for the moment
// they would be due); once reported, a change of its findings is reported
// at once, and a fix withdraws them. One that is gone, or no longer
// audited, is forgotten: its findings leave the gauge and the Report, and
// its Events are left to expire.
func (a *Audit) Reconcile(ctx context.Context, req AuditRequest) (reconcile.Result, error) {
	a.recalled.Do(func() { a.recall(ctx) })
	example := newObject(req.Kind)
	if example == nil {
		return reconcile.Result{}, nil
	}
	// Read only: Evaluate does not modify what it reads.
	obj, err := a.Lookup.Object(example, req.Namespace, req.Name)
	if err != nil {
		return reconcile.Result{}, err
	}
	if obj == nil {
		a.commit(req, auditState{})
		return reconcile.Result{}, nil
	}
	if w, _ := rules.WorkloadOf(obj); !audited(obj, w) {
		a.commit(req, auditState{})
		return reconcile.Result{}, nil
	}
	policy := a.Policy
	if a.Namespaces != nil {
		labels, err := a.Namespaces.Labels(ctx, req.Namespace)
		if err != nil {
			return reconcile.Result{}, err
		}
		policy = policy.ForNamespace(labels)
	}
	// What the policy denies stays a failure in the Report whatever the
	// mode: warn mode is how a policy is tried before it is enforced, and
	// the audit is where its would-be denials show.
	policy.Mode = rules.ModeEnforce
	res, err := a.Registry.Evaluate(&rules.Request{Operation: rules.Create, Object: obj}, a.Lookup.For(ctx), &policy)
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
		now.notes = append(now.notes, eventNote(f))
		lines = append(lines, f.Rule.ID+" "+f.Field()+": "+f.Message())
	}
	sort.Strings(lines)
	now.key = strings.Join(lines, "\n")

	a.mu.Lock()
	a.init()
	last := a.reported[req]
	if last.uid != obj.GetUID() {
		last = auditState{} // another object of that name: nothing reported yet
	}
	earlier, hadEarlier := a.earlier[req]
	hadEarlier = hadEarlier && earlier.uid == obj.GetUID()
	pending, isPending := a.pending[req]
	isPending = isPending && pending.uid == obj.GetUID()
	a.mu.Unlock()

	switch {
	case now.key == "":
		if last.key != "" || hadEarlier {
			if err := a.withdraw(ctx, obj, last, earlier); err != nil {
				return reconcile.Result{}, err
			}
		}
	case last.key == now.key && slices.Equal(last.results, now.results):
		return reconcile.Result{}, nil
	case last.key == "" && hadEarlier && covers(earlier.lines, now.notes):
		// Reported by an earlier run, and still so: reported, not twice;
		// the Events of what was fixed meanwhile go.
		if len(earlier.lines) > len(now.notes) {
			if err := a.clearEvents(ctx, obj, a.owner(obj), setOf(now.notes)); err != nil {
				return reconcile.Result{}, err
			}
		}
	case last.key == "" && !hadEarlier:
		// Not reported yet: only once it has persisted.
		at := a.clock()
		if !isPending {
			pending = pendingState{uid: obj.GetUID(), since: at}
			a.mu.Lock()
			a.pending[req] = pending
			a.mu.Unlock()
		}
		if wait := pending.since.Add(a.GracePeriod).Sub(at); wait > 0 {
			if !isPending {
				a.waiting.push(req, pending.since)
			}
			return reconcile.Result{RequeueAfter: wait}, nil
		}
		if err := a.report(ctx, obj, now); err != nil {
			return reconcile.Result{}, err
		}
	case last.key == now.key:
		// Only their actions changed (the namespace's policy): the Report
		// follows, the Events say the same.
	default:
		// Reported, and its findings changed: they have been wrong for
		// longer than the grace period already.
		if err := a.report(ctx, obj, now); err != nil {
			return reconcile.Result{}, err
		}
	}
	a.commit(req, now)
	return reconcile.Result{}, nil
}

func setOf(notes []string) map[string]bool {
	out := make(map[string]bool, len(notes))
	for _, n := range notes {
		out[n] = true
	}
	return out
}

// covers reports whether every note was reported before.
func covers(reported map[string]bool, notes []string) bool {
	for _, n := range notes {
		if !reported[n] {
			return false
		}
	}
	return true
}

// owner is the reference of obj's controlling owner (the ownerReference
// with controller: true), or nil. An owner in the object's namespace is
// assumed unless the API server's mapping says the kind is cluster-scoped.
func (a *Audit) owner(obj client.Object) *corev1.ObjectReference {
	ref := metav1.GetControllerOf(obj)
	if ref == nil {
		return nil
	}
	out := &corev1.ObjectReference{APIVersion: ref.APIVersion, Kind: ref.Kind, Name: ref.Name, UID: ref.UID, Namespace: obj.GetNamespace()}
	if gv, err := schema.ParseGroupVersion(ref.APIVersion); err == nil && a.Client.RESTMapper() != nil {
		if m, err := a.Client.RESTMapper().RESTMapping(gv.WithKind(ref.Kind).GroupKind(), gv.Version); err == nil && m.Scope.Name() == meta.RESTScopeNameRoot {
			out.Namespace = ""
		}
	}
	return out
}

// report records a Warning Event per finding on the object, and on its
// controlling owner naming the object; Events of findings that no longer
// hold are deleted first (superseded). The rule ID is the Event's action:
// the events library folds Events with the same object version, reason and
// action into one series that keeps the first message, so a shared action
// would hide every finding but the first.
func (a *Audit) report(ctx context.Context, obj client.Object, now auditState) error {
	owner := a.owner(obj)
	if err := a.clearEvents(ctx, obj, owner, setOf(now.notes)); err != nil {
		return err
	}
	kind, _ := rules.KindOf(obj)
	for i, note := range now.notes {
		id := now.rules[i]
		a.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, ReasonViolation, id, "%s", note)
		if owner != nil {
			a.Recorder.Eventf(owner, obj, corev1.EventTypeWarning, ReasonViolation, id, "%s %s: %s", kind, obj.GetName(), note)
		}
	}
	log.FromContext(ctx).Info("reported findings that persisted for the grace period", "object", client.ObjectKeyFromObject(obj), "kind", kind, "rules", now.rules, "gracePeriod", a.GracePeriod)
	return nil
}

// withdraw deletes the Warning Events of a violation that is fixed, on the
// object and its owner, and supersedes them with a Normal Event on both.
func (a *Audit) withdraw(ctx context.Context, obj client.Object, last auditState, earlier earlierState) error {
	owner := a.owner(obj)
	if err := a.clearEvents(ctx, obj, owner, nil); err != nil {
		return err
	}
	ids := slices.Clone(last.rules)
	if len(ids) == 0 {
		for line := range earlier.lines {
			id, _, _ := strings.Cut(line, " ")
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	kind, _ := rules.KindOf(obj)
	a.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, ReasonResolved, "Resolve",
		"the findings reported earlier are resolved: %s", strings.Join(ids, ", "))
	if owner != nil {
		a.Recorder.Eventf(owner, obj, corev1.EventTypeNormal, ReasonResolved, "Resolve",
			"%s %s: the findings reported earlier are resolved: %s", kind, obj.GetName(), strings.Join(ids, ", "))
	}
	log.FromContext(ctx).Info("withdrew reported findings: fixed", "object", client.ObjectKeyFromObject(obj), "kind", kind, "rules", ids)
	return nil
}

// clearEvents deletes the audit's Warning Events about obj, and those on
// its owner that name obj, except the ones whose note is in keep (an
// owner's Event note is prefixed with the object's kind and name).
func (a *Audit) clearEvents(ctx context.Context, obj client.Object, owner *corev1.ObjectReference, keep map[string]bool) error {
	var list corev1.EventList
	sel := fields.Set{"involvedObject.uid": string(obj.GetUID()), "reason": ReasonViolation}.AsSelector()
	if err := a.Live.List(ctx, &list, client.InNamespace(obj.GetNamespace()), client.MatchingFieldsSelector{Selector: sel}); err != nil {
		return err
	}
	stale := slices.DeleteFunc(list.Items, func(ev corev1.Event) bool { return keep[ev.Message] })
	if owner != nil {
		var owned corev1.EventList
		sel := fields.Set{"involvedObject.uid": string(owner.UID), "reason": ReasonViolation}.AsSelector()
		ns := owner.Namespace
		if ns == "" {
			ns = metav1.NamespaceDefault
		}
		if err := a.Live.List(ctx, &owned, client.InNamespace(ns), client.MatchingFieldsSelector{Selector: sel}); err != nil {
			return err
		}
		kind, _ := rules.KindOf(obj)
		prefix := kind + " " + obj.GetName() + ": "
		for _, ev := range owned.Items {
			if ev.Related != nil && ev.Related.UID == obj.GetUID() && !keep[strings.TrimPrefix(ev.Message, prefix)] {
				stale = append(stale, ev)
			}
		}
	}
	for i := range stale {
		if err := a.Client.Delete(ctx, &stale[i]); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	if len(stale) > 0 {
		log.FromContext(ctx).V(1).Info("cleared audit events", "object", client.ObjectKeyFromObject(obj), "events", len(stale))
	}
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
	a.init()
	delete(a.pending, req)
	delete(a.earlier, req)
	before := a.reported[req]
	if now.key == "" {
		delete(a.reported, req)
	} else {
		a.reported[req] = now
	}
	if a.Reports != nil && (before.key != now.key || before.uid != now.uid && now.key != "" || !slices.Equal(before.results, now.results)) {
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
