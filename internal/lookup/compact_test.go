package lookup

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/internal/testobj"
	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/test/load"
)

// cacheKeeps is, for each kind the rules read (rules.Kinds), what the
// cache keeps of an object that rules.Strip has stripped: what the rules
// read of it through the lookups. It is written from StripForCache's
// documentation, not from its code: a kind missing here fails
// TestCacheAnswersWhatTheRulesRead, and a field Strip keeps (a rule reads
// it) but the cache loses fails it too.
var cacheKeeps = map[string]func(runtime.Object){
	rules.KindService: func(o runtime.Object) {
		svc := o.(*corev1.Service)
		svc.Labels = nil
		s := svc.Spec
		svc.Spec = corev1.ServiceSpec{
			Type: s.Type, ClusterIP: s.ClusterIP, ExternalName: s.ExternalName, Selector: s.Selector,
			Ports: s.Ports, PublishNotReadyAddresses: s.PublishNotReadyAddresses,
		}
	},
	rules.KindStatefulSet: ownerKeeps,
	rules.KindDeployment:  workloadKeeps,
	rules.KindReplicaSet:  workloadKeeps,
	rules.KindDaemonSet:   workloadKeeps,
	rules.KindJob:         workloadKeeps,
	rules.KindCronJob:     workloadKeeps,
	rules.KindPod:         func(runtime.Object) {},
}

// workloadKeeps: of the other pod-template owners, what ownerKeeps keeps
// of their metadata, and of their spec the selector, a Job's
// manualSelector and the pod template.
func workloadKeeps(o runtime.Object) {
	ownerKeeps(o)
	switch o := o.(type) {
	case *appsv1.Deployment:
		o.Spec = appsv1.DeploymentSpec{Selector: o.Spec.Selector, Template: o.Spec.Template}
	case *appsv1.ReplicaSet:
		o.Spec = appsv1.ReplicaSetSpec{Selector: o.Spec.Selector, Template: o.Spec.Template}
	case *appsv1.DaemonSet:
		o.Spec = appsv1.DaemonSetSpec{Selector: o.Spec.Selector, Template: o.Spec.Template}
	case *batchv1.Job:
		o.Spec = batchv1.JobSpec{Selector: o.Spec.Selector, ManualSelector: o.Spec.ManualSelector, Template: o.Spec.Template}
	case *batchv1.CronJob:
		o.Spec = batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: o.Spec.JobTemplate.Spec.Template}}}
	}
}

// ownerKeeps: of a pod-template owner's own labels, only the opt-out ones.
func ownerKeeps(o runtime.Object) {
	m := o.(metav1.Object)
	var kept map[string]string
	for _, k := range []string{rules.InjectLabel, rules.FixLabelsLabel} {
		if v, ok := m.GetLabels()[k]; ok {
			if kept == nil {
				kept = map[string]string{}
			}
			kept[k] = v
		}
	}
	m.SetLabels(kept)
}

// TestCacheAnswersWhatTheRulesRead holds what the informer cache answers
// (after StripForCache, and for a Service through its CachedService)
// equal to the API server's object for every field a rule reads (what
// rules.Strip keeps), for objects of every kind of rules.Kinds: the
// rendered public charts, the scale benchmarks' objects, and objects
// written to reach the corners (selectors nil, empty and with an empty
// value, kept annotations, owner references, opt-out labels).
func TestCacheAnswersWhatTheRulesRead(t *testing.T) {
	objs := append(chartObjects(t), load.ScaleObjects("scale", 20, 5)...)
	objs = append(objs, cornerObjects()...)
	for _, k := range rules.Kinds {
		if cacheKeeps[k.Name] == nil {
			t.Errorf("kind %s (rules.Kinds) has no entry in cacheKeeps: say what the cache keeps of it", k.Name)
		}
		found := false
		for _, o := range objs {
			found = found || rules.KindInfoOf(o) == k
		}
		if !found {
			t.Errorf("no object of kind %s (rules.Kinds) goes through the cache here: add one to cornerObjects", k.Name)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The cache sees what an API server sends: each object through JSON.
	sent := make([]client.Object, len(objs))
	for i, o := range objs {
		sent[i] = viaJSON(t, o)
	}
	l, _, err := InMemory(ctx, sent...)
	if err != nil {
		t.Fatal(err)
	}
	lookups := l.For(ctx)
	checked := map[string]int{}
	for _, o := range objs {
		k := rules.KindInfoOf(o)
		if rules.Derived(o) {
			// A controller's copy: no rule reads it (copies_test.go).
			checked["copies"]++
			continue
		}
		want := viaJSON(t, o)
		rules.Strip(want)
		cacheKeeps[k.Name](want)
		key := o.GetNamespace() + "/" + o.GetName()
		var got runtime.Object
		if k.Name == rules.KindService {
			svc, err := lookups.Service(o.GetNamespace(), o.GetName())
			if err != nil || svc == nil {
				t.Fatalf("Service %s: %v, %v", key, svc, err)
			}
			got = svc
			if sel := svc.Spec.Selector; len(sel) > 0 {
				selecting, err := lookups.ServicesSelecting(o.GetNamespace(), sel)
				if err != nil {
					t.Fatal(err)
				}
				if !containsEqual(selecting, want) {
					t.Errorf("ServicesSelecting(%s, its own selector) does not answer Service %s as the API server has it", o.GetNamespace(), key)
				}
			}
		} else {
			got = storedObject(t, l, o)
		}
		if sts, ok := want.(*appsv1.StatefulSet); ok {
			governed, err := lookups.StatefulSetsFor(sts.Namespace, sts.Spec.ServiceName)
			if err != nil {
				t.Fatal(err)
			}
			if !containsEqualSet(governed, want) {
				t.Errorf("StatefulSetsFor(%s, its serviceName) does not answer StatefulSet %s as the API server has it", sts.Namespace, key)
			}
		}
		// Every pod-template owner is found by the labels its template is
		// selected by (a Job's include those the API server adds), as
		// the API server has it, and its copy is what the cache holds.
		if w, ok := rules.WorkloadOf(want); ok && k.Name != rules.KindPod {
			if labels := w.Template.Labels; len(labels) > 0 {
				selected, err := lookups.WorkloadsSelectedBy(w.Ref.Namespace, labels)
				if err != nil {
					t.Fatal(err)
				}
				if !containsTemplate(selected, key, w.Template) {
					t.Errorf("WorkloadsSelectedBy(%s, its template's labels) does not answer %s %s's template as the API server has it", w.Ref.Namespace, k.Name, key)
				}
			}
			if cp := got.DeepCopyObject(); !reflect.DeepEqual(cp, want) {
				t.Errorf("%s %s: the copy of what the cache holds is\n%s\nnot\n%s", k.Name, key, toJSON(cp), toJSON(want))
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s %s: the cache answers\n%s\nthe API server's object, as the rules read it, is\n%s", k.Name, key, toJSON(got), toJSON(want))
		}
		checked[k.Name]++
	}
	t.Logf("objects checked by kind: %v", checked)
}

func containsEqualSet(sets []*appsv1.StatefulSet, want runtime.Object) bool {
	for _, s := range sets {
		if reflect.DeepEqual(s, want) {
			return true
		}
	}
	return false
}

func containsTemplate(ws []rules.Workload, key string, want *corev1.PodTemplateSpec) bool {
	for _, w := range ws {
		if w.Ref.Namespace+"/"+w.Ref.Name == key && reflect.DeepEqual(w.Template, want) {
			return true
		}
	}
	return false
}

func containsEqual(svcs []*corev1.Service, want runtime.Object) bool {
	for _, s := range svcs {
		if reflect.DeepEqual(s, want) {
			return true
		}
	}
	return false
}

// storedObject reads o's kind's informer store as the controllers do
// (CacheLookup.Object).
func storedObject(t *testing.T, l *CacheLookup, o client.Object) runtime.Object {
	t.Helper()
	obj, err := l.Object(o, o.GetNamespace(), o.GetName())
	if err != nil || obj == nil {
		t.Fatalf("%T %s/%s is not in the cache: %v", o, o.GetNamespace(), o.GetName(), err)
	}
	return obj
}

// chartObjects are the objects of rules.Kinds in the rendered public
// charts of internal/check/testdata, each file in a namespace of its own.
func chartObjects(t *testing.T) []client.Object {
	t.Helper()
	objs, err := testobj.PublicCharts("../check/testdata/publiccharts")
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// cornerObjects has an object of every kind of rules.Kinds, and Services
// in the shapes the compact record must tell apart.
func cornerObjects() []client.Object {
	const ns = "corners"
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{
			Name: name, Namespace: ns, UID: types.UID("uid-" + name), ResourceVersion: "7",
			Labels:      map[string]string{"app": name, rules.InjectLabel: "false", rules.FixLabelsLabel: "false"},
			Annotations: map[string]string{"headless-guard.io/ignore": "HG008", rules.HelmHookAnnotation: "test", "other": "x"},
		}
	}
	// every sets every field of the metadata (but managedFields, which
	// rules.Strip drops).
	every := func(name string) metav1.ObjectMeta {
		m := meta(name)
		m.GenerateName, m.SelfLink, m.Generation = name+"-", "/x/"+name, 3
		m.CreationTimestamp = metav1.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		m.DeletionTimestamp = ptr.To(metav1.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC))
		m.DeletionGracePeriodSeconds, m.Finalizers = ptr.To[int64](30), []string{"example.com/f"}
		m.OwnerReferences = []metav1.OwnerReference{{APIVersion: "example.com/v1", Kind: "Db", Name: "db", UID: "u"}}
		return m
	}
	owned := func(name string) metav1.ObjectMeta {
		m := meta(name)
		m.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "d", UID: "u", Controller: ptr.To(true)}}
		return m
	}
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x", "tier": ""}},
		Spec: corev1.PodSpec{Hostname: "h", Subdomain: "x", Containers: []corev1.Container{{
			Name: "c", Image: "i", Command: []string{"sh"}, Args: []string{"-c", "x-0.x"},
			Env:   []corev1.EnvVar{{Name: "A", Value: "x-0.x.corners.svc"}, {Name: "B", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}, Key: "k"}}}},
			Ports: []corev1.ContainerPort{{Name: "p", ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
		}}},
	}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}
	port := corev1.ServicePort{Name: "p", Protocol: corev1.ProtocolUDP, AppProtocol: ptr.To("h2c"), Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080}
	svc := func(name string, spec corev1.ServiceSpec) *corev1.Service {
		return &corev1.Service{ObjectMeta: meta(name), Spec: spec, Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}}}}}
	}
	return []client.Object{
		svc("nil-selector", corev1.ServiceSpec{ClusterIP: "None"}),
		&corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: every("every-meta"),
			Spec: corev1.ServiceSpec{ClusterIP: "None", Selector: map[string]string{"app": "x"}}},
		&appsv1.StatefulSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"}, ObjectMeta: every("sts-every-meta"),
			Spec: appsv1.StatefulSetSpec{ServiceName: "x", Template: tmpl, Selector: sel}},
		svc("empty-selector", corev1.ServiceSpec{ClusterIP: "None", Selector: map[string]string{}}),
		svc("empty-value", corev1.ServiceSpec{ClusterIP: "None", Selector: map[string]string{"tier": "", "app": "x"}, PublishNotReadyAddresses: true}),
		svc("external", corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com", Ports: []corev1.ServicePort{port}}),
		svc("nodeport", corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "10.0.0.1", ClusterIPs: []string{"10.0.0.1"},
			Selector: map[string]string{"app": "x", "b": "y", "a": "zz"}, Ports: []corev1.ServicePort{port, {Name: "q", Port: 81, TargetPort: intstr.FromString("p")}},
			SessionAffinity: corev1.ServiceAffinityClientIP, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal}),
		&appsv1.StatefulSet{ObjectMeta: meta("sts"), Spec: everyStatefulSetField(sel, tmpl)},
		// The selector shapes a CachedStatefulSet must tell apart, and a
		// template without labels.
		&appsv1.StatefulSet{ObjectMeta: meta("sts-expressions"), Spec: appsv1.StatefulSetSpec{ServiceName: "x", Template: tmpl,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}, MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpExists}}}}},
		&appsv1.StatefulSet{ObjectMeta: meta("sts-expressions-only"), Spec: appsv1.StatefulSetSpec{ServiceName: "x", Template: tmpl,
			Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"x"}}}}}},
		&appsv1.StatefulSet{ObjectMeta: meta("sts-empty-selector"), Spec: appsv1.StatefulSetSpec{ServiceName: "x", Template: tmpl,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{}}}},
		&appsv1.StatefulSet{ObjectMeta: meta("sts-no-selector"), Spec: appsv1.StatefulSetSpec{ServiceName: "x",
			Template: corev1.PodTemplateSpec{Spec: tmpl.Spec}}},
		&appsv1.StatefulSet{ObjectMeta: meta("sts-empty-labels"), Spec: appsv1.StatefulSetSpec{ServiceName: "x",
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{}}, Spec: tmpl.Spec}}},
		&appsv1.Deployment{ObjectMeta: meta("d"), Spec: appsv1.DeploymentSpec{Selector: sel, Template: tmpl}},
		&appsv1.ReplicaSet{ObjectMeta: owned("d-1"), Spec: appsv1.ReplicaSetSpec{Selector: sel, Template: tmpl}},
		&appsv1.DaemonSet{ObjectMeta: meta("ds"), Spec: appsv1.DaemonSetSpec{Selector: sel, Template: tmpl}},
		&batchv1.Job{ObjectMeta: meta("job"), Spec: batchv1.JobSpec{Template: tmpl}},
		&batchv1.CronJob{ObjectMeta: meta("cj"), Spec: batchv1.CronJobSpec{Schedule: "* * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}}},
		&corev1.Pod{ObjectMeta: owned("d-1-x"), Spec: tmpl.Spec},
	}
}

// everyStatefulSetField is a StatefulSet spec with every field set, and
// a template with metadata besides labels: a field the API adds fails
// TestEveryStatefulSetField until it is set here, and so reaches
// TestCacheAnswersWhatTheRulesRead.
func everyStatefulSetField(sel *metav1.LabelSelector, tmpl corev1.PodTemplateSpec) appsv1.StatefulSetSpec {
	tmpl = *tmpl.DeepCopy()
	tmpl.Annotations = map[string]string{"checksum/config": "abc"}
	tmpl.Spec.InitContainers = []corev1.Container{{Name: "init", Command: []string{"sh"}}}
	tmpl.Spec.Volumes = []corev1.Volume{{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}}}
	return appsv1.StatefulSetSpec{
		Replicas: ptr.To[int32](3), Selector: sel, Template: tmpl,
		VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}},
		ServiceName:          "empty-value", PodManagementPolicy: appsv1.ParallelPodManagement,
		UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](1)}},
		RevisionHistoryLimit: ptr.To[int32](10), MinReadySeconds: 5,
		PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
			WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.DeletePersistentVolumeClaimRetentionPolicyType},
		Ordinals: &appsv1.StatefulSetOrdinals{Start: 2},
	}
}

// TestEveryStatefulSetField: a CachedStatefulSet stands for every field
// rules.Strip keeps of a StatefulSet whose spec and template spec have
// every field set (a field the API adds, or Strip starts to keep, fails
// here), and everyStatefulSetField, which TestCacheAnswersWhatTheRulesRead
// sends through the cache, sets every field of the spec.
func TestEveryStatefulSetField(t *testing.T) {
	spec := everyStatefulSetField(&metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}, corev1.PodTemplateSpec{})
	v := reflect.ValueOf(spec)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("everyStatefulSetField leaves spec.%s unset", v.Type().Field(i).Name)
		}
	}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}}
	fill(reflect.ValueOf(&sts.Spec).Elem())
	fill(reflect.ValueOf(&sts.Spec.Template.ObjectMeta).Elem())
	fill(reflect.ValueOf(&sts.Spec.Template.Spec).Elem())
	fill(reflect.ValueOf(&sts.Spec.Template.Spec.Containers[0]).Elem())
	fill(reflect.ValueOf(&sts.Spec.Template.Spec.InitContainers[0]).Elem())
	rules.Strip(sts)
	got := compactStatefulSet(sts.DeepCopy()).StatefulSet()
	if !reflect.DeepEqual(got, sts) {
		t.Errorf("the record stands for\n%s\nnot\n%s", toJSON(got), toJSON(sts))
	}
}

// TestRecordMeta: a record's metadata stands for every field of an
// object's metadata and type.
func TestRecordMeta(t *testing.T) {
	var tm metav1.TypeMeta
	var om metav1.ObjectMeta
	fill(reflect.ValueOf(&tm).Elem())
	fill(reflect.ValueOf(&om).Elem())
	om.CreationTimestamp = metav1.Now()
	r := newRecordMeta(tm, &om)
	if gotT, gotM := r.meta(); !reflect.DeepEqual(gotT, tm) || !reflect.DeepEqual(gotM, om) {
		t.Errorf("the record's metadata stands for\n%s %s\nnot\n%s %s", toJSON(gotT), toJSON(gotM), toJSON(tm), toJSON(om))
	}
	for _, v := range []reflect.Value{reflect.ValueOf(tm), reflect.ValueOf(om)} {
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && v.Field(i).IsZero() {
				t.Errorf("fill left %s unset", v.Type().Field(i).Name)
			}
		}
	}
	var empty metav1.ObjectMeta
	if r := newRecordMeta(metav1.TypeMeta{}, &empty); r.rare != nil {
		t.Error("empty metadata keeps rare fields")
	}
}

// TestCachedServicePort: a port's record stands for every field of a
// corev1.ServicePort (a field the API adds fails here), and holds no
// pointer (the collector never scans the records' ports).
func TestCachedServicePort(t *testing.T) {
	var p corev1.ServicePort
	fill(reflect.ValueOf(&p).Elem())
	ports := []corev1.ServicePort{p, {Name: "n", Port: 80, TargetPort: intstr.FromInt32(8080)}}
	if got := compactService(&corev1.Service{Spec: corev1.ServiceSpec{Ports: ports}}).Service().Spec.Ports; !reflect.DeepEqual(got, ports) {
		t.Errorf("the records stand for\n%s\nnot\n%s", toJSON(got), toJSON(ports))
	}
	for _, ps := range [][]corev1.ServicePort{nil, {}} {
		if got := compactService(&corev1.Service{Spec: corev1.ServiceSpec{Ports: ps}}).Service().Spec.Ports; !reflect.DeepEqual(got, ps) {
			t.Errorf("ports %#v read %#v", ps, got)
		}
	}
	if typ := reflect.TypeFor[CachedServicePort](); hasPointers(typ) {
		t.Errorf("%s holds pointers: the collector scans every Service's ports", typ)
	}
}

// fill sets every field of the struct v to a value that is not zero: a
// pointer to its zero value, a slice of one zero element, a map of one
// entry, "x", 1 or true.
func fill(v reflect.Value) {
	for i := range v.NumField() {
		f := v.Field(i)
		if !f.CanSet() || !f.IsZero() {
			continue
		}
		switch f.Kind() {
		case reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		case reflect.Map:
			f.Set(reflect.MakeMap(f.Type()))
			f.SetMapIndex(reflect.New(f.Type().Key()).Elem(), reflect.New(f.Type().Elem()).Elem())
		case reflect.String:
			f.SetString("x")
		case reflect.Int, reflect.Int32, reflect.Int64:
			f.SetInt(1)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Struct:
			fill(f)
		}
	}
}

// viaJSON returns a copy of o decoded from its JSON, as an API server's
// answer is.
func viaJSON(t *testing.T, o client.Object) client.Object {
	t.Helper()
	data, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	out := rules.KindInfoOf(o).New().(client.Object)
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func toJSON(o any) string {
	data, _ := json.MarshalIndent(o, "", "  ")
	return string(data)
}

// TestCachedServiceDeepCopy: a record's copy is the Service it stands
// for, sharing nothing with the record.
func TestCachedServiceDeepCopy(t *testing.T) {
	var svc *corev1.Service
	for _, o := range cornerObjects() {
		if o.GetName() == "nodeport" {
			svc = o.(*corev1.Service)
		}
	}
	rules.Strip(svc)
	c := compactService(svc)
	cp, ok := c.DeepCopyObject().(*corev1.Service)
	if !ok || !reflect.DeepEqual(cp, c.Service()) {
		t.Fatalf("the copy is not the record's Service:\n%s\n%s", toJSON(cp), toJSON(c.Service()))
	}
	cp.Spec.Ports[0].Name, cp.Annotations["headless-guard.io/ignore"] = "changed", "changed"
	if c.Service().Spec.Ports[0].Name == "changed" || c.GetAnnotations()["headless-guard.io/ignore"] == "changed" {
		t.Fatal("the copy shares the record's slices or maps")
	}
	empty := compactService(&corev1.Service{Spec: corev1.ServiceSpec{Selector: map[string]string{}}})
	if got := empty.Service().Spec.Selector; got == nil || len(got) != 0 {
		t.Fatalf("an empty selector reads %v, not an empty selector", got)
	}
}

// TestEveryWorkloadField: a CachedWorkload stands for every field the
// cache keeps (workloadKeeps) of a pod-template owner of each kind it
// records whose metadata, spec, template and containers have every field
// set, and every kind the cache records has a case in CachedWorkload.Object
// (a kind it leaves unset fails here).
func TestEveryWorkloadField(t *testing.T) {
	for _, k := range rules.Kinds {
		if !compactsWorkload(k) {
			continue
		}
		t.Run(k.Name, func(t *testing.T) {
			obj := k.New()
			fill(reflect.ValueOf(obj).Elem())
			tpl := k.OwnTemplate(obj)
			tpl.Spec.Containers = []corev1.Container{{}}
			tpl.Spec.InitContainers = []corev1.Container{{}}
			fill(reflect.ValueOf(&tpl.Spec.Containers[0]).Elem())
			fill(reflect.ValueOf(&tpl.Spec.InitContainers[0]).Elem())
			obj.GetObjectKind().SetGroupVersionKind(k.GVK)
			rules.Strip(obj)
			want := obj.DeepCopyObject()
			keep := workloadKeeps
			keep(want)
			// ownerKeeps is StripForCache's, before the record is made.
			obj.(metav1.Object).SetLabels(want.(metav1.Object).GetLabels())
			got := compactWorkload(obj, k).(*CachedWorkload).Object()
			if !reflect.DeepEqual(got, want) {
				t.Errorf("the record stands for\n%s\nnot\n%s", toJSON(got), toJSON(want))
			}
		})
	}
}
