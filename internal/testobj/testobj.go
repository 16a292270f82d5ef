// Package testobj builds the Kubernetes objects of headless-guard's tests,
// in the Kubernetes style: each builder returns a valid object that, with
// the others, produces no finding, and a test states its defect as a tweak
// (testobj.StatefulSet(testobj.WithServiceName("nginx"))). Every test
// package builds its objects here.
package testobj

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/headless-guard/headless-guard/rules"
)

// The builders return valid objects that produce no finding together:
// StatefulSet is the `web` StatefulSet of the Kubernetes StatefulSet
// tutorial and Service its headless Service `nginx-headless`. Each test
// case states its defect as a tweak.

// StatefulSet returns StatefulSet default/web: serviceName nginx-headless,
// 3 replicas, selector and template labels app=nginx, one container nginx with
// containerPort 80 named web.
func StatefulSet(tweaks ...func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
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

// Service returns the headless Service default/nginx-headless: selector
// app=nginx, one port named web, port 80, targetPort unset.
func Service(tweaks ...func(*corev1.Service)) *corev1.Service {
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

// ClientTemplate is the pod template of the non-StatefulSet workloads:
// labels app=client, one container with containerPort 8080 named http.
func ClientTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "client"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:  "client",
			Image: "registry.k8s.io/e2e-test-images/agnhost:2.53",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		}}},
	}
}

// ClientService returns the headless Service default/client-dns that
// selects the pods of ClientTemplate, for HG012.
func ClientService(tweaks ...func(*corev1.Service)) *corev1.Service {
	return Service(append([]func(*corev1.Service){func(svc *corev1.Service) {
		svc.Name = "client-dns"
		svc.Labels = map[string]string{"app": "client"}
		svc.Spec.Selector = map[string]string{"app": "client"}
		svc.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 8080, TargetPort: intstr.FromString("http")}}
	}}, tweaks...)...)
}

// Deployment returns Deployment default/client with the client pod template.
func Deployment(tweaks ...func(*appsv1.Deployment)) *appsv1.Deployment {
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: rules.KindDeployment},
		ObjectMeta: metav1.ObjectMeta{Name: "client", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "client"}},
			Template: ClientTemplate(),
		},
	}
	for _, tweak := range tweaks {
		tweak(d)
	}
	return d
}

// ReplicaSet returns ReplicaSet default/client with the client pod template.
func ReplicaSet(tweaks ...func(*appsv1.ReplicaSet)) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: rules.KindReplicaSet},
		ObjectMeta: metav1.ObjectMeta{Name: "client", Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: new(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "client"}},
			Template: ClientTemplate(),
		},
	}
	for _, tweak := range tweaks {
		tweak(rs)
	}
	return rs
}

// DaemonSet returns DaemonSet default/client with the client pod template.
func DaemonSet(tweaks ...func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: rules.KindDaemonSet},
		ObjectMeta: metav1.ObjectMeta{Name: "client", Namespace: "default"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "client"}},
			Template: ClientTemplate(),
		},
	}
	for _, tweak := range tweaks {
		tweak(ds)
	}
	return ds
}

// Job returns Job default/client with the client pod template.
func Job(tweaks ...func(*batchv1.Job)) *batchv1.Job {
	tmpl := ClientTemplate()
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

// CronJob returns CronJob default/client with the client pod template.
func CronJob(tweaks ...func(*batchv1.CronJob)) *batchv1.CronJob {
	tmpl := ClientTemplate()
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

// Pod returns Pod default/client with the client pod template's labels and spec.
func Pod(tweaks ...func(*corev1.Pod)) *corev1.Pod {
	tmpl := ClientTemplate()
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

// Tweaks used by several tests.

// WithServiceName sets `spec.serviceName`.
func WithServiceName(name string) func(*appsv1.StatefulSet) {
	return func(sts *appsv1.StatefulSet) { sts.Spec.ServiceName = name }
}

// WithReplicas sets `spec.replicas`.
func WithReplicas(n int32) func(*appsv1.StatefulSet) {
	return func(sts *appsv1.StatefulSet) { sts.Spec.Replicas = new(n) }
}

// WithTemplateLabels sets the pod template labels.
func WithTemplateLabels(labels map[string]string) func(*appsv1.StatefulSet) {
	return func(sts *appsv1.StatefulSet) { sts.Spec.Template.Labels = labels }
}

// WithSkip sets the skip annotation.
func WithSkip(value string) func(*appsv1.StatefulSet) {
	return func(sts *appsv1.StatefulSet) {
		sts.Annotations = map[string]string{rules.SkipAnnotation: value}
	}
}

// WithSelector sets a Service selector.
func WithSelector(selector map[string]string) func(*corev1.Service) {
	return func(svc *corev1.Service) { svc.Spec.Selector = selector }
}

// WithPorts sets a Service's ports.
func WithPorts(ports ...corev1.ServicePort) func(*corev1.Service) {
	return func(svc *corev1.Service) { svc.Spec.Ports = ports }
}

// WithClusterIP sets a Service's `spec.clusterIP`.
func WithClusterIP(ip string) func(*corev1.Service) {
	return func(svc *corev1.Service) { svc.Spec.ClusterIP = ip }
}

// Named sets the object's name.
func Named[T metav1.Object](name string) func(T) {
	return func(o T) { o.SetName(name) }
}

// InNamespace sets the object's namespace.
func InNamespace[T metav1.Object](namespace string) func(T) {
	return func(o T) { o.SetNamespace(namespace) }
}

// WithEnv adds an env variable with a literal value to the first
// container: the configuration that may name the set's peers.
func WithEnv(name, value string) func(*appsv1.StatefulSet) {
	return func(sts *appsv1.StatefulSet) {
		c := &sts.Spec.Template.Spec.Containers[0]
		c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
	}
}

// WithConfigMapVolume mounts ConfigMap name as a volume of the pod template.
func WithConfigMapVolume(name string) func(*appsv1.StatefulSet) {
	return func(sts *appsv1.StatefulSet) {
		sts.Spec.Template.Spec.Volumes = append(sts.Spec.Template.Spec.Volumes, corev1.Volume{
			Name:         "config-" + name,
			VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}},
		})
	}
}

// WithControllerOwner makes the object owned by a controller (an
// ownerReference with `controller: true`), as an operator's objects are.
func WithControllerOwner[T metav1.Object](kind, name string) func(T) {
	return func(o T) {
		o.SetOwnerReferences(append(o.GetOwnerReferences(), metav1.OwnerReference{
			APIVersion: "example.com/v1", Kind: kind, Name: name, UID: "0b5c8a1e-0000-4000-8000-000000000001", Controller: new(true),
		}))
	}
}

// ConfigMap returns ConfigMap default/<name> with data.
func ConfigMap(name string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Data:       data,
	}
}
