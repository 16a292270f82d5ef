package rules

import (
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The names of the Kubernetes DNS specification (kubernetes/dns,
// docs/specification.md), computed from objects alone: what CoreDNS's
// `kubernetes` plugin serves when the wiring is right. HG010 and HG011 name
// what a change removes with them, and `headless-guard dns` what should
// resolve.

// StatefulSetHostnames are the hostnames the StatefulSet controller gives
// the pods of sts, in ordinal order: the pod names `<name>-<ordinal>` for
// the ordinals `spec.ordinals.start` up to replicas later (one replica when
// `spec.replicas` is unset, as the API server defaults it).
func StatefulSetHostnames(sts *appsv1.StatefulSet) []string {
	replicas := int32(1)
	if sts.Spec.Replicas != nil {
		replicas = *sts.Spec.Replicas
	}
	start := int32(0)
	if sts.Spec.Ordinals != nil {
		start = sts.Spec.Ordinals.Start
	}
	out := make([]string, 0, max(replicas, 0))
	for i := start; i < start+replicas; i++ {
		out = append(out, sts.Name+"-"+strconv.Itoa(int(i)))
	}
	return out
}

// ServiceFQDN is `<service>.<namespace>.svc.<domain>`, the name of a
// Service's A/AAAA records (without the final dot).
func ServiceFQDN(service, namespace, domain string) string {
	return service + "." + namespace + ".svc." + domainOrDefault(domain)
}

// PodFQDN is `<hostname>.<subdomain>.<namespace>.svc.<domain>`, the per-pod
// name a headless Service `subdomain` gives a pod whose endpoint carries
// that hostname.
func PodFQDN(hostname, subdomain, namespace, domain string) string {
	return hostname + "." + ServiceFQDN(subdomain, namespace, domain)
}

// SRVName is `_<port>._<proto>.<service>.<namespace>.svc.<domain>`, the name
// of the SRV records of a named Service port; "" for an unnamed port, which
// has none.
func SRVName(sp *corev1.ServicePort, service, namespace, domain string) string {
	if sp.Name == "" {
		return ""
	}
	return "_" + sp.Name + "._" + strings.ToLower(string(protocolOf(sp.Protocol))) + "." + ServiceFQDN(service, namespace, domain)
}

// StatefulSetPodFQDNs are the per-pod names of the pods of sts under the
// Service it names: what deleting that Service, or turning its selector
// away, removes.
func StatefulSetPodFQDNs(sts *appsv1.StatefulSet, domain string) []string {
	if sts.Spec.ServiceName == "" {
		return nil
	}
	hosts := StatefulSetHostnames(sts)
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = PodFQDN(h, sts.Spec.ServiceName, sts.Namespace, domain)
	}
	return out
}

// TargetPortNumber is the port number the EndpointSlice controller
// publishes for a Service port on a pod with spec: a named targetPort
// resolved against the container ports, a number as it is; false when a
// named one matches no container port (the pod's endpoint lacks the port,
// and so do the SRV records).
func TargetPortNumber(sp *corev1.ServicePort, spec *corev1.PodSpec) (int32, bool) {
	target := targetOf(sp)
	if target.Type == intstr.Int {
		return target.IntVal, true
	}
	proto := protocolOf(sp.Protocol)
	for _, cp := range containerPorts(spec) {
		if cp.Name == target.StrVal && protocolOf(cp.Protocol) == proto {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// namesShown is how many names a message lists before it only counts.
const namesShown = 3

// removesNames is the end of an HG010/HG011 message: "removes 3 names: a,
// b, c", the first namesShown of names and their count; "" for none.
func removesNames(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return "removes 1 name: " + names[0]
	}
	shown := names[:min(len(names), namesShown)]
	more := ""
	if len(names) > namesShown {
		more = ", …"
	}
	return fmt.Sprintf("removes %d names: %s%s", len(names), strings.Join(shown, ", "), more)
}

func domainOrDefault(domain string) string {
	if domain == "" {
		return DefaultClusterDomain
	}
	return domain
}

// PeerNamesOf are the per-pod names of sts's pods (`<name>-<ordinal>.<service>`,
// through any Service, in sts's namespace or unqualified) that its pod
// template's configuration mentions: env values, args and commands of every
// container, and, when configMap is set, the ConfigMaps the template
// references (configMap returns nil for one it does not have). They are the
// names the workload looks up, so the ones that must resolve; one through
// another Service than `spec.serviceName` never does (HG013).
func PeerNamesOf(sts *appsv1.StatefulSet, configMap func(name string) *corev1.ConfigMap) []PeerName {
	spec, specPath := &sts.Spec.Template.Spec, templatePath.Child("spec")
	names := inlinePeerNames(spec, specPath)
	if configMap != nil {
		for _, ref := range configMapRefs(spec, specPath) {
			cm := configMap(ref.name)
			if cm == nil {
				continue
			}
			keys := ref.keys
			if keys == nil {
				keys = sortedKeys(cm.Data)
			}
			for _, k := range keys {
				names = append(names, FindPeerNames(cm.Data[k], ConfigSource{ref.path, fmt.Sprintf("key `%s` of ConfigMap `%s`", k, ref.name)})...)
			}
		}
	}
	var out []PeerName
	for _, p := range names {
		if p.Set == sts.Name && (p.Namespace == "" || p.Namespace == sts.Namespace) {
			out = append(out, p)
		}
	}
	return out
}
