package rules

var hg006TargetPortResolves = &Rule{
	ID:          "HG006",
	Name:        "target-port-resolves",
	Summary:     "Each port of the governing Service targets a port the pod template declares.",
	Why:         "A named `targetPort` that matches no container port (name and protocol) is left out of the EndpointSlices, so that port has no SRV record and no endpoints. A numeric `targetPort` still works when the container listens there without declaring it, so a number is only a warning.",
	Remediation: "Declare the port in the container's `ports` with the name (and protocol) the Service's `targetPort` uses, or change the `targetPort` to a declared port.",
	Kinds:       []string{KindStatefulSet, KindService},
	Operations:  []Operation{Create, Update},
	Default:     ActionDeny,
	Check: func(c *Context) []Problem {
		if svc := serviceOf(c); svc != nil {
			if c.Request.Operation != Create {
				return nil
			}
			var out []Problem
			for _, sts := range c.GoverningStatefulSets(svc) {
				out = append(out, targetPortProblems("HG006", svc, statefulSetWorkload(sts), true)...)
			}
			return out
		}
		sts, svc := governingService(c)
		if svc == nil {
			return nil
		}
		return targetPortProblems("HG006", svc, statefulSetWorkload(sts), false)
	},
}
