package dnsexplain

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/headless-guard/headless-guard/rules"
)

const (
	// maxLabel is the longest DNS label, and label value.
	maxLabel = 63
	// maxName is the longest DNS name.
	maxName = 253
	// revisionHashSuffix is what the StatefulSet controller appends to the
	// name in the `controller-revision-hash` label: "-" and up to 10
	// characters of hash.
	revisionHashSuffix = 11
)

// diagnose says why the member's per-pod name (fqdn) has no answer, or why
// its address is not among the Service's answers: the first cause on the
// path from the StatefulSet to CoreDNS (the pod, the Service, the
// EndpointSlice, the endpoint's hostname and conditions). nil when the
// objects show no cause: the answers then differ for a reason of the
// Service (HG003) that its records give.
func (s *serviceView) diagnose(m member, fqdn string) []Reason {
	one := func(r Reason) []Reason { return []Reason{r} }
	// The rules of a StatefulSet's Service, and of a pod's subdomain.
	missingRule, selectorRule := rules.HG002, rules.HG004
	owner := ""
	if m.sts != nil {
		owner = "StatefulSet `" + m.sts.Name + "`"
		if n := len(m.sts.Name) + revisionHashSuffix; n > maxLabel {
			return one(reasonOf(rules.HG007, fmt.Sprintf("StatefulSet name `%s` is %d characters: the pods' `controller-revision-hash` label `<name>-<hash>` would be %d, over the limit of %d, so the controller cannot create its pods", m.sts.Name, len(m.sts.Name), n, maxLabel)))
		}
		if len(m.hostname) > maxLabel {
			return one(reasonOf(rules.HG007, fmt.Sprintf("pod hostname `%s` is %d characters, over the DNS label limit of %d", m.hostname, len(m.hostname), maxLabel)))
		}
	} else {
		missingRule, selectorRule = rules.HG012, rules.HG012
		owner = "pod `" + m.pod.Name + "` (`spec.subdomain`)"
	}
	if len(fqdn) > maxName {
		return one(reasonOf(rules.HG007, fmt.Sprintf("`%s` is %d characters, over the DNS name limit of %d", fqdn, len(fqdn), maxName)))
	}
	if s.svc == nil {
		msg := fmt.Sprintf("Service `%s` does not exist in namespace `%s` (never created, or deleted), but %s names it", s.name, s.namespace, owner)
		if alt := s.x.headlessSelecting(s.namespace, m); alt != "" {
			msg += fmt.Sprintf("; headless Service `%s` selects these pods", alt)
		}
		return one(reasonOf(missingRule, msg))
	}
	pod := m.pod
	if pod == nil {
		msg := fmt.Sprintf("pod `%s` does not exist: %s has not created it", m.podName(), owner)
		if m.sts.Spec.PodManagementPolicy != "Parallel" {
			msg += " (with `podManagementPolicy: OrderedReady` it waits until the pods before it are Running and Ready)"
		}
		return one(Reason{Message: msg, Fix: fmt.Sprintf("See why with `kubectl describe statefulset %s -n %s` (Events).", m.sts.Name, s.namespace)})
	}
	if len(s.svc.Spec.Selector) == 0 {
		return one(reasonOf(selectorRule, fmt.Sprintf("Service `%s` has no `spec.selector`: the EndpointSlice controller makes no EndpointSlices for it, so no pod gets a record", s.name)))
	}
	if m.sts != nil && !rules.Selects(s.svc.Spec.Selector, withControllerLabels(m.sts.Spec.Template.Labels, pod.Labels)) {
		return one(reasonOf(selectorRule, fmt.Sprintf("the selector `%s` of Service `%s` does not select the pods of StatefulSet `%s` (template labels `%s`): they are in none of the Service's EndpointSlices", labels.Set(s.svc.Spec.Selector).String(), s.name, m.sts.Name, labels.Set(m.sts.Spec.Template.Labels).String())))
	}
	if !rules.Selects(s.svc.Spec.Selector, pod.Labels) {
		return one(reasonOf(selectorRule, fmt.Sprintf("the selector `%s` of Service `%s` does not select pod `%s` (labels `%s`): it is in none of the Service's EndpointSlices", labels.Set(s.svc.Spec.Selector).String(), s.name, pod.Name, labels.Set(pod.Labels).String())))
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return one(Reason{Message: fmt.Sprintf("pod `%s` has finished (phase %s): finished pods have no endpoints", pod.Name, pod.Status.Phase)})
	}
	if pod.Status.PodIP == "" {
		return one(Reason{Message: fmt.Sprintf("pod `%s` has no IP yet (phase %s): a pod gets an endpoint once it has one", pod.Name, pod.Status.Phase),
			Fix: fmt.Sprintf("See why with `kubectl describe pod %s -n %s`.", pod.Name, s.namespace)})
	}
	if m.sts != nil && (pod.Spec.Hostname != m.hostname || pod.Spec.Subdomain != s.name) {
		return one(Reason{Message: fmt.Sprintf("pod `%s` has `spec.hostname: %q` and `spec.subdomain: %q`, not `%s` and `%s`: its endpoint gets no hostname under Service `%s`", pod.Name, pod.Spec.Hostname, pod.Spec.Subdomain, m.hostname, s.name, s.name),
			Fix: "Recreate the pod so that the StatefulSet controller sets them."})
	}
	if m.sts == nil && pod.Spec.Hostname == "" {
		return one(reasonOf(rules.HG012, fmt.Sprintf("pod `%s` sets `spec.subdomain: %s` but no `spec.hostname`: the EndpointSlice controller gives an endpoint a hostname only from `spec.hostname`, so `%s` does not resolve", pod.Name, s.name, shortName(fqdn, s.namespace, s.x.domain))))
	}
	ep := s.endpointOf(pod)
	if ep == nil {
		if len(s.slices) == 0 {
			return one(Reason{Message: fmt.Sprintf("Service `%s` has no EndpointSlices: the EndpointSlice controller (kube-controller-manager) has not made them yet, or is not running", s.name)})
		}
		return one(Reason{Message: fmt.Sprintf("pod `%s` (%s) is in no EndpointSlice of Service `%s` yet: the EndpointSlice controller has not caught up", pod.Name, pod.Status.PodIP, s.name)})
	}
	if ep.Hostname == nil || *ep.Hostname == "" {
		return one(Reason{Message: fmt.Sprintf("the endpoint of pod `%s` in the EndpointSlices of Service `%s` has no `hostname`, so CoreDNS names it `%s` instead", pod.Name, s.name, endpointHostname(ep, pod.Status.PodIP))})
	}
	if *ep.Hostname != m.label() {
		return one(Reason{Message: fmt.Sprintf("the endpoint of pod `%s` has `hostname: %s`, not `%s`", pod.Name, *ep.Hostname, m.label())})
	}
	if !ready(ep) {
		if ep.Conditions.Terminating != nil && *ep.Conditions.Terminating || pod.DeletionTimestamp != nil {
			return one(Reason{Message: fmt.Sprintf("pod `%s` is terminating: its endpoint is not ready, and DNS leaves terminating endpoints out", pod.Name)})
		}
		if !s.svc.Spec.PublishNotReadyAddresses {
			return one(reasonOf(rules.HG009, fmt.Sprintf("pod `%s` is not ready and Service `%s` has `publishNotReadyAddresses: false`: DNS leaves not-ready endpoints out", pod.Name, s.name)))
		}
		return one(Reason{Message: fmt.Sprintf("the endpoint of pod `%s` is not ready yet: the EndpointSlice controller has not caught up with `publishNotReadyAddresses: true`", pod.Name)})
	}
	return nil
}

// headlessSelecting names a headless Service of ns that selects the
// member's pod labels, for a member whose Service is missing: the one it
// probably meant.
func (x *explainer) headlessSelecting(ns string, m member) string {
	var lbls map[string]string
	switch {
	case m.pod != nil:
		lbls = m.pod.Labels
	case m.sts != nil:
		lbls = m.sts.Spec.Template.Labels
	}
	for _, svc := range x.objs.Services {
		if svc.Namespace == ns && rules.IsHeadless(svc) && rules.Selects(svc.Spec.Selector, lbls) {
			return svc.Name
		}
	}
	return ""
}

// shortName is name as a pod of namespace ns resolves it through its search
// list: without `.<ns>.svc.<domain>` (what the seeds' nslookup calls use).
func shortName(name, ns, domain string) string {
	return strings.TrimSuffix(name, "."+ns+".svc."+domain)
}

// withControllerLabels are a template's labels plus those the StatefulSet
// controller adds to each pod (a per-pod Service may select on them), as
// pod carries them.
func withControllerLabels(template, pod map[string]string) map[string]string {
	out := make(map[string]string, len(template)+len(rules.ControllerAddedLabels))
	for k, v := range template {
		out[k] = v
	}
	for _, k := range rules.ControllerAddedLabels {
		if v, ok := pod[k]; ok {
			out[k] = v
		}
	}
	return out
}
