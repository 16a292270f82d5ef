package rules

var hg006TargetPortResolves = &Rule{
	ID:          HG006,
	Name:        "target-port-resolves",
	Summary:     "Each port of the governing Service targets a port the pod template declares.",
	Why:         "The EndpointSlice controller resolves a named `targetPort` against the pod's container ports (name and protocol) and leaves out of the EndpointSlice a port it cannot resolve, not the pod: every pod keeps its A and hostname records, and only that port loses its SRV record and endpoints. A numeric `targetPort` is published as it is (declaring container ports is informational), so a number is reported only when the containers declare ports and none of them is that number, as a likely typo that DNS does not show. Neither breaks a per-pod DNS name, so this is a warning.",
	Remediation: "Declare the port in the container's `ports` with the name (and protocol) the Service's `targetPort` uses, or change the `targetPort` to a declared port.",
	Kinds:       []string{KindStatefulSet, KindService},
	Operations:  []Operation{Create, Update},
	Default:     ActionWarn,
	DNS: []DNSCase{
		{Case: "named `targetPort` no container port has", Loss: LosesSRV},
		{Case: "numeric `targetPort` no declared container port has", Loss: 0},
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
