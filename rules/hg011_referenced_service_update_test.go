package rules_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/headless-guard/headless-guard/rules"
)

func hg011Cases() (successCases, errorCases []ruleCase) {
	tiered := map[string]string{"app": "nginx", "tier": "web"}
	unnamed := withPorts(corev1.ServicePort{Port: 80})
	relabel := func(svc *corev1.Service) { svc.Labels = map[string]string{"app": "nginx", "team": "db"} }
	target := func(tp intstr.IntOrString) func(*corev1.Service) {
		return withPorts(corev1.ServicePort{Name: "web", Port: 80, TargetPort: tp})
	}

	successCases = []ruleCase{{
		// A number is published as it is: no record is lost (issue 20).
		name: "update changes a numeric targetPort to one no container declares",
		req:  update(mkService(), mkService(target(intstr.FromInt(8080)))),
		objs: objs(mkStatefulSet()),
	}, {
		name: "update of metadata only",
		req:  update(mkService(), mkService(relabel)),
		objs: objs(mkStatefulSet()),
	}, {
		name: "dropping one of two selector keys still selects the pods",
		req:  update(mkService(withSelector(tiered)), mkService()),
		objs: objs(mkStatefulSet(withTemplateLabels(tiered))),
	}, {
		name: "renaming a port to another name",
		req:  update(mkService(), mkService(withPorts(corev1.ServicePort{Name: "http", Port: 80}))),
		objs: objs(mkStatefulSet()),
	}, {
		name: "an unnamed port the Service already had",
		req:  update(mkService(unnamed), mkService(unnamed, relabel)),
		objs: objs(mkStatefulSet()),
	}, {
		name: "a selector defect the Service already had",
		req:  update(mkService(withSelector(tiered)), mkService(withSelector(tiered), relabel)),
		objs: objs(mkStatefulSet()),
	}, {
		name: "an unresolved named targetPort the Service already had",
		req:  update(mkService(target(intstr.FromString("http"))), mkService(target(intstr.FromString("http")), relabel)),
		objs: objs(mkStatefulSet()),
	}, {
		name: "an update that repairs a defect",
		req:  update(mkService(withSelector(tiered)), mkService()),
		objs: objs(mkStatefulSet()),
	}, {
		name:   "breaking a check that is off is not reported",
		req:    update(mkService(), mkService(unnamed)),
		objs:   objs(mkStatefulSet()),
		policy: override("HG005", rules.ActionOff),
	}, {
		name: "breaking a Service no StatefulSet names",
		req:  update(mkService(), mkService(withSelector(nil), unnamed)),
		objs: objs(mkStatefulSet(withServiceName("other")), mkService(func(svc *corev1.Service) { svc.Name = "other" })),
	}}
	errorCases = []ruleCase{{
		name: "update drops the only selector key",
		req:  update(mkService(), mkService(withSelector(nil))),
		objs: objs(mkStatefulSet()),
		want: []want{{"HG011", deny, required, "spec.selector"}},
	}, {
		name: "update adds a selector key the pods do not carry",
		req:  update(mkService(), mkService(withSelector(tiered))),
		objs: objs(mkStatefulSet()),
		want: []want{{"HG011", deny, invalid, "spec.selector"}},
	}, {
		name: "update changes a selector value",
		req:  update(mkService(), mkService(withSelector(map[string]string{"app": "nginx-v2"}))),
		objs: objs(mkStatefulSet()),
		want: []want{{"HG011", deny, invalid, "spec.selector"}},
	}, {
		// Only the port's SRV record is lost, as for HG005 itself.
		name: "update removes a port name: warning",
		req:  update(mkService(), mkService(unnamed)),
		objs: objs(mkStatefulSet()),
		want: []want{{"HG011", warn, required, "spec.ports[0].name"}},
	}, {
		name: "update changes a named targetPort to one no container declares: warning",
		req:  update(mkService(target(intstr.FromString("web"))), mkService(target(intstr.FromString("http")))),
		objs: objs(mkStatefulSet()),
		want: []want{{"HG011", warn, notFound, "spec.ports[0].targetPort"}},
	}, {
		name:   "breaking HG006 denies when HG006 is set to deny",
		req:    update(mkService(target(intstr.FromString("web"))), mkService(target(intstr.FromString("http")))),
		objs:   objs(mkStatefulSet()),
		policy: override("HG006", rules.ActionDeny),
		want:   []want{{"HG011", deny, notFound, "spec.ports[0].targetPort"}},
	}, {
		name:   "breaking HG004 warns when HG004 is set to warn",
		req:    update(mkService(), mkService(withSelector(tiered))),
		objs:   objs(mkStatefulSet()),
		policy: override("HG004", rules.ActionWarn),
		want:   []want{{"HG011", warn, invalid, "spec.selector"}},
	}, {
		name: "a selector break next to a port-name break: each at its own action",
		req:  update(mkService(), mkService(withSelector(tiered), unnamed)),
		objs: objs(mkStatefulSet()),
		want: []want{
			{"HG011", deny, invalid, "spec.selector"},
			{"HG011", warn, required, "spec.ports[0].name"},
		},
	}, {
		name: "update changes the targetPort to a name no container declares: warning",
		req:  update(mkService(), mkService(target(intstr.FromString("http")))),
		objs: objs(mkStatefulSet()),
		want: []want{{"HG011", warn, notFound, "spec.ports[0].targetPort"}},
	}, {
		name: "a new defect next to one the Service already had",
		req:  update(mkService(unnamed), mkService(withPorts(corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("http")}))),
		objs: objs(mkStatefulSet()),
		want: []want{{"HG011", warn, notFound, "spec.ports[0].targetPort"}},
	}, {
		name: "one finding per governed StatefulSet",
		req:  update(mkService(), mkService(withSelector(tiered))),
		objs: objs(mkStatefulSet(), mkStatefulSet(withName("web-canary"))),
		want: []want{
			{"HG011", deny, invalid, "spec.selector"},
			{"HG011", deny, invalid, "spec.selector"},
		},
	}, {
		name:   "override warn",
		req:    update(mkService(), mkService(withSelector(nil))),
		objs:   objs(mkStatefulSet()),
		policy: override("HG011", rules.ActionWarn),
		want:   []want{{"HG011", warn, required, "spec.selector"}},
	}}
	return successCases, errorCases
}

func TestHG011ReferencedServiceUpdate(t *testing.T) {
	successCases, errorCases := hg011Cases()
	runRuleCases(t, successCases, errorCases)
}
