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
	*spec = corev1.PodSpec{
		Hostname:       spec.Hostname,
		Subdomain:      spec.Subdomain,
		Containers:     keep(spec.Containers),
		InitContainers: keep(spec.InitContainers),
		Volumes:        StripVolumesKeepConfig(spec.Volumes),
	}
}

// StripContainerKeepConfig is what Strip keeps of a StatefulSet's
// container: name, ports, restart policy, command, args, and of env and
// envFrom only literal values and ConfigMap references. Every env and
// envFrom entry keeps its place (an entry the detector does not read
// keeps only its name), so that a finding's field path, such as
// `env[2].value`, points at the same entry as in the object.
func StripContainerKeepConfig(c corev1.Container) corev1.Container {
	out := corev1.Container{Name: c.Name, Ports: c.Ports, RestartPolicy: c.RestartPolicy, Command: c.Command, Args: c.Args}
	if len(c.Env) > 0 {
		out.Env = make([]corev1.EnvVar, len(c.Env))
		for i, e := range c.Env {
			out.Env[i] = corev1.EnvVar{Name: e.Name, Value: e.Value}
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
				out.Env[i].ValueFrom = &corev1.EnvVarSource{ConfigMapKeyRef: e.ValueFrom.ConfigMapKeyRef}
			}
		}
	}
	if len(c.EnvFrom) > 0 {
		out.EnvFrom = make([]corev1.EnvFromSource, len(c.EnvFrom))
		for i, e := range c.EnvFrom {
			out.EnvFrom[i] = corev1.EnvFromSource{ConfigMapRef: e.ConfigMapRef}
		}
	}
	return out
}

// StripVolumesKeepConfig keeps every volume in its place (its name), and
// of its source only a ConfigMap, or the ConfigMap sources of a projected
// volume (each source in its place).
func StripVolumesKeepConfig(vs []corev1.Volume) []corev1.Volume {
	if len(vs) == 0 {
		return nil
	}
	out := make([]corev1.Volume, len(vs))
	for i, v := range vs {
		out[i] = corev1.Volume{Name: v.Name}
		switch {
		case v.ConfigMap != nil:
			out[i].ConfigMap = v.ConfigMap
		case v.Projected != nil:
			sources := make([]corev1.VolumeProjection, len(v.Projected.Sources))
			for j, s := range v.Projected.Sources {
				sources[j] = corev1.VolumeProjection{ConfigMap: s.ConfigMap}
			}
			out[i].Projected = &corev1.ProjectedVolumeSource{Sources: sources}
		}
	}
	return out
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
