package rules

var hg006TargetPortResolves = &Rule{
	ID:          HG006,
	Name:        "target-port-resolves",
	Summary:     "Each named `targetPort` of the governing Service names a port the pod template declares.",
	Why:         "The EndpointSlice controller resolves a named `targetPort` against the pod's container ports (name and protocol) and leaves out of the EndpointSlice a port it cannot resolve, not the pod: every pod keeps its A and hostname records, and only that port loses its SRV record and endpoints. A numeric `targetPort` is published as it is (declaring container ports is informational): no record is missing, so a number is never reported (an operator may target a port its containers do not declare). A named one breaks no per-pod DNS name, so this is a warning.",
	Remediation: "Declare the port in the container's `ports` with the name (and protocol) the Service's `targetPort` uses, or change the `targetPort` to a declared port.",
	Kinds:       []string{KindStatefulSet, KindService},
	Operations:  []Operation{Create, Update},
	Default:     ActionWarn,
	DNS: []DNSCase{
		{Case: "named `targetPort` no container port has", Loss: LosesSRV},
	},
	Check: func(c *Context) []Problem {
		if svc := serviceOf(c); svc != nil {
			if c.Request.Operation != Create {
				return nil
			}
			var out []Problem
			for _, sts := range c.GoverningStatefulSets(svc) {
				out = append(out, targetPortProblems(HG006, svc, statefulSetWorkload(sts), true)...)
			}
			return out
		}
		sts, svc := governingService(c)
		if svc == nil {
			return nil
		}
		return targetPortProblems(HG006, svc, statefulSetWorkload(sts), false)
	},
}
