package rules

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

var hg012SubdomainService = &Rule{
	ID:          HG012,
	Name:        "subdomain-service",
	Summary:     "A pod template that sets `spec.subdomain` has a matching headless Service (the checks of HG002–HG006).",
	Why:         "A pod with `hostname` and `subdomain` is published as `<hostname>.<subdomain>.<namespace>.svc` only when a headless Service named like the subdomain selects it; otherwise the name does not resolve and nothing says so. It is a warning: outside StatefulSets a subdomain is often copied boilerplate that nothing resolves, and denying every pod-template owner would block unrelated workloads.",
	Remediation: "Create a headless Service named like `spec.subdomain` that selects the pod template labels, or remove `spec.subdomain`.",
	Kinds:       PodTemplateOwnerKinds,
	Operations:  []Operation{Create, Update},
	Default:     ActionWarn,
	DNS: []DNSCase{
		{Case: "`spec.subdomain` names no Service", Loss: LosesPodAddresses | LosesHostnames | LosesSRV},
	},
	Check: func(c *Context) []Problem {
		// Copies made by a controller (a StatefulSet's pods carry its
		// serviceName as subdomain) were checked as their owner's template.
		w, ok := WorkloadOf(c.Request.Object)
		if !ok || w.Template.Spec.Subdomain == "" || Derived(c.Request.Object) {
			return nil
		}
		sub := w.Template.Spec.Subdomain
		subPath := w.SpecPath.Child("subdomain")
		svc := c.Service(w.Ref.Namespace, sub)
		if svc == nil {
			err := field.NotFound(subPath, sub)
			err.Detail = fmt.Sprintf("must name an existing headless Service in namespace `%s` for the pods to get DNS names `<hostname>.%s.%s.svc`", w.Ref.Namespace, sub, w.Ref.Namespace)
			return []Problem{{Error: err}}
		}
		if !IsHeadless(svc) {
			return []Problem{{Error: field.Invalid(subPath, sub, "must name a headless Service: "+notHeadlessReason(svc))}}
		}
		var out []Problem
		out = append(out, workloadSelectorProblem(HG012, svc, w, subPath)...)
		out = append(out, unnamedPortProblems(HG012, svc, subPath, false, "")...)
		out = append(out, targetPortProblems(HG012, svc, w, false)...)
		return out
	},
}
