package controller

import (
	"context"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/headless-guard/headless-guard/internal/lookup"
	"github.com/headless-guard/headless-guard/rules"
)

// How the audit's workqueue stays small. controller-runtime's queue keeps
// every object it holds in maps, which never shrink: after a start of the
// guard, holding every StatefulSet of the cluster at once (the informers'
// initial lists, then a RequeueAfter each for the findings waiting out the
// grace period) left about 200 bytes per StatefulSet in the heap for the
// life of the process. Instead:
//   - the objects of the initial lists are queued by auditAll, at most
//     feedWindow waiting at a time;
//   - the objects waiting out the grace period are kept by the audit, in
//     the order they are due (dueList, 72 bytes each, released once they
//     are all due), and queued when due (queueWhenDue); the reconciler
//     registered with the controller (auditReconciler) does not requeue
//     them.

// feedWindow is how many objects auditAll lets wait in the queue.
const feedWindow = 256

// auditReconciler is the Audit as the controller runs it: a RequeueAfter,
// which Reconcile returns only for a finding waiting out the grace period,
// is left to queueWhenDue, which holds it since Reconcile first saw the
// finding.
type auditReconciler struct{ a *Audit }

func (r auditReconciler) Reconcile(ctx context.Context, req AuditRequest) (reconcile.Result, error) {
	res, err := r.a.Reconcile(ctx, req)
	if err == nil && res.RequeueAfter > 0 {
		res.RequeueAfter = 0
	}
	return res, err
}

// dueList holds the objects whose findings wait out the grace period, in
// the order they are due: that of the time their findings were first
// seen, which only grows. Entries whose object is no longer pending with
// that time are dropped when they reach the front.
type dueList struct {
	mu      sync.Mutex
	entries []dueEntry
	head    int
	added   chan struct{}
}

type dueEntry struct {
	req   AuditRequest
	since time.Time
}

func (l *dueList) wake() chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.wakeLocked()
}

func (l *dueList) wakeLocked() chan struct{} {
	if l.added == nil {
		l.added = make(chan struct{}, 1)
	}
	return l.added
}

// push adds req, pending since since.
func (l *dueList) push(req AuditRequest, since time.Time) {
	l.mu.Lock()
	if l.head > 0 && l.head >= len(l.entries)/2 {
		n := copy(l.entries, l.entries[l.head:])
		clear(l.entries[n:])
		l.entries, l.head = l.entries[:n], 0
	}
	l.entries = append(l.entries, dueEntry{req: req, since: since})
	wake := l.wakeLocked()
	l.mu.Unlock()
	select {
	case wake <- struct{}{}:
	default:
	}
}

// queueDue adds the entries that are due to q and drops the stale ones;
// it returns how long until the next one is due, false when none is left.
func (a *Audit) queueDue(q workqueue.TypedRateLimitingInterface[AuditRequest]) (time.Duration, bool) {
	l := &a.waiting
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.head < len(l.entries) {
		e := l.entries[l.head]
		a.mu.Lock()
		p, ok := a.pending[e.req]
		a.mu.Unlock()
		if ok && p.since.Equal(e.since) {
			if wait := e.since.Add(a.GracePeriod).Sub(a.clock()); wait > 0 {
				return wait, true
			}
			q.Add(e.req)
		}
		l.entries[l.head] = dueEntry{}
		l.head++
	}
	// All due: let the array go, it may have held a whole cluster's.
	l.entries, l.head = nil, 0
	return 0, false
}

// queueWhenDue queues the objects of the dueList when they are due, until
// ctx ends.
func (a *Audit) queueWhenDue(ctx context.Context, q workqueue.TypedRateLimitingInterface[AuditRequest]) {
	wake := a.waiting.wake()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		if wait, ok := a.queueDue(q); ok {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-wake:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// auditAll queues every object the audit checks in the cache, once it has
// synced: the audit's first pass, over what the informers' initial lists
// found, with the low priority of an initial list's objects, at most
// feedWindow waiting at a time. What changes meanwhile is queued by its
// event as ever.
func (a *Audit) auditAll(ctx context.Context, q workqueue.TypedRateLimitingInterface[AuditRequest], synced func(context.Context) bool) {
	if !synced(ctx) {
		return
	}
	add := q.Add
	if pq, ok := q.(priorityqueue.PriorityQueue[AuditRequest]); ok {
		low := handler.LowPriority
		add = func(req AuditRequest) { pq.AddWithOpts(priorityqueue.AddOpts{Priority: &low}, req) }
	}
	for _, example := range lookup.WorkloadObjects {
		err := a.Lookup.Each(example, func(o client.Object) {
			for ctx.Err() == nil && q.Len() >= feedWindow {
				time.Sleep(5 * time.Millisecond)
			}
			if ctx.Err() != nil {
				return
			}
			for _, req := range auditedOnly(o) {
				add(req)
			}
		})
		if err != nil || ctx.Err() != nil {
			return
		}
	}
}

// auditedOnly maps a pod-template owner to itself when it is audited:
// forWorkload without the StatefulSets its labels affect.
func auditedOnly(o client.Object) []AuditRequest {
	switch c := o.(type) {
	case *lookup.CachedStatefulSet:
		// A controller's copy is a CachedCopy: this one is audited.
		return []AuditRequest{{Kind: rules.KindStatefulSet, Namespace: c.GetNamespace(), Name: c.GetName()}}
	case *lookup.CachedCopy:
		return nil
	case *lookup.CachedWorkload:
		if c.Subdomain() == "" {
			// Not a copy either; without a subdomain, not audited
			// (audited), and not built to find that out.
			return nil
		}
	}
	o = lookup.ObjectOf(o)
	if rules.Derived(o) {
		return nil
	}
	if w, ok := rules.WorkloadOf(o); ok && audited(o, w) {
		return []AuditRequest{{Kind: w.Ref.Kind, Namespace: w.Ref.Namespace, Name: w.Ref.Name}}
	}
	return nil
}
