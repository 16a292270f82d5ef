package rules_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/headless-guard/headless-guard/rules"
)

// nginxDeployment is a Deployment whose pods carry app=nginx, like the
// StatefulSet's: the Service selector app=nginx selects both.
func nginxDeployment(d *appsv1.Deployment) {
	d.Name = "nginx-frontend"
	d.Spec.Selector.MatchLabels = map[string]string{"app": "nginx", "tier": "frontend"}
	d.Spec.Template.Labels = map[string]string{"app": "nginx", "tier": "frontend"}
}

func hg008Cases() (successCases, errorCases []ruleCase) {
	otherSTS := mkStatefulSet(withName("web-canary"), withServiceName("canary"))
	replica := mkStatefulSet(withName("web-replica"))
	helmTest := func(hook string) *corev1.Pod {
		return mkPod(func(p *corev1.Pod) {
			p.Name = "web-test-connection"
			p.Labels = map[string]string{"app": "nginx"}
			p.Annotations = map[string]string{rules.HelmHookAnnotation: hook}
		})
	}
	successCases = []ruleCase{{
		name: "no other workload carries the selected labels",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(), mkDeployment()),
	}, {
		name: "the StatefulSet under review is in the index",
		req:  create(mkStatefulSet()),
		objs: objs(mkStatefulSet(), mkService()),
	}, {
		name: "the same labels in another namespace",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(), mkDeployment(nginxDeployment, func(d *appsv1.Deployment) { d.Namespace = "other" })),
	}, {
		name: "a narrower selector tells the workloads apart",
		req:  create(mkStatefulSet(withTemplateLabels(map[string]string{"app": "nginx", "tier": "db"}))),
		objs: objs(mkService(withSelector(map[string]string{"app": "nginx", "tier": "db"})), mkDeployment(nginxDeployment)),
	}, {
		// The Deployment carries the pod-name label too, so only the
		// exemption, not the label match, keeps HG008 quiet.
		name: "per-pod Service (selector with statefulset.kubernetes.io/pod-name) is exempt",
		req:  create(mkStatefulSet()),
		objs: objs(
			mkService(withSelector(map[string]string{"app": "nginx", "statefulset.kubernetes.io/pod-name": "web-0"})),
			mkDeployment(nginxDeployment, func(d *appsv1.Deployment) { d.Spec.Template.Labels["statefulset.kubernetes.io/pod-name"] = "web-0" }),
		),
	}, {
		name: "Service side: per-pod Service is exempt",
		req:  create(mkService(withSelector(map[string]string{"app": "nginx", "statefulset.kubernetes.io/pod-name": "web-0"}))),
		objs: objs(
			mkStatefulSet(),
			mkDeployment(nginxDeployment, func(d *appsv1.Deployment) { d.Spec.Template.Labels["statefulset.kubernetes.io/pod-name"] = "web-0" }),
		),
	}, {
		name: "Service side: every selected StatefulSet is governed by the Service",
		req:  create(mkService()),
		objs: objs(mkStatefulSet(), mkStatefulSet(withName("web-canary"))),
	}, {
		// A primary and its replicas (or shards) that all name one
		// headless Service share it by design.
		name: "another StatefulSet governed by the same Service",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(), replica),
	}, {
		name: "helm test Pod (helm.sh/hook: test) with the release's labels",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(), helmTest("test")),
	}, {
		name: "helm 2 test Pod (helm.sh/hook: test-success)",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(), helmTest("test-success")),
	}, {
		name: "helm hook Job with the release's labels",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(), mkJob(func(j *batchv1.Job) {
			j.Annotations = map[string]string{rules.HelmHookAnnotation: "pre-upgrade"}
			j.Spec.Template.Labels = map[string]string{"app": "nginx"}
		})),
	}, {
		name: "Service side: helm test Pod",
		req:  create(mkService()),
		objs: objs(mkStatefulSet(), helmTest("test")),
	}, {
		name: "Service side: a Service that governs nothing is not checked",
		req:  create(mkService()),
		objs: objs(mkDeployment(nginxDeployment)),
	}}
	errorCases = []ruleCase{{
		name: "Service shared with a Deployment",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(), mkDeployment(nginxDeployment)),
		want: []want{{"HG008", warn, invalid, "spec.serviceName"}},
	}, {
		name: "Service shared with another StatefulSet",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(), otherSTS, mkService(func(s *corev1.Service) { s.Name = "canary" })),
		want: []want{{"HG008", warn, invalid, "spec.serviceName"}},
	}, {
		name: "a governed replica does not hide a Deployment",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(), replica, mkDeployment(nginxDeployment)),
		want: []want{{"HG008", warn, invalid, "spec.serviceName"}},
	}, {
		name: "a StatefulSet without serviceName is not governed by the Service",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(), mkStatefulSet(withName("web-orphan"), withServiceName(""))),
		want: []want{{"HG008", warn, invalid, "spec.serviceName"}},
	}, {
		name: "a Pod without the hook annotation is still reported",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(), mkPod(func(p *corev1.Pod) { p.Labels = map[string]string{"app": "nginx"} })),
		want: []want{{"HG008", warn, invalid, "spec.serviceName"}},
	}, {
		name: "one finding per other workload",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(), mkDeployment(nginxDeployment), otherSTS, mkService(func(s *corev1.Service) { s.Name = "canary" })),
		want: []want{
			{"HG008", warn, invalid, "spec.serviceName"},
			{"HG008", warn, invalid, "spec.serviceName"},
		},
	}, {
		name: "Service side: also selects a Deployment's pods",
		req:  create(mkService()),
		objs: objs(mkStatefulSet(), mkDeployment(nginxDeployment)),
		want: []want{{"HG008", warn, invalid, "spec.selector"}},
	}, {
		name: "Service side: also selects a StatefulSet it does not govern",
		req:  create(mkService()),
		objs: objs(mkStatefulSet(), otherSTS),
		want: []want{{"HG008", warn, invalid, "spec.selector"}},
	}, {
		name:   "override deny",
		req:    create(mkStatefulSet()),
		objs:   objs(mkService(), mkDeployment(nginxDeployment)),
		policy: override("HG008", rules.ActionDeny),
		want:   []want{{"HG008", deny, invalid, "spec.serviceName"}},
	}}
	return successCases, errorCases
}

func TestHG008SelectsOnlyThisSet(t *testing.T) {
	successCases, errorCases := hg008Cases()
	runRuleCases(t, successCases, errorCases)
}
