package rules_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/headless-guard/headless-guard/rules"
)

// The builders return valid objects that produce no finding together:
// mkStatefulSet is the `web` StatefulSet of the Kubernetes StatefulSet
// tutorial and mkService its headless Service `nginx-headless`. Each test
// case states its defect as a tweak.

// mkStatefulSet returns StatefulSet default/web: serviceName nginx-headless,
// 3 replicas, selector and template labels app=nginx, one container nginx with
// containerPort 80 named web.
func mkStatefulSet(tweaks ...func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	sts := &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: rules.KindStatefulSet},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: "nginx-headless",
			Replicas:    new(int32(3)),
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "nginx"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "nginx"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "nginx",
					Image: "registry.k8s.io/nginx-slim:0.27",
					Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 80}},
				}}},
			},
		},
	}
	for _, tweak := range tweaks {
		tweak(sts)
	}
	return sts
}

// mkService returns the headless Service default/nginx-headless: selector
// app=nginx, one port named web, port 80, targetPort unset.
func mkService(tweaks ...func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: rules.KindService},
		ObjectMeta: metav1.ObjectMeta{Name: "nginx-headless", Namespace: "default", Labels: map[string]string{"app": "nginx"}},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  map[string]string{"app": "nginx"},
			Ports:     []corev1.ServicePort{{Name: "web", Port: 80}},
		},
	}
	for _, tweak := range tweaks {
		tweak(svc)
	}
	return svc
}

// mkClientTemplate is the pod template of the non-StatefulSet workloads:
// labels app=client, one container with containerPort 8080 named http.
func mkClientTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "client"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:  "client",
			Image: "registry.k8s.io/e2e-test-images/agnhost:2.53",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		}}},
	}
}

// mkClientService returns the headless Service default/client-dns that
// selects the pods of mkClientTemplate, for HG012.
func mkClientService(tweaks ...func(*corev1.Service)) *corev1.Service {
	return mkService(append([]func(*corev1.Service){func(svc *corev1.Service) {
		svc.Name = "client-dns"
		svc.Labels = map[string]string{"app": "client"}
		svc.Spec.Selector = map[string]string{"app": "client"}
		svc.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 8080, TargetPort: intstr.FromString("http")}}
	}}, tweaks...)...)
}

// mkDeployment returns Deployment default/client with the client pod template.
func mkDeployment(tweaks ...func(*appsv1.Deployment)) *appsv1.Deployment {
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: rules.KindDeployment},
		ObjectMeta: metav1.ObjectMeta{Name: "client", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "client"}},
			Template: mkClientTemplate(),
		},
	}
	for _, tweak := range tweaks {
		tweak(d)
	}
	return d
}

// mkReplicaSet returns ReplicaSet default/client with the client pod template.
func mkReplicaSet(tweaks ...func(*appsv1.ReplicaSet)) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: rules.KindReplicaSet},
		ObjectMeta: metav1.ObjectMeta{Name: "client", Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: new(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "client"}},
			Template: mkClientTemplate(),
		},
	}
	for _, tweak := range tweaks {
		tweak(rs)
	}
	return rs
}

// mkDaemonSet returns DaemonSet default/client with the client pod template.
func mkDaemonSet(tweaks ...func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: rules.KindDaemonSet},
		ObjectMeta: metav1.ObjectMeta{Name: "client", Namespace: "default"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "client"}},
			Template: mkClientTemplate(),
		},
	}
	for _, tweak := range tweaks {
		tweak(ds)
	}
	return ds
}

// mkJob returns Job default/client with the client pod template.
func mkJob(tweaks ...func(*batchv1.Job)) *batchv1.Job {
	tmpl := mkClientTemplate()
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	j := &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: rules.KindJob},
		ObjectMeta: metav1.ObjectMeta{Name: "client", Namespace: "default"},
		Spec:       batchv1.JobSpec{Template: tmpl},
	}
	for _, tweak := range tweaks {
		tweak(j)
	}
	return j
}

// mkCronJob returns CronJob default/client with the client pod template.
func mkCronJob(tweaks ...func(*batchv1.CronJob)) *batchv1.CronJob {
	tmpl := mkClientTemplate()
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	cj := &batchv1.CronJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: rules.KindCronJob},
		ObjectMeta: metav1.ObjectMeta{Name: "client", Namespace: "default"},
		Spec: batchv1.CronJobSpec{
			Schedule:    "*/5 * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}},
		},
	}
	for _, tweak := range tweaks {
		tweak(cj)
	}
	return cj
}

// mkPod returns Pod default/client with the client pod template's labels and spec.
func mkPod(tweaks ...func(*corev1.Pod)) *corev1.Pod {
	tmpl := mkClientTemplate()
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: rules.KindPod},
		ObjectMeta: metav1.ObjectMeta{Name: "client", Namespace: "default", Labels: tmpl.Labels},
		Spec:       tmpl.Spec,
	}
	for _, tweak := range tweaks {
		tweak(p)
	}
	return p
}

// Tweaks used by several rule tests.

func withServiceName(name string) func(*appsv1.StatefulSet) {
	return func(sts *appsv1.StatefulSet) { sts.Spec.ServiceName = name }
}

func withReplicas(n int32) func(*appsv1.StatefulSet) {
	return func(sts *appsv1.StatefulSet) { sts.Spec.Replicas = new(n) }
}

func withTemplateLabels(labels map[string]string) func(*appsv1.StatefulSet) {
	return func(sts *appsv1.StatefulSet) { sts.Spec.Template.Labels = labels }
}

func withSkip(value string) func(*appsv1.StatefulSet) {
	return func(sts *appsv1.StatefulSet) {
		sts.Annotations = map[string]string{rules.SkipAnnotation: value}
	}
}

func withSelector(selector map[string]string) func(*corev1.Service) {
	return func(svc *corev1.Service) { svc.Spec.Selector = selector }
}

func withPorts(ports ...corev1.ServicePort) func(*corev1.Service) {
	return func(svc *corev1.Service) { svc.Spec.Ports = ports }
}

func withClusterIP(ip string) func(*corev1.Service) {
	return func(svc *corev1.Service) { svc.Spec.ClusterIP = ip }
}

// Requests.

func create(obj runtime.Object) *rules.Request {
	return &rules.Request{Operation: rules.Create, Object: obj}
}

func update(old, obj runtime.Object) *rules.Request {
	return &rules.Request{Operation: rules.Update, Object: obj, OldObject: old}
}

func remove(old runtime.Object) *rules.Request {
	return &rules.Request{Operation: rules.Delete, OldObject: old}
}

func dryRun(req *rules.Request) *rules.Request {
	req.DryRun = true
	return req
}

// index returns an Index holding objs.
func index(objs ...runtime.Object) *rules.Index {
	x := rules.NewIndex()
	for _, obj := range objs {
		x.Add(obj)
	}
	return x
}

// evaluate runs the default registry with the zero Policy over objs.
func evaluate(t *testing.T, req *rules.Request, objs ...runtime.Object) *rules.Result {
	t.Helper()
	return evaluateWith(t, nil, req, objs...)
}

// evaluateWith runs the default registry with policy over objs.
func evaluateWith(t *testing.T, policy *rules.Policy, req *rules.Request, objs ...runtime.Object) *rules.Result {
	t.Helper()
	res, err := rules.Default().Evaluate(req, index(objs...), policy)
	if err != nil {
		t.Fatalf("Evaluate: unexpected error: %v", err)
	}
	return res
}

// want is what a test asserts about a finding: the rule, the effective
// action, the error type and the field path; never the wording.
type want struct {
	Rule   string
	Action rules.Action
	Type   field.ErrorType
	Field  string
}

// wantsOf projects findings onto what tests compare.
func wantsOf(findings []rules.Finding) []want {
	out := make([]want, 0, len(findings))
	for _, f := range findings {
		out = append(out, want{Rule: f.Rule.ID, Action: f.Action, Type: f.Error.Type, Field: f.Field()})
	}
	return out
}

// ruleCase is one request evaluated against objs (the rest of the namespace)
// under policy (nil: the zero Policy). want lists every finding of the
// request, of any rule, in catalogue order.
type ruleCase struct {
	name   string
	req    *rules.Request
	objs   []runtime.Object
	policy *rules.Policy
	want   []want
}

// runRuleCases runs successCases, which must produce no finding at all, and
// errorCases, which must produce exactly their findings.
func runRuleCases(t *testing.T, successCases, errorCases []ruleCase) {
	t.Helper()
	for _, tc := range successCases {
		t.Run("success/"+tc.name, func(t *testing.T) {
			if len(tc.want) != 0 {
				t.Fatalf("success case lists findings: %v", tc.want)
			}
			res := evaluateWith(t, tc.policy, tc.req, tc.objs...)
			if len(res.Findings) != 0 {
				t.Errorf("expected no findings, got:\n%s", describe(res.Findings))
			}
		})
	}
	for _, tc := range errorCases {
		t.Run("error/"+tc.name, func(t *testing.T) {
			if len(tc.want) == 0 {
				t.Fatalf("error case lists no findings")
			}
			res := evaluateWith(t, tc.policy, tc.req, tc.objs...)
			if diff := cmp.Diff(tc.want, wantsOf(res.Findings), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("findings mismatch (-want +got):\n%s\nfindings:\n%s", diff, describe(res.Findings))
			}
		})
	}
}

func describe(findings []rules.Finding) string {
	var s string
	for _, f := range findings {
		s += "  " + f.String() + "\n"
	}
	return s
}

// Short names for the error types the rules use.
const (
	required = field.ErrorTypeRequired
	notFound = field.ErrorTypeNotFound
	invalid  = field.ErrorTypeInvalid
	tooLong  = field.ErrorTypeTooLong
	forbid   = field.ErrorTypeForbidden
	deny     = rules.ActionDeny
	warn     = rules.ActionWarn
)

// override returns a Policy that sets one rule's action.
func override(id string, action rules.Action) *rules.Policy {
	return &rules.Policy{Overrides: map[string]rules.Action{id: action}}
}

// objs is a readable []runtime.Object literal.
func objs(o ...runtime.Object) []runtime.Object { return o }
