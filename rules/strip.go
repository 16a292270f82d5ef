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
// restart policies (a StatefulSet's keeps also the configuration that may
// name its peers: command, args, env values, ConfigMap references). The webhook's cache and the offline checker keep
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
		spec := &k.OwnTemplate(obj).Spec
		if k.Name == KindStatefulSet {
			stripPodSpecKeepConfig(spec)
		} else {
			stripPodSpec(spec)
		}
	}
}

// KeepsAnnotation reports whether Strip keeps an annotation: headless-guard's
// own, and helm's hook marker (HG008 exempts hook Pods).
func KeepsAnnotation(key string) bool {
	return strings.HasPrefix(key, "headless-guard.io/") || key == HelmHookAnnotation
}

// stripPodSpecKeepConfig is stripPodSpec for a StatefulSet, keeping
// also what the per-pod name detector reads (peernames.go): the
// containers' command, args, literal env values and ConfigMap references,
// and the volumes that project ConfigMaps.
func stripPodSpecKeepConfig(spec *corev1.PodSpec) {
	keep := func(cs []corev1.Container) []corev1.Container {
		out := make([]corev1.Container, len(cs))
		for i, c := range cs {
			out[i] = StripContainerKeepConfig(c)
		}
		return out
	}
	var volumes []corev1.Volume
	for _, v := range spec.Volumes {
		if kept, ok := StripVolumeKeepConfig(v); ok {
			volumes = append(volumes, kept)
		}
	}
	*spec = corev1.PodSpec{
		Hostname:       spec.Hostname,
		Subdomain:      spec.Subdomain,
		Containers:     keep(spec.Containers),
		InitContainers: keep(spec.InitContainers),
		Volumes:        volumes,
	}
}

// StripContainerKeepConfig is what Strip keeps of a StatefulSet's
// container: name, ports, restart policy, command, args, and of env and
// envFrom only literal values and ConfigMap references.
func StripContainerKeepConfig(c corev1.Container) corev1.Container {
	out := corev1.Container{Name: c.Name, Ports: c.Ports, RestartPolicy: c.RestartPolicy, Command: c.Command, Args: c.Args}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil:
			out.Env = append(out.Env, corev1.EnvVar{Name: e.Name, ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: e.ValueFrom.ConfigMapKeyRef}})
		case e.Value != "":
			out.Env = append(out.Env, corev1.EnvVar{Name: e.Name, Value: e.Value})
		}
	}
	for _, e := range c.EnvFrom {
		if e.ConfigMapRef != nil {
			out.EnvFrom = append(out.EnvFrom, corev1.EnvFromSource{ConfigMapRef: e.ConfigMapRef})
		}
	}
	return out
}

// StripVolumeKeepConfig keeps a volume that is a ConfigMap, or projects
// one (with only its ConfigMap sources); ok is false for any other.
func StripVolumeKeepConfig(v corev1.Volume) (corev1.Volume, bool) {
	if v.ConfigMap != nil {
		return corev1.Volume{Name: v.Name, VolumeSource: corev1.VolumeSource{ConfigMap: v.ConfigMap}}, true
	}
	if v.Projected == nil {
		return corev1.Volume{}, false
	}
	var sources []corev1.VolumeProjection
	for _, s := range v.Projected.Sources {
		if s.ConfigMap != nil {
			sources = append(sources, corev1.VolumeProjection{ConfigMap: s.ConfigMap})
		}
	}
	if len(sources) == 0 {
		return corev1.Volume{}, false
	}
	return corev1.Volume{Name: v.Name, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: sources}}}, true
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
