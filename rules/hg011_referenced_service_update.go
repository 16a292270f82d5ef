package rules

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

var hg011ReferencedServiceUpdate = &Rule{
	ID:          HG011,
	Name:        "referenced-service-update",
	Summary:     "An update of a governing Service does not break the selector, port-name or targetPort checks (HG004, HG005, HG006) for a StatefulSet it governs.",
	Why:         "Editing the selector or ports of a Service in place silently removes DNS records of running pods. A change that breaks a deny-level check (a selector that no longer selects the pods: HG004) is denied; one that breaks only what warns (a port name, a targetPort: HG005, HG006, whose loss is one port's SRV record) is a warning, and each broken check follows its own configured action. Defects the Service already had before the update are not counted. Each finding lists the names the update removes: the pods' per-pod names for a selector, the port's SRV name for a port.",
	Remediation: "Keep the selector and ports compatible with the StatefulSet's pod template, or change the StatefulSet's template first.",
	Kinds:       []string{KindService},
	Operations:  []Operation{Update},
	Default:     ActionDeny,
	DNS: []DNSCase{
		{Case: "selector changed away from the pods (breaks HG004)", Loss: LosesPodAddresses | LosesHostnames | LosesSRV},
		{Case: "port name removed (breaks HG005)", Loss: LosesSRV},
	},
	Check: func(c *Context) []Problem {
		svc, _ := c.Request.Object.(*corev1.Service)
		old, _ := c.Request.OldObject.(*corev1.Service)
		if svc == nil || old == nil {
			return nil
		}
		var out []Problem
		for _, sts := range c.GoverningStatefulSets(svc) {
			w := statefulSetWorkload(sts)
			after := governedServiceProblems(c.Policy, svc, w)
			before := governedServiceProblems(c.Policy, old, w)
			for _, p := range after {
				if !slices.ContainsFunc(before, func(q Problem) bool { return p.SameDefect(q) && sameBadValue(p, q) }) {
					out = append(out, withRemovedNames(p, old, svc, sts, c.Policy.clusterDomain()))
				}
			}
		}
		return out
	},
}

// governedServiceProblems runs the Service-side HG004, HG005 and HG006 checks
// of svc against one governed StatefulSet; each detail names the rule broken.
// Breaking a check is as severe as the check itself: not reported when it is
// off, a warning when it warns (HG005 and HG006 by default).
func governedServiceProblems(policy *Policy, svc *corev1.Service, w Workload) []Problem {
	var out []Problem
	add := func(broken *Rule, ps []Problem) {
		action := policy.Configured(broken)
		if action == ActionOff {
			return
		}
		for _, p := range ps {
			e := *p.Error
			e.Detail += " (breaks " + broken.ID + ")"
			p.Error, p.Primary = &e, true
			p.WarnOnly = p.WarnOnly || action != ActionDeny
			out = append(out, p)
		}
	}
	add(hg004SelectorMatchesPods, serviceSelectorProblem(HG011, svc, w))
	add(hg005PortsNamed, unnamedPortProblems(HG011, svc, nil, true, w.Ref.String()))
	add(hg006TargetPortResolves, targetPortProblems(HG011, svc, w, true))
	return out
}

// sameBadValue refines SameDefect for HG011: an update of a Service is the
// change under review, so moving a selector or targetPort from one broken
// value to another still breaks the check.
func sameBadValue(p, q Problem) bool { return fmt.Sprint(p.BadValue) == fmt.Sprint(q.BadValue) }

// withRemovedNames appends to an HG011 problem the names the update removes,
// as the Kubernetes DNS specification derives them from the old and the new
// Service: a selector turned away from the pods (HG004) removes the per-pod
// names the old one served; a port name removed (HG005) or a named
// targetPort no container port has (HG006) removes that port's SRV name,
// when the old Service served it.
func withRemovedNames(p Problem, old, svc *corev1.Service, sts *appsv1.StatefulSet, domain string) Problem {
	var names []string
	switch {
	case p.Field == selectorPath.String():
		names = servedPodFQDNs(old, sts, domain)
	case strings.HasPrefix(p.Field, portsPath.String()+"["):
		index, _, _ := strings.Cut(strings.TrimPrefix(p.Field, portsPath.String()+"["), "]")
		i, err := strconv.Atoi(index)
		if err != nil || i >= len(old.Spec.Ports) || !IsHeadless(old) {
			break
		}
		was := &old.Spec.Ports[i]
		if _, ok := selectorDefect(old, statefulSetWorkload(sts)); !ok || was.Name == "" {
			break
		}
		if _, ok := TargetPortNumber(was, &sts.Spec.Template.Spec); ok {
			names = []string{SRVName(was, old.Name, old.Namespace, domain)}
		}
	}
	if removed := removesNames(names); removed != "" {
		e := *p.Error
		e.Detail += "; " + removed
		p.Error = &e
	}
	return p
}
