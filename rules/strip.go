package rules

import (
	"strings"

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
	k := KindInfoOf(obj)
	if k == nil {
		return
	}
	k.clearStatus(obj)
	if pod, ok := obj.(*corev1.Pod); ok {
		stripPodSpec(&pod.Spec)
	}
	if k.OwnTemplate != nil {
		stripPodSpec(&k.OwnTemplate(obj).Spec)
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
