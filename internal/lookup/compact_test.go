package lookup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

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
	rules.KindDeployment:  ownerKeeps,
	rules.KindReplicaSet:  ownerKeeps,
	rules.KindDaemonSet:   ownerKeeps,
	rules.KindJob:         ownerKeeps,
	rules.KindCronJob:     ownerKeeps,
	rules.KindPod:         func(runtime.Object) {},
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
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s %s: the cache answers\n%s\nthe API server's object, as the rules read it, is\n%s", k.Name, key, toJSON(got), toJSON(want))
		}
		checked[k.Name]++
	}
	t.Logf("objects checked by kind: %v", checked)
}

func containsEqual(svcs []*corev1.Service, want runtime.Object) bool {
	for _, s := range svcs {
		if reflect.DeepEqual(s, want) {
			return true
		}
	}
	return false
}

// storedObject reads o's kind's informer store as the lookups do.
func storedObject(t *testing.T, l *CacheLookup, o client.Object) runtime.Object {
	t.Helper()
	for i, w := range WorkloadObjects {
		if reflect.TypeOf(w) != reflect.TypeOf(o) {
			continue
		}
		obj, ok, err := l.Indexes.workloads[i].GetByKey(o.GetNamespace() + "/" + o.GetName())
		if err != nil || !ok {
			t.Fatalf("%T %s/%s is not in the cache: %v", o, o.GetNamespace(), o.GetName(), err)
		}
		return obj.(runtime.Object)
	}
	t.Fatalf("no informer for %T", o)
	return nil
}

// chartObjects are the objects of rules.Kinds in the rendered public
// charts of internal/check/testdata, each file in a namespace of its own.
func chartObjects(t *testing.T) []client.Object {
	t.Helper()
	files, err := filepath.Glob("../check/testdata/publiccharts/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no rendered charts: %v", err)
	}
	var out []client.Object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ns := strings.TrimSuffix(filepath.Base(f), ".yaml")
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var raw runtime.RawExtension
			if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(bytes.TrimSpace(raw.Raw)) == 0 || string(bytes.TrimSpace(raw.Raw)) == "null" {
				continue
			}
			obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(raw.Raw, nil, nil)
			if err != nil {
				continue // a kind the scheme does not know (a CRD's)
			}
			co, ok := obj.(client.Object)
			if !ok || rules.KindInfoOf(obj) == nil {
				continue
			}
			co.SetNamespace(ns)
			out = append(out, co)
		}
	}
	return out
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
		svc("empty-selector", corev1.ServiceSpec{ClusterIP: "None", Selector: map[string]string{}}),
		svc("empty-value", corev1.ServiceSpec{ClusterIP: "None", Selector: map[string]string{"tier": "", "app": "x"}, PublishNotReadyAddresses: true}),
		svc("external", corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com", Ports: []corev1.ServicePort{port}}),
		svc("nodeport", corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "10.0.0.1", ClusterIPs: []string{"10.0.0.1"},
			Selector: map[string]string{"app": "x", "b": "y", "a": "zz"}, Ports: []corev1.ServicePort{port, {Name: "q", Port: 81, TargetPort: intstr.FromString("p")}},
			SessionAffinity: corev1.ServiceAffinityClientIP, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal}),
		&appsv1.StatefulSet{ObjectMeta: meta("sts"), Spec: appsv1.StatefulSetSpec{ServiceName: "empty-value", Selector: sel, Template: tmpl,
			PodManagementPolicy: appsv1.ParallelPodManagement, Replicas: ptr.To[int32](3),
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}}}},
		&appsv1.Deployment{ObjectMeta: meta("d"), Spec: appsv1.DeploymentSpec{Selector: sel, Template: tmpl}},
		&appsv1.ReplicaSet{ObjectMeta: owned("d-1"), Spec: appsv1.ReplicaSetSpec{Selector: sel, Template: tmpl}},
		&appsv1.DaemonSet{ObjectMeta: meta("ds"), Spec: appsv1.DaemonSetSpec{Selector: sel, Template: tmpl}},
		&batchv1.Job{ObjectMeta: meta("job"), Spec: batchv1.JobSpec{Template: tmpl}},
		&batchv1.CronJob{ObjectMeta: meta("cj"), Spec: batchv1.CronJobSpec{Schedule: "* * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}}},
		&corev1.Pod{ObjectMeta: owned("d-1-x"), Spec: tmpl.Spec},
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
	svc := cornerObjects()[4].(*corev1.Service)
	rules.Strip(svc)
	c := compactService(svc)
	cp, ok := c.DeepCopyObject().(*corev1.Service)
	if !ok || !reflect.DeepEqual(cp, c.Service()) {
		t.Fatalf("the copy is not the record's Service:\n%s\n%s", toJSON(cp), toJSON(c.Service()))
	}
	cp.Spec.Ports[0].Name, cp.Annotations["headless-guard.io/ignore"] = "changed", "changed"
	if c.Ports[0].Name == "changed" || c.Annotations["headless-guard.io/ignore"] == "changed" {
		t.Fatal("the copy shares the record's slices or maps")
	}
	empty := compactService(&corev1.Service{Spec: corev1.ServiceSpec{Selector: map[string]string{}}})
	if got := empty.Service().Spec.Selector; got == nil || len(got) != 0 {
		t.Fatalf("an empty selector reads %v, not an empty selector", got)
	}
}
