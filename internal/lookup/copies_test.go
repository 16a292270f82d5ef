package lookup

import (
	"context"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/rules"
)

// TestControllerCopiesAreStubs: the cache keeps a controller's copy (a
// Pod of a StatefulSet, a ReplicaSet of a Deployment, a Job of a CronJob)
// as a CachedCopy, its identity and controller reference only, which
// readers get as an object of its type; the lookups answer
// as before: they never report a copy, only its owner, whose template
// stands for it. A bare Pod, and a copy its controller has orphaned, are
// kept whole.
func TestControllerCopiesAreStubs(t *testing.T) {
	const ns = "copies"
	labels := map[string]string{"app": "web"}
	spec := corev1.PodSpec{Hostname: "h", Subdomain: "web", Containers: []corev1.Container{{Name: "c", Image: "nginx", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80}}}}}
	template := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}
	meta := func(name, ownerKind string) metav1.ObjectMeta {
		m := metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID("uid-" + name), ResourceVersion: "9", Labels: labels,
			Annotations: map[string]string{"headless-guard.io/ignore": "HG008"}}
		if ownerKind != "" {
			m.OwnerReferences = []metav1.OwnerReference{
				{APIVersion: "v1", Kind: "ConfigMap", Name: "other", UID: "u0"},
				{APIVersion: "apps/v1", Kind: ownerKind, Name: "owner", UID: "u1", Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)},
			}
		}
		return m
	}
	selector := &metav1.LabelSelector{MatchLabels: labels}
	copies := []client.Object{
		&corev1.Pod{ObjectMeta: meta("web-0", "StatefulSet"), Spec: spec, Status: corev1.PodStatus{PodIP: "10.0.0.1"}},
		&appsv1.ReplicaSet{ObjectMeta: meta("d-1", "Deployment"), Spec: appsv1.ReplicaSetSpec{Selector: selector, Template: template}},
		&batchv1.Job{ObjectMeta: meta("cj-1", "CronJob"), Spec: batchv1.JobSpec{Template: template}},
	}
	whole := []client.Object{
		&corev1.Pod{ObjectMeta: meta("bare", ""), Spec: spec},
		&appsv1.Deployment{ObjectMeta: meta("d", ""), Spec: appsv1.DeploymentSpec{Selector: selector, Template: template}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sent []client.Object
	for _, o := range append(append([]client.Object{}, copies...), whole...) {
		sent = append(sent, viaJSON(t, o))
	}
	l, _, err := InMemory(ctx, sent...)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range copies {
		stored := rawStored(t, l, o)
		if _, ok := stored.(*CachedCopy); !ok {
			t.Errorf("%T %s stored as %T, not a CachedCopy", o, o.GetName(), stored)
			continue
		}
		got := storedObject(t, l, o).(client.Object)
		if via := ObjectOf(stored.(client.Object)); !reflect.DeepEqual(via, got) {
			t.Errorf("%T %s: ObjectOf and CacheLookup.Object differ", o, o.GetName())
		}
		if dc := stored.DeepCopyObject(); !reflect.DeepEqual(dc, got) {
			t.Errorf("%T %s: DeepCopyObject gives %s, ObjectOf %s", o, o.GetName(), toJSON(dc), toJSON(got))
		}
		if reflect.TypeOf(got) != reflect.TypeOf(o) {
			t.Fatalf("%T %s cached as %T", o, o.GetName(), got)
		}
		if !rules.Derived(got) {
			t.Errorf("%T %s: the cached copy is no longer Derived", o, o.GetName())
		}
		ref := metav1.GetControllerOf(got)
		if got.GetName() != o.GetName() || got.GetNamespace() != ns || got.GetUID() != o.GetUID() || got.GetResourceVersion() != "9" ||
			ref == nil || !reflect.DeepEqual(*ref, o.GetOwnerReferences()[1]) || len(got.GetOwnerReferences()) != 1 {
			t.Errorf("%T %s: the stub's identity is %+v", o, o.GetName(), got)
		}
		// Nothing else: an object of its type with only that metadata.
		empty := rules.KindInfoOf(o).New().(client.Object)
		empty.SetName(got.GetName())
		empty.SetNamespace(got.GetNamespace())
		empty.SetUID(got.GetUID())
		empty.SetResourceVersion(got.GetResourceVersion())
		empty.SetOwnerReferences(got.GetOwnerReferences())
		empty.GetObjectKind().SetGroupVersionKind(got.GetObjectKind().GroupVersionKind())
		if !reflect.DeepEqual(got, empty) {
			t.Errorf("%T %s: the cache keeps more than a stub:\n%s", o, o.GetName(), toJSON(got))
		}
	}
	for _, o := range whole {
		want := viaJSON(t, o)
		rules.Strip(want)
		cacheKeeps[rules.KindInfoOf(o).Name](want)
		if got := storedObject(t, l, o); !reflect.DeepEqual(got, want) {
			t.Errorf("%T %s is not kept whole:\n%s", o, o.GetName(), toJSON(got))
		}
	}
	// The lookups report the owners and the bare Pod, as with copies kept whole.
	lookups := l.For(ctx)
	ws, err := lookups.WorkloadsSelectedBy(ns, labels)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, w := range ws {
		names = append(names, w.Ref.Kind+"/"+w.Ref.Name)
	}
	if want := []string{"Deployment/d", "Pod/bare"}; !reflect.DeepEqual(names, want) {
		t.Errorf("WorkloadsSelectedBy = %v, want %v", names, want)
	}
	sub, err := l.WithSubdomain(ns, "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(sub) != 2 {
		t.Errorf("WithSubdomain = %d objects, want the Deployment and the bare Pod", len(sub))
	}

	// An orphaned copy (its controller reference removed) is kept whole.
	orphan := viaJSON(t, copies[0]).(*corev1.Pod)
	orphan.OwnerReferences = orphan.OwnerReferences[:1]
	got, err := StripForCache(orphan.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	if p := got.(*corev1.Pod); len(p.Spec.Containers) != 1 || p.Spec.Subdomain != "web" || p.Labels["app"] != "web" {
		t.Errorf("an orphaned Pod is not kept whole: %s", toJSON(p))
	}
}

// rawStored is what o's informer stores under o's key, as it stores it.
func rawStored(t *testing.T, l *CacheLookup, o client.Object) runtime.Object {
	t.Helper()
	idx, err := l.workloadIndexer(o)
	if err != nil {
		t.Fatal(err)
	}
	obj, ok, err := idx.GetByKey(o.GetNamespace() + "/" + o.GetName())
	if err != nil || !ok {
		t.Fatalf("%T %s/%s is not in the cache: %v", o, o.GetNamespace(), o.GetName(), err)
	}
	return obj.(runtime.Object)
}

// TestTransformTwice: client-go may run the transform again on what it
// transformed (a watch-list's store, then the informer's queue). A record
// comes back as it is, without the rareMeta a metadata setter would add.
func TestTransformTwice(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "n", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}},
		Spec: corev1.ServiceSpec{ClusterIP: "None", Selector: map[string]string{"app": "web"}}}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "n"}, Spec: appsv1.StatefulSetSpec{ServiceName: "s"}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "n",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", UID: "u", Controller: ptr.To(true)}}}}
	for _, o := range []client.Object{svc, sts, pod} {
		once, err := StripForCache(o)
		if err != nil {
			t.Fatal(err)
		}
		twice, err := StripForCache(once)
		if err != nil {
			t.Fatal(err)
		}
		if twice != once {
			t.Errorf("%T: the transform of its record is another object", o)
		}
	}
	r := &recordMeta{}
	r.SetManagedFields(nil)
	r.SetFinalizers(nil)
	r.SetGenerateName("")
	r.SetSelfLink("")
	r.SetDeletionGracePeriodSeconds(nil)
	if r.rare != nil {
		t.Errorf("setting empty rare fields allocated a rareMeta")
	}
	r.SetFinalizers([]string{"f"})
	if r.rare == nil || len(r.GetFinalizers()) != 1 {
		t.Errorf("a finalizer set is lost")
	}
}
