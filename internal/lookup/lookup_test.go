package lookup

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
