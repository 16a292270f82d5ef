package controller

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/headless-guard/headless-guard/internal/lookup"
	"github.com/headless-guard/headless-guard/rules"
)

// Injector creates the missing headless Service of every StatefulSet for
// which inject-service is enabled (the flag, or the namespace label; the
// object's label may only turn it off), except one a controller owns: its
// operator creates its Service, and an injected one would make that create
// fail with AlreadyExists, or be deleted by it (rules.FixOptions.
// ServiceToInject decides, for the webhook's warning too). It works from
// the StatefulSet as the API server stored it, never from an admission
// review: a review that was forged, or a StatefulSet that a later
// admission step rejected, leaves nothing behind. The Service is created
// with a controller ownerReference to its StatefulSet
// (blockOwnerDeletion), so that Kubernetes' garbage collector deletes it
// with the StatefulSet; the Injector itself never deletes or changes a
// Service.
type Injector struct {
	// Client reads Namespaces from the cache and creates Services.
	Client client.Client
	// Lookup reads StatefulSets from the cache (Object, Objects: the
	// cache keeps records of them, which the cache's client reads only by
	// copy) and Services (the cache, then the API server for one the cache
	// has not seen yet), and finds the StatefulSets that name a Service
	// through the informer index (a List would copy every StatefulSet of
	// the namespace for every Service event). Required.
	Lookup *lookup.CacheLookup
	// Fixes are the fixes the flags enable for every namespace.
	Fixes rules.FixOptions
	// Recorder, when set, records a Normal Event on the StatefulSet.
	Recorder events.EventRecorder
}

// injectedTotal counts the Services the Injector created.
var injectedTotal = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "headless_guard_services_injected_total",
	Help: "Headless Services created by the inject-service fix.",
})

// SetupWithManager registers the reconciler. It is keyed by StatefulSet:
// a StatefulSet written, its Service deleted, or its namespace relabelled
// each settle that StatefulSet.
func (r *Injector) SetupWithManager(mgr ctrl.Manager) error {
	if err := ctrlmetrics.Registry.Register(injectedTotal); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
		return err
	}
	// Only a deleted Service can leave a StatefulSet without one; the
	// informer's initial list of every Service creates nothing. An early
	// watch (earlyWatch): a Service deleted before the controller starts
	// is seen by the reconcile of the StatefulSets queued at its start.
	services, err := watchEarly(mgr.GetCache(), &corev1.Service{}, handler.EnqueueRequestsFromMapFunc(r.statefulSetsNaming), predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	})
	if err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("inject-services").
		// Only a StatefulSet that may need a Service: the rest would wait
		// in the queue for a reconcile that does nothing, and on a start
		// that is every StatefulSet of the cluster at once.
		For(&appsv1.StatefulSet{}, builder.WithPredicates(predicate.Funcs{
			CreateFunc:  func(e event.CreateEvent) bool { return r.mayInject(e.Object) },
			UpdateFunc:  func(e event.UpdateEvent) bool { return r.mayInject(e.ObjectNew) },
			DeleteFunc:  func(event.DeleteEvent) bool { return false },
			GenericFunc: func(e event.GenericEvent) bool { return r.mayInject(e.Object) },
		})).
		WatchesRawSource(services).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.statefulSetsIn)).
		Complete(r)
}

// mayInject reports whether Reconcile may create a Service for o, a
// StatefulSet event's object: false only when it would not whatever else
// the cache and the API server hold (deleted, or inject-service off for
// it in its Namespace as the cache holds it). A change of either queues
// it again: its own update, or its Namespace's (statefulSetsIn, which
// the Namespace informer delivers after its store holds the change, or as
// its initial list when the watch starts after this read). Whether its
// Service exists is left to Reconcile: a Service deleted before the
// Service watch starts has no event.
func (r *Injector) mayInject(o client.Object) bool {
	if o.GetDeletionTimestamp() != nil {
		return false
	}
	ns := &corev1.Namespace{}
	if err := r.Client.Get(context.Background(), types.NamespacedName{Name: o.GetNamespace()}, ns, client.UnsafeDisableDeepCopy); err != nil {
		return true
	}
	// ServiceToInject's first test, on the labels the cache keeps of a
	// StatefulSet (the opt-out labels): no StatefulSet built.
	return r.Fixes.For(ns.Labels, o.GetLabels()).InjectService
}

// statefulSetsNaming maps a Service to the StatefulSets of its namespace
// that name it.
func (r *Injector) statefulSetsNaming(ctx context.Context, o client.Object) []reconcile.Request {
	var out []reconcile.Request
	governed, err := r.Lookup.For(ctx).StatefulSetsFor(o.GetNamespace(), o.GetName())
	if err != nil {
		log.FromContext(ctx).Error(err, "inject-services: finding the StatefulSets that name a deleted Service", "service", client.ObjectKeyFromObject(o))
		return nil
	}
	for _, sts := range governed {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(sts)})
	}
	return out
}

// statefulSetsIn maps a Namespace to its StatefulSets, when its labels
// enable injection.
func (r *Injector) statefulSetsIn(ctx context.Context, o client.Object) []reconcile.Request {
	if !r.Fixes.For(o.GetLabels(), nil).InjectService {
		return nil
	}
	sets, err := r.Lookup.Objects(&appsv1.StatefulSet{}, o.GetName())
	if err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(sets))
	for _, sts := range sets {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(sts)})
	}
	return out
}

// Reconcile implements reconcile.Reconciler.
func (r *Injector) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	// Read only; InjectedService copies what it takes.
	obj, err := r.Lookup.Object(&appsv1.StatefulSet{}, req.Namespace, req.Name)
	if err != nil || obj == nil {
		return reconcile.Result{}, err
	}
	sts, ok := obj.(*appsv1.StatefulSet)
	if !ok {
		return reconcile.Result{}, nil
	}
	if sts.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	ns := &corev1.Namespace{}
	if err := r.Client.Get(ctx, types.NamespacedName{Name: sts.Namespace}, ns, client.UnsafeDisableDeepCopy); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	svc := r.Fixes.ServiceToInject(sts, ns.Labels)
	if svc == nil {
		// Off, opted out, or nothing valid to create: HG002 and the audit
		// say what is missing.
		return reconcile.Result{}, nil
	}
	name := svc.Name
	// The cache, then the API server: a Service the cache has not seen
	// yet must not be created twice (the create would fail as
	// AlreadyExists, but only after a write).
	if existing, err := r.Lookup.For(ctx).Service(sts.Namespace, name); err != nil || existing != nil {
		return reconcile.Result{}, err
	}
	svc.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(sts, appsv1.SchemeGroupVersion.WithKind(rules.KindStatefulSet))}
	err = r.Client.Create(ctx, svc)
	switch {
	case apierrors.IsAlreadyExists(err):
		return reconcile.Result{}, nil
	case apierrors.IsForbidden(err):
		// The chart grants create only where inject is on (inject, or
		// injectNamespaces): a namespace label alone cannot widen what the
		// guard may do. Said on the StatefulSet, not retried: only a change
		// of RBAC or of the object helps.
		log.FromContext(ctx).Info("not allowed to create the headless Service", "service", client.ObjectKeyFromObject(svc), "reason", err.Error())
		if r.Recorder != nil {
			r.Recorder.Eventf(sts, nil, corev1.EventTypeWarning, "HeadlessServiceNotCreated", "inject-service",
				"headless-guard may not create Service %s in this namespace: list the namespace in the chart's injectNamespaces (or set inject: true), or create the Service", name)
		}
		return reconcile.Result{}, nil
	case err != nil:
		return reconcile.Result{}, err
	}
	injectedTotal.Inc()
	log.FromContext(ctx).Info("created headless Service", "service", client.ObjectKeyFromObject(svc), "statefulSet", sts.Name)
	if r.Recorder != nil {
		r.Recorder.Eventf(sts, nil, corev1.EventTypeNormal, "HeadlessServiceCreated", "inject-service",
			"created headless Service %s for `spec.serviceName` (inject-service); it is deleted with this StatefulSet", name)
	}
	return reconcile.Result{}, nil
}
