package rules

import (
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Strip removes from an object, in place, everything the rules never read:
// managedFields, annotations but those KeepsAnnotation keeps (the last-applied
// configuration is dropped), status, volume claim templates, and from pod
// specs all but hostname, subdomain and the containers' names, ports and
// restart policies. The webhook's cache and the offline checker keep
// objects this way, so memory stays proportional to what matters.
func Strip(obj runtime.Object) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
		if a := m.GetAnnotations(); len(a) > 0 {
			kept := map[string]string{}
			for k, v := range a {
				if KeepsAnnotation(k) {
					kept[k] = v
				}
			}
			if len(kept) == 0 {
				kept = nil
			}
			m.SetAnnotations(kept)
		}
	}
	switch o := obj.(type) {
	case *corev1.Service:
		o.Status = corev1.ServiceStatus{}
	case *appsv1.StatefulSet:
		o.Status = appsv1.StatefulSetStatus{}
		o.Spec.VolumeClaimTemplates = nil
		stripPodSpec(&o.Spec.Template.Spec)
	case *appsv1.Deployment:
		o.Status = appsv1.DeploymentStatus{}
		stripPodSpec(&o.Spec.Template.Spec)
	case *appsv1.ReplicaSet:
		o.Status = appsv1.ReplicaSetStatus{}
		stripPodSpec(&o.Spec.Template.Spec)
	case *appsv1.DaemonSet:
		o.Status = appsv1.DaemonSetStatus{}
		stripPodSpec(&o.Spec.Template.Spec)
	case *batchv1.Job:
		o.Status = batchv1.JobStatus{}
		stripPodSpec(&o.Spec.Template.Spec)
	case *batchv1.CronJob:
		o.Status = batchv1.CronJobStatus{}
		stripPodSpec(&o.Spec.JobTemplate.Spec.Template.Spec)
	case *corev1.Pod:
		o.Status = corev1.PodStatus{}
		stripPodSpec(&o.Spec)
	}
}

// KeepsAnnotation reports whether Strip keeps an annotation: headless-guard's
// own, and helm's hook marker (HG008 exempts hook Pods).
func KeepsAnnotation(key string) bool {
	return strings.HasPrefix(key, "headless-guard.io/") || key == HelmHookAnnotation
}

func stripPodSpec(spec *corev1.PodSpec) {
	strip := func(cs []corev1.Container) []corev1.Container {
		out := make([]corev1.Container, len(cs))
		for i, c := range cs {
			out[i] = corev1.Container{Name: c.Name, Ports: c.Ports, RestartPolicy: c.RestartPolicy}
		}
		return out
	}
	*spec = corev1.PodSpec{
		Hostname:       spec.Hostname,
		Subdomain:      spec.Subdomain,
		Containers:     strip(spec.Containers),
		InitContainers: strip(spec.InitContainers),
	}
}
