package rules

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

var hg010ReferencedServiceDelete = &Rule{
	ID:          HG010,
	Name:        "referenced-service-delete",
	Summary:     "A Service being deleted is not the governing Service of a StatefulSet.",
	Why:         "Deleting the governing Service removes every pod's DNS name while the StatefulSet keeps running. `helm uninstall` deletes Services before StatefulSets, so this is a warning by default.",
	Remediation: "Delete or repoint the StatefulSet first, or recreate the Service right away.",
	Kinds:       []string{KindService},
	Operations:  []Operation{Delete},
	Default:     ActionWarn,
	DNS: []DNSCase{
		{Case: "governing Service deleted", Loss: LosesPodAddresses | LosesHostnames | LosesSRV},
	},
	Check: func(c *Context) []Problem {
		svc := serviceOf(c)
		if svc == nil {
			return nil
		}
		var out []Problem
		for _, sts := range c.GoverningStatefulSets(svc) {
			out = append(out, Problem{Error: field.Forbidden(field.NewPath("metadata", "name"),
				fmt.Sprintf("must not be deleted while StatefulSet `%s` names it in `spec.serviceName`: its pods lose their DNS names", sts.Name))})
		}
		return out
	},
}
