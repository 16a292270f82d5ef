package rules

import "k8s.io/apimachinery/pkg/util/validation/field"

var hg001ServiceNameSet = &Rule{
	ID:          HG001,
	Name:        "service-name-set",
	Summary:     "A StatefulSet names its governing Service in `spec.serviceName`.",
	Why:         "Without `spec.serviceName` the pods get no `<pod>.<service>` DNS names. It is legal since Kubernetes 1.31 and fine for a single-replica controller that nobody addresses by name, so this is a warning.",
	Remediation: "Set `spec.serviceName` to a headless Service that selects the pods, or annotate the StatefulSet with `headless-guard.io/skip: HG001` if no pod needs a DNS name.",
	Kinds:       []string{KindStatefulSet},
	Operations:  []Operation{Create, Update},
	Default:     ActionWarn,
	DNS: []DNSCase{
		{Case: "`spec.serviceName` empty, a headless Service selects the pods", Loss: LosesHostnames},
	},
	Fix: FixInjectService,
	Check: func(c *Context) []Problem {
		sts := statefulSetOf(c)
		if sts == nil || sts.Spec.ServiceName != "" {
			return nil
		}
		return []Problem{{Error: field.Required(serviceNamePath, "must name a headless Service for the pods to get DNS names `<pod>.<service>.<namespace>.svc`")}}
	},
}
