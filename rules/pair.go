package rules

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// This file holds the checks that look at a Service and a pod template
// together. Each is written once and reported from either side: the
// StatefulSet (or pod-template owner) under review, or the Service.

var (
	serviceNamePath = field.NewPath("spec", "serviceName")
	selectorPath    = field.NewPath("spec", "selector")
	portsPath       = field.NewPath("spec", "ports")
)

// statefulSetOf returns the StatefulSet under review, or nil.
func statefulSetOf(c *Context) *appsv1.StatefulSet {
	sts, _ := c.Request.Object.(*appsv1.StatefulSet)
	return sts
}

// serviceOf returns the Service under review (the stored one on DELETE), or nil.
func serviceOf(c *Context) *corev1.Service {
	svc, _ := c.Request.subject().(*corev1.Service)
	return svc
}

// governingService returns the Service a StatefulSet names, or nil when it
// names none or the Service does not exist (HG001 and HG002 report those).
func governingService(c *Context) (*appsv1.StatefulSet, *corev1.Service) {
	sts := statefulSetOf(c)
	if sts == nil || sts.Spec.ServiceName == "" {
		return sts, nil
	}
	return sts, c.Service(sts.Namespace, sts.Spec.ServiceName)
}

// selectorDefect describes how svc's selector fails to select the template's
// pods; ok is true when it selects them.
func selectorDefect(svc *corev1.Service, w Workload) (detail string, ok bool) {
	if len(svc.Spec.Selector) == 0 {
		return fmt.Sprintf("Service `%s` has no `spec.selector`, so no EndpointSlices and no DNS records are made for the pods of %s", svc.Name, w.Ref), false
	}
	missing, conflicting := selectorGap(svc.Spec.Selector, w.Template.Labels)
	if len(missing) == 0 && len(conflicting) == 0 {
		return "", true
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "missing "+formatLabels(svc.Spec.Selector, missing))
	}
	if len(conflicting) > 0 {
		parts = append(parts, fmt.Sprintf("%s where the template has %s", formatLabels(svc.Spec.Selector, conflicting), formatLabels(w.Template.Labels, conflicting)))
	}
	return fmt.Sprintf("the pod template labels of %s must include the selector of Service `%s`: %s", w.Ref, svc.Name, strings.Join(parts, "; ")), false
}

// selectorProblem reports a selector defect on the workload side.
func workloadSelectorProblem(rule string, svc *corev1.Service, w Workload, refPath *field.Path) []Problem {
	detail, ok := selectorDefect(svc, w)
	if ok {
		return nil
	}
	k := key(rule, svc.Namespace, w.Ref.Kind, w.Ref.Name, svc.Name)
	if len(svc.Spec.Selector) == 0 {
		return []Problem{{Error: field.Invalid(refPath, svc.Name, "must name a Service with a selector: "+detail), Key: k, Primary: true}}
	}
	return []Problem{{Error: field.Invalid(w.MetaPath.Child("labels"), labelValue(w.Template.Labels), detail), Key: k, Primary: true}}
}

// serviceSelectorProblem reports the same defect on the Service side.
func serviceSelectorProblem(rule string, svc *corev1.Service, w Workload) []Problem {
	detail, ok := selectorDefect(svc, w)
	if ok {
		return nil
	}
	k := key(rule, svc.Namespace, w.Ref.Kind, w.Ref.Name, svc.Name)
	if len(svc.Spec.Selector) == 0 {
		return []Problem{{Error: field.Required(selectorPath, fmt.Sprintf("must select the pods of %s, which names this Service in `spec.serviceName`", w.Ref)), Key: k}}
	}
	return []Problem{{Error: field.Invalid(selectorPath, labelValue(svc.Spec.Selector), detail), Key: k}}
}

// unnamedPortProblems reports the unnamed ports of svc. From the Service side
// each port is its own field; from the workload side they point at refPath.
func unnamedPortProblems(rule string, svc *corev1.Service, refPath *field.Path, serviceSide bool, governed string) []Problem {
	var out []Problem
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		if sp.Name != "" {
			continue
		}
		k := key(rule, svc.Namespace, svc.Name, fmt.Sprint(i))
		why := fmt.Sprintf("SRV records `_<port>._%s.%s.%s.svc` exist only for named ports", strings.ToLower(string(protocolOf(sp.Protocol))), svc.Name, svc.Namespace)
		if serviceSide {
			out = append(out, Problem{Error: field.Required(portsPath.Index(i).Child("name"), fmt.Sprintf("must be set because this Service governs %s: %s", governed, why)), Key: k, Primary: true})
		} else {
			out = append(out, Problem{Error: field.Invalid(refPath, svc.Name, fmt.Sprintf("Service `%s` port %s must have a name: %s", svc.Name, portLabel(sp), why)), Key: k})
		}
	}
	return out
}

// targetPortProblems reports Service ports whose named targetPort matches
// no container port of the template: the port is left out of the
// EndpointSlices and loses its SRV record. A number is published as it is
// whatever the pod declares (container ports are informational), so it is
// never reported.
func targetPortProblems(rule string, svc *corev1.Service, w Workload, serviceSide bool) []Problem {
	if len(svc.Spec.Selector) == 0 {
		return nil
	}
	var out []Problem
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		if resolveTarget(sp, &w.Template.Spec) {
			continue
		}
		// A number is published as it is, whatever the pod declares:
		// no record is ever missing, so it is never a finding.
		target := targetOf(sp)
		if target.Type != intstr.String {
			continue
		}
		k := key(rule, svc.Namespace, w.Ref.Kind, w.Ref.Name, svc.Name, fmt.Sprint(i))
		proto := protocolOf(sp.Protocol)
		var err *field.Error
		if serviceSide {
			err = field.NotFound(portsPath.Index(i).Child("targetPort"), target.String())
			err.Detail = fmt.Sprintf("must match a container port of %s: it has no container port %s with protocol %s", w.Ref, targetName(target), proto)
		} else {
			err = field.NotFound(w.SpecPath.Child("containers"), target.String())
			err.Detail = fmt.Sprintf("must declare a container port %s with protocol %s: it is the targetPort of Service `%s` port %s", targetName(target), proto, svc.Name, portLabel(sp))
		}
		out = append(out, Problem{Error: err, Key: k, Primary: !serviceSide})
	}
	return out
}

func targetName(t intstr.IntOrString) string {
	if t.Type == intstr.String {
		return "named `" + t.StrVal + "`"
	}
	return fmt.Sprint(t.IntVal)
}

// labelValue renders a label map as a bad value for field errors.
func labelValue(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

// statefulSetWorkload returns the workload view of a StatefulSet.
func statefulSetWorkload(sts *appsv1.StatefulSet) Workload {
	w, _ := WorkloadOf(sts)
	return w
}
