package rules_test

import (
	"encoding/json"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/headless-guard/headless-guard/internal/testobj"
	"github.com/headless-guard/headless-guard/rules"
)

// compactObjects are the rendered public charts' objects, the test
// objects of every kind, and shapes the pairs encoding must tell apart
// (selectors with an empty value, keys that are prefixes of others, a
// selector pair that no template has, a controller's copy, a Service
// defined twice), each stripped as the checker keeps it.
func compactObjects(t *testing.T) []runtime.Object {
	t.Helper()
	charts, err := testobj.PublicCharts("../internal/check/testdata/publiccharts")
	if err != nil {
		t.Fatal(err)
	}
	var objs []runtime.Object
	for _, o := range charts {
		objs = append(objs, o)
	}
	objs = append(objs, mkStatefulSet(), mkService(), mkClientService(), mkDeployment(), mkReplicaSet(), mkDaemonSet(),
		mkJob(), mkCronJob(), mkPod(), mkPod(testobj.WithControllerOwner[*corev1.Pod]("ReplicaSet", "web-rs")), mkStatefulSet(stsOwnedBy("Db", "db")))
	const ns = "corners"
	svc := func(name string, selector map[string]string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: map[string]string{rules.SkipAnnotation: "HG004"}},
			Spec: corev1.ServiceSpec{ClusterIP: "None", Selector: selector, Ports: []corev1.ServicePort{{Name: "p", Port: 80, TargetPort: intstr.FromString("p")}}}}
	}
	sts := func(name, serviceName string, labels map[string]string) *appsv1.StatefulSet {
		return &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: appsv1.StatefulSetSpec{ServiceName: serviceName, Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{{Name: "p", ContainerPort: 80}}}}}}}}
	}
	objs = append(objs,
		svc("a", map[string]string{"app": "x"}),
		svc("b", map[string]string{"app": "x", "tier": ""}),
		svc("c", map[string]string{"ap": "px"}),
		svc("d", map[string]string{"app": "x", "zone": "1"}),
		svc("none", nil),
		svc("empty", map[string]string{}),
		svc("a", map[string]string{"app": "y"}), // defined again: replaces the first
		sts("x", "a", map[string]string{"app": "x"}),
		sts("x2", "a", map[string]string{"app": "x", "zone": "1"}),
		sts("y", "b", map[string]string{"app": "y", "tier": ""}),
		sts("bare", "none", nil),
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: ns}, Spec: appsv1.DeploymentSpec{
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x", "ap": "px"}},
				Spec: corev1.PodSpec{Subdomain: "a", Containers: []corev1.Container{{Name: "c"}}}}}},
	)
	for _, o := range objs {
		rules.Strip(o)
		// As the checker's decoder leaves them.
		o.GetObjectKind().SetGroupVersionKind(rules.KindInfoOf(o).GVK)
	}
	return objs
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEncodedIsTheObject: an Encoded object decodes to the object as the
// rules read it (what Strip left; compared as JSON, which does not tell an
// empty map or list from none, and neither does any rule).
func TestEncodedIsTheObject(t *testing.T) {
	var arena rules.Arena
	kinds := map[string]int{}
	for _, o := range compactObjects(t) {
		e, ok := rules.Encode(o, &arena)
		if !ok {
			t.Fatalf("%T not encoded", o)
		}
		got := e.Object()
		if rules.RefOf(got) != rules.RefOf(o) {
			t.Errorf("decoded %v, want %v", rules.RefOf(got), rules.RefOf(o))
		}
		if a, b := toJSON(t, got), toJSON(t, o); a != b {
			t.Errorf("%v decodes to\n%s\nwant\n%s", rules.RefOf(o), a, b)
		}
		if got.GetObjectKind().GroupVersionKind() != e.Kind().GVK {
			t.Errorf("%v: TypeMeta %v", rules.RefOf(o), got.GetObjectKind().GroupVersionKind())
		}
		kinds[e.Kind().Name]++
	}
	for _, k := range rules.Kinds {
		if kinds[k.Name] == 0 {
			t.Errorf("no object of kind %s was encoded: add one to compactObjects", k.Name)
		}
	}
	t.Logf("objects by kind: %v", kinds)
}

// TestCompactIndexAnswersAsIndex: CompactIndex, and a View of it, give
// every lookup the answer Index gives, in the same order, for every
// Service, StatefulSet and pod template of the objects: by name, by the
// labels a template has, by the selector a Service or StatefulSet has.
func TestCompactIndexAnswersAsIndex(t *testing.T) {
	objs := compactObjects(t)
	want := rules.NewIndex()
	got := rules.NewCompactIndex()
	for _, o := range objs {
		want.Add(o)
		got.Add(o.DeepCopyObject())
	}
	view := got.View()
	lookups := map[string]rules.Lookup{"CompactIndex": got, "View": view}
	workloads := func(ws []rules.Workload) string {
		var out []string
		for _, w := range ws {
			out = append(out, fmt.Sprintf("%v %v %v %v %s", w.Ref, w.MetaPath, w.SpecPath, w.HelmHook, toJSON(t, w.Template)))
		}
		return toJSON(t, out)
	}
	asked := 0
	same := func(what string, ask func(rules.Lookup) (any, error)) {
		t.Helper()
		asked++
		w, err := ask(want)
		if err != nil {
			t.Fatal(err)
		}
		wantJSON := toJSON(t, w)
		if ws, ok := w.([]rules.Workload); ok {
			wantJSON = workloads(ws)
		}
		for name, l := range lookups {
			// Twice: the view answers the second time from its slots.
			for range 2 {
				g, err := ask(l)
				if err != nil {
					t.Fatal(err)
				}
				gotJSON := toJSON(t, g)
				if gs, ok := g.([]rules.Workload); ok {
					gotJSON = workloads(gs)
				}
				if gotJSON != wantJSON {
					t.Errorf("%s: %s answers\n%s\nIndex answers\n%s", what, name, gotJSON, wantJSON)
				}
			}
		}
	}
	for _, o := range objs {
		ref := rules.RefOf(o)
		ns := ref.Namespace
		var selectors []map[string]string
		if svc, ok := o.(*corev1.Service); ok {
			selectors = append(selectors, svc.Spec.Selector)
			same("Service "+ref.String(), func(l rules.Lookup) (any, error) { return l.Service(ns, svc.Name) })
			same("StatefulSetsFor "+ref.String(), func(l rules.Lookup) (any, error) { return l.StatefulSetsFor(ns, svc.Name) })
			same("ServicesSelecting its selector "+ref.String(), func(l rules.Lookup) (any, error) { return l.ServicesSelecting(ns, svc.Spec.Selector) })
		}
		if sts, ok := o.(*appsv1.StatefulSet); ok {
			same("Service of "+ref.String(), func(l rules.Lookup) (any, error) { return l.Service(ns, sts.Spec.ServiceName) })
			same("StatefulSetsFor of "+ref.String(), func(l rules.Lookup) (any, error) { return l.StatefulSetsFor(ns, sts.Spec.ServiceName) })
		}
		if k := rules.KindInfoOf(o); k != nil && k.Selector != nil {
			if s := k.Selector(o); s != nil {
				selectors = append(selectors, s.MatchLabels)
			}
		}
		if w, ok := rules.WorkloadOf(o); ok {
			labels := w.Template.Labels
			selectors = append(selectors, labels)
			same("ServicesSelecting "+ref.String(), func(l rules.Lookup) (any, error) { return l.ServicesSelecting(ns, labels) })
			if sub := w.Template.Spec.Subdomain; sub != "" {
				same("Service subdomain of "+ref.String(), func(l rules.Lookup) (any, error) { return l.Service(ns, sub) })
			}
		}
		for _, sel := range selectors {
			same("WorkloadsSelectedBy "+ref.String(), func(l rules.Lookup) (any, error) { return l.WorkloadsSelectedBy(ns, sel) })
			// Each pair alone, too: a selector of one pair selects more.
			for k, v := range sel {
				one := map[string]string{k: v}
				same("WorkloadsSelectedBy one pair "+ref.String(), func(l rules.Lookup) (any, error) { return l.WorkloadsSelectedBy(ns, one) })
				same("ServicesSelecting one pair "+ref.String(), func(l rules.Lookup) (any, error) { return l.ServicesSelecting(ns, one) })
			}
		}
	}
	same("Service of no namespace", func(l rules.Lookup) (any, error) { return l.Service("nowhere", "a") })
	t.Logf("%d lookups of %d objects compared", asked, len(objs))
}
