package rules

var hg004SelectorMatchesPods = &Rule{
	ID:          HG004,
	Name:        "selector-matches-pods",
	Summary:     "The governing Service has a selector, and every selector key is a label of the pod template.",
	Why:         "The EndpointSlice controller publishes a pod under the Service only when the selector matches the pod's labels; otherwise the Service resolves to nothing and the pods have no DNS names. Labels the StatefulSet controller adds to pods (`statefulset.kubernetes.io/pod-name`, `apps.kubernetes.io/pod-index`, `controller-revision-hash`) are exempt.",
	Remediation: "Add the missing selector labels to `spec.template.metadata.labels`, or change the Service's `spec.selector` to labels the pods carry.",
	Kinds:       []string{KindStatefulSet, KindService},
	Operations:  []Operation{Create, Update},
	Default:     ActionDeny,
	DNS: []DNSCase{
		{Case: "selector key the pod template lacks", Loss: LosesPodAddresses | LosesHostnames | LosesSRV},
	},
	Fix: FixLabels,
	Check: func(c *Context) []Problem {
		if svc := serviceOf(c); svc != nil {
			// Service side: only on CREATE; HG011 guards updates.
			if c.Request.Operation != Create {
				return nil
			}
			var out []Problem
			for _, sts := range c.GoverningStatefulSets(svc) {
				out = append(out, serviceSelectorProblem(HG004, svc, statefulSetWorkload(sts))...)
			}
			return out
		}
		sts, svc := governingService(c)
		if svc == nil {
			return nil
		}
		return workloadSelectorProblem(HG004, svc, statefulSetWorkload(sts), serviceNamePath)
	},
}
