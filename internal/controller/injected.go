package controller

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/headless-guard/headless-guard/rules"
)

// Injected reconciles the Services that inject-service created. Once their
// StatefulSet exists, it gives them an ownerReference to it, so that deleting
// the StatefulSet deletes them (garbage collector). A Service whose
// StatefulSet did not appear within GracePeriod was left behind by a create
// that a later admission step rejected, and is deleted; so is one whose
// StatefulSet was deleted. It never touches a Service it did not create:
// both the managed-by label and the StatefulSet annotation must be there.
type Injected struct {
	Client      client.Client
	GracePeriod time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

func injectedByUs(o client.Object) bool {
	_, named := o.GetAnnotations()[rules.StatefulSetAnnotation]
	return named && o.GetLabels()[rules.ManagedByLabel] == rules.ManagedByValue
}

// SetupWithManager registers the reconciler.
func (r *Injected) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("injected-services").
		For(&corev1.Service{}, builder.WithPredicates(predicate.NewPredicateFuncs(injectedByUs))).
		// A StatefulSet appearing or going away settles its Service.
		Watches(&appsv1.StatefulSet{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			sts := o.(*appsv1.StatefulSet)
			if sts.Spec.ServiceName == "" {
				return nil
			}
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: sts.Namespace, Name: sts.Spec.ServiceName}}}
		})).
		Complete(r)
}

// Reconcile implements reconcile.Reconciler.
func (r *Injected) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	logger := log.FromContext(ctx)
	svc := &corev1.Service{}
	if err := r.Client.Get(ctx, req.NamespacedName, svc); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !injectedByUs(svc) || svc.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	stsName := svc.Annotations[rules.StatefulSetAnnotation]
	sts := &appsv1.StatefulSet{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: svc.Namespace, Name: stsName}, sts)
	switch {
	case err == nil && sts.Spec.ServiceName == svc.Name:
		if ownedBy(svc, sts.UID) {
			return reconcile.Result{}, nil
		}
		patch := client.MergeFrom(svc.DeepCopy())
		svc.OwnerReferences = append(svc.OwnerReferences, metav1.OwnerReference{
			APIVersion: "apps/v1", Kind: rules.KindStatefulSet, Name: sts.Name, UID: sts.UID,
		})
		logger.Info("adopting injected Service", "service", req.NamespacedName, "statefulSet", sts.Name)
		return reconcile.Result{}, r.Client.Patch(ctx, svc, patch)
	case err == nil:
		// A StatefulSet of that name governed by another Service: not ours to judge.
		return reconcile.Result{}, nil
	case !apierrors.IsNotFound(err):
		return reconcile.Result{}, err
	}
	// The StatefulSet does not exist (now). Deleted after adoption, or never
	// created within the grace period: the Service is litter.
	if !hasOwnerKind(svc, rules.KindStatefulSet) {
		if wait := svc.CreationTimestamp.Add(r.GracePeriod).Sub(r.now()); wait > 0 {
			return reconcile.Result{RequeueAfter: wait}, nil
		}
	}
	logger.Info("deleting injected Service without its StatefulSet", "service", req.NamespacedName, "statefulSet", stsName)
	err = r.Client.Delete(ctx, svc, client.Preconditions{UID: &svc.UID, ResourceVersion: &svc.ResourceVersion})
	if apierrors.IsConflict(err) {
		return reconcile.Result{Requeue: true}, nil
	}
	return reconcile.Result{}, client.IgnoreNotFound(err)
}

func (r *Injected) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func ownedBy(o client.Object, uid types.UID) bool {
	for _, ref := range o.GetOwnerReferences() {
		if ref.UID == uid {
			return true
		}
	}
	return false
}

func hasOwnerKind(o client.Object, kind string) bool {
	for _, ref := range o.GetOwnerReferences() {
		if ref.Kind == kind {
			return true
		}
	}
	return false
}
