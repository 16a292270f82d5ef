package load

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ScaleService is the i-th Service of the scale benchmarks: headless (the
// envtest API server has a /24 for ClusterIPs), selecting the pods of the
// i-th release, with the labels a chart prints.
func ScaleService(namespace string, i int) *corev1.Service {
	return &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("svc-%05d", i), Namespace: namespace,
			Labels: chartLabels(i),
			Annotations: map[string]string{
				"meta.helm.sh/release-name":      fmt.Sprintf("rel-%05d", i),
				"meta.helm.sh/release-namespace": namespace,
			},
		},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  selectorLabels(i),
			Ports: []corev1.ServicePort{
				{Name: "tcp-app", Port: 8080, TargetPort: intstr.FromString("tcp-app")},
				{Name: "http-metrics", Port: 9187, TargetPort: intstr.FromString("http-metrics")},
			},
		},
	}
}

// ScaleStatefulSet is the i-th StatefulSet of the scale benchmarks,
// governed by ScaleService(namespace, i), in the shape of a database chart:
// env, probes, resources and a volume claim template, which the guard's
// cache transform drops.
func ScaleStatefulSet(namespace string, i int) *appsv1.StatefulSet {
	replicas := int32(3)
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{
		Command: []string{"/bin/sh", "-c", "exec pg_isready -U postgres -h 127.0.0.1 -p 8080"},
	}}, InitialDelaySeconds: 5, PeriodSeconds: 10}
	return &appsv1.StatefulSet{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("app-%05d", i), Namespace: namespace, Labels: chartLabels(i),
			Annotations: map[string]string{"meta.helm.sh/release-name": fmt.Sprintf("rel-%05d", i)},
		},
		Spec: appsv1.StatefulSetSpec{
			ServiceName:         fmt.Sprintf("svc-%05d", i),
			Replicas:            &replicas,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: selectorLabels(i)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: chartLabels(i)},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name:  "app",
						Image: "docker.io/bitnami/postgresql:17.2.0",
						Env: []corev1.EnvVar{
							{Name: "PGDATA", Value: "/bitnami/postgresql/data"},
							{Name: "POSTGRESQL_PORT_NUMBER", Value: "8080"},
						},
						Ports: []corev1.ContainerPort{
							{Name: "tcp-app", ContainerPort: 8080},
							{Name: "http-metrics", ContainerPort: 9187},
						},
						LivenessProbe: probe, ReadinessProbe: probe,
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU:    resource.MustParse("250m"),
							corev1.ResourceMemory: resource.MustParse("256Mi"),
						}},
						VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/bitnami/postgresql"}},
					}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceStorage: resource.MustParse("8Gi"),
					}},
				},
			}},
		},
	}
}

// ScaleObjects returns Services 0..services-1 and StatefulSets
// 0..statefulsets-1 (statefulsets <= services).
func ScaleObjects(namespace string, services, statefulsets int) []client.Object {
	out := make([]client.Object, 0, services+statefulsets)
	for i := range services {
		out = append(out, ScaleService(namespace, i))
	}
	for i := range min(statefulsets, services) {
		out = append(out, ScaleStatefulSet(namespace, i))
	}
	return out
}

func selectorLabels(i int) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":     fmt.Sprintf("app-%05d", i),
		"app.kubernetes.io/instance": fmt.Sprintf("rel-%05d", i),
	}
}

func chartLabels(i int) map[string]string {
	l := selectorLabels(i)
	l["app.kubernetes.io/managed-by"] = "Helm"
	l["helm.sh/chart"] = "postgresql-16.4.5"
	return l
}
