package rules_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/headless-guard/headless-guard/rules"
)

func serviceNames(list []*corev1.Service) []string {
	var out []string
	for _, svc := range list {
		out = append(out, svc.Name)
	}
	return out
}

func workloadRefs(list []rules.Workload) []string {
	var out []string
	for _, w := range list {
		out = append(out, w.Ref.String())
	}
	return out
}

func TestIndexServices(t *testing.T) {
	named := func(name string, selector map[string]string) *corev1.Service {
		return mkService(func(svc *corev1.Service) { svc.Name = name; svc.Spec.Selector = selector })
	}
	x := index(
		named("zz-nginx", map[string]string{"app": "nginx"}),
		named("aa-nginx-web", map[string]string{"app": "nginx", "tier": "web"}),
		named("other", map[string]string{"app": "other"}),
		named("no-selector", nil),
		mkService(func(svc *corev1.Service) { svc.Namespace = "elsewhere" }),
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ignored", Namespace: "default"}},
	)

	if svc, err := x.Service("default", "other"); err != nil || svc == nil || svc.Name != "other" {
		t.Errorf("Service(default, other) = %v, %v", svc, err)
	}
	if svc, err := x.Service("default", "missing"); err != nil || svc != nil {
		t.Errorf("Service(default, missing) = %v, %v; want nil, nil", svc, err)
	}
	if svc, err := x.Service("nowhere", "other"); err != nil || svc != nil {
		t.Errorf("Service(nowhere, other) = %v, %v; want nil, nil", svc, err)
	}

	cases := []struct {
		name   string
		labels map[string]string
		want   []string
	}{
		{"selectors that are subsets of the labels, sorted by name", map[string]string{"app": "nginx", "tier": "web", "x": "y"}, []string{"aa-nginx-web", "zz-nginx"}},
		{"a selector with a key the labels lack does not select", map[string]string{"app": "nginx"}, []string{"zz-nginx"}},
		{"no labels", nil, nil},
	}
	for _, tc := range cases {
		got, err := x.ServicesSelecting("default", tc.labels)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, serviceNames(got), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: ServicesSelecting (-want +got):\n%s", tc.name, diff)
		}
	}
}

func TestIndexServiceReplaced(t *testing.T) {
	x := index(mkService())
	x.Add(mkService(withSelector(map[string]string{"app": "mysql"})))

	svc, _ := x.Service("default", "nginx-headless")
	if svc.Spec.Selector["app"] != "mysql" {
		t.Errorf("second Add did not replace the Service: selector %v", svc.Spec.Selector)
	}
	if got, _ := x.ServicesSelecting("default", map[string]string{"app": "nginx"}); len(got) != 0 {
		t.Errorf("the replaced Service's old selector still selects: %v", serviceNames(got))
	}
	if got, _ := x.ServicesSelecting("default", map[string]string{"app": "mysql"}); len(got) != 1 {
		t.Errorf("the new selector selects %d Services, want 1", len(got))
	}
}

func TestIndexWorkloads(t *testing.T) {
	x := index(
		mkStatefulSet(),
		mkStatefulSet(withName("db"), withServiceName("db"), withTemplateLabels(map[string]string{"app": "db"})),
		mkDeployment(nginxDeployment),
		mkPod(func(p *corev1.Pod) { p.Labels = map[string]string{"app": "nginx"} }),
		mkJob(),
		mkStatefulSet(func(sts *appsv1.StatefulSet) { sts.Namespace = "elsewhere" }),
	)

	sts, _ := x.StatefulSetsFor("default", "nginx-headless")
	if len(sts) != 1 || sts[0].Name != "web" {
		t.Errorf("StatefulSetsFor(default, nginx-headless) = %v", sts)
	}
	if sts, _ := x.StatefulSetsFor("default", "missing"); len(sts) != 0 {
		t.Errorf("StatefulSetsFor(default, missing) = %v", sts)
	}

	cases := []struct {
		name     string
		selector map[string]string
		want     []string
	}{
		{"every kind in insertion order", map[string]string{"app": "nginx"}, []string{
			"StatefulSet default/web", "Deployment default/nginx-frontend", "Pod default/client",
		}},
		{"every selector key must match", map[string]string{"app": "nginx", "tier": "frontend"}, []string{"Deployment default/nginx-frontend"}},
		{"empty selector selects nothing", nil, nil},
		{"no match", map[string]string{"app": "none"}, nil},
	}
	for _, tc := range cases {
		got, err := x.WorkloadsSelectedBy("default", tc.selector)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, workloadRefs(got), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: WorkloadsSelectedBy (-want +got):\n%s", tc.name, diff)
		}
	}
}

func TestWorkloadOf(t *testing.T) {
	cases := []struct {
		obj                runtime.Object
		wantMeta, wantSpec string
	}{
		{mkStatefulSet(), "spec.template.metadata", "spec.template.spec"},
		{mkPod(), "metadata", "spec"},
		{mkCronJob(), "spec.jobTemplate.spec.template.metadata", "spec.jobTemplate.spec.template.spec"},
	}
	for _, tc := range cases {
		w, ok := rules.WorkloadOf(tc.obj)
		if !ok {
			t.Fatalf("WorkloadOf(%T) not ok", tc.obj)
		}
		if w.MetaPath.String() != tc.wantMeta || w.SpecPath.String() != tc.wantSpec {
			t.Errorf("WorkloadOf(%T) paths %s, %s; want %s, %s", tc.obj, w.MetaPath, w.SpecPath, tc.wantMeta, tc.wantSpec)
		}
		if w.Ref != rules.RefOf(tc.obj) || len(w.Template.Spec.Containers) == 0 {
			t.Errorf("WorkloadOf(%T) = %+v", tc.obj, w)
		}
	}
	if _, ok := rules.WorkloadOf(mkService()); ok {
		t.Error("a Service is not a pod-template owner")
	}
}

func TestRefOfWithoutTypeMeta(t *testing.T) {
	for _, obj := range []runtime.Object{mkStatefulSet(), mkService(), mkPod(), mkDeployment(), mkReplicaSet(), mkDaemonSet(), mkJob(), mkCronJob()} {
		want := rules.RefOf(obj)
		bare := obj.DeepCopyObject()
		bare.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
		if got := rules.RefOf(bare); got != want || got.Kind == "" || got.APIVersion == "" {
			t.Errorf("RefOf(%T without TypeMeta) = %+v, want %+v", obj, got, want)
		}
	}
}
