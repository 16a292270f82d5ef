package rules

import "strings"

var hg005PortsNamed = &Rule{
	ID:          HG005,
	Name:        "ports-named",
	Summary:     "Every port of a Service that governs a StatefulSet has a name.",
	Why:         "DNS SRV records (`_<port>._<proto>.<service>.<namespace>.svc`) are only published for named ports; clients that discover peers by SRV find nothing. A and per-pod records do not depend on port names, so this is a warning by default.",
	Remediation: "Give each port in the Service's `spec.ports` a `name`, ideally the name of the container port it targets.",
	Kinds:       []string{KindStatefulSet, KindService},
	Operations:  []Operation{Create, Update},
	Default:     ActionWarn,
	DNS: []DNSCase{
		{Case: "unnamed Service port", Loss: LosesSRV},
	},
	Fix: FixNamePorts,
	Check: func(c *Context) []Problem {
		if svc := serviceOf(c); svc != nil {
			if c.Request.Operation != Create {
				return nil
			}
			governed := c.GoverningStatefulSets(svc)
			if len(governed) == 0 {
				return nil
			}
			names := make([]string, len(governed))
			for i, sts := range governed {
				names[i] = "StatefulSet `" + sts.Name + "`"
			}
			return unnamedPortProblems(HG005, svc, nil, true, strings.Join(names, ", "))
		}
		_, svc := governingService(c)
		if svc == nil {
			return nil
		}
		return unnamedPortProblems(HG005, svc, serviceNamePath, false, "")
	},
}
