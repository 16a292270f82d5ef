package rules

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Names of the fixes.
const (
	// FixInjectService creates the missing headless Service of a StatefulSet
	// (and sets an empty `spec.serviceName` to the StatefulSet's name first).
	FixInjectService = "inject-service"
	// FixLabels adds Service-selector keys missing from a StatefulSet's template labels.
	FixLabels = "fix-labels"
	// FixNamePorts names the unnamed ports of a Service.
	FixNamePorts = "name-ports"
)

// The label and annotation headless-guard puts on what it creates (an
// injected Service).
const (
	ManagedByLabel        = "app.kubernetes.io/managed-by"
	ManagedByValue        = "headless-guard"
	StatefulSetAnnotation = "headless-guard.io/statefulset"
)

// Labels headless-guard reads from users' objects, never sets: on a
// namespace they turn a fix on (FixOptions.For) or set the mode
// (Policy.ForNamespace, with PolicyLabel and ControllerOwnedLabel); on an
// object they may turn a fix off, never on.
const (
	InjectLabel    = "headless-guard.io/inject"
	FixLabelsLabel = "headless-guard.io/fix-labels"
	ModeLabel      = "headless-guard.io/mode"
)

// PatchOp is one RFC 6902 JSON Patch operation.
type PatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// FixOptions selects the fixes to plan.
type FixOptions struct {
	// InjectService creates missing governing Services.
	InjectService bool
	// FixLabels adds missing selector labels to StatefulSet templates and
	// names unnamed Service ports.
	FixLabels bool
	// PublishNotReadyAddresses is set on injected Services.
	PublishNotReadyAddresses bool
}

// For returns the fixes enabled for one object: those of o (the flags),
// and those its namespace's labels enable. The object's own labels may
// turn a fix off (`headless-guard.io/inject: "false"`), never on: whoever
// may label a namespace decides for it, and a user who may only create
// workloads cannot make headless-guard create Services for them.
func (o FixOptions) For(namespaceLabels, objectLabels map[string]string) FixOptions {
	o.InjectService = (o.InjectService || namespaceLabels[InjectLabel] == "true") && objectLabels[InjectLabel] != "false"
	o.FixLabels = (o.FixLabels || namespaceLabels[FixLabelsLabel] == "true") && objectLabels[FixLabelsLabel] != "false"
	return o
}

// AppliedFix says what one fix did, for warnings and reports.
type AppliedFix struct {
	Fix         string
	Rule        string
	Description string
	// ByReconciler marks what the reconciler carries out from the object
	// the API server stored (the Service inject-service creates), not the
	// patch: admission does not announce it as done.
	ByReconciler bool
}

// FixPlan is what the fixes would do to one object: patches to the object
// itself and Services to create next to it.
type FixPlan struct {
	Patches []PatchOp
	Create  []*corev1.Service
	Applied []AppliedFix
}

// Empty reports whether the plan changes nothing.
func (p *FixPlan) Empty() bool { return len(p.Patches) == 0 && len(p.Create) == 0 }

// PlanFixes plans the enabled fixes for a CREATE request. Plans are
// idempotent: planning again for the patched object, with the planned
// Services in the lookup, yields an empty plan.
func PlanFixes(req *Request, lookup Lookup, opts FixOptions) (*FixPlan, error) {
	plan := &FixPlan{}
	if req.Operation != Create {
		return plan, nil
	}
	c := &Context{Request: req, Policy: &Policy{}, lookup: lookup}
	// inject-service and fix-labels fix StatefulSets, name-ports Services.
	if sts, ok := req.Object.(*appsv1.StatefulSet); ok {
		planStatefulSet(c, sts, opts, plan)
	}
	if svc, ok := req.Object.(*corev1.Service); ok && opts.FixLabels {
		planNamePorts(c, svc, plan)
	}
	if c.err != nil {
		return nil, c.err
	}
	return plan, nil
}

func planStatefulSet(c *Context, sts *appsv1.StatefulSet, opts FixOptions, plan *FixPlan) {
	name := sts.Spec.ServiceName
	var svc *corev1.Service
	if name != "" {
		svc = c.Service(sts.Namespace, name)
	}
	// A controller-owned StatefulSet's Service is its operator's to make.
	if opts.InjectService && svc == nil && c.err == nil && !ControllerOwnedObject(sts) {
		if name == "" {
			name, svc = defaultServiceName(c, sts)
			plan.Patches = append(plan.Patches, PatchOp{Op: "add", Path: "/spec/serviceName", Value: name})
			plan.Applied = append(plan.Applied, AppliedFix{FixInjectService, HG001, fmt.Sprintf("set `spec.serviceName` to `%s`", name), false})
		}
		if svc == nil {
			if injected, err := InjectedService(sts, name, opts.PublishNotReadyAddresses); err == nil {
				plan.Create = append(plan.Create, injected)
				plan.Applied = append(plan.Applied, AppliedFix{FixInjectService, HG002, fmt.Sprintf("create headless Service `%s/%s`", sts.Namespace, name), true})
			}
		}
	}
	if opts.FixLabels && svc != nil && len(svc.Spec.Selector) > 0 {
		missing, conflicting := selectorGap(svc.Spec.Selector, sts.Spec.Template.Labels)
		if len(missing) == 0 || len(conflicting) > 0 {
			return
		}
		if len(sts.Spec.Template.Labels) == 0 {
			labels := map[string]string{}
			for _, k := range missing {
				labels[k] = svc.Spec.Selector[k]
			}
			plan.Patches = append(plan.Patches, PatchOp{Op: "add", Path: "/spec/template/metadata/labels", Value: labels})
		} else {
			for _, k := range missing {
				plan.Patches = append(plan.Patches, PatchOp{Op: "add", Path: "/spec/template/metadata/labels/" + escapePointer(k), Value: svc.Spec.Selector[k]})
			}
		}
		plan.Applied = append(plan.Applied, AppliedFix{FixLabels, HG004, fmt.Sprintf("add %s to `spec.template.metadata.labels`", formatLabels(svc.Spec.Selector, missing)), false})
	}
}

func planNamePorts(c *Context, svc *corev1.Service, plan *FixPlan) {
	var unnamed bool
	taken := map[string]bool{}
	for _, sp := range svc.Spec.Ports {
		taken[sp.Name] = true
		unnamed = unnamed || sp.Name == ""
	}
	if !unnamed {
		return
	}
	// Container port names come from the pods the Service selects.
	var specs []*corev1.PodSpec
	for _, w := range c.WorkloadsSelectedBy(svc.Namespace, svc.Spec.Selector) {
		specs = append(specs, &w.Template.Spec)
	}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		if sp.Name != "" {
			continue
		}
		name := containerPortName(sp, specs)
		if name == "" || taken[name] || len(validation.IsDNS1035Label(name)) > 0 {
			name = strings.ToLower(string(protocolOf(sp.Protocol))) + "-" + fmt.Sprint(sp.Port)
		}
		if taken[name] || len(validation.IsDNS1035Label(name)) > 0 {
			continue
		}
		taken[name] = true
		plan.Patches = append(plan.Patches, PatchOp{Op: "add", Path: fmt.Sprintf("/spec/ports/%d/name", i), Value: name})
		plan.Applied = append(plan.Applied, AppliedFix{FixNamePorts, HG005, fmt.Sprintf("name port %s `%s`", portLabel(sp), name), false})
	}
}

// defaultServiceName picks the serviceName for a StatefulSet that has none:
// its own name, unless a Service of that name exists and is not headless (a
// client Service; pointing at it would trade HG001 for HG003), then
// `<name>-headless`. It returns the existing headless Service, if any.
func defaultServiceName(c *Context, sts *appsv1.StatefulSet) (string, *corev1.Service) {
	for _, name := range []string{sts.Name, sts.Name + "-headless"} {
		svc := c.Service(sts.Namespace, name)
		if svc == nil || IsHeadless(svc) {
			return name, svc
		}
	}
	return sts.Name + "-headless", nil
}

// containerPortName returns the name of the container port a Service port
// targets, if one of specs declares it with a name.
func containerPortName(sp *corev1.ServicePort, specs []*corev1.PodSpec) string {
	target := targetOf(sp)
	if target.Type == intstr.String {
		return target.StrVal
	}
	for _, spec := range specs {
		for _, cp := range containerPorts(spec) {
			if cp.Name != "" && cp.ContainerPort == target.IntVal && protocolOf(cp.Protocol) == protocolOf(sp.Protocol) {
				return cp.Name
			}
		}
	}
	return ""
}

// ServiceToInject is the one answer, for the webhook's warning and for the
// Injector, to whether inject-service creates a Service for sts, and which:
// nil when injection is off for its namespace or turned off by its own
// label, when it is skipped (`skip: all`), names no Service or one no
// Service can be called (not a DNS-1035 label), has no
// `spec.selector.matchLabels` to select its pods with, or is
// controller-owned: the operator that owns it owns its Service too, and
// an injected one makes its create fail with AlreadyExists, or is deleted
// by it. Whether the Service already exists is the caller's lookup.
func (o FixOptions) ServiceToInject(sts *appsv1.StatefulSet, namespaceLabels map[string]string) *corev1.Service {
	name := sts.Spec.ServiceName
	opts := o.For(namespaceLabels, sts.Labels)
	if !opts.InjectService || name == "" || sts.Annotations[SkipAnnotation] == SkipAll || len(validation.IsDNS1035Label(name)) > 0 || ControllerOwnedObject(sts) {
		return nil
	}
	svc, err := InjectedService(sts, name, opts.PublishNotReadyAddresses)
	if err != nil {
		return nil
	}
	return svc
}

// InjectedService builds the headless Service inject-service creates for sts:
// selector from `spec.selector.matchLabels`, one port per named container port.
func InjectedService(sts *appsv1.StatefulSet, name string, publishNotReady bool) (*corev1.Service, error) {
	if sts.Spec.Selector == nil || len(sts.Spec.Selector.MatchLabels) == 0 {
		return nil, fmt.Errorf("StatefulSet %s/%s has no `spec.selector.matchLabels` to select its pods with", sts.Namespace, sts.Name)
	}
	selector := make(map[string]string, len(sts.Spec.Selector.MatchLabels))
	for k, v := range sts.Spec.Selector.MatchLabels {
		selector[k] = v
	}
	svc := &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: KindService},
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   sts.Namespace,
			Labels:      map[string]string{ManagedByLabel: ManagedByValue},
			Annotations: map[string]string{StatefulSetAnnotation: sts.Name},
		},
		Spec: corev1.ServiceSpec{
			ClusterIP:                corev1.ClusterIPNone,
			Selector:                 selector,
			PublishNotReadyAddresses: publishNotReady,
		},
	}
	seen := map[string]bool{}
	for _, cp := range containerPorts(&sts.Spec.Template.Spec) {
		proto := protocolOf(cp.Protocol)
		byNumber := fmt.Sprintf("%d/%s", cp.ContainerPort, proto)
		if cp.Name == "" || seen[cp.Name] || seen[byNumber] || len(validation.IsDNS1035Label(cp.Name)) > 0 {
			continue
		}
		seen[cp.Name], seen[byNumber] = true, true
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
			Name: cp.Name, Port: cp.ContainerPort, TargetPort: intstr.FromString(cp.Name), Protocol: proto,
		})
	}
	return svc, nil
}

// escapePointer escapes a JSON Pointer reference token (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
