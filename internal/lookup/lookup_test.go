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
// answer for each other. Two serviceNames, selector pairs, template pairs
// and subdomains of one bucket each, and every lookup finds only its own.
func TestBucketsAnswerExactly(t *testing.T) {
	// Two names of one bucket (there are indexBuckets buckets: a few
	// thousand tries find a pair).
	var a, b string
	seen := map[int]string{}
	for i := 0; a == ""; i++ {
		n := fmt.Sprintf("n%d", i)
		if other, ok := seen[bucket("app=", n)]; ok {
			a, b = other, n
		}
		seen[bucket("app=", n)] = n
	}
	if IndexKey("ns", "app="+a) != IndexKey("ns", "app="+b) || pairKey("ns", "app", a) != IndexKey("ns", "app="+a) {
		t.Fatal("the names do not share a bucket")
	}
	const ns = "ns"
	sts := func(name string) *appsv1.StatefulSet {
		return &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: appsv1.StatefulSetSpec{ServiceName: "app=" + name, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
					Spec: corev1.PodSpec{Subdomain: "app=" + name, Containers: []corev1.Container{{Name: "c"}}}}},
		}
	}
	svc := func(name string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "app=" + name, Namespace: ns},
			Spec: corev1.ServiceSpec{ClusterIP: "None", Selector: map[string]string{"app": name}}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, _, err := InMemory(ctx, []client.Object{sts(a), sts(b), svc(a), svc(b)}...)
	if err != nil {
		t.Fatal(err)
	}
	lookups := l.For(ctx)
	for _, name := range []string{a, b} {
		governed, err := lookups.StatefulSetsFor(ns, "app="+name)
		if err != nil || len(governed) != 1 || governed[0].Name != name {
			t.Errorf("StatefulSetsFor(app=%s) = %v, %v; want %s alone", name, governed, err, name)
		}
		selecting, err := lookups.ServicesSelecting(ns, map[string]string{"app": name})
		if err != nil || len(selecting) != 1 || selecting[0].Name != "app="+name {
			t.Errorf("ServicesSelecting(app=%s) = %v, %v; want app=%s alone", name, selecting, err, name)
		}
		selected, err := lookups.WorkloadsSelectedBy(ns, map[string]string{"app": name})
		if err != nil || len(selected) != 1 || selected[0].Ref.Name != name || selected[0].Ref.Kind != rules.KindStatefulSet {
			t.Errorf("WorkloadsSelectedBy(app=%s) = %v, %v; want %s alone", name, selected, err, name)
		}
		withSubdomain, err := l.WithSubdomain(ns, "app="+name)
		if err != nil || len(withSubdomain) != 1 || withSubdomain[0].GetName() != name {
			t.Errorf("WithSubdomain(app=%s) = %v, %v; want %s alone", name, withSubdomain, err, name)
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
