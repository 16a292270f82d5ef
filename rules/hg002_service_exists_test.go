package rules_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/headless-guard/headless-guard/rules"
)

func hg002Cases() (successCases, errorCases []ruleCase) {
	successCases = []ruleCase{{
		name: "Service exists",
		req:  create(mkStatefulSet()),
		objs: objs(mkService()),
	}, {
		name: "Service exists and the StatefulSet itself is in the index",
		req:  create(mkStatefulSet()),
		objs: objs(mkStatefulSet(), mkService()),
	}, {
		name:   "empty serviceName is HG001's business",
		req:    create(mkStatefulSet(withServiceName(""))),
		policy: &rules.Policy{Overrides: map[string]rules.Action{"HG001": rules.ActionOff}},
	}}
	errorCases = []ruleCase{{
		name: "no Service of that name",
		req:  create(mkStatefulSet()),
		want: []want{{"HG002", deny, notFound, "spec.serviceName"}},
	}, {
		name: "Service of that name only in another namespace",
		req:  create(mkStatefulSet()),
		objs: objs(mkService(func(svc *corev1.Service) { svc.Namespace = "other" })),
		want: []want{{"HG002", deny, notFound, "spec.serviceName"}},
	}, {
		name: "another headless Service selects the pods",
		req:  create(mkStatefulSet(withServiceName("nginx"))),
		objs: objs(mkService()),
		want: []want{{"HG002", deny, notFound, "spec.serviceName"}},
	}, {
		name: "dry-run is a warning by default (kubernetes #83562)",
		req:  dryRun(create(mkStatefulSet())),
		want: []want{{"HG002", warn, notFound, "spec.serviceName"}},
	}, {
		name:   "dry-run denies with DenyMissingServiceOnDryRun",
		req:    dryRun(create(mkStatefulSet())),
		policy: &rules.Policy{DenyMissingServiceOnDryRun: true},
		want:   []want{{"HG002", deny, notFound, "spec.serviceName"}},
	}, {
		name: "scale of an existing StatefulSet whose Service is gone is a warning",
		req:  update(mkStatefulSet(), mkStatefulSet(withReplicas(5))),
		want: []want{{"HG002", warn, notFound, "spec.serviceName"}},
	}, {
		name: "metadata-only update of an existing StatefulSet whose Service is gone is a warning",
		req: update(mkStatefulSet(), mkStatefulSet(func(sts *appsv1.StatefulSet) {
			sts.Labels = map[string]string{"team": "db"}
			sts.Annotations = map[string]string{"note": "x"}
			sts.ObjectMeta.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
		})),
		want: []want{{"HG002", warn, notFound, "spec.serviceName"}},
	}, {
		name:   "mode warn",
		req:    create(mkStatefulSet()),
		policy: &rules.Policy{Mode: rules.ModeWarn},
		want:   []want{{"HG002", warn, notFound, "spec.serviceName"}},
	}}
	return successCases, errorCases
}

func TestHG002ServiceExists(t *testing.T) {
	successCases, errorCases := hg002Cases()
	runRuleCases(t, successCases, errorCases)
}
