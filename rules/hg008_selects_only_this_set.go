package rules

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var hg008SelectsOnlyThisSet = &Rule{
	ID:          HG008,
	Name:        "selects-only-this-set",
	Summary:     "The governing Service selects only the pods of the StatefulSets it governs.",
	Why:         "A selector that also matches another workload's pods makes the Service name resolve to those pods too, so peers discovered through DNS include strangers; no pod loses a name, so this is a warning. StatefulSets that all name the Service in `spec.serviceName` (a primary and its replicas, or shards) share it by design and are not reported, nor are helm hook Pods (annotation `helm.sh/hook`, e.g. the Pods of `helm test`), which carry the release's labels and come and go.",
	Remediation: "Add a label unique to this StatefulSet's pod template (for example `app.kubernetes.io/component`) to the template and to the Service's `spec.selector`.",
	Kinds:       []string{KindStatefulSet, KindService},
	Operations:  []Operation{Create, Update},
	Default:     ActionWarn,
	DNS: []DNSCase{
		{Case: "selector also selects a Deployment's pods", Loss: AddsStrangers},
	},
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
				if sharesByDesign(w, governed) {
					continue
				}
				out = append(out, Problem{
					Error: field.Invalid(selectorPath, labelValue(svc.Spec.Selector), fmt.Sprintf("must select only the pods of the StatefulSet it governs: it also selects the pods of %s", w.Ref)),
					Key:   key(HG008, svc.Namespace, svc.Name, w.Ref.Kind, w.Ref.Name),
				})
			}
			return out
		}
		sts, svc := governingService(c)
		if svc == nil || !selectorCanBeShared(svc) {
			return nil
		}
		var governed []*appsv1.StatefulSet
		var out []Problem
		for _, w := range c.WorkloadsSelectedBy(sts.Namespace, svc.Spec.Selector) {
			if w.Ref.Kind == KindStatefulSet && w.Ref.Name == sts.Name {
				continue
			}
			if w.Ref.Kind == KindStatefulSet && governed == nil {
				governed = c.GoverningStatefulSets(svc)
			}
			if sharesByDesign(w, governed) {
				continue
			}
			out = append(out, Problem{
				Error: field.Invalid(serviceNamePath, svc.Name, fmt.Sprintf("must name a Service that selects only this StatefulSet's pods: Service `%s` also selects the pods of %s, so its DNS name resolves to them too", svc.Name, w.Ref)),
				Key:   key(HG008, svc.Namespace, svc.Name, w.Ref.Kind, w.Ref.Name), Primary: true,
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

// sharesByDesign reports whether a workload the Service selects belongs
// there: a StatefulSet the Service governs too (primary/replica, shards), or
// a helm hook Pod (`helm test`), which carries the release's labels.
func sharesByDesign(w Workload, governed []*appsv1.StatefulSet) bool {
	if w.HelmHook {
		return true
	}
	return w.Ref.Kind == KindStatefulSet && governs(governed, w.Ref.Name)
}

func governs(governed []*appsv1.StatefulSet, name string) bool {
	for _, sts := range governed {
		if sts.Name == name {
			return true
		}
	}
	return false
}
