package rules_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/headless-guard/headless-guard/rules"
)

// withInitContainer adds an init container serving containerPort 9090 named
// metrics; restartPolicy Always makes it a sidecar.
func withInitContainer(restartPolicy *corev1.ContainerRestartPolicy) func(*appsv1.StatefulSet) {
	return func(sts *appsv1.StatefulSet) {
		sts.Spec.Template.Spec.InitContainers = append(sts.Spec.Template.Spec.InitContainers, corev1.Container{
			Name:          "exporter",
			Image:         "registry.k8s.io/e2e-test-images/agnhost:2.53",
			RestartPolicy: restartPolicy,
			Ports:         []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9090}},
		})
	}
}

func hg006Cases() (successCases, errorCases []ruleCase) {
	targetPort := func(p corev1.ServicePort) func(*corev1.Service) { return withPorts(p) }
	named := func(name string) func(*corev1.Service) {
		return targetPort(corev1.ServicePort{Name: "web", Port: 80, TargetPort: intstr.FromString(name)})
	}
	numeric := func(n int) func(*corev1.Service) {
		return targetPort(corev1.ServicePort{Name: "web", Port: 80, TargetPort: intstr.FromInt(n)})
	}
	metrics := targetPort(corev1.ServicePort{Name: "metrics", Port: 9090, TargetPort: intstr.FromString("metrics")})
	udp := corev1.ProtocolUDP

	successCases = []ruleCase{{
		name: "targetPort unset defaults to the port, which the container declares",
		req:  create(mkStatefulSet()),
		objs: objs(mkService()),
	}, {
		name: "named targetPort matches a container port name",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(named("web"))),
	}, {
		name: "numeric targetPort matches a container port",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(numeric(80))),
	}, {
		name: "named targetPort matches a port of the second container",
		req: create(mkStatefulSet(func(sts *appsv1.StatefulSet) {
			sts.Spec.Template.Spec.Containers = append(sts.Spec.Template.Spec.Containers, corev1.Container{
				Name: "exporter", Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9090}},
			})
		})),
		objs: objs(mkService(metrics)),
	}, {
		name: "sidecar init container (restartPolicy Always) serves the named port",
		req:  create(mkStatefulSet(withInitContainer(new(corev1.ContainerRestartPolicyAlways)))),
		objs: objs(mkService(metrics)),
	}, {
		name: "UDP on both sides",
		req: create(mkStatefulSet(func(sts *appsv1.StatefulSet) {
			sts.Spec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "dns", ContainerPort: 53, Protocol: udp}}
		})),
		objs: objs(mkService(targetPort(corev1.ServicePort{Name: "dns", Port: 53, Protocol: udp, TargetPort: intstr.FromString("dns")}))),
	}, {
		name: "Service side: named targetPort resolves",
		req:  create(mkService(named("web"))),
		objs: objs(mkStatefulSet()),
	}, {
		// Declaring container ports is informational: the EndpointSlice
		// publishes a number as it is, so nothing is reported.
		name: "numeric targetPort, the containers declare no port",
		req:  create(mkStatefulSet(func(sts *appsv1.StatefulSet) { sts.Spec.Template.Spec.Containers[0].Ports = nil })),
		objs: objs(mkService(numeric(8080))),
	}, {
		name: "targetPort unset, the containers declare no port",
		req:  create(mkStatefulSet(func(sts *appsv1.StatefulSet) { sts.Spec.Template.Spec.Containers[0].Ports = nil })),
		objs: objs(mkService()),
	}, {
		name: "Service side: numeric targetPort, the containers declare no port",
		req:  create(mkService(numeric(8080))),
		objs: objs(mkStatefulSet(func(sts *appsv1.StatefulSet) { sts.Spec.Template.Spec.Containers[0].Ports = nil })),
	}, {
		name: "Service side: update is left to HG011",
		req:  update(mkService(named("nope")), mkService(named("nope"))),
		objs: objs(mkStatefulSet()),
		// A numeric targetPort never loses a record: no finding (issue 20).
	}, {
		name: "numeric targetPort matches no container port",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(numeric(8080))),
	}, {
		name: "unset targetPort defaults to a port the container does not declare",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(targetPort(corev1.ServicePort{Name: "web", Port: 8080}))),
	}, {
		name: "protocol mismatch: numeric UDP targetPort, TCP container port",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(targetPort(corev1.ServicePort{Name: "web", Port: 80, Protocol: udp}))),
	}, {
		name: "Service side: numeric targetPort matches no container port",
		req:  create(mkService(withPorts(corev1.ServicePort{Name: "web", Port: 80}, corev1.ServicePort{Name: "alt", Port: 81, TargetPort: intstr.FromInt(8081)}))),
		objs: objs(mkStatefulSet()),
	}, {
		name:   "a numeric targetPort with override deny",
		req:    create(mkStatefulSet()),
		objs:   objs(mkService(numeric(8080))),
		policy: override("HG006", rules.ActionDeny),
	}}
	errorCases = []ruleCase{{
		// The pods keep their A and hostname records; only the port's
		// SRV record and endpoints are missing: a warning.
		name: "named targetPort matches no container port",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(named("http"))),
		want: []want{{"HG006", warn, notFound, "spec.template.spec.containers"}},
	}, {
		name:   "named targetPort matches no container port, override deny",
		req:    create(mkStatefulSet()),
		objs:   objs(mkService(named("http"))),
		policy: override("HG006", rules.ActionDeny),
		want:   []want{{"HG006", deny, notFound, "spec.template.spec.containers"}},
	}, {
		name: "protocol mismatch: named UDP targetPort, TCP container port",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(targetPort(corev1.ServicePort{Name: "web", Port: 80, Protocol: udp, TargetPort: intstr.FromString("web")}))),
		want: []want{{"HG006", warn, notFound, "spec.template.spec.containers"}},
	}, {
		name: "plain init container ports do not serve traffic",
		req:  create(mkStatefulSet(withInitContainer(nil))),
		objs: objs(mkService(metrics)),
		want: []want{{"HG006", warn, notFound, "spec.template.spec.containers"}},
	}, {
		name: "only the unresolved port of several is reported",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(withPorts(
			corev1.ServicePort{Name: "web", Port: 80, TargetPort: intstr.FromString("web")},
			corev1.ServicePort{Name: "metrics", Port: 9090, TargetPort: intstr.FromString("metrics")},
			corev1.ServicePort{Name: "admin", Port: 9000},
		))),
		want: []want{
			{"HG006", warn, notFound, "spec.template.spec.containers"},
		},
	}, {
		name: "Service side: named targetPort matches no container port",
		req:  create(mkService(named("http"))),
		objs: objs(mkStatefulSet()),
		want: []want{{"HG006", warn, notFound, "spec.ports[0].targetPort"}},
	}, {
		name:   "mode warn",
		req:    create(mkStatefulSet()),
		objs:   objs(mkService(named("http"))),
		policy: &rules.Policy{Mode: rules.ModeWarn},
		want:   []want{{"HG006", warn, notFound, "spec.template.spec.containers"}},
	}, {
		name: "update with the template unchanged re-states a stored defect: warning",
		req:  update(mkStatefulSet(), mkStatefulSet(withReplicas(1))),
		objs: objs(mkService(named("http"))),
		want: []want{{"HG006", warn, notFound, "spec.template.spec.containers"}},
	}, {
		name: "update that renames the container port the Service targets is denied",
		req: update(mkStatefulSet(), mkStatefulSet(func(sts *appsv1.StatefulSet) {
			sts.Spec.Template.Spec.Containers[0].Ports[0].Name = "http"
		})),
		objs:   objs(mkService(named("web"))),
		policy: override("HG006", rules.ActionDeny),
		want:   []want{{"HG006", deny, notFound, "spec.template.spec.containers"}},
	}, {
		// Both findings share field and error type; only the second one
		// (Service port `admin`) was already there before the update.
		name: "update that breaks a second port next to a stored defect is denied for the new one",
		req: update(mkStatefulSet(), mkStatefulSet(func(sts *appsv1.StatefulSet) {
			sts.Spec.Template.Spec.Containers[0].Ports[0].Name = "http"
		})),
		objs: objs(mkService(withPorts(
			corev1.ServicePort{Name: "web", Port: 80, TargetPort: intstr.FromString("web")},
			corev1.ServicePort{Name: "admin", Port: 9000, TargetPort: intstr.FromString("admin")},
		))),
		policy: override("HG006", rules.ActionDeny),
		want: []want{
			{"HG006", deny, notFound, "spec.template.spec.containers"},
			{"HG006", warn, notFound, "spec.template.spec.containers"},
		},
	}}
	return successCases, errorCases
}

func TestHG006TargetPortResolves(t *testing.T) {
	successCases, errorCases := hg006Cases()
	runRuleCases(t, successCases, errorCases)
}
