package webhook

import (
	"context"
	"fmt"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/test/load"
)

// TestIndexedLookupsMatchTheIndex compares the lookups the guard answers
// from its informers' indexes with rules.Index, the checker's in-memory
// lookup, over the same objects: Services sharing selector pairs, several
// StatefulSets per serviceName, every kind of pod-template owner, and
// controller copies that must not be reported.
func TestIndexedLookupsMatchTheIndex(t *testing.T) {
	const ns = "bench"
	objects := func() []client.Object {
		objs := load.ScaleObjects(ns, 50, 20)
		shared := map[string]string{"tier": "db", "app.kubernetes.io/name": "postgresql"}
		for i := range 5 {
			svc := load.ScaleService(ns, 100+i)
			svc.Spec.Selector = map[string]string{"tier": "db", "app.kubernetes.io/name": "postgresql", "i": fmt.Sprint(i % 2)}
			if i == 4 {
				svc.Spec.Selector = map[string]string{"tier": "db"}
			}
			sts := load.ScaleStatefulSet(ns, 100+i)
			sts.Spec.ServiceName = "svc-00100" // five StatefulSets, one Service
			sts.Spec.Template.Labels = map[string]string{"tier": "db", "app.kubernetes.io/name": "postgresql", "i": fmt.Sprint(i % 2)}
			objs = append(objs, svc, sts)
		}
		tmpl := corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: shared},
			Spec:       corev1.PodSpec{Subdomain: "x", Containers: []corev1.Container{{Name: "c"}}},
		}
		meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: ns} }
		owned := func(name string) metav1.ObjectMeta {
			m := meta(name)
			m.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "d", UID: "u", Controller: ptr.To(true)}}
			return m
		}
		sel := &metav1.LabelSelector{MatchLabels: shared}
		objs = append(objs,
			&appsv1.Deployment{ObjectMeta: meta("d"), Spec: appsv1.DeploymentSpec{Selector: sel, Template: tmpl}},
			&appsv1.ReplicaSet{ObjectMeta: owned("d-1"), Spec: appsv1.ReplicaSetSpec{Selector: sel, Template: tmpl}},
			&appsv1.ReplicaSet{ObjectMeta: meta("rs"), Spec: appsv1.ReplicaSetSpec{Selector: sel, Template: tmpl}},
			&appsv1.DaemonSet{ObjectMeta: meta("ds"), Spec: appsv1.DaemonSetSpec{Selector: sel, Template: tmpl}},
			&batchv1.Job{ObjectMeta: meta("job"), Spec: batchv1.JobSpec{Template: tmpl}},
			&batchv1.CronJob{ObjectMeta: meta("cj"), Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}}},
			&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns, Labels: shared}, Spec: tmpl.Spec},
			&corev1.Pod{ObjectMeta: owned("d-1-x"), Spec: tmpl.Spec},
		)
		for _, o := range objs[len(objs)-8:] {
			o.(interface{ SetLabels(map[string]string) }).SetLabels(nil)
		}
		objs[len(objs)-1].(*corev1.Pod).Labels = shared
		objs[len(objs)-2].(*corev1.Pod).Labels = shared
		return objs
	}
	env, err := newBenchEnv(t, objects)
	if err != nil {
		t.Fatal(err)
	}
	// No API server here: a miss reads "not found" from it.
	cacheLookupOf(env.cfg).Live = &countingReader{n: &env.live, Reader: notFound{}}
	got := env.cfg.Lookup.For(context.Background())
	want := rules.NewIndex()
	for _, o := range objects() {
		rules.Strip(o)
		want.Add(o)
	}

	names := func(list any) []string {
		var out []string
		switch l := list.(type) {
		case []*corev1.Service:
			for _, s := range l {
				out = append(out, s.Name)
			}
		case []*appsv1.StatefulSet:
			for _, s := range l {
				out = append(out, s.Name)
			}
		case []rules.Workload:
			for _, w := range l {
				out = append(out, w.Ref.String())
			}
		}
		slices.Sort(out)
		return out
	}
	check := func(what string, g, w any, gerr, werr error) {
		t.Helper()
		if gerr != nil || werr != nil {
			t.Fatalf("%s: %v %v", what, gerr, werr)
		}
		if gn, wn := names(g), names(w); !slices.Equal(gn, wn) {
			t.Errorf("%s: indexed lookup %q, rules.Index %q", what, gn, wn)
		}
	}
	for _, labels := range []map[string]string{
		{"tier": "db", "app.kubernetes.io/name": "postgresql", "i": "0"},
		{"tier": "db", "app.kubernetes.io/name": "postgresql", "i": "1", "extra": "x"},
		{"tier": "db"},
		{"app.kubernetes.io/name": "app-00007", "app.kubernetes.io/instance": "rel-00007", "helm.sh/chart": "postgresql-16.4.5"},
		{"app.kubernetes.io/name": "app-00007"},
		{"nothing": "here"},
	} {
		g, gerr := got.ServicesSelecting(ns, labels)
		w, werr := want.ServicesSelecting(ns, labels)
		check(fmt.Sprintf("ServicesSelecting(%v)", labels), g, w, gerr, werr)
		g2, gerr := got.WorkloadsSelectedBy(ns, labels)
		w2, werr := want.WorkloadsSelectedBy(ns, labels)
		check(fmt.Sprintf("WorkloadsSelectedBy(%v)", labels), g2, w2, gerr, werr)
	}
	for _, name := range []string{"svc-00100", "svc-00003", "svc-00049", "none"} {
		g, gerr := got.StatefulSetsFor(ns, name)
		w, werr := want.StatefulSetsFor(ns, name)
		check("StatefulSetsFor("+name+")", g, w, gerr, werr)
		gs, gerr := got.Service(ns, name)
		ws, werr := want.Service(ns, name)
		if gerr != nil || werr != nil || (gs == nil) != (ws == nil) {
			t.Errorf("Service(%s): indexed %v (%v), rules.Index %v (%v)", name, gs != nil, gerr, ws != nil, werr)
		}
	}
	if n := env.live.Load(); n != 1 {
		// Service("none") misses the cache and asks the API server once.
		t.Errorf("%d reads went to the API server, want 1", n)
	}
}

// notFound is an API reader for which nothing exists.
type notFound struct{ client.Reader }

func (notFound) Get(_ context.Context, key client.ObjectKey, _ client.Object, _ ...client.GetOption) error {
	return apierrors.NewNotFound(corev1.Resource("services"), key.Name)
}
