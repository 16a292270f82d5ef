package rules_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/headless-guard/headless-guard/rules"
)

func hg004Cases() (successCases, errorCases []ruleCase) {
	tiered := map[string]string{"app": "nginx", "tier": "web"}
	successCases = []ruleCase{{
		name: "selector equals the template labels",
		req:  create(mkStatefulSet()),
		objs: objs(mkService()),
	}, {
		name: "selector is a strict subset of the template labels",
		req:  create(mkStatefulSet(withTemplateLabels(tiered))),
		objs: objs(mkService()),
	}, {
		name: "controller-added key statefulset.kubernetes.io/pod-name is exempt",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(withSelector(map[string]string{"app": "nginx", "statefulset.kubernetes.io/pod-name": "web-0"}))),
	}, {
		name: "controller-added key apps.kubernetes.io/pod-index is exempt",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(withSelector(map[string]string{"app": "nginx", "apps.kubernetes.io/pod-index": "0"}))),
	}, {
		name: "controller-added key controller-revision-hash is exempt",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(withSelector(map[string]string{"app": "nginx", "controller-revision-hash": "web-6d4f9c7b8"}))),
	}, {
		name: "Service side: controller-added keys are exempt",
		req: create(mkService(withSelector(map[string]string{
			"app": "nginx", "statefulset.kubernetes.io/pod-name": "web-0", "apps.kubernetes.io/pod-index": "0", "controller-revision-hash": "web-6d4f9c7b8",
		}))),
		objs: objs(mkStatefulSet()),
	}, {
		name: "Service side: a Service no StatefulSet names is not checked",
		req:  create(mkService(withSelector(map[string]string{"app": "other"}))),
		objs: objs(mkStatefulSet(withServiceName("something-else")), mkService(func(s *corev1.Service) { s.Name = "something-else" })),
	}, {
		name: "Service side: update is left to HG011",
		req:  update(mkService(), mkService()),
		objs: objs(mkStatefulSet(withTemplateLabels(map[string]string{"app": "other"}))),
	}}
	errorCases = []ruleCase{{
		name: "selector key missing from the template labels",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(withSelector(tiered))),
		want: []want{{"HG004", deny, invalid, "spec.template.metadata.labels"}},
	}, {
		name: "selector value conflicts with the template label",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(withSelector(map[string]string{"app": "mysql"}))),
		want: []want{{"HG004", deny, invalid, "spec.template.metadata.labels"}},
	}, {
		name: "controller-added key does not hide a real missing key",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(withSelector(map[string]string{"app": "nginx", "tier": "web", "statefulset.kubernetes.io/pod-name": "web-0"}))),
		want: []want{{"HG004", deny, invalid, "spec.template.metadata.labels"}},
	}, {
		name: "Service without a selector: a warning (a controller may manage its endpoints)",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(withSelector(nil))),
		want: []want{{"HG004", warn, invalid, "spec.serviceName"}},
	}, {
		name:   "strict: Service without a selector",
		req:    create(mkStatefulSet()),
		objs:   objs(mkService(withSelector(nil))),
		policy: strict(nil),
		want:   []want{{"HG004", deny, invalid, "spec.serviceName"}},
	}, {
		name: "a ClusterIP Service whose selector misses the pods: HG004 warns (HG003 judges the Service)",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(withSelector(tiered), withClusterIP("10.96.0.42"))),
		want: []want{{"HG003", warn, invalid, "spec.serviceName"}, {"HG004", warn, invalid, "spec.template.metadata.labels"}},
	}, {
		name: "controller-owned: a warning",
		req:  create(mkStatefulSet(stsOwnedBy("Cluster", "db"))),
		objs: objs(mkService(withSelector(tiered))),
		want: []want{{"HG004", warn, invalid, "spec.template.metadata.labels"}},
	}, {
		name: "Service side: a Service create is never denied for a StatefulSet",
		req:  create(mkService(withSelector(tiered))),
		objs: objs(mkStatefulSet()),
		want: []want{{"HG004", warn, invalid, "spec.selector"}},
	}, {
		name:   "strict, Service side: a Service create is never denied for a StatefulSet",
		req:    create(mkService(withSelector(tiered))),
		objs:   objs(mkStatefulSet()),
		policy: strict(nil),
		want:   []want{{"HG004", warn, invalid, "spec.selector"}},
	}, {
		name: "Service side: no selector",
		req:  create(mkService(withSelector(nil))),
		objs: objs(mkStatefulSet()),
		want: []want{{"HG004", warn, required, "spec.selector"}},
	}, {
		name: "Service side: one finding per governed StatefulSet",
		req:  create(mkService(withSelector(tiered))),
		objs: objs(mkStatefulSet(), mkStatefulSet(func(sts *appsv1.StatefulSet) { sts.Name = "web2" })),
		want: []want{
			{"HG004", warn, invalid, "spec.selector"},
			{"HG004", warn, invalid, "spec.selector"},
		},
	}, {
		name: "update with the template unchanged re-states a stored defect: warning",
		req:  update(mkStatefulSet(), mkStatefulSet(withReplicas(5))),
		objs: objs(mkService(withSelector(tiered))),
		want: []want{{"HG004", warn, invalid, "spec.template.metadata.labels"}},
	}, {
		name: "update that drops a selector key from the template labels is denied",
		req:  update(mkStatefulSet(withTemplateLabels(tiered)), mkStatefulSet()),
		objs: objs(mkService(withSelector(tiered))),
		want: []want{{"HG004", deny, invalid, "spec.template.metadata.labels"}},
	}, {
		name:   "override warn",
		req:    create(mkStatefulSet()),
		objs:   objs(mkService(withSelector(tiered))),
		policy: override("HG004", rules.ActionWarn),
		want:   []want{{"HG004", warn, invalid, "spec.template.metadata.labels"}},
	}}
	return successCases, errorCases
}

func TestHG004SelectorMatchesPods(t *testing.T) {
	successCases, errorCases := hg004Cases()
	runRuleCases(t, successCases, errorCases)
}
