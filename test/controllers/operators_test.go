package controllers

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/test/cluster"
	"github.com/headless-guard/headless-guard/test/framework"
)

// Issue 20, "never deny what works": operators and people whose objects
// work must not be denied, and what is wrong for longer than the audit's
// grace period is reported, on the object and on the custom resource an
// operator's user wrote.

// pattern is how an operator writes a StatefulSet and its Service, each as
// operators read in issue 20 do.
type pattern string

const (
	// statefulSetFirst creates the StatefulSet, returns on error, and
	// creates the headless Service after it (Percona XtraDB, the
	// OT-CONTAINER-KIT redis-operator, mariadb-operator). Its pods'
	// configuration names their peers' per-pod names, as a clustered
	// database's does: for a person's StatefulSet that is what makes a
	// missing Service a certain mistake.
	statefulSetFirst pattern = "statefulset-first"
	// serviceNeverCreated names a Service it never creates (spotahome's
	// redis-operator with its exporter off).
	serviceNeverCreated pattern = "service-never-created"
	// clusterIPWithoutSelector governs the StatefulSet with a ClusterIP
	// Service without selector, created first (Zalando's postgres-operator).
	clusterIPWithoutSelector pattern = "clusterip-without-selector"
	// serviceFirst creates the headless Service, then the StatefulSet
	// (prometheus-operator, ECK, cass-operator).
	serviceFirst pattern = "service-first"
)

// operator is a controller in the test: it owns a StatefulSet and its
// Service through a Database, and reconciles until it succeeds, retrying
// after an error with controller-runtime's default backoff.
type operator struct {
	c       client.Client
	db      *unstructured.Unstructured
	pattern pattern

	mu sync.Mutex
	// errs are the errors of the failed reconciles.
	errs []error
	// created is when the StatefulSet was created; zero until then.
	created time.Time
}

// newOperator creates the Database name in ns.
func newOperator(t *testing.T, c *cluster.Cluster, ns, name string, p pattern) *operator {
	t.Helper()
	db := &unstructured.Unstructured{}
	db.SetAPIVersion("ops.test.headless-guard.io/v1")
	db.SetKind("Database")
	db.SetNamespace(ns)
	db.SetName(name)
	if err := c.Client().Create(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	return &operator{c: c.Client(), db: db, pattern: p}
}

func (o *operator) labels() map[string]string { return map[string]string{"app": o.db.GetName()} }

func (o *operator) ownerRef() metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: o.db.GetAPIVersion(), Kind: o.db.GetKind(), Name: o.db.GetName(), UID: o.db.GetUID(),
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
}

func (o *operator) statefulSet(serviceName string) *appsv1.StatefulSet {
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: o.db.GetNamespace(), Name: o.db.GetName(), OwnerReferences: []metav1.OwnerReference{o.ownerRef()}},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: serviceName,
			Replicas:    ptr.To[int32](2),
			Selector:    &metav1.LabelSelector{MatchLabels: o.labels()},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: o.labels()},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "db", Image: "registry.example/db:1",
					Ports: []corev1.ContainerPort{{Name: "db", ContainerPort: 5432}},
				}}},
			},
		},
	}
	if o.pattern == statefulSetFirst {
		var peers []string
		for i := range 2 {
			peers = append(peers, fmt.Sprintf("%s-%d.%s.%s.svc.cluster.local:5432", sts.Name, i, serviceName, sts.Namespace))
		}
		sts.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "PEERS", Value: strings.Join(peers, ",")}}
	}
	return sts
}

func (o *operator) service(name string, headless bool) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: o.db.GetNamespace(), Name: name, OwnerReferences: []metav1.OwnerReference{o.ownerRef()}},
		Spec: corev1.ServiceSpec{
			Selector: o.labels(),
			Ports:    []corev1.ServicePort{{Name: "db", Port: 5432, TargetPort: intstr.FromString("db")}},
		},
	}
	if headless {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	} else {
		svc.Spec.Selector = nil // Endpoints written by the operator itself
	}
	return svc
}

// create creates obj; one that exists already is what a reconcile wants.
func (o *operator) create(ctx context.Context, obj client.Object) error {
	err := o.c.Create(ctx, obj)
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if _, isSTS := obj.(*appsv1.StatefulSet); isSTS && err == nil {
		o.mu.Lock()
		o.created = time.Now()
		o.mu.Unlock()
	}
	return err
}

// reconcile is one pass of the operator's reconcile function.
func (o *operator) reconcile(ctx context.Context) error {
	name := o.db.GetName()
	switch o.pattern {
	case statefulSetFirst:
		if err := o.create(ctx, o.statefulSet(name)); err != nil {
			return fmt.Errorf("creating the StatefulSet: %w", err)
		}
		return o.create(ctx, o.service(name, true))
	case serviceNeverCreated:
		return o.create(ctx, o.statefulSet(name+"-headless"))
	case clusterIPWithoutSelector:
		if err := o.create(ctx, o.service(name, false)); err != nil {
			return err
		}
		return o.create(ctx, o.statefulSet(name))
	case serviceFirst:
		if err := o.create(ctx, o.service(name, true)); err != nil {
			return err
		}
		return o.create(ctx, o.statefulSet(name))
	}
	return fmt.Errorf("unknown pattern %q", o.pattern)
}

// run reconciles until a pass succeeds or ctx ends, waiting between failed
// passes as controller-runtime's default rate limiter says.
func (o *operator) run(ctx context.Context) error {
	limiter := workqueue.DefaultTypedControllerRateLimiter[string]()
	for {
		err := o.reconcile(ctx)
		if err == nil {
			return nil
		}
		o.mu.Lock()
		o.errs = append(o.errs, err)
		o.mu.Unlock()
		select {
		case <-ctx.Done():
			return fmt.Errorf("never converged: %d failed reconciles, the last: %w", len(o.errors()), err)
		case <-time.After(limiter.When(o.db.GetName())):
		}
	}
}

func (o *operator) errors() []error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]error(nil), o.errs...)
}

func (o *operator) createdAt() time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.created
}

// converges runs the operator and fails unless its StatefulSet exists
// within within.
func (o *operator) converges(t *testing.T, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	start := time.Now()
	if err := o.run(ctx); err != nil {
		t.Fatalf("%s: %v", o.pattern, err)
	}
	t.Logf("%s: converged in %v after %d failed reconciles", o.pattern, time.Since(start).Round(time.Millisecond), len(o.errors()))
}

// notReportedYet fails when anything about the StatefulSet name of ns was
// reported before the grace period since created ended. The check is made
// only while the grace period provably has not ended, however slow the
// machine.
func notReportedYet(t *testing.T, c *cluster.Cluster, ns, name string, created time.Time) {
	t.Helper()
	events, owner, report := auditEvents(t, c, ns, "StatefulSet", name), auditEvents(t, c, ns, "Database", name), framework.ReportSubjects(t, c, ns)
	if elapsed := time.Since(created); elapsed >= framework.OperatorGrace {
		t.Logf("%s: %v passed before the check; cannot tell whether anything was reported early", name, elapsed)
		return
	}
	if events != "" || owner != "" || report != "" {
		t.Errorf("%s reported before the grace period of %v: Events %q, on the Database %q, Report %q", name, framework.OperatorGrace, events, owner, report)
	}
}

// neverReported fails when anything is reported about ns once the grace
// period has passed since created, and a little more for the Report.
func neverReported(t *testing.T, c *cluster.Cluster, ns, name string, created time.Time) {
	t.Helper()
	time.Sleep(time.Until(created.Add(framework.OperatorGrace + 3*time.Second)))
	events, owner, report := auditEvents(t, c, ns, "StatefulSet", name), auditEvents(t, c, ns, "Database", name), framework.ReportSubjects(t, c, ns)
	if events != "" || owner != "" || report != "" {
		t.Errorf("%s reported after the grace period although it works: Events %q, on the Database %q, Report %q", name, events, owner, report)
	}
	if gauge := auditGauge(t, c, ns); gauge != "" {
		t.Errorf("%s: gauge %s, want none", name, gauge)
	}
}

// reported waits until the StatefulSet name of ns and its Database carry
// the audit's Warning Events for rule, and the Report names the StatefulSet.
func reported(t *testing.T, c *cluster.Cluster, ns, name, rule string) {
	t.Helper()
	framework.Eventually(t, 30*time.Second, name+": reported on the StatefulSet, the Database and in the Report", func() (bool, string) {
		events, owner, report := auditEvents(t, c, ns, "StatefulSet", name), auditEvents(t, c, ns, "Database", name), framework.ReportSubjects(t, c, ns)
		ok := strings.Contains(events, rule+" ") && strings.Contains(owner, "StatefulSet "+name+": "+rule+" ") &&
			strings.Contains(report, "StatefulSet/"+name+" "+rule)
		return ok, fmt.Sprintf("Events %q, on the Database %q, Report %q", events, owner, report)
	})
}

// TestOperatorsConverge: four operator patterns of issue 20 against the
// guard in its default policy. Each StatefulSet is created within seconds;
// the two that leave pods without their DNS names are reported after the
// grace period, on the StatefulSet and on the custom resource, and not
// before; the two that work are never reported.
func TestOperatorsConverge(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, framework.OperatorArgs...)
	framework.InstallCRDs(t, c)
	patterns := []struct {
		p    pattern
		rule string // reported after the grace period; "" never
	}{
		{statefulSetFirst, ""},
		{serviceNeverCreated, "HG002"},
		{clusterIPWithoutSelector, "HG003"},
		{serviceFirst, ""},
	}
	ops := map[pattern]*operator{}
	nss := map[pattern]string{}
	for _, tc := range patterns {
		nss[tc.p] = framework.Namespace(t, c, "operator-"+string(tc.p), nil)
		ops[tc.p] = newOperator(t, c, nss[tc.p], "db", tc.p)
	}
	var wg sync.WaitGroup
	for _, tc := range patterns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(string(tc.p), func(t *testing.T) {
				op, ns := ops[tc.p], nss[tc.p]
				op.converges(t, 20*time.Second)
				if tc.rule == "" {
					neverReported(t, c, ns, "db", op.createdAt())
					return
				}
				notReportedYet(t, c, ns, "db", op.createdAt())
				reported(t, c, ns, "db", tc.rule)
				if waited := time.Since(op.createdAt()); waited < framework.OperatorGrace {
					t.Errorf("reported %v after the StatefulSet was created, before the grace period", waited)
				}
				if tc.p != serviceNeverCreated {
					return
				}
				// Its user creates the Service the operator never does:
				// withdrawn, on the custom resource too.
				if err := c.Client().Create(t.Context(), op.service("db-headless", true)); err != nil {
					t.Fatal(err)
				}
				framework.Eventually(t, 30*time.Second, "the report withdrawn from the StatefulSet and the Database", func() (bool, string) {
					events, owner, report := auditEvents(t, c, ns, "StatefulSet", "db"), auditEvents(t, c, ns, "Database", "db"), framework.ReportSubjects(t, c, ns)
					resolved := framework.MustKubectl(t, c, nil, "get", "events", "-n", ns, "--field-selector", "reason=HeadlessGuardResolved,involvedObject.kind=Database",
						"-o", "jsonpath={.items[*].message}")
					return events == "" && owner == "" && report == "" && strings.Contains(resolved, "StatefulSet db: the findings reported earlier are resolved: HG002"),
						fmt.Sprintf("Events %q, on the Database %q, Report %q, resolved on the Database %q", events, owner, report, resolved)
				})
			})
		}()
	}
	wg.Wait()
}

// TestOperatorDeniedWhenControllerOwnedIsEnforced: with
// --controller-owned=enforce (or the namespace label), the StatefulSet an
// operator creates before its Service, whose pods look up their peers'
// names, is denied as a person's would be, and the operator never gets
// past it (TestOperatorsConverge: admitted by default).
func TestOperatorDeniedWhenControllerOwnedIsEnforced(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	check := func(t *testing.T, c *cluster.Cluster, ns string) {
		op := newOperator(t, c, ns, "db", statefulSetFirst)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		err := op.run(ctx)
		errs := op.errors()
		if err == nil || len(errs) == 0 || !strings.Contains(errs[0].Error(), "HG002") || !apierrors.IsInvalid(errs[0]) {
			t.Fatalf("want every reconcile denied by HG002; got %v, errors %v", err, errs)
		}
		if !op.createdAt().IsZero() {
			t.Error("the StatefulSet was created")
		}
	}
	t.Run("namespace label", func(t *testing.T) {
		c := guard(t, framework.OperatorArgs...)
		framework.InstallCRDs(t, c)
		check(t, c, framework.Namespace(t, c, "operator-enforce-label", map[string]string{rules.ControllerOwnedLabel: string(rules.ControllerOwnedEnforce)}))
	})
	t.Run("flag", func(t *testing.T) {
		c := guard(t, append(framework.OperatorArgs, "--controller-owned=enforce")...)
		framework.InstallCRDs(t, c)
		check(t, c, framework.Namespace(t, c, "operator-enforce-flag", nil))
	})
}

// TestInjectorLeavesControllerOwnedStatefulSetsAlone: in an inject-enabled
// namespace, the Service of a StatefulSet a controller owns is the
// controller's to create (an injected one makes its create fail, or the
// operator deletes it); people's StatefulSets still get theirs.
func TestInjectorLeavesControllerOwnedStatefulSetsAlone(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, framework.OperatorArgs...)
	framework.InstallCRDs(t, c)
	ns := framework.Namespace(t, c, "operator-inject", map[string]string{rules.InjectLabel: "true"})
	op := newOperator(t, c, ns, "db", serviceNeverCreated)
	op.converges(t, 20*time.Second)
	// The control: a person's StatefulSet in the same namespace gets its
	// Service, so the Injector has seen the operator's by then too.
	framework.MustKubectl(t, c, []byte(framework.StatefulSetYAML("web", "web", "")), "apply", "-n", ns, "-f", "-")
	framework.Eventually(t, 15*time.Second, "the injected Service of the person's StatefulSet", func() (bool, string) {
		ip, _ := framework.GetJSONPath(t, c, "{.spec.clusterIP}", "service", "web", "-n", ns)
		return ip == "None", ip
	})
	time.Sleep(time.Until(op.createdAt().Add(3 * time.Second)))
	if got := framework.MustKubectl(t, c, nil, "get", "services", "-n", ns, "-o", "name"); got != "service/web\n" {
		t.Errorf("Services in the namespace: %q, want only service/web (none for the operator's StatefulSet)", got)
	}
}

// peersEnv is the PEERS variable framework.StatefulSetYAML gives its pods.
var peersEnv = regexp.MustCompile(`(?m)^        env:\n        - name: PEERS\n          value: .*\n`)

// unusedNamesStatefulSetYAML is framework.StatefulSetYAML without the peer list:
// nothing in its pods looks up their per-pod names, so a missing Service
// is not a certain mistake.
func unusedNamesStatefulSetYAML(name, serviceName string) string {
	return peersEnv.ReplaceAllString(framework.StatefulSetYAML(name, serviceName, ""), "")
}

// TestPeopleApplies: what people do with kubectl. A file with the
// StatefulSet before its Service converges in one apply and is never
// reported; a typo next to the right Service is denied with the name to
// use; a StatefulSet alone is admitted with the warning and reported after
// the grace period.
func TestPeopleApplies(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, framework.OperatorArgs...)
	framework.InstallCRDs(t, c)

	t.Run("StatefulSet first in the file", func(t *testing.T) {
		ns := framework.Namespace(t, c, "people-order", nil)
		out, stderr, err := framework.Kubectl(t, c, []byte(unusedNamesStatefulSetYAML("web", "web")+"---\n"+framework.ServiceYAML("web", "")), "apply", "-n", ns, "-f", "-")
		if err != nil || !strings.Contains(out, "statefulset.apps/web created") || !strings.Contains(out, "service/web created") {
			t.Fatalf("one apply must create both: %v\n%s%s", err, out, stderr)
		}
		neverReported(t, c, ns, "web", time.Now())
	})

	t.Run("a typo next to the right Service", func(t *testing.T) {
		ns := framework.Namespace(t, c, "people-typo", nil)
		svc := strings.Replace(framework.ServiceYAML("web-headless", ""), "app: web-headless", "app: web", 1)
		framework.MustKubectl(t, c, []byte(svc), "apply", "-n", ns, "-f", "-")
		_, stderr, err := framework.Kubectl(t, c, []byte(framework.StatefulSetYAML("web", "web-headles", "")), "apply", "-n", ns, "-f", "-")
		if err == nil || !strings.Contains(stderr, "`spec.serviceName: web-headless`") || !strings.Contains(stderr, "HG002") {
			t.Fatalf("want the HG002 denial naming the right Service: %v\n%s", err, stderr)
		}
	})

	t.Run("a StatefulSet alone", func(t *testing.T) {
		ns := framework.Namespace(t, c, "people-alone", nil)
		start := time.Now()
		_, stderr, err := framework.Kubectl(t, c, []byte(unusedNamesStatefulSetYAML("web", "web")), "apply", "-n", ns, "-f", "-")
		if err != nil || !strings.Contains(stderr, "Warning: HG002") {
			t.Fatalf("want admitted with the HG002 warning: %v\n%s", err, stderr)
		}
		if events, report := auditEvents(t, c, ns, "StatefulSet", "web"), framework.ReportSubjects(t, c, ns); time.Since(start) < framework.OperatorGrace && (events != "" || report != "") {
			t.Errorf("reported before the grace period: Events %q, Report %q", events, report)
		}
		framework.Eventually(t, 30*time.Second, "the StatefulSet reported", func() (bool, string) {
			events, report := auditEvents(t, c, ns, "StatefulSet", "web"), framework.ReportSubjects(t, c, ns)
			return strings.Contains(events, "HG002 ") && strings.Contains(report, "StatefulSet/web HG002"), fmt.Sprintf("Events %q, Report %q", events, report)
		})
		if waited := time.Since(start); waited < framework.OperatorGrace {
			t.Errorf("reported %v after the apply began, before the grace period", waited)
		}
		// Fixed: withdrawn, and said so.
		framework.MustKubectl(t, c, []byte(framework.ServiceYAML("web", "")), "apply", "-n", ns, "-f", "-")
		framework.Eventually(t, 30*time.Second, "the report withdrawn", func() (bool, string) {
			events, report := auditEvents(t, c, ns, "StatefulSet", "web"), framework.ReportSubjects(t, c, ns)
			resolved := framework.MustKubectl(t, c, nil, "get", "events", "-n", ns, "--field-selector", "reason=HeadlessGuardResolved,involvedObject.name=web", "-o", "name")
			return events == "" && report == "" && resolved != "" && auditGauge(t, c, ns) == "", fmt.Sprintf("Events %q, Report %q, resolved %q", events, report, resolved)
		})
	})
}
