package controller

import (
	"context"
	"fmt"
	"sync/atomic"

	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// earlyWatch is a controller's watch of one informer whose handler is
// added when the controller is set up, before the cache starts, instead of
// when the controller starts (a source.Kind's). The manager starts the
// controllers once the cache has synced, and client-go hands a handler
// added to a synced informer every object it holds at once, buffering
// what the handler has not taken in a buffer that grows to the informer's
// size and never shrinks: 16 bytes an object, 2 MiB for each such handler
// of the Services informer at 100,000 Services. Added before the cache
// starts, the handler takes the initial list as the informer lists it.
//
// Events before the controller starts (its queue) are dropped, and there
// is no initial list to wait for: a controller uses an earlyWatch only for
// what its start covers otherwise (the audit's first pass, auditAll;
// inject-services' StatefulSets, queued by their own watch and checked
// against the cache when reconciled).
type earlyWatch[R comparable] struct {
	what       string
	handler    handler.TypedEventHandler[client.Object, R]
	predicates []predicate.TypedPredicate[client.Object]
	target     atomic.Pointer[earlyTarget[R]]
}

type earlyTarget[R comparable] struct {
	ctx   context.Context
	queue workqueue.TypedRateLimitingInterface[R]
}

// watchEarly adds the handler of an earlyWatch of obj's informer, which
// it creates, and returns the watch to register with the controller
// (builder's WatchesRawSource).
func watchEarly[R comparable](informers cache.Informers, obj client.Object, h handler.TypedEventHandler[client.Object, R], predicates ...predicate.TypedPredicate[client.Object]) (*earlyWatch[R], error) {
	inf, err := informers.GetInformer(context.Background(), obj)
	if err != nil {
		return nil, err
	}
	w := &earlyWatch[R]{what: fmt.Sprintf("%T", obj), handler: h, predicates: predicates}
	if _, err := inf.AddEventHandler(w); err != nil {
		return nil, err
	}
	return w, nil
}

// Start implements source.TypedSource: from now on events reach queue.
func (w *earlyWatch[R]) Start(ctx context.Context, queue workqueue.TypedRateLimitingInterface[R]) error {
	w.target.Store(&earlyTarget[R]{ctx: ctx, queue: queue})
	return nil
}

func (w *earlyWatch[R]) String() string { return "early watch of " + w.what }

// OnAdd implements toolscache.ResourceEventHandler.
func (w *earlyWatch[R]) OnAdd(obj any, isInInitialList bool) {
	t := w.target.Load()
	o, ok := obj.(client.Object)
	if t == nil || !ok {
		return
	}
	e := event.TypedCreateEvent[client.Object]{Object: o, IsInInitialList: isInInitialList}
	for _, p := range w.predicates {
		if !p.Create(e) {
			return
		}
	}
	w.handler.Create(t.ctx, e, t.queue)
}

// OnUpdate implements toolscache.ResourceEventHandler.
func (w *earlyWatch[R]) OnUpdate(oldObj, newObj any) {
	t := w.target.Load()
	oldO, ok1 := oldObj.(client.Object)
	newO, ok2 := newObj.(client.Object)
	if t == nil || !ok1 || !ok2 {
		return
	}
	e := event.TypedUpdateEvent[client.Object]{ObjectOld: oldO, ObjectNew: newO}
	for _, p := range w.predicates {
		if !p.Update(e) {
			return
		}
	}
	w.handler.Update(t.ctx, e, t.queue)
}

// OnDelete implements toolscache.ResourceEventHandler.
func (w *earlyWatch[R]) OnDelete(obj any) {
	t := w.target.Load()
	if t == nil {
		return
	}
	e := event.TypedDeleteEvent[client.Object]{}
	if tombstone, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		e.DeleteStateUnknown, obj = true, tombstone.Obj
	}
	o, ok := obj.(client.Object)
	if !ok {
		return
	}
	e.Object = o
	for _, p := range w.predicates {
		if !p.Delete(e) {
			return
		}
	}
	w.handler.Delete(t.ctx, e, t.queue)
}
