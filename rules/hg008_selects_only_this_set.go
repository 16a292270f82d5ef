package rules

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var hg008SelectsOnlyThisSet = &Rule{
	ID:          "HG008",
	Name:        "selects-only-this-set",
	Summary:     "The governing Service selects only the StatefulSet's own pods.",
	Why:         "A selector that also matches another workload's pods makes the Service name resolve to those pods too, so peers discovered through DNS include strangers. Sharing one headless Service between StatefulSets is sometimes intended, so this is a warning.",
	Remediation: "Add a label unique to this StatefulSet's pod template (for example `app.kubernetes.io/component`) to the template and to the Service's `spec.selector`.",
	Kinds:       []string{KindStatefulSet, KindService},
	Operations:  []Operation{Create, Update},
	Default:     ActionWarn,
	Check: func(c *Context) []Problem {
		if svc := serviceOf(c); svc != nil {
			if c.Request.Operation != Create || !selectorCanBeShared(svc) {
				return nil
			}
			governed := c.GoverningStatefulSets(svc)
			if len(governed) == 0 {
				return nil
			}
			var out []Problem
			for _, w := range c.WorkloadsSelectedBy(svc.Namespace, svc.Spec.Selector) {
				if w.Ref.Kind == KindStatefulSet && governs(governed, w.Ref.Name) {
					continue
				}
				out = append(out, Problem{
					Error: field.Invalid(selectorPath, labelValue(svc.Spec.Selector), fmt.Sprintf("must select only the pods of the StatefulSet it governs: it also selects the pods of %s", w.Ref)),
					Key:   key("HG008", svc.Namespace, svc.Name, w.Ref.Kind, w.Ref.Name),
				})
			}
			return out
		}
		sts, svc := governingService(c)
		if svc == nil || !selectorCanBeShared(svc) {
			return nil
		}
		var out []Problem
		for _, w := range c.WorkloadsSelectedBy(sts.Namespace, svc.Spec.Selector) {
			if w.Ref.Kind == KindStatefulSet && w.Ref.Name == sts.Name {
				continue
			}
			out = append(out, Problem{
				Error: field.Invalid(serviceNamePath, svc.Name, fmt.Sprintf("must name a Service that selects only this StatefulSet's pods: Service `%s` also selects the pods of %s, so its DNS name resolves to them too", svc.Name, w.Ref)),
				Key:   key("HG008", svc.Namespace, svc.Name, w.Ref.Kind, w.Ref.Name), Primary: true,
			})
		}
		return out
	},
}

// selectorCanBeShared is false for selectors no other workload can match:
// empty ones (HG004) and per-pod ones that use controller-added labels.
func selectorCanBeShared(svc *corev1.Service) bool {
	if len(svc.Spec.Selector) == 0 {
		return false
	}
	for k := range svc.Spec.Selector {
		if controllerAdded(k) {
			return false
		}
	}
	return true
}

func governs(governed []*appsv1.StatefulSet, name string) bool {
	for _, sts := range governed {
		if sts.Name == name {
			return true
		}
	}
	return false
}
