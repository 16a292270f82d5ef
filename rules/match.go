package rules

import (
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ControllerAddedLabels are put on pods by the StatefulSet controller, not
// carried by the template: a Service selector may use them (per-pod Services)
// without the template having them.
var ControllerAddedLabels = []string{
	"statefulset.kubernetes.io/pod-name",
	"apps.kubernetes.io/pod-index",
	"controller-revision-hash",
}

func controllerAdded(key string) bool {
	for _, k := range ControllerAddedLabels {
		if k == key {
			return true
		}
	}
	return false
}

// IsHeadless reports whether svc is a headless ClusterIP Service.
func IsHeadless(svc *corev1.Service) bool {
	if svc.Spec.Type != "" && svc.Spec.Type != corev1.ServiceTypeClusterIP {
		return false
	}
	return svc.Spec.ClusterIP == corev1.ClusterIPNone
}

// selectorGap compares a Service selector with pod labels. missing are keys
// absent from the labels, conflicting are keys with another value; labels the
// StatefulSet controller adds to pods are exempt.
func selectorGap(selector, labels map[string]string) (missing, conflicting []string) {
	for k, v := range selector {
		if controllerAdded(k) {
			continue
		}
		have, ok := labels[k]
		switch {
		case !ok:
			missing = append(missing, k)
		case have != v:
			conflicting = append(conflicting, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(conflicting)
	return missing, conflicting
}

// Selects reports whether a non-empty selector matches labels.
func Selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// formatLabels renders selected keys of a label map as `k=v, k2=v2`.
func formatLabels(m map[string]string, keys []string) string {
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, "`"+k+"="+m[k]+"`")
	}
	return strings.Join(parts, ", ")
}

// sortedKeys returns the keys of m in order.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// protocolOf defaults an empty protocol to TCP, as the API server does.
func protocolOf(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// containerPorts lists the ports of every container that serves traffic:
// regular containers and restartable (sidecar) init containers.
func containerPorts(spec *corev1.PodSpec) []corev1.ContainerPort {
	var out []corev1.ContainerPort
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			out = append(out, c.Ports...)
		}
	}
	for i := range spec.Containers {
		out = append(out, spec.Containers[i].Ports...)
	}
	return out
}

// targetOf returns the effective targetPort of a Service port (it defaults to port).
func targetOf(sp *corev1.ServicePort) intstr.IntOrString {
	if sp.TargetPort.Type == intstr.String && sp.TargetPort.StrVal != "" {
		return sp.TargetPort
	}
	if sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal != 0 {
		return sp.TargetPort
	}
	return intstr.FromInt32(sp.Port)
}

// resolveTarget reports whether a Service port's targetPort matches a
// container port of spec, the way the EndpointSlice controller resolves it:
// a name must match a container port of that name and protocol.
func resolveTarget(sp *corev1.ServicePort, spec *corev1.PodSpec) bool {
	target := targetOf(sp)
	proto := protocolOf(sp.Protocol)
	for _, cp := range containerPorts(spec) {
		if protocolOf(cp.Protocol) != proto {
			continue
		}
		if target.Type == intstr.String && cp.Name == target.StrVal {
			return true
		}
		if target.Type == intstr.Int && cp.ContainerPort == target.IntVal {
			return true
		}
	}
	return false
}

// portLabel names a Service port in messages: its name, or its number.
func portLabel(sp *corev1.ServicePort) string {
	if sp.Name != "" {
		return "`" + sp.Name + "`"
	}
	return strconv.Itoa(int(sp.Port)) + "/" + string(protocolOf(sp.Protocol))
}

func key(parts ...string) string { return strings.Join(parts, "|") }

// sortServices orders Services by name, so messages do not depend on map order.
func sortServices(list []*corev1.Service) {
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
}
