package rules

var hg004SelectorMatchesPods = &Rule{
	ID:          HG004,
	Name:        "selector-matches-pods",
	Summary:     "The governing Service has a selector, and every selector key is a label of the pod template.",
	Why:         "The EndpointSlice controller publishes a pod under the Service only when the selector matches the pod's labels; otherwise the Service resolves to nothing and the pods have no DNS names. In the default policy a headless Service whose selector misses the pods denies; an empty selector (a controller may manage the endpoints) or a Service that is not headless warns. Labels the StatefulSet controller adds to pods (`statefulset.kubernetes.io/pod-name`, `apps.kubernetes.io/pod-index`, `controller-revision-hash`) are exempt.",
	Remediation: "Add the missing selector labels to `spec.template.metadata.labels`, or change the Service's `spec.selector` to labels the pods carry.",
	Kinds:       []string{KindStatefulSet, KindService},
	Operations:  []Operation{Create, Update},
	Default:     ActionDeny,
	Certainty:   "the governing Service is headless and has a selector",
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
		out := workloadSelectorProblem(HG004, svc, statefulSetWorkload(sts), serviceNamePath)
		for i := range out {
			// A selector that names labels the pods lack is a mistake; a
			// Service with no selector is often fed by its own controller
			// (an operator's endpoints), and a client Service's selector is
			// HG003's business: those are reported, not denied.
			switch {
			case len(svc.Spec.Selector) == 0:
				out[i].Uncertain, out[i].Reason = true, "a Service without a selector may have its endpoints managed by a controller"
			case !IsHeadless(svc):
				out[i].Uncertain, out[i].Reason = true, "the Service is not headless, so it publishes no per-pod names either way"
			}
		}
		return out
	},
}
