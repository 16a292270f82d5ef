package controller

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/internal/lookup"
	"github.com/headless-guard/headless-guard/rules"
)

// What the cache holds when the audit starts is audited, more objects than
// auditAll lets wait in the queue at once: each finding is reported after
// the grace period, and a StatefulSet whose Service is there is not.
func TestAuditAuditsWhatItFindsAtItsStart(t *testing.T) {
	const ns = "start"
	n := feedWindow + 50
	var objs []client.Object
	for i := range n {
		objs = append(objs, statefulSet(ns, fmt.Sprintf("web-%03d", i), fmt.Sprintf("web-%03d", i), app(fmt.Sprintf("web-%03d", i))))
	}
	objs = append(objs, statefulSet(ns, "db", "db", app("db")), service(ns, "db", app("db")))
	objs = append(objs, deployment(ns, "api", "nowhere", app("api")))
	start := time.Now()
	env := newAuditEnvWith(t, true, func(a *Audit) { a.GracePeriod = 500 * time.Millisecond }, objs...)
	eventually(t, "every finding of the objects there at the start", func() (bool, string) {
		got := env.findings(ns)
		return len(got) == n+1, fmt.Sprintf("%d findings", len(got))
	})
	if waited := time.Since(start); waited < 500*time.Millisecond {
		t.Errorf("reported %v after the start, before the grace period", waited)
	}
	got := env.findings(ns)
	if _, ok := got["StatefulSet/db"]; ok {
		t.Errorf("db, whose Service exists, reported: %q", got["StatefulSet/db"])
	}
	if _, ok := got["Deployment/api"]; !ok {
		t.Errorf("the Deployment whose subdomain names no Service was not reported: %v", got)
	}
}

// The due list queues what is due, in order, and drops the objects that
// are no longer pending, or pending since another time; once all are due
// it lets its array go.
func TestDueListQueuesWhatIsDue(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := &Audit{GracePeriod: time.Minute, now: func() time.Time { return now }}
	a.init()
	req := func(name string) AuditRequest { return AuditRequest{rules.KindStatefulSet, "ns", name} }
	for i, name := range []string{"fixed", "a", "recreated", "b", "c"} {
		since := now.Add(time.Duration(i) * time.Second)
		a.pending[req(name)] = pendingState{since: since}
		a.waiting.push(req(name), since)
	}
	delete(a.pending, req("fixed"))
	a.pending[req("recreated")] = pendingState{since: now.Add(time.Hour)}

	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[AuditRequest]())
	defer q.ShutDown()
	queued := func() []string {
		var out []string
		for q.Len() > 0 {
			r, _ := q.Get()
			q.Done(r)
			out = append(out, r.Name)
		}
		return out
	}
	if wait, ok := a.queueDue(q); !ok || wait != time.Minute+time.Second {
		t.Errorf("before anything is due: next in %v (%v), want 1m1s", wait, ok)
	}
	if got := queued(); len(got) != 0 {
		t.Errorf("queued %v before anything is due", got)
	}
	now = now.Add(time.Minute + 3*time.Second)
	if wait, ok := a.queueDue(q); !ok || wait != time.Second {
		t.Errorf("a and b due: next in %v (%v), want 1s", wait, ok)
	}
	if got := fmt.Sprint(queued()); got != "[a b]" {
		t.Errorf("queued %s, want [a b]", got)
	}
	now = now.Add(time.Second)
	if _, ok := a.queueDue(q); ok {
		t.Error("c due: something left")
	}
	if got := fmt.Sprint(queued()); got != "[c]" {
		t.Errorf("queued %s, want [c]", got)
	}
	if a.waiting.entries != nil {
		t.Errorf("all due: %d entries kept", cap(a.waiting.entries))
	}
}

// The first pass maps each record the cache holds as it maps the object
// the record stands for, without building it where it need not.
func TestAuditedOnlyReadsRecordsAsObjects(t *testing.T) {
	const ns = "records"
	owned := deployment(ns, "web-7d9f", "", app("web"))
	owned.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "u", Controller: ptr.To(true)}}
	rs := &appsv1.ReplicaSet{ObjectMeta: owned.ObjectMeta, Spec: appsv1.ReplicaSetSpec{Selector: owned.Spec.Selector, Template: owned.Spec.Template}}
	for _, o := range []client.Object{
		statefulSet(ns, "db", "db", app("db")),
		deployment(ns, "api", "", app("api")),
		deployment(ns, "dns", "db", app("dns")),
		rs,
	} {
		record, err := lookup.StripForCache(o.DeepCopyObject())
		if err != nil {
			t.Fatal(err)
		}
		if _, isRecord := record.(*lookup.CachedStatefulSet); !isRecord {
			if _, isRecord = record.(*lookup.CachedWorkload); !isRecord {
				if _, isRecord = record.(*lookup.CachedCopy); !isRecord {
					t.Fatalf("%T %s: the cache holds a %T, not a record", o, o.GetName(), record)
				}
			}
		}
		got, want := auditedOnly(record.(client.Object)), auditedOnly(o)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%T %s: its record maps to %v, the object to %v", o, o.GetName(), got, want)
		}
	}
}
