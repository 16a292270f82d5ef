package rules

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var hg003ServiceHeadless = &Rule{
	ID:          HG003,
	Name:        "service-headless",
	Summary:     "The Service named by `spec.serviceName` is headless: type ClusterIP with `clusterIP: None`.",
	Why:         "The Kubernetes DNS specification publishes per-pod records (`<pod>.<service>`) only for headless Services, and the Service's own name then resolves to its one virtual IP instead of the pods; some DNS servers (CoreDNS among them) answer pod names behind a cluster IP anyway, others do not. Many charts govern a StatefulSet with a ClusterIP Service and never look a pod up by name, so in the default policy this denies only when the pod template's configuration uses the per-pod names, and warns otherwise.",
	Remediation: "Give the StatefulSet its own headless Service (`clusterIP: None`; the field is immutable, so create a new Service rather than editing the existing one) and point `spec.serviceName` at it.",
	Kinds:       []string{KindStatefulSet},
	Operations:  []Operation{Create, Update},
	Default:     ActionDeny,
	Certainty:   "the pod template's configuration uses the per-pod names",
	DNS: []DNSCase{
		// CoreDNS answers <pod>.<service> behind a cluster IP too
		// (coredns/coredns#3686); the DNS specification does not.
		{Case: "ClusterIP Service", Loss: LosesPodAddresses | LosesSRV},
	},
	Check: func(c *Context) []Problem {
		sts, svc := governingService(c)
		if svc == nil || IsHeadless(svc) {
			return nil
		}
		detail := "must name a headless Service: " + notHeadlessReason(svc)
		p, reason, used := c.evidence(sts)
		if !used {
			// Much software governs a StatefulSet with its client Service
			// and never looks up a pod by name (charts that use a ClusterIP
			// or memberlist Service): the names are missing, nothing
			// breaks, so it is reported, not denied.
			return []Problem{{Error: field.Invalid(serviceNamePath, svc.Name, detail), Uncertain: true, Reason: reason}}
		}
		detail += fmt.Sprintf("; the pod template uses the per-pod name `%s` (%s), which needs a headless Service", cut(p.Name, 120), p.Source.What)
		return []Problem{{Error: field.Invalid(serviceNamePath, svc.Name, detail)}}
	},
}

// notHeadlessReason says why svc is not headless.
func notHeadlessReason(svc *corev1.Service) string {
	if svc.Spec.Type != "" && svc.Spec.Type != corev1.ServiceTypeClusterIP {
		return fmt.Sprintf("Service `%s` has `spec.type: %s`, and only a ClusterIP Service with `clusterIP: None` publishes per-pod DNS records", svc.Name, svc.Spec.Type)
	}
	if svc.Spec.ClusterIP == "" {
		return fmt.Sprintf("Service `%s` has no `spec.clusterIP: None`, so it gets a virtual IP and no per-pod DNS records", svc.Name)
	}
	return fmt.Sprintf("Service `%s` has `spec.clusterIP: %s`, so it resolves to that virtual IP and publishes no per-pod DNS records", svc.Name, svc.Spec.ClusterIP)
}
