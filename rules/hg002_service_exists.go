package rules

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

var hg002ServiceExists = &Rule{
	ID:          HG002,
	Name:        "service-exists",
	Summary:     "The Service named by a StatefulSet's `spec.serviceName` exists in its namespace.",
	Why:         "Kubernetes accepts a StatefulSet whose governing Service is missing; its pods then have no DNS names, and nothing says so. Admission sees objects in the order they are created: `kubectl apply -f` of one file creates its documents in file order, so a StatefulSet written before its Service is denied on the first apply (helm and kustomize create Services first). A server-side dry-run of a multi-object apply does not persist the Service it would create (kubernetes #83562), so on dry-run this is a warning unless `--dry-run-missing-service=deny`.",
	Remediation: "Create a headless Service (`clusterIP: None`) with that name that selects the pod template labels before the StatefulSet (with `kubectl apply -f`, put the Service first in the file, or use `--inject`), or point `spec.serviceName` at the existing one.",
	Kinds:       []string{KindStatefulSet},
	Operations:  []Operation{Create, Update},
	Default:     ActionDeny,
	DNS: []DNSCase{
		{Case: "`spec.serviceName` names no Service", Loss: LosesPodAddresses | LosesHostnames | LosesSRV},
	},
	DryRunWarn: true,
	Fix:        FixInjectService,
	Check: func(c *Context) []Problem {
		sts, svc := governingService(c)
		if sts == nil || sts.Spec.ServiceName == "" || svc != nil || c.err != nil {
			return nil
		}
		err := field.NotFound(serviceNamePath, sts.Spec.ServiceName)
		err.Detail = fmt.Sprintf("must name an existing Service in namespace `%s`", sts.Namespace)
		alt := headlessServicesSelecting(c, statefulSetWorkload(sts))
		if c.Request.DryRun {
			// A server-side dry-run of a multi-object apply creates nothing,
			// so a Service of the same apply is missing here too: say which
			// reading is which, never just "create it first".
			if len(alt) > 0 {
				err.Detail += fmt.Sprintf(": did you mean %s (a headless Service that selects these pods); if Service `%s` is part of this apply, ignore this: a server-side dry-run does not create the objects it checks (kubernetes #83562)", strings.Join(alt, " or "), sts.Spec.ServiceName)
			} else {
				err.Detail += fmt.Sprintf(": if Service `%s` is part of this apply, ignore this: a server-side dry-run does not create the objects it checks (kubernetes #83562); otherwise create a headless Service `%s` (`clusterIP: None`) selecting %s", sts.Spec.ServiceName, sts.Spec.ServiceName, formatLabels(sts.Spec.Template.Labels, sortedKeys(sts.Spec.Template.Labels)))
			}
		} else if len(alt) > 0 {
			err.Detail += fmt.Sprintf(": headless Service %s selects these pods; set `spec.serviceName: %s`", strings.Join(alt, ", "), strings.Trim(alt[0], "`"))
		} else {
			err.Detail += fmt.Sprintf(": create a headless Service `%s` (`clusterIP: None`) selecting %s first; `kubectl apply -f` creates a file's objects in order, so put the Service before the StatefulSet, or use `--inject`", sts.Spec.ServiceName, formatLabels(sts.Spec.Template.Labels, sortedKeys(sts.Spec.Template.Labels)))
		}
		return []Problem{{Error: err}}
	},
}

// headlessServicesSelecting lists, quoted, the headless Services of the
// workload's namespace whose selector selects its pods.
func headlessServicesSelecting(c *Context, w Workload) []string {
	var out []string
	for _, svc := range c.ServicesSelecting(w.Ref.Namespace, w.Template.Labels) {
		if IsHeadless(svc) {
			out = append(out, "`"+svc.Name+"`")
		}
	}
	return out
}
