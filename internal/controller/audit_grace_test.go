package controller

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/headless-guard/headless-guard/rules"
)

// fakeClock is the audit's clock in these tests: the grace period passes
// when the test says so, however busy the machine is.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const grace = 2 * time.Minute

// graceEnv is an audit whose Reconcile the test calls itself, on a fake
// clock, with a grace period of two minutes.
func graceEnv(t *testing.T) (*auditEnv, *fakeClock) {
	env := newAuditEnv(t, false)
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	env.audit.GracePeriod, env.audit.now = grace, clock.now
	return env, clock
}

func (e *auditEnv) reconcile(req AuditRequest) reconcile.Result {
	e.t.Helper()
	res, err := e.audit.Reconcile(e.ctx, req)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

// ownedBy makes o's controlling owner a custom resource, as an operator
// sets it.
func ownedBy(o client.Object, kind, name string) {
	o.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "example.com/v1", Kind: kind, Name: name, UID: types.UID(kind + "/" + name), Controller: ptr.To(true)}})
}

// nothingReported fails when the audit reported anything about the
// namespace: Events, findings, gauge.
func (e *auditEnv) nothingReported(ns, when string) {
	e.t.Helper()
	e.events.mu.Lock()
	events := append(append([]string(nil), e.events.events...), e.events.normal...)
	e.events.mu.Unlock()
	if got, gauge := e.findings(ns), gaugeValues(ns); len(events) > 0 || len(got) > 0 || len(gauge) > 0 {
		e.t.Fatalf("%s: reported %v, gauge %v, Events %q; want nothing", when, got, gauge, events)
	}
}

// A StatefulSet written a moment before its Service (an operator that
// creates it first, kubectl apply of a file in that order) leaves no trace.
func TestAuditNeverReportsATransientFinding(t *testing.T) {
	const ns = "transient"
	env, clock := graceEnv(t)
	req := AuditRequest{rules.KindStatefulSet, ns, "web"}
	web := statefulSet(ns, "web", "web", app("web"))
	ownedBy(web, "Database", "db")
	env.apply(web)
	if res := env.reconcile(req); res.RequeueAfter != grace {
		t.Fatalf("first seen with a finding: requeue after %v, want the grace period %v", res.RequeueAfter, grace)
	}
	env.nothingReported(ns, "first seen")
	clock.advance(30 * time.Millisecond)
	env.apply(service(ns, "web", app("web")))
	env.reconcile(req)
	clock.advance(grace)
	if res := env.reconcile(req); res.RequeueAfter != 0 {
		t.Errorf("clean: requeue after %v", res.RequeueAfter)
	}
	env.nothingReported(ns, "the Service 30ms later, then the grace period")

	// The finding back (the Service deleted): a new grace period starts.
	env.remove(service(ns, "web", app("web")))
	if res := env.reconcile(req); res.RequeueAfter != grace {
		t.Fatalf("a finding again: requeue after %v, want a whole grace period", res.RequeueAfter)
	}
	env.nothingReported(ns, "the Service deleted")
}

// A finding that persists is reported once the grace period has passed,
// on the object and on its controlling owner, and withdrawn once fixed.
func TestAuditReportsAPersistingFindingAndWithdrawsIt(t *testing.T) {
	const ns = "persisting"
	env, clock := graceEnv(t)
	req := AuditRequest{rules.KindStatefulSet, ns, "web"}
	web := statefulSet(ns, "web", "web", app("web"))
	ownedBy(web, "Database", "db")
	env.apply(web)
	env.reconcile(req)
	clock.advance(grace / 2)
	// A change meanwhile does not restart the grace period.
	if res := env.reconcile(req); res.RequeueAfter != grace/2 {
		t.Fatalf("half-way: requeue after %v, want %v", res.RequeueAfter, grace/2)
	}
	env.nothingReported(ns, "half the grace period")
	clock.advance(grace / 2)
	if res := env.reconcile(req); res.RequeueAfter != 0 {
		t.Errorf("reported: requeue after %v", res.RequeueAfter)
	}
	want := "HG002 service-exists: spec.serviceName: must name an existing Service"
	if e := env.events.about("StatefulSet/web"); len(e) != 1 || !strings.HasPrefix(e[0], "StatefulSet/web "+want) {
		t.Errorf("Events on the StatefulSet: %q, want one %q", e, want)
	}
	if e := env.events.about("Database/db"); len(e) != 1 || !strings.HasPrefix(e[0], "Database/db StatefulSet web: "+want) {
		t.Errorf("Events on the owner: %q, want one naming the StatefulSet", e)
	}
	if got := gaugeValues(ns); got["HG002"] != 1 {
		t.Errorf("gauge %v, want HG002 1", got)
	}
	// Audited again, unchanged: not reported again.
	clock.advance(time.Hour)
	env.reconcile(req)
	if e := env.events.about("StatefulSet/web"); len(e) != 1 {
		t.Errorf("Events after another pass: %q, want still one", e)
	}

	// Fixed: withdrawn at once.
	env.apply(service(ns, "web", app("web")))
	env.reconcile(req)
	if got := gaugeValues(ns); len(got) != 0 {
		t.Errorf("gauge %v after the fix, want none", got)
	}
	if len(env.findings(ns)) != 0 {
		t.Errorf("findings after the fix: %v", env.findings(ns))
	}
	for _, object := range []string{"StatefulSet/web", "Database/db"} {
		if e := env.events.resolved(object); len(e) != 1 || !strings.Contains(e[0], "resolved: HG002") {
			t.Errorf("Normal Events on %s: %q, want one saying HG002 is resolved", object, e)
		}
	}
	if !env.cleared.clearedFor(web.UID) || !env.cleared.clearedFor(types.UID("Database/db")) {
		t.Errorf("the Warning Events of the StatefulSet and its owner were not cleared (listed: %v)", env.cleared.uids)
	}
}

// Through the controller: the requeue after the grace period is what
// reports a finding nothing else touches.
func TestAuditRequeuesForTheGracePeriod(t *testing.T) {
	const ns = "requeue"
	env := newAuditEnvWith(t, true, func(a *Audit) { a.GracePeriod = time.Second })
	start := time.Now()
	env.apply(statefulSet(ns, "web", "web", app("web")))
	eventually(t, "the Event after the grace period", func() (bool, string) {
		e := env.events.about("StatefulSet/web")
		return len(e) == 1, fmt.Sprint(e)
	})
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("reported %v after the StatefulSet was written, before the grace period of 1s", waited)
	}
}

// After a restart, what an earlier run reported and is still wrong is
// counted again without a second Event, and without waiting; what is new
// waits for the grace period.
func TestAuditDoesNotReportTwiceAfterARestart(t *testing.T) {
	const ns = "restart"
	env, _ := graceEnv(t)
	web := statefulSet(ns, "web", "web", app("web"))
	db := statefulSet(ns, "db", "db", app("db"))
	env.apply(web)
	env.apply(db)
	res, err := env.audit.Registry.Evaluate(&rules.Request{Operation: rules.Create, Object: web}, env.audit.Lookup.For(env.ctx), &env.audit.Policy)
	if err != nil || len(res.Findings) != 1 {
		t.Fatalf("findings of web: %v %v", res.Findings, err)
	}
	env.cleared.items = []corev1.Event{{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: "web.1"},
		InvolvedObject: corev1.ObjectReference{Kind: "StatefulSet", Namespace: ns, Name: "web", UID: web.UID},
		Reason:         ReasonViolation, Message: eventNote(res.Findings[0]), Type: corev1.EventTypeWarning,
	}}
	if res := env.reconcile(AuditRequest{rules.KindStatefulSet, ns, "web"}); res.RequeueAfter != 0 {
		t.Errorf("reported by the earlier run: requeue after %v, want none", res.RequeueAfter)
	}
	if got := gaugeValues(ns); got["HG002"] != 1 {
		t.Errorf("gauge %v, want HG002 1 (web, reported earlier)", got)
	}
	if e := env.events.about("StatefulSet/web"); len(e) != 0 {
		t.Errorf("reported twice: %q", e)
	}
	if res := env.reconcile(AuditRequest{rules.KindStatefulSet, ns, "db"}); res.RequeueAfter != grace {
		t.Errorf("not reported before: requeue after %v, want the grace period", res.RequeueAfter)
	}
}

// The namespace's labels set the policy the audit applies, as at
// admission; relabelling the namespace re-audits its objects, so that
// what the Report calls a failure follows.
func TestAuditFollowsTheNamespacePolicy(t *testing.T) {
	const ns = "levels"
	env := newAuditEnvWith(t, true, func(a *Audit) {
		a.Reports = &Reports{Client: a.Client, Live: &eventLister{}, Interval: time.Hour}
	})
	results := func() string {
		var out []string
		for _, r := range env.audit.results(ns) {
			out = append(out, r.policy+" "+r.result)
		}
		return strings.Join(out, ", ")
	}
	namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, UID: "ns"}}
	env.apply(namespace)
	env.apply(statefulSet(ns, "web", "web", app("web")))
	eventually(t, "HG002 a warning in the default policy", func() (bool, string) {
		got := results()
		return got == "HG002 warn", got
	})
	namespace.Labels = map[string]string{rules.PolicyLabel: string(rules.LevelStrict)}
	env.apply(namespace)
	eventually(t, "HG002 a failure once the namespace is strict", func() (bool, string) {
		got := results()
		return got == "HG002 fail", got
	})
	if e := env.events.about("StatefulSet/web"); len(e) != 1 {
		t.Errorf("Events %q: the policy changed what is denied, not what is wrong; want one", e)
	}
}
