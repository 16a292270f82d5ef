package rules

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

var hg011ReferencedServiceUpdate = &Rule{
	ID:          HG011,
	Name:        "referenced-service-update",
	Summary:     "An update of a governing Service does not break the selector, port-name or targetPort checks (HG004, HG005, HG006) for a StatefulSet it governs.",
	Why:         "Editing the selector or ports of a Service in place silently removes DNS records of running pods. A change that breaks a deny-level check (a selector that no longer selects the pods: HG004) is denied; one that breaks only what warns (a port name, a targetPort: HG005, HG006, whose loss is one port's SRV record) is a warning, and each broken check follows its own configured action. Defects the Service already had before the update are not counted.",
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
					out = append(out, p)
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
