package rules_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/headless-guard/headless-guard/rules"
)

func hg005Cases() (successCases, errorCases []ruleCase) {
	unnamed := withPorts(corev1.ServicePort{Port: 80})
	successCases = []ruleCase{{
		name: "every port named",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(withPorts(
			corev1.ServicePort{Name: "web", Port: 80},
			corev1.ServicePort{Name: "web-alt", Port: 8080, TargetPort: intstr.FromString("web")},
		))),
	}, {
		name: "Service side: an unnamed port of a Service that governs nothing",
		req:  create(mkService(unnamed)),
		objs: objs(mkStatefulSet(withServiceName("other"))),
	}, {
		name: "Service side: update is left to HG011",
		req:  update(mkService(unnamed), mkService(unnamed)),
		objs: objs(mkStatefulSet()),
	}}
	errorCases = []ruleCase{{
		name: "governing Service has an unnamed port",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(unnamed)),
		want: []want{{"HG005", warn, invalid, "spec.serviceName"}},
	}, {
		name: "Service side: unnamed port of a governing Service",
		req:  create(mkService(unnamed)),
		objs: objs(mkStatefulSet()),
		want: []want{{"HG005", warn, required, "spec.ports[0].name"}},
	}, {
		name: "Service side: only the unnamed port is reported",
		req: create(mkService(withPorts(
			corev1.ServicePort{Name: "web", Port: 80},
			corev1.ServicePort{Port: 443, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("web")},
		))),
		objs: objs(mkStatefulSet(func(sts *appsv1.StatefulSet) {
			c := &sts.Spec.Template.Spec.Containers[0]
			c.Ports = append(c.Ports, corev1.ContainerPort{Name: "web", ContainerPort: 80, Protocol: corev1.ProtocolUDP})
		})),
		want: []want{{"HG005", warn, required, "spec.ports[1].name"}},
	}, {
		name:   "override deny",
		req:    create(mkStatefulSet()),
		objs:   objs(mkService(unnamed)),
		policy: override("HG005", rules.ActionDeny),
		want:   []want{{"HG005", deny, invalid, "spec.serviceName"}},
	}, {
		name:   "Service side: override deny still warns on a Service create",
		req:    create(mkService(unnamed)),
		objs:   objs(mkStatefulSet()),
		policy: override("HG005", rules.ActionDeny),
		want:   []want{{"HG005", warn, required, "spec.ports[0].name"}},
	}, {
		name:   "override deny still only warns on an update that does not touch the Service",
		req:    update(mkStatefulSet(), mkStatefulSet(withReplicas(4))),
		objs:   objs(mkService(unnamed)),
		policy: override("HG005", rules.ActionDeny),
		want:   []want{{"HG005", warn, invalid, "spec.serviceName"}},
	}}
	return successCases, errorCases
}

func TestHG005PortsNamed(t *testing.T) {
	successCases, errorCases := hg005Cases()
	runRuleCases(t, successCases, errorCases)
}
