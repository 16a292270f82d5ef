package lookup

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/rules"
)

// TestBucketsAnswerExactly: values that share an index bucket do not
// answer for each other, whether they are two values of one namespace or
// one value of two namespaces. Two serviceNames, selector pairs, template
// pairs and subdomains of one bucket each, and every lookup finds only its
// own.
func TestBucketsAnswerExactly(t *testing.T) {
	// Two of one bucket (there are indexBuckets buckets: a few hundred
	// tries find a pair).
	collide := func(key func(i int) int) (int, int) {
		seen := map[int]int{}
		for i := 0; ; i++ {
			if other, ok := seen[key(i)]; ok {
				return other, i
			}
			seen[key(i)] = i
		}
	}
	type object struct{ ns, name string }
	var cases [][2]object
	// Two names in one namespace.
	i, j := collide(func(i int) int { return bucket("ns", "/", "app=", fmt.Sprintf("n%d", i)) })
	cases = append(cases, [2]object{{"ns", fmt.Sprintf("n%d", i)}, {"ns", fmt.Sprintf("n%d", j)}})
	// One name in two namespaces.
	i, j = collide(func(i int) int { return bucket(fmt.Sprintf("ns%d", i), "/", "app=", "web") })
	cases = append(cases, [2]object{{fmt.Sprintf("ns%d", i), "web"}, {fmt.Sprintf("ns%d", j), "web"}})

	sts := func(o object) *appsv1.StatefulSet {
		return &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: o.name, Namespace: o.ns},
			Spec: appsv1.StatefulSetSpec{ServiceName: "app=" + o.name, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": o.name}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": o.name}},
					Spec: corev1.PodSpec{Subdomain: "app=" + o.name, Containers: []corev1.Container{{Name: "c"}}}}},
		}
	}
	svc := func(o object) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "app=" + o.name, Namespace: o.ns},
			Spec: corev1.ServiceSpec{ClusterIP: "None", Selector: map[string]string{"app": o.name}}}
	}
	for _, c := range cases {
		a, b := c[0], c[1]
		if IndexKey(a.ns, "app="+a.name) != IndexKey(b.ns, "app="+b.name) || pairKey(a.ns, "app", a.name) != IndexKey(a.ns, "app="+a.name) {
			t.Fatalf("%v and %v do not share a bucket", a, b)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		l, _, err := InMemory(ctx, []client.Object{sts(a), sts(b), svc(a), svc(b)}...)
		if err != nil {
			t.Fatal(err)
		}
		lookups := l.For(ctx)
		for _, o := range []object{a, b} {
			governed, err := lookups.StatefulSetsFor(o.ns, "app="+o.name)
			if err != nil || len(governed) != 1 || governed[0].Name != o.name || governed[0].Namespace != o.ns {
				t.Errorf("StatefulSetsFor(%s, app=%s) = %v, %v; want %v alone", o.ns, o.name, governed, err, o)
			}
			selecting, err := lookups.ServicesSelecting(o.ns, map[string]string{"app": o.name})
			if err != nil || len(selecting) != 1 || selecting[0].Name != "app="+o.name || selecting[0].Namespace != o.ns {
				t.Errorf("ServicesSelecting(%s, app=%s) = %v, %v; want app=%s alone", o.ns, o.name, selecting, err, o.name)
			}
			selected, err := lookups.WorkloadsSelectedBy(o.ns, map[string]string{"app": o.name})
			if err != nil || len(selected) != 1 || selected[0].Ref.Name != o.name || selected[0].Ref.Namespace != o.ns || selected[0].Ref.Kind != rules.KindStatefulSet {
				t.Errorf("WorkloadsSelectedBy(%s, app=%s) = %v, %v; want %v alone", o.ns, o.name, selected, err, o)
			}
			withSubdomain, err := l.WithSubdomain(o.ns, "app="+o.name)
			if err != nil || len(withSubdomain) != 1 || withSubdomain[0].GetName() != o.name || withSubdomain[0].GetNamespace() != o.ns {
				t.Errorf("WithSubdomain(%s, app=%s) = %v, %v; want %v alone", o.ns, o.name, withSubdomain, err, o)
			}
		}
	}
}

// TestSelectedInOrder: WorkloadsSelectedBy answers by kind (in
// WorkloadObjects order), then by name, whatever the store's order.
func TestSelectedInOrder(t *testing.T) {
	const ns = "ns"
	labels := map[string]string{"app": "x"}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}
	var objs []client.Object
	for _, name := range []string{"c", "a", "e", "b", "d"} {
		objs = append(objs,
			&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: appsv1.DeploymentSpec{Template: tmpl}},
			&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: appsv1.StatefulSetSpec{Template: tmpl}})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, _, err := InMemory(ctx, objs...)
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.For(ctx).WorkloadsSelectedBy(ns, labels)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, w := range got {
		order = append(order, w.Ref.Kind+"/"+w.Ref.Name)
	}
	want := []string{"StatefulSet/a", "StatefulSet/b", "StatefulSet/c", "StatefulSet/d", "StatefulSet/e",
		"Deployment/a", "Deployment/b", "Deployment/c", "Deployment/d", "Deployment/e"}
	if !reflect.DeepEqual(order, want) {
		t.Errorf("WorkloadsSelectedBy answers %v, want %v", order, want)
	}
}

// apiServices is a client.Reader that answers as an API server holding
// Services (and nothing else) would: Get, and List with a limit that
// leaves a continue token when there are more. It counts the Lists.
type apiServices struct {
	items []corev1.Service
	lists int
}

func (a *apiServices) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	if svc, ok := obj.(*corev1.Service); ok {
		for _, s := range a.items {
			if s.Namespace == key.Namespace && s.Name == key.Name {
				s.DeepCopyInto(svc)
				return nil
			}
		}
	}
	return apierrors.NewNotFound(schema.GroupResource{Resource: "services"}, key.Name)
}

func (a *apiServices) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	a.lists++
	o := (&client.ListOptions{}).ApplyOptions(opts)
	l := list.(*corev1.ServiceList)
	for _, s := range a.items {
		if s.Namespace != o.Namespace {
			continue
		}
		if o.Limit > 0 && int64(len(l.Items)) == o.Limit {
			l.Continue = "more"
			return nil
		}
		l.Items = append(l.Items, *s.DeepCopy())
	}
	return nil
}

// TestMissingServiceListsLive: a Service created a moment before a
// StatefulSet that misspells it may not be in the cache yet. Once a named
// Service is in neither the cache nor the API server, ServicesSelecting
// answers that namespace from the API server (one List per request), so
// HG002 can name the Service meant and deny; before such a miss, and in a
// namespace of more than liveListLimit Services, the cache answers.
func TestMissingServiceListsLive(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const ns = "ns"
	labels := map[string]string{"app": "nginx"}
	headless := func(ns, name string) corev1.Service {
		return corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.ServiceSpec{ClusterIP: "None", Selector: labels, Ports: []corev1.ServicePort{{Name: "web", Port: 80}}}}
	}
	// The cache has no Service; the API server has nginx-headless.
	l, _, err := InMemory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	api := &apiServices{items: []corev1.Service{headless(ns, "nginx-headless"), headless("other", "nginx-headless")}}
	l.Live = api

	b := l.For(ctx)
	if got, err := b.ServicesSelecting(ns, labels); err != nil || len(got) != 0 || api.lists != 0 {
		t.Fatalf("before a miss: %v, %v, %d lists; want the cache's answer, none", got, err, api.lists)
	}
	if svc, err := b.Service(ns, "nginx"); svc != nil || err != nil {
		t.Fatalf("Service nginx = %v, %v; want none", svc, err)
	}
	for range 2 {
		got, err := b.ServicesSelecting(ns, labels)
		if err != nil || len(got) != 1 || got[0].Name != "nginx-headless" || got[0].Namespace != ns {
			t.Fatalf("after a miss: %v, %v; want nginx-headless of %s", got, err, ns)
		}
	}
	if got, _ := b.ServicesSelecting(ns, map[string]string{"app": "other"}); len(got) != 0 {
		t.Errorf("Services selecting app=other: %v, want none", got)
	}
	if api.lists != 1 {
		t.Errorf("%d Lists in one request, want 1", api.lists)
	}
	// Another namespace had no miss: the cache answers it.
	if got, _ := b.ServicesSelecting("other", labels); len(got) != 0 {
		t.Errorf("namespace other, without a miss: %v, want the cache's answer, none", got)
	}
	// The next request starts again from the cache.
	if got, _ := l.For(ctx).ServicesSelecting(ns, labels); len(got) != 0 {
		t.Errorf("a new request: %v, want the cache's answer, none", got)
	}

	// HG002 then names the Service meant, and denies.
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{ServiceName: "nginx", Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx"}}}}}}
	res, err := rules.Default().Evaluate(&rules.Request{Operation: rules.Create, Object: sts}, l.For(ctx), &rules.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if d := res.Denials(); len(d) != 1 || d[0].Rule.ID != rules.HG002 || !strings.Contains(d[0].Error.Detail, "set `spec.serviceName: nginx-headless`") {
		t.Errorf("HG002 with the Service only in the API server: denials %v, findings %v; want HG002 naming nginx-headless", d, res.Findings)
	}

	// A namespace of more than liveListLimit Services: the cache answers.
	api.items, api.lists = nil, 0
	for i := range liveListLimit + 1 {
		api.items = append(api.items, headless(ns, fmt.Sprintf("svc-%03d", i)))
	}
	b = l.For(ctx)
	if svc, _ := b.Service(ns, "nginx"); svc != nil {
		t.Fatalf("Service nginx = %v, want none", svc)
	}
	if got, err := b.ServicesSelecting(ns, labels); err != nil || len(got) != 0 || api.lists != 1 {
		t.Errorf("more than liveListLimit Services: %v, %v, %d lists; want one List, then the cache's answer", got, err, api.lists)
	}
}
