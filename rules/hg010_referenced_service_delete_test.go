package rules_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/headless-guard/headless-guard/rules"
)

func hg010Cases() (successCases, errorCases []ruleCase) {
	unrelated := mkService(func(svc *corev1.Service) { svc.Name = "unrelated" })
	successCases = []ruleCase{{
		name: "delete of a Service no StatefulSet names",
		req:  remove(unrelated),
		objs: objs(mkStatefulSet(), mkService(), unrelated),
	}, {
		name: "delete of a Service named by a StatefulSet of another namespace",
		req:  remove(mkService()),
		objs: objs(mkStatefulSet(func(sts *appsv1.StatefulSet) { sts.Namespace = "other" })),
	}, {
		name: "create and update are not this rule's business",
		req:  update(mkService(), mkService(func(svc *corev1.Service) { svc.Labels = map[string]string{"team": "db"} })),
		objs: objs(mkStatefulSet()),
	}}
	errorCases = []ruleCase{{
		name: "delete of a governing Service",
		req:  remove(mkService()),
		objs: objs(mkStatefulSet(), mkService()),
		want: []want{{"HG010", warn, forbid, "metadata.name"}},
	}, {
		name: "one finding per governed StatefulSet",
		req:  remove(mkService()),
		objs: objs(mkStatefulSet(), mkStatefulSet(withName("web-canary"))),
		want: []want{
			{"HG010", warn, forbid, "metadata.name"},
			{"HG010", warn, forbid, "metadata.name"},
		},
	}, {
		name:   "override deny",
		req:    remove(mkService()),
		objs:   objs(mkStatefulSet(), mkService()),
		policy: override("HG010", rules.ActionDeny),
		want:   []want{{"HG010", deny, forbid, "metadata.name"}},
	}}
	return successCases, errorCases
}

func TestHG010ReferencedServiceDelete(t *testing.T) {
	successCases, errorCases := hg010Cases()
	runRuleCases(t, successCases, errorCases)
}
