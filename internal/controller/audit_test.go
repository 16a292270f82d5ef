package controller

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	fcache "k8s.io/client-go/tools/cache/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/headless-guard/headless-guard/internal/lookup"
	"github.com/headless-guard/headless-guard/internal/testobj"
	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/test/load"
)

// auditEnv runs the audit as serve does, on a manager whose informers list
// and watch in-memory sources instead of an API server.
type auditEnv struct {
	t       testing.TB
	ctx     context.Context
	audit   *Audit
	sources map[reflect.Type]*fcache.FakeControllerSource
	events  *recorder
	cleared *eventLister
}

// watchListUnsupported makes the reflector list, then watch.
type watchListUnsupported struct{ *fcache.FakeControllerSource }

func (watchListUnsupported) IsWatchListSemanticsUnSupported() bool { return true }

// newAuditEnv starts the cache over objs, and the audit controller too
// when run is set (benchmarks call its methods themselves).
func newAuditEnv(t testing.TB, run bool, objs ...client.Object) *auditEnv {
	t.Helper()
	return newAuditEnvWith(t, run, nil, objs...)
}

// newAuditEnvWith is newAuditEnv with configure applied to the audit
// before anything runs.
func newAuditEnvWith(t testing.TB, run bool, configure func(*Audit), objs ...client.Object) *auditEnv {
	t.Helper()
	// The gauge is global: each test starts with a clean one (none runs in
	// parallel).
	AuditViolations.Reset()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	env := &auditEnv{t: t, ctx: ctx, sources: map[reflect.Type]*fcache.FakeControllerSource{}, events: &recorder{}, cleared: &eventLister{}}
	mapper := meta.NewDefaultRESTMapper(nil)
	for _, obj := range append(slices.Clone(lookup.WorkloadObjects), &corev1.Service{}) {
		env.sources[reflect.TypeOf(obj)] = fcache.NewFakeControllerSource()
		gvks, _, err := scheme.Scheme.ObjectKinds(obj)
		if err != nil {
			t.Fatal(err)
		}
		mapper.Add(gvks[0], meta.RESTScopeNamespace)
	}
	// Namespaces: their labels set the policy.
	env.sources[reflect.TypeOf(&corev1.Namespace{})] = fcache.NewFakeControllerSource()
	mapper.Add(corev1.SchemeGroupVersion.WithKind("Namespace"), meta.RESTScopeRoot)
	for _, o := range objs {
		env.source(o).Add(o.DeepCopyObject())
	}
	mgr, err := ctrl.NewManager(&rest.Config{Host: "https://127.0.0.1:1"}, ctrl.Options{
		Scheme:                 scheme.Scheme,
		MapperProvider:         func(*rest.Config, *http.Client) (meta.RESTMapper, error) { return mapper, nil },
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
		Cache: cache.Options{
			DefaultTransform: lookup.StripForCache,
			NewInformer: func(_ toolscache.ListerWatcher, obj runtime.Object, resync time.Duration, idx toolscache.Indexers) toolscache.SharedIndexInformer {
				return toolscache.NewSharedIndexInformer(watchListUnsupported{env.sources[reflect.TypeOf(obj)]}, obj, resync, idx)
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	indexes, err := lookup.SetupIndexes(ctx, mgr.GetCache())
	if err != nil {
		t.Fatal(err)
	}
	env.audit = &Audit{
		Client:   mgr.GetClient(),
		Live:     env.cleared,
		Lookup:   &lookup.CacheLookup{Cache: mgr.GetCache(), Indexes: indexes},
		Registry: rules.Default(),
		Recorder: env.events,
	}
	env.audit.Namespaces = &lookup.Namespaces{Cache: mgr.GetCache()}
	if configure != nil {
		configure(env.audit)
	}
	if err := env.audit.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	if run {
		go func() { _ = mgr.Start(ctx) }()
	} else {
		go func() { _ = mgr.GetCache().Start(ctx) }()
	}
	syncCtx, done := context.WithTimeout(ctx, 30*time.Second)
	defer done()
	if !mgr.GetCache().WaitForCacheSync(syncCtx) {
		t.Fatal("the cache did not sync")
	}
	return env
}

func (e *auditEnv) source(o client.Object) *fcache.FakeControllerSource {
	s := e.sources[reflect.TypeOf(o)]
	if s == nil {
		e.t.Fatalf("no source for %T", o)
	}
	return s
}

// apply creates or replaces o and waits until the cache has it.
func (e *auditEnv) apply(o client.Object) {
	e.t.Helper()
	c := o.DeepCopyObject().(client.Object)
	key := client.ObjectKeyFromObject(o)
	cur := o.DeepCopyObject().(client.Object)
	if err := e.audit.Client.Get(e.ctx, key, cur); err == nil {
		e.source(o).Modify(c)
	} else {
		e.source(o).Add(c)
	}
	e.waitCache(o, func(err error, got client.Object) bool {
		return err == nil && got.GetResourceVersion() == c.GetResourceVersion()
	})
}

// remove deletes o and waits until the cache no longer has it.
func (e *auditEnv) remove(o client.Object) {
	e.t.Helper()
	e.source(o).Delete(o.DeepCopyObject())
	e.waitCache(o, func(err error, _ client.Object) bool { return apierrors.IsNotFound(err) })
}

func (e *auditEnv) waitCache(o client.Object, done func(error, client.Object) bool) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := o.DeepCopyObject().(client.Object)
		if done(e.audit.Client.Get(e.ctx, client.ObjectKeyFromObject(o), got), got) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the cache did not catch up with %T %s", o, o.GetName())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// eventually polls cond for up to 10s.
func eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within 10s; last state:\n%s", what, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// findings returns what the audit holds for the namespace: each object's
// findings, one line each.
func (e *auditEnv) findings(ns string) map[string]string {
	e.audit.mu.Lock()
	defer e.audit.mu.Unlock()
	out := map[string]string{}
	for req, s := range e.audit.reported {
		if req.Namespace == ns {
			out[req.Kind+"/"+req.Name] = s.key
		}
	}
	return out
}

// evaluateAll evaluates every audited object of the namespace, as the
// audit did before it went object by object: the findings must match.
func (e *auditEnv) evaluateAll(ns string) (map[string]string, map[string]float64) {
	e.t.Helper()
	out, counts := map[string]string{}, map[string]float64{}
	lists := []client.ObjectList{&appsv1.StatefulSetList{}, &appsv1.DeploymentList{}, &appsv1.ReplicaSetList{},
		&appsv1.DaemonSetList{}, &batchv1.JobList{}, &batchv1.CronJobList{}, &corev1.PodList{}}
	for _, list := range lists {
		if err := e.audit.Client.List(e.ctx, list, client.InNamespace(ns)); err != nil {
			e.t.Fatal(err)
		}
		_ = meta.EachListItem(list, func(o runtime.Object) error {
			if w, _ := rules.WorkloadOf(o); !audited(o, w) {
				return nil
			}
			res, err := e.audit.Registry.Evaluate(&rules.Request{Operation: rules.Create, Object: o}, e.audit.Lookup.For(e.ctx), &e.audit.Policy)
			if err != nil {
				e.t.Fatal(err)
			}
			var lines []string
			for _, f := range res.Findings {
				lines = append(lines, f.Rule.ID+" "+f.Field()+": "+f.Message())
				counts[f.Rule.ID]++
			}
			if len(lines) > 0 {
				sort.Strings(lines)
				kind, _ := rules.KindOf(o)
				out[kind+"/"+o.(client.Object).GetName()] = strings.Join(lines, "\n")
			}
			return nil
		})
	}
	return out, counts
}

// settled waits until the audit's findings and gauge for the namespace are
// those of a full evaluation: no change may leave a finding stale.
func (e *auditEnv) settled(ns string) map[string]string {
	e.t.Helper()
	var got map[string]string
	eventually(e.t, "the audit matching a full evaluation of "+ns, func() (bool, string) {
		want, wantCounts := e.evaluateAll(ns)
		got = e.findings(ns)
		gauge := gaugeValues(ns)
		if reflect.DeepEqual(got, want) && reflect.DeepEqual(gauge, wantCounts) {
			return true, ""
		}
		return false, fmt.Sprintf("audit:    %v\ngauge:    %v\nexpected: %v\ngauge:    %v", got, gauge, want, wantCounts)
	})
	return got
}

// gaugeValues reads the namespace's headless_guard_audit_violations values
// without creating label sets.
func gaugeValues(ns string) map[string]float64 {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(AuditViolations)
	families, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["namespace"] == ns {
				out[labels["rule"]] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

// recorder keeps the Events the audit records, as "Kind/name note": the
// Warning ones in events, the Normal ones in normal.
type recorder struct {
	mu     sync.Mutex
	events []string
	normal []string
}

func (r *recorder) Eventf(regarding, _ runtime.Object, eventtype, _, _, note string, args ...any) {
	var object string
	if ref, ok := regarding.(*corev1.ObjectReference); ok {
		object = ref.Kind + "/" + ref.Name
	} else {
		kind, _ := rules.KindOf(regarding)
		object = kind + "/" + regarding.(client.Object).GetName()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	line := object + " " + fmt.Sprintf(note, args...)
	if eventtype == corev1.EventTypeNormal {
		r.normal = append(r.normal, line)
		return
	}
	r.events = append(r.events, line)
}

// about returns the Warning Events about object ("Kind/name").
func (r *recorder) about(object string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return withPrefix(r.events, object+" ")
}

// resolved returns the Normal Events about object.
func (r *recorder) resolved(object string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return withPrefix(r.normal, object+" ")
}

func withPrefix(lines []string, prefix string) []string {
	var out []string
	for _, e := range lines {
		if strings.HasPrefix(e, prefix) {
			out = append(out, e)
		}
	}
	return out
}

// eventLister stands for the API server's Events: it has those in items,
// and remembers whose were asked for (the audit clearing them).
type eventLister struct {
	mu    sync.Mutex
	uids  []types.UID
	items []corev1.Event
}

func (l *eventLister) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: "events"}, "")
}

func (l *eventLister) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	var lo client.ListOptions
	lo.ApplyOptions(opts)
	events, ok := list.(*corev1.EventList)
	if !ok || lo.FieldSelector == nil {
		return nil
	}
	uid, byUID := lo.FieldSelector.RequiresExactMatch("involvedObject.uid")
	l.mu.Lock()
	defer l.mu.Unlock()
	if byUID {
		l.uids = append(l.uids, types.UID(uid))
	}
	for _, ev := range l.items {
		if !byUID || string(ev.InvolvedObject.UID) == uid {
			events.Items = append(events.Items, ev)
		}
	}
	return nil
}

func (l *eventLister) clearedFor(uid types.UID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.uids, uid)
}

// Objects of the tests. Each has a UID derived from its kind and name
// unless one is set.

func objectMeta(ns, kind, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(kind + "/" + ns + "/" + name)}
}

func podSpec(subdomain string) corev1.PodSpec {
	return corev1.PodSpec{Subdomain: subdomain, Containers: []corev1.Container{{
		Name: "c", Image: "nginx", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 80}},
	}}}
}

// statefulSet, deployment and service are testobj's, named and labelled
// per case, with UIDs the fake sources do not assign.
func statefulSet(ns, name, serviceName string, labels map[string]string) *appsv1.StatefulSet {
	return testobj.StatefulSet(testobj.WithServiceName(serviceName), testobj.WithReplicas(1), testobj.WithTemplateLabels(labels), func(s *appsv1.StatefulSet) {
		s.ObjectMeta = objectMeta(ns, "sts", name)
		s.Spec.Selector = &metav1.LabelSelector{MatchLabels: labels}
		s.Spec.Template.Spec = podSpec("")
	})
}

func deployment(ns, name, subdomain string, labels map[string]string) *appsv1.Deployment {
	return testobj.Deployment(func(d *appsv1.Deployment) {
		d.ObjectMeta = objectMeta(ns, "deploy", name)
		d.Spec.Selector = &metav1.LabelSelector{MatchLabels: labels}
		d.Spec.Template = corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec(subdomain)}
	})
}

func service(ns, name string, selector map[string]string) *corev1.Service {
	return testobj.Service(testobj.WithSelector(selector), testobj.WithPorts(corev1.ServicePort{Name: "web", Port: 80, TargetPort: intstr.FromString("web")}), func(svc *corev1.Service) {
		svc.ObjectMeta = objectMeta(ns, "svc", name)
	})
}

func app(name string) map[string]string { return map[string]string{"app": name} }

func TestAuditFollowsItsGoverningService(t *testing.T) {
	const ns = "governing"
	env := newAuditEnv(t, true)
	web := statefulSet(ns, "web", "web", app("web"))
	env.apply(web)
	if got := env.settled(ns); !strings.HasPrefix(got["StatefulSet/web"], "HG002 spec.serviceName") {
		t.Fatalf("a StatefulSet without its Service: %v", got)
	}
	eventually(t, "the HG002 Event", func() (bool, string) {
		e := env.events.about("StatefulSet/web")
		return len(e) == 1 && strings.HasPrefix(e[0], "StatefulSet/web HG002 service-exists: spec.serviceName: must name an existing Service"), fmt.Sprint(e)
	})

	// A Service created after the StatefulSet that does not select its
	// pods: HG004 instead.
	svc := service(ns, "web", map[string]string{"app": "web", "tier": "db"})
	env.apply(svc)
	if got := env.settled(ns); !strings.HasPrefix(got["StatefulSet/web"], "HG004 spec.template.metadata.labels") {
		t.Fatalf("with a Service that does not select the pods: %v", got)
	}
	// Fixed, the finding, the gauge and the Events are cleared.
	svc.Spec.Selector = app("web")
	env.apply(svc)
	if got := env.settled(ns); len(got) != 0 {
		t.Fatalf("with its Service: %v", got)
	}
	if !env.cleared.clearedFor(web.UID) {
		t.Error("the StatefulSet's Events were not cleared")
	}

	// A Service that is no longer headless: HG003.
	svc.Spec.ClusterIP = "10.0.0.10"
	env.apply(svc)
	if got := env.settled(ns); !strings.HasPrefix(got["StatefulSet/web"], "HG003 spec.serviceName") {
		t.Fatalf("with a ClusterIP Service: %v", got)
	}
	svc.Spec.ClusterIP = corev1.ClusterIPNone
	env.apply(svc)
	env.settled(ns)

	// A selector that misses the pods (HG004), an unnamed port (HG005), a
	// targetPort that resolves nowhere (HG006).
	svc.Spec.Selector = map[string]string{"app": "web", "tier": "db"}
	svc.Spec.Ports = []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromString("http")}}
	env.apply(svc)
	got := env.settled(ns)["StatefulSet/web"]
	for _, rule := range []string{"HG004", "HG005"} {
		if !strings.Contains(got, rule+" ") {
			t.Errorf("no %s after the Service changed: %s", rule, got)
		}
	}
	// HG006 needs a selector that selects the pods.
	svc.Spec.Selector = app("web")
	env.apply(svc)
	if got := env.settled(ns)["StatefulSet/web"]; !strings.Contains(got, "HG006 ") {
		t.Errorf("no HG006 after the Service changed: %s", got)
	}

	// The Service deleted: HG002 again.
	env.remove(svc)
	if got := env.settled(ns); !strings.HasPrefix(got["StatefulSet/web"], "HG002 spec.serviceName") {
		t.Fatalf("after the Service was deleted: %v", got)
	}
}

func TestAuditPublishNotReadyFollowsTheService(t *testing.T) {
	const ns = "publish"
	env := newAuditEnv(t, true)
	env.audit.Policy.Overrides = map[string]rules.Action{"HG009": rules.ActionWarn}
	web := statefulSet(ns, "web", "web", app("web"))
	web.Spec.Replicas = ptr.To[int32](3)
	svc := service(ns, "web", app("web"))
	env.apply(svc)
	env.apply(web)
	if got := env.settled(ns); !strings.HasPrefix(got["StatefulSet/web"], "HG009 ") {
		t.Fatalf("OrderedReady without publishNotReadyAddresses: %v", got)
	}
	svc.Spec.PublishNotReadyAddresses = true
	env.apply(svc)
	if got := env.settled(ns); len(got) != 0 {
		t.Fatalf("with publishNotReadyAddresses: %v", got)
	}
}

// HG012 reads the Service a workload's subdomain names: its existence,
// its headlessness and its selector.
func TestAuditFollowsTheSubdomainService(t *testing.T) {
	const ns = "subdomain"
	env := newAuditEnv(t, true)
	env.apply(deployment(ns, "api", "sub", app("api")))
	if got := env.settled(ns); !strings.HasPrefix(got["Deployment/api"], "HG012 spec.template.spec.subdomain: must name an existing headless Service") {
		t.Fatalf("a subdomain without its Service: %v", got)
	}
	sub := service(ns, "sub", app("other"))
	env.apply(sub)
	if got := env.settled(ns); !strings.HasPrefix(got["Deployment/api"], "HG012 spec.template.metadata.labels") {
		t.Fatalf("a subdomain Service that does not select the pods: %v", got)
	}
	sub.Spec.Selector = app("api")
	env.apply(sub)
	if got := env.settled(ns); len(got) != 0 {
		t.Fatalf("a subdomain Service that selects the pods: %v", got)
	}
	if !env.cleared.clearedFor(types.UID("deploy/" + ns + "/api")) {
		t.Error("the Deployment's Events were not cleared")
	}
	env.remove(sub)
	env.settled(ns)
	// A Pod of its own, and a controller's copy, which is never audited.
	pod := &corev1.Pod{ObjectMeta: objectMeta(ns, "pod", "p"), Spec: podSpec("sub")}
	pod.Labels = app("api")
	copied := &corev1.Pod{ObjectMeta: objectMeta(ns, "pod", "api-1"), Spec: podSpec("sub")}
	copied.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "api-1", UID: "rs", Controller: ptr.To(true)}}
	env.apply(pod)
	env.apply(copied)
	got := env.settled(ns)
	if _, ok := got["Pod/p"]; !ok || len(got) != 2 {
		t.Fatalf("the Pod and the Deployment must be reported, not the copy: %v", got)
	}
}

// HG008 reads the other workloads the governing Service selects: changing
// one of them changes the StatefulSet's findings.
func TestAuditFollowsTheWorkloadsTheServiceSelects(t *testing.T) {
	const ns = "selects"
	env := newAuditEnv(t, true)
	env.apply(service(ns, "db", app("db")))
	env.apply(statefulSet(ns, "db", "db", app("db")))
	if got := env.settled(ns); len(got) != 0 {
		t.Fatalf("a StatefulSet and its Service: %v", got)
	}
	other := deployment(ns, "other", "", app("db"))
	env.apply(other)
	if got := env.settled(ns); !strings.HasPrefix(got["StatefulSet/db"], "HG008 spec.serviceName") {
		t.Fatalf("another workload with the same labels: %v", got)
	}
	other.Spec.Template.Labels = app("other")
	env.apply(other)
	if got := env.settled(ns); len(got) != 0 {
		t.Fatalf("the other workload relabelled: %v", got)
	}
	other.Spec.Template.Labels = app("db")
	env.apply(other)
	env.settled(ns)
	env.remove(other)
	if got := env.settled(ns); len(got) != 0 {
		t.Fatalf("the other workload deleted: %v", got)
	}
}

// HG002's message names the headless Services that select the pods: a
// Service appearing that selects them changes it.
func TestAuditFollowsTheServicesThatSelectIt(t *testing.T) {
	const ns = "alternative"
	env := newAuditEnv(t, true)
	env.apply(statefulSet(ns, "web", "missing", app("web")))
	if got := env.settled(ns)["StatefulSet/web"]; !strings.Contains(got, "create a headless Service `missing`") {
		t.Fatalf("no alternative: %s", got)
	}
	env.apply(service(ns, "web-headless", app("web")))
	if got := env.settled(ns)["StatefulSet/web"]; !strings.Contains(got, "headless Service `web-headless` selects these pods") {
		t.Fatalf("with a Service that selects the pods: %s", got)
	}
	eventually(t, "a second Event with the new message", func() (bool, string) {
		e := env.events.about("StatefulSet/web")
		return len(e) == 2 && strings.Contains(e[1], "web-headless"), fmt.Sprint(e)
	})
}

func TestAuditForgetsDeletedObjects(t *testing.T) {
	const ns = "deleted"
	env := newAuditEnv(t, true)
	a, b := statefulSet(ns, "a", "missing", app("a")), statefulSet(ns, "b", "missing", app("b"))
	env.apply(a)
	env.apply(b)
	env.settled(ns)
	if got := gaugeValues(ns); got["HG002"] != 2 {
		t.Fatalf("gauge %v, want HG002 2", got)
	}
	env.remove(a)
	env.settled(ns)
	if got := gaugeValues(ns); got["HG002"] != 1 {
		t.Fatalf("gauge %v, want HG002 1", got)
	}
	// Recreated under the same name: a new object, reported anew.
	a.UID = "recreated"
	env.apply(a)
	env.settled(ns)
	eventually(t, "an Event about the new object", func() (bool, string) {
		e := env.events.about("StatefulSet/a")
		return len(e) == 2, fmt.Sprint(e)
	})
	env.remove(a)
	env.remove(b)
	env.settled(ns)
	if got := gaugeValues(ns); len(got) != 0 {
		t.Fatalf("gauge %v, want no label set", got)
	}
	// A workload that drops its subdomain is no longer audited.
	d := deployment(ns, "d", "missing", app("d"))
	env.apply(d)
	if got := env.settled(ns); len(got) != 1 {
		t.Fatalf("%v", got)
	}
	d.Spec.Template.Spec.Subdomain = ""
	env.apply(d)
	if got := env.settled(ns); len(got) != 0 {
		t.Fatalf("%v", got)
	}
}

// TestAuditNeverStale makes changes of every kind the rules read, and
// after each compares the audit with a full evaluation of the namespace.
func TestAuditNeverStale(t *testing.T) {
	const ns = "stale"
	env := newAuditEnv(t, true)
	env.audit.Policy.Overrides = map[string]rules.Action{"HG009": rules.ActionWarn}
	shared := map[string]string{"tier": "db"}
	both := map[string]string{"tier": "db", "app": "a"}
	svcA, svcB := service(ns, "a", both), service(ns, "b", shared)
	stsA, stsB := statefulSet(ns, "a", "a", both), statefulSet(ns, "b", "b", map[string]string{"tier": "db", "app": "b"})
	stsB.Spec.Replicas = ptr.To[int32](3)
	svcC, stsC := service(ns, "c", app("nothing")), statefulSet(ns, "c", "c", app("c"))
	dep := deployment(ns, "d", "a", map[string]string{"app": "d"})
	job := &batchv1.Job{ObjectMeta: objectMeta(ns, "job", "j"), Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: shared}, Spec: podSpec("b")}}}
	cron := &batchv1.CronJob{ObjectMeta: objectMeta(ns, "cron", "c"), Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: app("c")}, Spec: podSpec("")}}}}}
	ds := &appsv1.DaemonSet{ObjectMeta: objectMeta(ns, "ds", "ds"), Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: app("x")}, Spec: podSpec("")}}}
	rs := &appsv1.ReplicaSet{ObjectMeta: objectMeta(ns, "rs", "rs"), Spec: appsv1.ReplicaSetSpec{Template: corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: app("x")}, Spec: podSpec("")}}}
	steps := []struct {
		name   string
		change func()
	}{
		{"StatefulSet a without its Service", func() { env.apply(stsA) }},
		{"StatefulSet b without its Service", func() { env.apply(stsB) }},
		{"Service b, selecting both", func() { env.apply(svcB) }},
		{"Service a", func() { env.apply(svcA) }},
		{"Deployment with subdomain a", func() { env.apply(dep) }},
		{"Job selected by Service b, subdomain b", func() { env.apply(job) }},
		{"CronJob and DaemonSet", func() { env.apply(cron); env.apply(ds) }},
		{"ReplicaSet", func() { env.apply(rs) }},
		{"DaemonSet relabelled into Service b's selector", func() {
			ds.Spec.Template.Labels = shared
			env.apply(ds)
		}},
		{"ReplicaSet adopted by a Deployment", func() {
			rs.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "x", UID: "x", Controller: ptr.To(true)}}
			rs.Spec.Template.Labels = shared
			rs.Spec.Template.Spec.Subdomain = "b"
			env.apply(rs)
		}},
		{"ReplicaSet orphaned", func() {
			rs.OwnerReferences = nil
			env.apply(rs)
		}},
		{"Deployment relabelled to match Service a", func() {
			dep.Spec.Template.Labels = both
			env.apply(dep)
		}},
		{"StatefulSet c without its Service", func() { env.apply(stsC) }},
		{"Service c, selecting none of its pods", func() { env.apply(svcC) }},
		{"Service c's port renamed", func() {
			svcC.Spec.Ports[0].Name = ""
			env.apply(svcC)
		}},
		{"Service a's port renamed", func() {
			svcA.Spec.Ports[0].Name = ""
			env.apply(svcA)
		}},
		{"Service a's selector narrowed", func() {
			svcA.Spec.Selector = map[string]string{"tier": "db", "app": "a", "x": "y"}
			env.apply(svcA)
		}},
		{"Service b made a ClusterIP Service", func() {
			svcB.Spec.ClusterIP = "10.0.0.11"
			env.apply(svcB)
		}},
		{"StatefulSet a renamed its Service", func() {
			stsA.Spec.ServiceName = "b"
			env.apply(stsA)
		}},
		{"Service b deleted", func() { env.remove(svcB) }},
		{"Service b again, publishing not-ready pods", func() {
			svcB.Spec.ClusterIP = corev1.ClusterIPNone
			svcB.Spec.PublishNotReadyAddresses = true
			env.apply(svcB)
		}},
		{"Job skipped", func() {
			job.Annotations = map[string]string{rules.SkipAnnotation: "all"}
			env.apply(job)
		}},
		{"Deployment deleted", func() { env.remove(dep) }},
		{"StatefulSet b deleted", func() { env.remove(stsB) }},
		{"Service a deleted", func() { env.remove(svcA) }},
	}
	var log []string
	last := map[string]string{}
	for _, s := range steps {
		s.change()
		got := env.settled(ns)
		var changed []string
		for _, k := range slices.Sorted(maps.Keys(got)) {
			if got[k] != last[k] {
				changed = append(changed, k)
			}
		}
		for k := range last {
			if _, ok := got[k]; !ok {
				changed = append(changed, k+" (clean)")
			}
		}
		log = append(log, fmt.Sprintf("%s: %v", s.name, changed))
		last = got
	}
	t.Log("objects whose findings changed:\n" + strings.Join(log, "\n"))
}

// An object deleted and created again under its name before the audit
// saw it gone is a new object: its findings are reported anew, and the
// gauge counts them once.
func TestAuditReportsARecreatedObject(t *testing.T) {
	const ns = "recreated"
	env := newAuditEnv(t, false)
	web := statefulSet(ns, "web", "missing", app("web"))
	env.apply(web)
	req := AuditRequest{rules.KindStatefulSet, ns, "web"}
	reconcile := func() {
		t.Helper()
		if _, err := env.audit.Reconcile(env.ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	reconcile()
	reconcile()
	if e := env.events.about("StatefulSet/web"); len(e) != 1 {
		t.Fatalf("events %v, want one", e)
	}
	env.remove(web)
	web.UID = "second"
	env.apply(web)
	reconcile()
	if e := env.events.about("StatefulSet/web"); len(e) != 2 {
		t.Fatalf("events %v, want a second one about the new object", e)
	}
	if got := gaugeValues(ns); got["HG002"] != 1 {
		t.Fatalf("gauge %v, want HG002 1", got)
	}
}

func TestForWorkloadSkipsControllersCopies(t *testing.T) {
	env := newAuditEnv(t, false, service("copies", "web", app("web")), statefulSet("copies", "web", "web", app("web")))
	pod := &corev1.Pod{ObjectMeta: objectMeta("copies", "pod", "web-0"), Spec: podSpec("web")}
	pod.Labels = app("web")
	pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", UID: "sts/copies/web", Controller: ptr.To(true)}}
	if got := env.audit.forWorkload(env.ctx, pod); len(got) != 0 {
		t.Errorf("a StatefulSet's pod queues %v", got)
	}
	pod.OwnerReferences = nil
	want := []AuditRequest{{rules.KindPod, "copies", "web-0"}, {rules.KindStatefulSet, "copies", "web"}}
	if got := env.audit.forWorkload(env.ctx, pod); !reflect.DeepEqual(got, want) {
		t.Errorf("a Pod of its own queues %v, want %v", got, want)
	}
}

// The cost of one change in a namespace of 10,000 Services and 2,000
// StatefulSets: what the handler queues for it, and reconciling that.
func BenchmarkAuditChange(b *testing.B) {
	const ns = "bench"
	env := newAuditEnv(b, false, load.ScaleObjects(ns, 10000, 2000)...)
	// The first pass records the findings of every object.
	for i := range 2000 {
		if _, err := env.audit.Reconcile(env.ctx, AuditRequest{rules.KindStatefulSet, ns, load.ScaleStatefulSet(ns, i).Name}); err != nil {
			b.Fatal(err)
		}
	}
	if got := gaugeValues(ns); len(got) != 0 {
		b.Fatalf("the benchmark's objects have findings: %v", got)
	}
	run := func(b *testing.B, reqs func(i int) []AuditRequest) {
		queued := 0
		for i := 0; b.Loop(); i++ {
			// The handler queues each request once per event.
			r := slices.Compact(slices.SortedFunc(slices.Values(reqs(i%2000)), func(x, y AuditRequest) int {
				return strings.Compare(x.String(), y.String())
			}))
			queued += len(r)
			for _, req := range r {
				if _, err := env.audit.Reconcile(env.ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(queued)/float64(b.N), "reconciles/op")
	}
	b.Run("StatefulSet", func(b *testing.B) {
		run(b, func(i int) []AuditRequest { return env.audit.forWorkload(env.ctx, load.ScaleStatefulSet(ns, i)) })
	})
	b.Run("Service", func(b *testing.B) {
		run(b, func(i int) []AuditRequest { return env.audit.forService(env.ctx, load.ScaleService(ns, i)) })
	})
}
